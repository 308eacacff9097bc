#pragma once

// Ports across processes (issue #14): runtimes that listen and connect
// over CAF's network layer (caf::io, BASP), named services reached by an
// `entangle://host:port/name` URL, and ports that travel inside messages
// between processes like anywhere else. See docs/guide.md, "Across
// processes", and docs/architecture.md for the protocol.

#include <cstdint>
#include <string>
#include <string_view>

#include "entangle/message_port.hpp"
#include "entangle/runtime.hpp"

namespace entangle::remote {

/// `entangle://host:port/name`: the service `name` offered by the runtime
/// listening on host:port.
struct endpoint_url {
  std::string host;
  std::uint16_t port = 0;
  std::string name;

  /// @throws dom_exception SyntaxError unless `url` is
  ///         `entangle://HOST:PORT/NAME` with HOST a name or IPv4 address,
  ///         PORT in 1..65535 and NAME made of `A-Z a-z 0-9 . _ ~ -`.
  static endpoint_url parse(std::string_view url);

  std::string to_string() const;
};

/// Accepts connections from other runtimes on host:port through CAF's
/// middleman; port 0 picks a free one. Returns the port. The runtime must
/// have been made with `runtime_config::remote` set. Every test binds to
/// 127.0.0.1: BASP has no authentication, so only trusted local processes
/// should reach it.
/// @throws dom_exception InvalidStateError (no network layer, deterministic
///         mode, stopping) or NetworkError (the port cannot be bound).
std::uint16_t listen(runtime& rt, std::uint16_t port = 0,
                     const std::string& host = "127.0.0.1");

/// Offers context `context_id` as service `name`: every remote context
/// that connects to `entangle://host:port/name` makes a `connect` event
/// fire at that context's global (`context::on_connect`), carrying its end
/// of a fresh channel in `ev.ports[0]` (not started), as
/// `runtime::connect` does for a thread. Offering a name again replaces
/// it. @throws dom_exception SyntaxError for a bad name, InvalidStateError
///         as `listen`.
void offer(runtime& rt, const std::string& name, std::uint64_t context_id);

/// Inside a context: connects to the service named by `url` and returns
/// this context's end of a fresh channel to it at once (not started, like
/// any new port). Messages posted before the connection is up wait on the
/// port. If the connection fails (nothing listens there, it is not an
/// entangle node, the name is not offered, or it does not answer within
/// `runtime_config::remote_connect_timeout`), the port gets an `error`
/// event whose `ev.error` starts with `NetworkError:` or `NotFoundError:`,
/// then `close`. From then on the port behaves like any other: it can be
/// posted, transferred (also to other processes) and closed.
/// @throws dom_exception SyntaxError for a bad URL, InvalidStateError
///         outside a context or when remoting is off.
message_port connect(std::string_view url);

/// What a runtime's remote node has done so far.
struct node_stats {
  /// Runtimes connected now.
  std::uint64_t peers = 0;
  /// Local ends of cross-process links alive now.
  std::uint64_t links = 0;
  std::uint64_t frames_in = 0;
  std::uint64_t frames_out = 0;
  /// Frames refused as malformed or unexpected (their nodes were
  /// disconnected).
  std::uint64_t violations = 0;
  /// Inconsistencies in this runtime's own remote state: a bug of
  /// entangle, never a peer's doing (so nobody is disconnected). Each is
  /// logged and drops what it concerned (counted under its reason). 0
  /// unless there is a bug; the remote tests and the model check it.
  std::uint64_t internal_errors = 0;
  /// Frames dropped unread because CAF delivered them without a remote
  /// sender (an anonymous send, a local actor, or a sender whose proxy CAF
  /// could not make while a connection was being replaced): nobody to
  /// blame or answer, so no node is disconnected; a peer's frame lost so
  /// is sent again (`resent`). Logged with runtime_config::warnings.
  std::uint64_t unattributed = 0;
  /// Connections lost (broken, died, heartbeats missed, disconnected).
  std::uint64_t nodes_lost = 0;
  /// The port `listen` bound (0 if none).
  std::uint16_t listening = 0;
  /// Peers dialed again after CAF dropped the connection to them (or their
  /// handle stopped delivering) while they were still there.
  std::uint64_t reconnects = 0;
  /// Frames sent again because the peer had not acknowledged them.
  std::uint64_t resent = 0;
  /// Frames dropped unread because they belong to a session that ended
  /// (in flight when one node lost the other) or came before the greeting.
  std::uint64_t stale = 0;
  /// Credit frames (flow control across processes, docs/guide.md): sent
  /// for this runtime's receiving ports, and taken for its sending ends.
  /// Batched: about one per half mark consumed, not one per message.
  std::uint64_t credits_sent = 0;
  std::uint64_t credits_received = 0;
  /// Proxy collapse: relays this runtime removed itself from (a port that
  /// went T -> here -> B now goes T -> B), and links it moved onto such a
  /// direct link (as T or B).
  std::uint64_t splices = 0;
  std::uint64_t swaps = 0;
};

/// A snapshot (all zero when the runtime never used its network layer).
node_stats stats(runtime& rt);

} // namespace entangle::remote
