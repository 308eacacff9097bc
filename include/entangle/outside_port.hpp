#pragma once

#include <chrono>
#include <cstdint>
#include <future>
#include <memory>
#include <optional>
#include <vector>

#include "entangle/flow_control.hpp"
#include "entangle/value.hpp"

namespace entangle {

namespace detail {
struct outside_state;
} // namespace detail

class outside_port;

/// A message that reached an `outside_port`.
struct outside_message {
  /// The clone of the posted value. Port references inside it are inert
  /// outside a context: the ports arrive in `ports`.
  value data;
  /// The ports it carried, in transfer-list order, each now an
  /// `outside_port` of the receiving thread(s).
  std::vector<outside_port> ports;
};

/// The way in from a thread that is not a context (main, an I/O thread, a
/// test): one end of a channel whose other end lives in a context
/// (`runtime::connect`). Posting keeps every rule of `message_port`
/// (structured clone, transfer, per-port FIFO with everything else posted
/// to that context); receiving is blocking (`receive`) or a future
/// (`next`), completed from the runtime's event loop.
///
/// Thread safety: every member may be called from any thread that is not
/// running a context of the runtime (there use `message_port`; a context
/// must never block): InvalidStateError there. Copies refer to the same
/// port. Calls after the runtime was destroyed are inert (the port reads
/// as closed).
///
/// Behind it, each runtime runs one hidden "outside" context that owns the
/// outside ends (it is not counted by `live_contexts()` and never keeps
/// `run()` waiting); outside_port operations are messages to it.
class outside_port {
public:
  outside_port() noexcept = default;

  explicit operator bool() const noexcept {
    return st_ != nullptr;
  }

  /// Posts a clone of `message` to the context's end, like
  /// message_port::post_message. Without transfers it does not wait for
  /// the runtime; with `transfer` (other outside ports, buffers) it waits
  /// until the post happened, since a transfer changes the sender.
  ///
  /// Flow control holds as for `message_port`: when the context's end has
  /// a high-water mark, a post that would take its unread data past the
  /// hard limit throws `QuotaExceededError` here, on the posting thread,
  /// and changes nothing. Posts on their way to the runtime count as
  /// unread, so a flood from this thread cannot pass the limit either.
  /// @throws dom_exception DataCloneError as message_port does; also for
  ///         an outside port in `transfer` that still has unread messages
  ///         (read them first: they already left its queue);
  ///         QuotaExceededError past the receiver's hard limit.
  void post_message(value message) const;
  void post_message(value message, std::vector<outside_port> transfer) const;

  /// The room the context's end has left under its high-water mark in
  /// messages (bytes): mark minus unread, counting posts still on their way
  /// (at most 0 means backpressure); nullopt when it has no such mark.
  std::optional<std::int64_t> desired_size() const;
  std::optional<std::int64_t> desired_bytes() const;

  /// Waits up to `timeout` until the context's end has room under its
  /// marks (at once without a mark): an outside thread may block, where a
  /// context waits for the `ready` event instead. Returns whether it has
  /// room; false on timeout, or when the port is closed.
  bool wait_ready(std::chrono::milliseconds timeout) const;

  /// The high-water mark of this end (what a context posting here sees,
  /// as `message_port::set_high_water_mark` on a context's port): messages
  /// received here and not yet taken by `receive`, `try_receive` or
  /// `next` count as unread, so a context sending to a slow outside thread
  /// gets backpressure, `ready` when the thread catches up, and
  /// QuotaExceededError past the hard limit. Messages already waiting
  /// count from the call on. Waits until the mark is in place; inert once
  /// closed or transferred. The runtime's default mark applies here too.
  void set_high_water_mark(const high_water_mark& mark) const;
  high_water_mark water_mark() const;
  /// Waits up to `timeout` for the next message. nullopt: none arrived in
  /// time, or the port is closed and drained (see `closed()`).
  std::optional<outside_message> receive(std::chrono::milliseconds timeout)
    const;

  /// The next message without waiting, if one is there.
  std::optional<outside_message> try_receive() const;

  /// A future for the next message (each call claims the next one, in
  /// order), completed by the runtime's event loop. Once the port is
  /// closed and drained the future holds a dom_exception InvalidStateError.
  std::future<outside_message> next() const;

  /// Closes this end: the context's end gets `close` after everything
  /// posted here. Idempotent.
  void close() const;

  /// Whether no message will ever come: closed here, transferred away, or
  /// the context's end closed (or its context ended) and everything it
  /// posted was received.
  bool closed() const;

  /// @private
  explicit outside_port(std::shared_ptr<detail::outside_state> st) noexcept
    : st_(std::move(st)) {
  }

  /// @private
  const std::shared_ptr<detail::outside_state>& state() const noexcept {
    return st_;
  }

private:
  std::shared_ptr<detail::outside_state> st_;
};

} // namespace entangle
