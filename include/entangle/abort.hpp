#pragma once

// Cancellation in the shape of the web's AbortController and AbortSignal:
// a controller aborts, with a reason, every operation it handed its signal
// to (an RPC call, a stream pipe).

#include <chrono>
#include <functional>
#include <memory>
#include <optional>

#include "entangle/fwd.hpp"
#include "entangle/value.hpp"

namespace entangle {

namespace detail {
struct abort_state;
} // namespace detail

/// WHATWG `AbortSignal`: whether an operation should stop, and why.
///
/// A signal is a reference (copies share the state), used in the context
/// that made it; its listeners run on that context's thread. A default
/// constructed signal never aborts.
class abort_signal {
public:
  abort_signal() noexcept = default;

  /// Returns a signal that is already aborted with `reason`.
  static abort_signal aborted_with(error_value reason);

  /// Returns a signal that aborts with a `TimeoutError` after `delay`, on
  /// the running context's timers (virtual time under the testkit). The
  /// timer does not keep the context alive.
  /// @throws dom_exception `InvalidStateError` outside any context.
  static abort_signal timeout(std::chrono::milliseconds delay);

  /// Returns whether this signal can abort at all (not a default one).
  explicit operator bool() const noexcept {
    return st_ != nullptr;
  }

  /// Returns whether it aborted.
  bool aborted() const noexcept;

  /// The reason once aborted, else nullptr.
  const error_value* reason() const noexcept;

  /// Runs `fn` with the reason when it aborts, once (the web's "abort"
  /// event: added after the abort, it never runs; check `aborted()`).
  /// Returns an id for `remove_listener`; 0 on a default signal.
  listener_id on_abort(std::function<void(const error_value&)> fn) const;

  /// Removes a listener; unknown ids are ignored.
  void remove_listener(listener_id id) const noexcept;

  /// Throws the reason as a `dom_exception` if aborted (the web's
  /// `throwIfAborted`).
  void throw_if_aborted() const;

  /// @private
  explicit abort_signal(std::shared_ptr<detail::abort_state> st) noexcept
    : st_(std::move(st)) {
  }

private:
  friend class abort_controller;
  std::shared_ptr<detail::abort_state> st_;
};

/// WHATWG `AbortController`: makes a signal and aborts it.
class abort_controller {
public:
  abort_controller();

  /// The signal to hand to operations.
  const abort_signal& signal() const noexcept {
    return signal_;
  }

  /// Aborts the signal with `reason` (first call wins): its listeners run
  /// now, in the order they were added.
  void abort(error_value reason
             = error_value{"AbortError", "the operation was aborted"}) const;

private:
  abort_signal signal_;
};

} // namespace entangle
