#pragma once

// One end of a cross-process link (node.hpp's node_state owns them all, on
// the node context's thread): its sequence numbers and reorder buffer
// (node_frames.cpp), its credit state (node_credit.cpp), and its part in
// a proxy collapse as endpoint or relay (node_splice*.cpp).

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/node_id.hpp>

#include "entangle/flow_control.hpp"
#include "entangle/message_port.hpp"
#include "ports/serialized_message.hpp"
#include "remote/codec.hpp"

namespace entangle::detail {
struct port_record;
class port_object;
} // namespace entangle::detail

namespace entangle::detail::remote {

/// One end of a cross-process link: a port of the node context (a sink,
/// context_core::set_sink) entangled in-process with the port a context
/// holds, and paired over the wire with the end `remote` on node `node`.
struct link {
  port_name local;
  port_name remote;
  caf::node_id node;
  /// The node context's port (its local peer is the user's port).
  message_port end;
  /// `end`'s record as adopted: the key of node_state::by_record_.
  const port_record* rec_key = nullptr;
  /// Sequence number of the next user frame sent on this link.
  std::uint64_t next_send = 1;
  /// Sequence number of the next user frame delivered (the reorder
  /// buffer's head: only this one is ever visible).
  std::uint64_t next_recv = 1;
  /// Frames that arrived ahead of `next_recv`, by sequence number, and
  /// their encoded bytes since it was last empty (both capped:
  /// runtime_config::remote_max_early_frames, remote_max_early_bytes).
  std::map<std::uint64_t, serialized_message> early;
  std::size_t early_bytes = 0;
  /// Made at the peer's word (its open, a port it sent): counted in its
  /// peer's `made`.
  bool theirs = false;
  /// The peer's close: the last sequence number it sent.
  std::uint64_t last_recv = 0;
  bool got_close = false;
  /// This end sent its close: what its local peer posts now is dropped.
  bool sent_close = false;
  /// A connect whose node is not up yet: `open` not sent, end not started.
  bool pending = false;
  /// For a pending connect: who asked (its error event goes there).
  caf::actor requester;
  std::weak_ptr<port_object> requester_port;
  std::string url;
  std::string service;

  // Credit (node_credit.cpp). Toward the peer, for our user's port (the
  // end's peer, which this end feeds): the marks last told (a mark frame
  // or the carried port's entry) and the consumed count last told.
  high_water_mark told_marks;
  std::uint64_t credited = 0;
  // From the peer: this end mirrors its receiver (flow_state::mirror);
  // `consumed` is its last count. While mirroring, unsized + sizes.size()
  // == next_send - 1 - consumed: the messages sent and not credited, the
  // first `unsized` sent before the mark came (0 bytes each), the rest
  // with their sizes, in send order.
  bool mirror = false;
  std::uint64_t consumed = 0;
  std::uint64_t unsized = 0;
  std::deque<std::uint32_t> sizes;
  /// Sent and not credited, but not in the mirror's count: the oldest
  /// messages a splice's relay counted unread that we had not (a carried
  /// port's backlog at the peer, which its new holder never saw). The
  /// first credits go to them. So a rebase never raises a view under a
  /// writer that just read desired_size; while mirroring, unsized +
  /// sizes.size() + uncounted == sent - consumed.
  std::uint64_t uncounted = 0;
  // Credit numbering across a splice (node_credit.cpp, rebase_credit): a
  // link that took over from a spliced one counts first the messages the
  // old one delivered and did not credit (`recv_base`: in what we tell)
  // and sent that were not credited (`send_base`: in what we are told).
  // So `consumed` and `credited` count from the same origin at both ends,
  // and "sent" above is send_base + next_send - 1 (plus sp_next_send - 1
  // while `switched`: our messages on the successor wait for credit too).
  std::uint64_t recv_base = 0;
  std::uint64_t send_base = 0;

  // Proxy collapse (node_splice.cpp). As an endpoint: the successor link a
  // relay named (`dialing`: its node is not up here, dialed at `sp_key`,
  // no answer sent yet (node_splice_dial.cpp); `prepared`: registered,
  // ready sent; `switched`: our user frames go on the successor, numbered
  // from `sp_next_send`, while the old link still delivers up to the
  // relay's splice_end).
  enum class splice : std::uint8_t { none, dialing, prepared, switched };
  splice sp = splice::none;
  port_name sp_local;
  port_name sp_remote;
  /// Set once the successor's node is known (prepared); while dialing it
  /// is unset, and `sp_named` (the relay's caf::to_string of it) and
  /// `sp_key` (where the relay says it listens) say whom to expect.
  caf::node_id sp_node;
  std::string sp_named;
  std::string sp_key;
  std::uint64_t sp_next_send = 1;
  /// Successor user frames, buffered by their number until the swap.
  std::map<std::uint64_t, serialized_message> sp_early;
  /// Successor close, mark and credit frames, and a splice of the
  /// successor by the other endpoint (one prepare, then at most its
  /// abort), replayed after the swap.
  std::vector<frame> sp_held;
  /// The user's port closed while splicing: its close is sent after.
  bool sp_close = false;
  /// As a relay end: the splice it takes part in (0: none).
  std::uint64_t relay = 0;
  /// As a relay end: the answers its endpoint still owes us (one
  /// splice_ready per prepare; one splice_last or splice_ready per go).
  /// An attempt that stopped may still be answered, so the next one waits
  /// until this is 0: an answer is then always the current attempt's.
  std::uint8_t sp_owed = 0;
  /// As a relay end: our splices of this pair that stopped short (refused,
  /// aborted); tried again with backoff up to max_splice_tries.
  std::uint8_t sp_tries = 0;
  /// As a relay end: a retry of its pair is armed (splice_later), so no
  /// second one is.
  bool sp_later = false;
  /// Made by a swap (it was a successor): its other end may not have
  /// swapped yet, so a splice of it is asked only of a node that holds
  /// frames on a successor's name (wire_version_splice_hold).
  bool swapped = false;

  /// Closing or pending: in no splice, now or later.
  bool closing() const noexcept {
    return pending || got_close || sent_close;
  }
  /// Open, in no splice, nothing out of order: can take part in one
  /// (either role), credit in use or not.
  bool spliceable() const noexcept {
    return !closing() && !sp_close && relay == 0 && sp == splice::none
           && early.empty();
  }
};

} // namespace entangle::detail::remote
