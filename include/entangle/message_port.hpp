#pragma once

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include "entangle/detail/message_checks.hpp"
#include "entangle/flow_control.hpp"
#include "entangle/fwd.hpp"

namespace entangle {

/// One end of a channel: the C++ face of the web's `MessagePort`.
///
/// A `message_port` is a *reference* to a port object that lives in exactly
/// one context (copies refer to the same port, like two JS variables holding
/// one MessagePort). It is also a *capability*: only code running in the
/// owning context may post, start, close or transfer it; used from anywhere
/// else the handle is inert, the operation is counted as a
/// `drop_reason::foreign_context` drop and a warning says why.
///
/// Lifetime and ownership:
/// - A port is created by `message_channel` (there is no public constructor
///   for a live port) or received in a `message_event`'s `ports`.
/// - Posting the port in a transfer list *moves* it: every handle to it in
///   the sending context is detached at once (`detached()`), further calls
///   on it are no-ops, and the receiver gets a new port object.
/// - `close()` disentangles the pair; the peer gets a `close` event after
///   every message this end posted. The closed end dispatches nothing more.
/// - When the owning context ends (normally, by an exception, or terminated)
///   every port it owns is closed the same way.
///
/// Start rules (HTML "port message queue"): the queue starts disabled and
/// holds messages until `start()`; `on_message(...)` starts it (as setting
/// `onmessage` does); `add_event_listener` does not; a received port always
/// starts disabled.
class message_port {
public:
  /// Creates a null handle (not a port). Posting or transferring a null
  /// handle is a `type_error`, like `null` in a JS transfer list.
  message_port() noexcept = default;

  /// Returns whether this handle refers to a port object at all.
  explicit operator bool() const noexcept {
    return obj_ != nullptr;
  }

  /// Returns whether both handles refer to the same port object.
  friend bool operator==(const message_port& x, const message_port& y) {
    return x.obj_ == y.obj_;
  }
  friend bool operator!=(const message_port& x, const message_port& y) {
    return !(x == y);
  }

  // -- messaging -------------------------------------------------------------

  /// Posts a clone of `message` to the entangled peer.
  /// @throws type_error if a transfer item is a null handle.
  /// @throws dom_exception `DataCloneError` if the message cannot be cloned
  ///         (a `host_object`, a port not in `transfer`, a detached buffer,
  ///         nesting too deep), if `transfer` holds this port, a duplicate, a
  ///         detached or foreign item.
  /// A failed post changes nothing. A post on a closed, detached or
  /// unentangled port serializes (so transfers take effect) and then drops
  /// the message, counting it.
  void post_message(value message) const;
  void post_message(value message, std::vector<transferable> transfer) const;
  void post_message(value message,
                    std::initializer_list<transferable> transfer) const;
  void post_message(value message,
                    const structured_serialize_options& options) const;
  /// @private Not a `value` (a std::vector<int>, a std::map, a lambda...):
  /// fails to compile with a message that names the fix.
  template <class T, class... Rest, detail::if_not_value<T> = 0>
  void post_message(T&&, Rest&&...) const {
    detail::reject_non_value<T>();
  }
  /// @private As above, with a braced transfer list.
  template <class T, detail::if_not_value<T> = 0>
  void post_message(T&&, std::initializer_list<transferable>) const {
    detail::reject_non_value<T>();
  }

  /// Enables the port message queue: queued messages are dispatched in
  /// order, each as its own task. Idempotent.
  void start() const;

  /// Closes this end: no more dispatch here, queued messages are dropped
  /// (counted), the peer gets `close` after everything this end posted.
  /// Idempotent; never throws.
  void close() const;

  // -- event handlers --------------------------------------------------------

  /// Sets the `onmessage` handler and starts the queue (as the web does,
  /// even when `fn` is empty).
  void on_message(event_handler fn) const;

  /// Sets the `onmessageerror` handler (does not start the queue).
  void on_messageerror(event_handler fn) const;

  /// Sets the `onclose` handler (does not start the queue).
  void on_close(event_handler fn) const;

  /// Sets the `onready` handler (flow control, see below) and starts the
  /// queue: the ready notice travels in band, like a message.
  void on_ready(event_handler fn) const;

  /// Adds a listener for "message", "messageerror", "close" or "ready".
  /// Does not start the queue. @throws type_error for any other event type.
  listener_id add_event_listener(std::string_view type, event_handler fn) const;

  /// Removes a listener added with `add_event_listener`; unknown ids are
  /// ignored.
  void remove_event_listener(std::string_view type, listener_id id) const;

  // -- flow control (flow_control.hpp; docs/guide.md "Flow control") ---------
  //
  // The receiver sets a high-water mark on its own port; the sender reads
  // the room left on its end (`desired_size`, WHATWG Streams' name) and
  // gets a `ready` event, in order with the peer's messages, each time the
  // peer's queue drops below the mark after reaching it (crossings that
  // happen while an earlier ready is still queued here fold into it). Past
  // the hard limit a post throws `QuotaExceededError` and changes nothing.
  // Marks and counts travel with the ports; contexts never block.

  /// Receiver side: sets the high-water mark of this port's queue (what
  /// its peer may leave unread here); `{}` lifts it. Lifting or raising it
  /// while the queue is at the mark sends the peer its ready event.
  void set_high_water_mark(const high_water_mark& mark) const;

  /// Returns this port's high-water mark (`enabled()` false when none).
  high_water_mark water_mark() const;

  /// Sender side: the peer's message mark minus what is unread there (at
  /// most 0 means backpressure); nullopt when the peer has no message mark
  /// or the port is closed, detached, foreign or unentangled.
  std::optional<std::int64_t> desired_size() const;

  /// Sender side: the same for the peer's byte mark (`message_size`).
  std::optional<std::int64_t> desired_bytes() const;

  /// Sender side: whether the peer's queue is at one of its marks (WHATWG
  /// Streams' [[backpressure]]): wait for `ready` before posting more.
  bool backpressure() const;

  // -- lifetime (Node's ref/unref) ---------------------------------------------

  /// A started port waiting for messages keeps its context alive (the rule
  /// is in docs/architecture.md, "Contexts and liveness"). `unref()` makes
  /// this one not count: the context may end while it waits (then the
  /// port closes, as every port of an ended context does); it still
  /// dispatches while the context lives. `ref()` undoes it. Ports start
  /// referenced. No-ops on an inert handle.
  void ref() const;
  void unref() const;
  bool has_ref() const noexcept;

  // -- state -----------------------------------------------------------------

  /// Returns whether the port was transferred away or closed (its JS
  /// `[[Detached]]` slot).
  bool detached() const noexcept;

  /// Returns whether `close()` was called on this port or its context ended.
  bool closed() const noexcept;

  /// Returns whether the port queue is enabled.
  bool started() const noexcept;

  /// @private Internal access.
  const std::shared_ptr<detail::port_object>& object() const noexcept {
    return obj_;
  }

  /// @private Wraps a port object.
  explicit message_port(std::shared_ptr<detail::port_object> obj) noexcept
    : obj_(std::move(obj)) {
  }

private:
  std::shared_ptr<detail::port_object> obj_;
};

} // namespace entangle
