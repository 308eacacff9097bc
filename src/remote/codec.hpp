#pragma once

// The wire format between remote nodes (docs/architecture.md, "Across
// processes"): every frame is one CAF message `(frame_atom, std::string)`
// between the two runtimes' node actors, and the string is entangle's own
// little-endian encoding, written and read here field by field. CAF sees
// only builtin types, so no unregistered type can turn into CAF's silent
// empty message; the decoder checks every length, count, tag and depth
// before anything else looks at a frame.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "entangle/flow_control.hpp"
#include "entangle/value.hpp"

namespace entangle::detail::remote {

/// A 128-bit random name of one end of a cross-process link (ARCHITECTURE
/// §2.5): minted from the OS's CSPRNG, fresh in every process a port
/// reaches. A capability between nodes: a frame naming a link end its
/// sender was never given is a protocol violation.
struct port_name {
  std::uint64_t hi = 0;
  std::uint64_t lo = 0;

  /// A fresh random name (getrandom(2); never the all-zero name).
  static port_name mint();

  std::string to_string() const;

  friend bool operator==(port_name x, port_name y) noexcept {
    return x.hi == y.hi && x.lo == y.lo;
  }
  friend bool operator!=(port_name x, port_name y) noexcept {
    return !(x == y);
  }
  friend bool operator<(port_name x, port_name y) noexcept {
    return x.hi < y.hi || (x.hi == y.hi && x.lo < y.lo);
  }
};

/// Keyed with random numbers drawn once per process: a peer chooses the
/// names it sends (its carried ports' `mine`), and with a fixed hash it
/// could put thousands of them in one bucket of `links_` (every lookup a
/// scan of them).
struct port_name_hash {
  struct keys {
    std::uint64_t a, b, c, d; // b and d odd
  };
  static const keys& key() noexcept;
  std::size_t operator()(port_name n) const noexcept {
    auto& k = key();
    auto x = (n.hi ^ k.a) * k.b + (n.lo ^ k.c) * k.d;
    return static_cast<std::size_t>(x ^ (x >> 29));
  }
};

/// "ENTG": the first field of hello and welcome.
inline constexpr std::uint32_t wire_magic = 0x47544e45;
/// 3: sequenced, ack and greeting frames carry `echo`. 4: `mark` and
/// `credit` frames, and a user frame's carried ports carry their marks.
/// 5: a user frame's payload can be "could not be encoded" (kind 2), and
/// the splice frames (proxy collapse). 6: splice_end carries the credit
/// state the endpoint takes over (a splice with credit in use). 7: an
/// endpoint holds a splice_prepare or splice_abort naming its successor
/// before its swap and takes it after (so a relay may splice a link it
/// just swapped to, whose other end may not have swapped yet). 8: an
/// endpoint takes a splice whose other endpoint is itself (the port came
/// back to the node that holds its peer: the two ends are joined there by
/// an in-process link, node_loop.cpp). A node
/// greets an older peer in its version and never sends a version 4 peer a
/// splice frame or a kind 2 payload, nor a version 5 peer a splice frame.
inline constexpr std::uint16_t wire_version = 8;
inline constexpr std::uint16_t wire_version_min = 4;
/// The first version that knows the splice frames and kind 2 payloads.
inline constexpr std::uint16_t wire_version_splice = 5;
/// The first version whose splice frames carry credit (splice_end's marks
/// and unread): the only one a splice is made with.
inline constexpr std::uint16_t wire_version_splice_credit = 6;
/// The first version that holds a splice frame on its successor's name
/// until its swap: the only one a relay splices a swapped link with.
inline constexpr std::uint16_t wire_version_splice_hold = 7;
/// The first version that joins a splice's two endpoints when both are on
/// it: the only one a relay splices two ends on one node with.
inline constexpr std::uint16_t wire_version_splice_home = 8;

/// Frames from open on are *sequenced*: each carries `echo`, then `pseq`,
/// its number in the sender's stream to that node (1, 2, ...), and `ack`,
/// the last pseq the sender received from the receiver (cumulative).
/// hello, welcome and ack are not sequenced (docs/architecture.md,
/// "Delivery between nodes"); ack carries `echo` first too.
enum class frame_kind : std::uint8_t {
  /// Dialer -> listener, first frame: {magic, version, text = where the
  /// sender listens, "host:port", or empty; session; echo; ack}. Repeated until
  /// answered, and sent again after a reconnect.
  hello = 1,
  /// The answer to hello: {magic, version, text, session, echo, ack} as in
  /// hello.
  welcome,
  /// Open a fresh channel to a named service: {dst = the listener's end
  /// to create, src = the dialer's end, text = service name}.
  open,
  /// The service does not exist: {dst = the dialer's end, text = why}.
  refuse,
  /// A message on a link: {dst, seq, payload, carried link ends}. The
  /// payload is a value, a typed message, or (kind 2) none: the sender
  /// could not encode the message (`text` says why; no carried ports), and
  /// the receiving port gets `messageerror` in its place.
  user,
  /// The sender's end closed; `seq` is the last user seq it sent.
  close,
  /// Not sequenced: {echo, ack, resend}; resend = 1 asks the receiver to send
  /// everything after `ack` again (the sender of the ack saw a gap).
  ack,
  /// The receiving port behind the sender's end `dst` has these marks
  /// (none: lifted): {dst, marks, seq = messages it consumed so far}.
  mark,
  /// The receiving port consumed messages: {dst, seq = how many of the
  /// messages `dst` sent it has consumed in all} (never goes back).
  credit,
  // -- proxy collapse (wire version 5; node_splice.cpp) --
  /// Relay -> endpoint: {dst = the endpoint's end of the relayed link,
  /// src = its name on the successor link, peer = the other endpoint's
  /// name there, text = the other endpoint's node (caf::to_string)}.
  splice_prepare,
  /// Endpoint -> relay: {dst = the relay's end, seq = 1 ready, 0 refused}.
  splice_ready,
  /// Relay -> endpoint: {dst}: send on the successor from now.
  splice_go,
  /// Endpoint -> relay: {dst = the relay's end, seq = the last user seq
  /// sent on the old link}.
  splice_last,
  /// Relay -> endpoint: {dst, seq = the last user seq the relay sent on
  /// the old link, marks = the other endpoint's marks as the relay mirrors
  /// them (none: it has none), unread = the messages the relay sent it and
  /// it did not credit}: deliver up to seq, then receive on the successor,
  /// whose credit counts `unread` messages sent before its first (version
  /// 6; node_credit.cpp, rebase_credit).
  splice_end,
  /// Relay -> endpoint: {dst}: forget the successor (before go only).
  splice_abort,
  /// Endpoint -> endpoint: {dst = the receiver's successor name, src = the
  /// sender's, seq = the last user seq sent on it, resend = this answers
  /// one}: the sender dropped its successor (not a violation for an
  /// unknown name: the receiver may never have heard of the splice; it
  /// answers, so that the sender's tombstone goes).
  splice_drop,
};

/// True for the frame kinds that carry pseq and ack.
inline bool sequenced(frame_kind k) noexcept {
  return k != frame_kind::hello && k != frame_kind::welcome
         && k != frame_kind::ack;
}

/// The marks that travel with one carried port (user frame): `recv`, the
/// port's own (the new port at the receiver gets them; the sender's new
/// link end mirrors them); `send`, its peer's, which the receiver's new
/// link end mirrors. Not enabled: none.
struct carried_flow {
  high_water_mark recv;
  high_water_mark send;
};

/// One decoded frame. Which fields mean something depends on `kind`.
struct frame {
  frame_kind kind = frame_kind::hello;
  std::uint32_t magic = 0;
  std::uint16_t version = 0;
  port_name dst;
  port_name src;
  std::string text;
  /// user: the message's sequence number on its link (1, 2, ...);
  /// close: the last one sent; mark, credit: messages consumed in all.
  std::uint64_t seq = 0;
  /// Sequenced frames: the number in the sender's stream to this node.
  std::uint64_t pseq = 0;
  /// Sequenced frames, hello, welcome, ack: the last pseq received.
  std::uint64_t ack = 0;
  /// hello, welcome: the sender's session with this node (new after it
  /// lost the node; a change tells the receiver to start over).
  std::uint64_t session = 0;
  /// Sequenced frames, hello, welcome, ack: the receiver's session as the
  /// sender knows it (0: none yet). Frames of an ended session carry an old
  /// one: the receiver drops them, and ignores such a greeting's ack.
  std::uint64_t echo = 0;
  /// ack: the receiver should send again everything after `ack`;
  /// splice_drop: this answers one.
  bool resend = false;

  // user payload: a typed message (name + CAF bytes), a value in its
  // in-flight form (src/values/clone_def.hpp), or none (`unencodable`).
  bool typed = false;
  bool unencodable = false;
  std::string typed_name;
  std::vector<char> typed_bytes;
  value data;
  /// Set by the decoder: the form holds port slots, definitions or
  /// references (never trusted from the wire).
  bool needs_rebuild = false;
  /// Set by the decoder: total ArrayBuffer bytes.
  std::size_t buffer_bytes = 0;
  /// user: one entry per carried port, in port-slot order: (the sender's
  /// end of the new link, the receiver's end to create).
  std::vector<std::pair<port_name, port_name>> ports;
  /// user: the marks of each carried port (missing entries: none).
  std::vector<carried_flow> port_flow;
  /// mark: the receiving port's marks; splice_end: the other endpoint's.
  high_water_mark marks;
  /// splice_end: messages sent on towards the other endpoint that it had
  /// not credited when it switched.
  std::uint64_t unread = 0;
  /// Set by the decoder: the frame's encoded size.
  std::size_t wire_size = 0;
  /// splice_prepare: the other endpoint's name on the successor link.
  port_name peer;
};

/// Encodes `f`. For a user frame, `f.data` must be an in-flight form.
/// @throws dom_exception DataCloneError for a value kind that has no wire
///         form (never produced by structured clone's serializer).
std::string encode(const frame& f);

/// Decodes `bytes`, or returns nullopt with `why` set. Nesting deeper than
/// `max_depth` is refused (the decoder and the receiver recurse).
std::optional<frame> decode(std::string_view bytes, std::size_t max_depth,
                            std::string& why);

} // namespace entangle::detail::remote
