#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "entangle/detail/message_checks.hpp"
#include "entangle/fwd.hpp"

namespace entangle {

namespace detail {
class broadcast_object;
} // namespace detail

/// The web's `BroadcastChannel`: every object with the same name and the
/// same origin, in any context of the runtime, receives what one of them
/// posts, except the posting object itself.
///
/// Like a port, the object belongs to the context that constructed it and a
/// handle is inert anywhere else; copies refer to the same object.
///
/// Rules (HTML §14):
/// - `post_message` from a closing context does nothing; after `close()` it
///   throws `InvalidStateError` (before serializing); then the value is
///   serialized once (DataCloneError as for ports; no transfer list, so no
///   ports) and each destination deserializes a fresh copy.
/// - Destinations: every other open object with an identical name and the
///   same origin (opaque origins match only themselves), those in the
///   sender's context included; within one context in creation order.
/// - `close()` is checked at delivery: closing after a post but before its
///   delivery means it is not delivered (counted as a `closed` drop).
/// - Events: `message` with `data` and `origin` (the sender's, serialized;
///   "null" when opaque), `source` empty, `ports` empty; `messageerror`
///   when the receiver cannot deserialize.
/// - An open object with a message or messageerror handler keeps its
///   context alive.
class broadcast_channel {
public:
  /// A null handle.
  broadcast_channel() noexcept = default;

  /// Joins the channel `name` (any string, "" included) in the current
  /// context. @throws dom_exception `InvalidStateError` outside a context.
  explicit broadcast_channel(std::string name);

  explicit operator bool() const noexcept {
    return obj_ != nullptr;
  }

  /// The channel name.
  const std::string& name() const;

  void post_message(value message) const;
  /// @private Not a `value` (a std::vector<int>, a std::map, a lambda...):
  /// fails to compile with a message that names the fix.
  template <class T, class... Rest, detail::if_not_value<T> = 0>
  void post_message(T&&, Rest&&...) const {
    detail::reject_non_value<T>();
  }

  /// Leaves the channel: nothing more is delivered to this object, queued
  /// deliveries included. Idempotent, never throws.
  void close() const;

  bool closed() const noexcept;

  /// Sets `onmessage` / `onmessageerror`.
  void on_message(event_handler fn) const;
  void on_messageerror(event_handler fn) const;

  /// Listeners for "message" and "messageerror".
  listener_id add_event_listener(std::string_view type, event_handler fn) const;
  void remove_event_listener(std::string_view type, listener_id id) const;

private:
  std::shared_ptr<detail::broadcast_object> obj_;
};

} // namespace entangle
