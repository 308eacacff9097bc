#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <memory>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "entangle/abort.hpp"
#include "entangle/message_port.hpp"
#include "entangle/promise.hpp"
#include "entangle/rpc/convert.hpp"
#include "entangle/rpc/promise.hpp"
#include "entangle/transfer.hpp"
#include "entangle/value.hpp"

namespace entangle::rpc {

class method;

/// The promise `remote::call<R>` returns (a `promise<value>` for a type
/// that cannot be a result, which fails to compile with a readable error).
template <class R>
using promise_of = entangle::promise<
  std::conditional_t<detail::is_wire_type<R>, R, value>>;

namespace detail {
struct remote_state;
} // namespace detail

/// One argument of a remote call: a value (cloned, or moved when it or its
/// parts are in the call's transfer list), a C++ type `post_typed` accepts
/// (encoded when the call is made; the method takes it as that type), a
/// `readable_stream` (its port moves to the service), or a local function
/// passed by reference (`rpc::proxy(fn)`, see service.hpp). Anything else
/// fails to compile with one error naming the fix.
class argument {
public:
  template <class T, class D = std::decay_t<T>,
            std::enable_if_t<!std::is_same_v<D, argument>, int> = 0>
  argument(T&& x) {
    if constexpr (entangle::detail::is_callable_message_v<D>) {
      detail::reject_wire_type<D>(); // a captureless lambda converts to bool
    } else if constexpr (std::is_constructible_v<value, T&&>) {
      data_ = value(std::forward<T>(x));
    } else if constexpr (detail::is_readable_stream_v<D>) {
      // Encoding hands the stream's port out; a call that is not sent after
      // all (a later argument fails, the post is refused) gives it back,
      // so the caller's stream is not lost. (A handle: copies share it.)
      D stream{std::forward<T>(x)};
      encode_ = [stream](transfer_list& transfer) {
        return detail::to_wire(stream, transfer);
      };
      undo_ = [stream] { stream.restore_port(); };
    } else if constexpr (detail::is_wire_type<D>) {
      encode_ = [x = D(std::forward<T>(x))](transfer_list& transfer) {
        return detail::to_wire(x, transfer);
      };
    } else {
      detail::reject_wire_type<D>();
    }
  }

  /// @private A callback argument (made by `rpc::proxy`).
  explicit argument(std::shared_ptr<const method> fn) noexcept
    : fn_(std::move(fn)) {
  }

  const value& data() const noexcept {
    return data_;
  }
  const std::shared_ptr<const method>& callback() const noexcept {
    return fn_;
  }

  /// @private The wire value of the argument (encodes a typed message or
  /// a stream, adding what it moves to `transfer`). @throws as `post_typed`.
  value wire(transfer_list& transfer) const {
    return encode_ ? encode_(transfer) : data_;
  }

  /// @private Undoes what `wire` did to the caller's objects when the call
  /// was not sent after all (a stream's port is its own again).
  void unwire() const {
    if (undo_)
      undo_();
  }

private:
  value data_;
  std::function<value(transfer_list&)> encode_;
  std::function<void()> undo_;
  std::shared_ptr<const method> fn_;
};

/// Per-call options: `{timeout}`, `{timeout, transfer}` or all three (a
/// constructor, not an aggregate, so that leaving the later ones out does
/// not warn under -Wextra).
struct call_options {
  call_options() = default;
  call_options(std::chrono::milliseconds timeout, transfer_list transfer = {},
               abort_signal signal = {})
    : timeout(timeout), transfer(std::move(transfer)),
      signal(std::move(signal)) {
  }

  /// Fails the call with `TimeoutError` if no answer came within this time
  /// (the calling context's timers: virtual time under the testkit). 0 means
  /// the remote's default (`wrap`); no timeout if that is 0 too.
  std::chrono::milliseconds timeout{0};
  /// Buffers and ports (found in the arguments) to move instead of copy.
  transfer_list transfer;
  /// Cancels the call when it aborts (WHATWG's `signal` option): the
  /// promise is rejected with the signal's reason at once, the service is
  /// told (its `invocation::signal()` fires with the same reason) and its
  /// late answer is discarded. An already aborted signal sends nothing.
  abort_signal signal;
};

namespace detail {

/// @private Throws the TypeError of a result that is not what `call<R>`
/// expected.
struct bad_result {
  const std::string& method;
  const value& got;
  [[noreturn]] void operator()(const char* expected) const;
};

} // namespace detail

/// The calling side of an exposed service (Comlink's `Remote`): a proxy
/// over one port whose calls return promises.
///
/// A remote is a reference (copies share the calls and the port), used only
/// in the context that wrapped the port. Its lifetime is explicit, as a
/// port's is: it lives until `release()`, until the service's end of the
/// channel closes (released, or its context ended), or until its context
/// ends. While it lives, its port keeps the context alive. When its own
/// context ends first, its pending calls go with it (no continuation runs)
/// and nothing is kept: the state belongs to the port's handlers, and
/// `remote` handles only observe it.
///
/// Errors (the `error_value` a call's promise is rejected with):
/// - whatever the method threw on the far side: its name (a
///   `dom_exception`'s name, `TypeError` for a `type_error`, else `Error`)
///   and its message; `TypeError` for an unknown method or wrong
///   arguments; `DataCloneError` when the result could not be cloned;
/// - `TimeoutError`: no answer within the call's timeout (the call is then
///   cancelled at the service, as by an abort signal);
/// - the reason of the call's abort signal (`AbortError` by default);
/// - `AbortError`: the remote was released, or the service's port closed
///   (the service released it or its context ended), before the answer;
/// - `InvalidStateError`: called after the remote was released or closed;
/// - `DataCloneError`/`TypeError`: the arguments could not be posted (as
///   `message_port::post_message` would throw; nothing changed).
class remote {
public:
  /// A null remote (not connected); calls throw `type_error`.
  remote() noexcept = default;

  explicit operator bool() const noexcept {
    return owner_ != 0;
  }

  /// Calls `method` on the service with `args`. Never throws for remote or
  /// posting errors: the promise is rejected instead (`InvalidStateError`
  /// too when called from a context other than the one that wrapped it).
  /// @throws type_error on a null remote; dom_exception
  ///         `InvalidStateError` outside any context.
  promise call(std::string_view method, std::vector<argument> args = {},
               call_options opts = {}) const;

  /// Calls `method` and converts its result to `R`: a value type (double,
  /// std::string, array, ...), a type `post_typed` accepts, or a
  /// `readable_stream<T>` (a method returning a stream). A result of
  /// another type rejects the promise with a `TypeError` naming both.
  template <class R>
  promise_of<R> call(std::string_view method, std::vector<argument> args = {},
                     call_options opts = {}) const {
    if constexpr (std::is_same_v<R, value>) {
      return call(method, std::move(args), std::move(opts));
    } else if constexpr (detail::is_wire_type<R>) {
      return call(method, std::move(args), std::move(opts))
        .then([m = std::string{method}](value& v) -> R {
          return detail::from_value<R>(v, detail::bad_result{m, v});
        });
    } else {
      detail::reject_wire_type<R>();
      return {};
    }
  }

  /// Calls the remote function itself (a callback proxy received through
  /// `invocation::callback`).
  promise operator()(std::vector<argument> args = {},
                     call_options opts = {}) const;

  /// Closes the port: every pending call fails with `AbortError`, the
  /// service sees `close`, later calls fail with `InvalidStateError`.
  /// Idempotent.
  void release() const;

  /// Returns whether the remote was released or its service's port closed.
  bool closed() const noexcept;

  /// Returns the number of calls waiting for an answer.
  std::size_t pending_calls() const noexcept;

  /// Answers that arrived for calls no longer waiting (cancelled, timed
  /// out): discarded, counted here.
  std::size_t late_answers() const noexcept;

  /// @private
  remote(std::weak_ptr<detail::remote_state> st, std::uint64_t owner) noexcept
    : st_(std::move(st)), owner_(owner) {
  }

private:
  // Weak: the state belongs to the port's handlers (gone when the port
  // closes or its context ends), so a remote captured in a continuation of
  // its own call makes no reference cycle.
  std::weak_ptr<detail::remote_state> st_;
  /// The id of the context that wrapped the port (0: a null remote).
  std::uint64_t owner_ = 0;
};

/// Wraps `port` (owned by the running context) into a proxy for the service
/// exposed on its peer. It sets the port's message and close handlers (and
/// so starts it); do not use the port directly afterwards.
/// `default_timeout` applies to calls that set none (0: no timeout).
/// @throws type_error for a null port; dom_exception `InvalidStateError`
///         for a port that is closed, detached, owned by another context,
///         or when called outside any context.
remote wrap(const message_port& port,
            std::chrono::milliseconds default_timeout = {});

} // namespace entangle::rpc
