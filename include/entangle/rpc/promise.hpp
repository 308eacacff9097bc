#pragma once

#include <functional>
#include <memory>

#include "entangle/value.hpp"

namespace entangle::rpc {

namespace detail {
struct promise_state;
} // namespace detail

/// The eventual result of a remote call: pending, then fulfilled with a
/// `value` or rejected with an `error_value` (name + message), once.
///
/// A promise belongs to the context that created it, like a port: its
/// continuations run on that context's event loop. Continuations added
/// before it settles run, in the order they were added, inside the task
/// that settles it (the reply's message event, the timeout's timer, the
/// close event) -- the way JavaScript runs reactions as microtasks right
/// after that task's code. Continuations added after it settled run as a
/// queued task of the running context, never inside `then` itself.
///
/// An exception escaping a continuation ends the context, as one escaping a
/// handler does. A copy of a promise refers to the same state. A promise
/// rejected without any error continuation is reported as a warning when
/// its last copy goes (JavaScript's "unhandled rejection").
class promise {
public:
  using value_fn = std::function<void(value&)>;
  using error_fn = std::function<void(const error_value&)>;

  /// A null promise (no state); `then` on it throws `type_error`.
  promise() noexcept = default;

  /// Creates a pending promise owned by the running context (for methods
  /// that answer later: return it, settle it with `resolve` or `reject`).
  /// @throws dom_exception `InvalidStateError` outside any context.
  static promise make();

  /// Returns an already rejected promise (its continuations run as a task).
  static promise make_rejected(error_value e);

  explicit operator bool() const noexcept {
    return st_ != nullptr;
  }

  /// Adds a continuation for the value and, optionally, one for the error.
  /// The value is shared by every value continuation of this promise.
  /// Returns `*this`, so calls chain. @throws type_error on a null promise.
  const promise& then(value_fn on_value, error_fn on_error = {}) const;

  /// Adds an error continuation only (JavaScript's `catch`).
  const promise& on_error(error_fn fn) const;

  /// Settles the promise; the first settlement wins, later ones are
  /// ignored. Must run in the owning context.
  void resolve(value v) const;
  void reject(error_value e) const;

  bool pending() const noexcept;
  bool fulfilled() const noexcept;
  bool rejected() const noexcept;

  /// The value once fulfilled, else nullptr.
  const value* result() const noexcept;

  /// The error once rejected, else nullptr.
  const error_value* error() const noexcept;

private:
  explicit promise(std::shared_ptr<detail::promise_state> st) noexcept
    : st_(std::move(st)) {
  }

  std::shared_ptr<detail::promise_state> st_;
};

} // namespace entangle::rpc
