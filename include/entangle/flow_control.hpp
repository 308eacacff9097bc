#pragma once

// Flow control on ports: the receiver's high-water mark and the credit the
// sender sees (docs/guide.md, "Flow control"; the design and how it carries
// to ports across processes: docs/architecture.md, "Flow control").

#include <cstddef>
#include <cstdint>
#include <optional>

#include "entangle/fwd.hpp"

namespace entangle {

/// A port's high-water mark: how much *unread* data the port wants queued
/// for it, set by its receiver (`message_port::set_high_water_mark`) or for
/// every port by `runtime_config::port_high_water_mark`.
///
/// Unread means posted by the peer and not yet taken by this port's event
/// loop (a drain takes at most `runtime_config::dispatch_batch` messages at
/// a time). The peer, the sender, sees the room left
/// (`message_port::desired_size`, `desired_bytes`) and gets a `ready` event
/// when the queue drops below the mark again after reaching it.
///
/// The mark is soft; the hard limit is `hard_factor` times it: a post that
/// would leave more than that unread throws `QuotaExceededError` at the
/// sender and changes nothing (nothing is queued, shipped or detached).
/// A post to an empty queue is always accepted, so one message larger than
/// the byte limit can still be sent. Memory per port is therefore bounded
/// by the hard limit, plus one batch being dispatched, plus one message.
///
/// A mark is a property of the receiving port: it travels with the port
/// when it is transferred, and so does the count of what is unread.
struct high_water_mark {
  /// Unread messages at which the sender sees backpressure (0: no mark).
  std::size_t messages = 0;
  /// Unread bytes (`message_size`) at which the sender sees backpressure
  /// (0: no mark).
  std::size_t bytes = 0;
  /// The hard limit as a multiple of the marks (values below 1 count as 1).
  std::size_t hard_factor = 2;

  /// Whether any mark is set.
  bool enabled() const noexcept {
    return messages != 0 || bytes != 0;
  }

  friend bool operator==(const high_water_mark& x, const high_water_mark& y) {
    return x.messages == y.messages && x.bytes == y.bytes
           && x.hard_factor == y.hard_factor;
  }
  friend bool operator!=(const high_water_mark& x, const high_water_mark& y) {
    return !(x == y);
  }
};

/// The size a message counts for against a byte mark: what the clone
/// copies -- the bytes of its strings and buffers (keys and error texts
/// included; a typed-array view or DataView counts its whole buffer, which
/// the clone copies), each graph node (`shared_object`, `shared_array`,
/// `value_map`, `value_set`) once with its contents however often it is
/// reached, plus 8 per other item (numbers, booleans, entries, ports). A
/// typed message counts its encoded bytes and its type name.
std::size_t message_size(const value& v);

} // namespace entangle
