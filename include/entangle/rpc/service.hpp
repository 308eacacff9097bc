#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "entangle/abort.hpp"
#include "entangle/array_buffer.hpp"
#include "entangle/message_port.hpp"
#include "entangle/promise.hpp"
#include "entangle/rpc/convert.hpp"
#include "entangle/rpc/promise.hpp"
#include "entangle/rpc/remote.hpp"
#include "entangle/transfer.hpp"
#include "entangle/value.hpp"

namespace entangle::rpc {

/// What a method returns: a value (cloned to the caller, or moved where it
/// is in `transfer`), a C++ type `post_typed` accepts (encoded here, decoded
/// by the caller's `call<T>`), a `readable_stream` (its port moves to the
/// caller: a long result, see docs/guide.md "RPC"), or a promise of any of
/// these the service settles later. Built implicitly from each, or with
/// `rpc::transfer`.
class result {
public:
  result() noexcept = default;

  template <class T, class D = std::decay_t<T>,
            std::enable_if_t<!std::is_same_v<D, result>
                               && !entangle::detail::is_promise<D>::value,
                             int> = 0>
  result(T&& x) {
    if constexpr (entangle::detail::is_callable_message_v<D>)
      detail::reject_wire_type<D>(); // a captureless lambda converts to bool
    else if constexpr (std::is_constructible_v<value, T&&>)
      data = value(std::forward<T>(x));
    else if constexpr (detail::is_wire_type<D>)
      data = detail::to_wire(x, transfer);
    else
      detail::reject_wire_type<D>();
  }

  /// A result that comes later: the promise's value when it settles.
  template <class U>
  result(entangle::promise<U> p) {
    if constexpr (std::is_same_v<U, value>) {
      later = std::move(p);
    } else {
      static_assert(detail::is_wire_type<U>,
                    "entangle::rpc: a method's promise must hold a value, a "
                    "type post_typed accepts or a readable_stream");
      auto t = std::make_shared<transfer_list>();
      later_transfer = t;
      later = p.then([t](U& x) { return detail::to_wire(x, *t); });
    }
  }

  value data;
  transfer_list transfer;
  /// Set for an answer that comes later.
  entangle::promise<value> later;
  /// What a later answer moves (filled when it settles).
  std::shared_ptr<transfer_list> later_transfer;
};

/// A result that moves `transfer` (buffers, ports inside `v`) to the caller
/// (Comlink's `transfer(value, transferables)`).
inline result transfer(value v, transfer_list transfer) {
  result r{std::move(v)};
  r.transfer = std::move(transfer);
  return r;
}

/// One call, as the service's method sees it.
class invocation {
public:
  /// @private
  invocation(std::string method, array args)
    : method_(std::move(method)), args_(std::move(args)) {
  }

  const std::string& method() const noexcept {
    return method_;
  }

  /// The arguments, cloned for this call (transferred ports and buffers
  /// are this context's now).
  array& args() noexcept {
    return args_;
  }
  std::size_t size() const noexcept {
    return args_.size();
  }

  /// Argument `i`. @throws type_error if there are fewer arguments.
  value& arg(std::size_t i);

  /// Returns whether argument `i` is a callback (`rpc::proxy` at the
  /// caller).
  bool is_callback(std::size_t i) const noexcept;

  /// Takes the callback passed as argument `i`: a remote whose `operator()`
  /// calls the caller's function, on the caller's event loop. Release it
  /// when done (the caller's side of it stays alive until then). Callbacks
  /// not taken while the method runs are released when it returns.
  /// @throws type_error if argument `i` is not a callback.
  remote callback(std::size_t i);

  /// The call's abort signal: it fires when the caller cancels the call
  /// (its `call_options::signal`, or its timeout), with the caller's
  /// reason. A method answering later (a promise) can stop its work; what
  /// it still returns is discarded and counted (`service::discarded`).
  /// A method may also take it as its last parameter (`abort_signal`).
  abort_signal signal();

  /// @private The controller behind `signal()`, if it was asked for.
  const std::optional<abort_controller>& controller() const noexcept {
    return abort_;
  }

  /// @private Releases the callbacks nobody took.
  void release_untaken();

  /// @private Releases the callbacks taken so far (argument conversion
  /// failed before the method ran).
  void release_taken();

private:
  std::string method_;
  array args_;
  std::vector<bool> taken_;
  std::vector<remote> remotes_;
  std::optional<abort_controller> abort_;
};

namespace detail {

/// @private Throws the `type_error` for argument `i` of `inv` not being
/// `expected`.
[[noreturn]] void throw_bad_argument(invocation& inv, std::size_t i,
                                     const char* expected);
/// @private Throws the `type_error` for a wrong argument count.
[[noreturn]] void throw_bad_arity(invocation& inv, std::size_t expected);

/// @private Throws the type_error of argument `i` not being `expected`.
struct bad_argument {
  invocation& inv;
  std::size_t i;
  [[noreturn]] void operator()(const char* expected) const {
    throw_bad_argument(inv, i, expected);
  }
};

/// @private Fails to compile, naming the fix, for a parameter type a
/// method cannot take.
template <class T>
constexpr void reject_parameter() {
  using D = std::decay_t<T>;
  constexpr bool ptr = std::is_pointer_v<D>;
  static_assert(!ptr, "entangle::rpc: a method parameter cannot be a "
                      "pointer: take the object itself");
  static_assert(ptr,
                "entangle::rpc: a method parameter must be value, bool, an "
                "integer or floating-point type, std::string, array, object, "
                "array_buffer, message_port, bigint, date, error_value, "
                "rpc::remote (a callback), a readable_stream<T>, a type "
                "post_typed accepts (with inspect(), registered), or a last "
                "abort_signal");
}

/// @private Whether a method can take a parameter of type `P`.
template <class P, class D = std::decay_t<P>>
inline constexpr bool param_ok = std::is_same_v<D, remote>
                                 || std::is_same_v<D, abort_signal>
                                 || is_wire_type<D>;

/// @private The first parameter type a method cannot take (void: none).
template <class... Ps>
struct first_bad {
  using type = void;
};
template <class P, class... Ps>
struct first_bad<P, Ps...> {
  using type = std::conditional_t<param_ok<P>, typename first_bad<Ps...>::type,
                                  P>;
};

/// @private Converts argument `i` to a parameter of type `T`.
template <class T>
decltype(auto) from_arg(invocation& inv, std::size_t i) {
  using D = std::decay_t<T>;
  if constexpr (std::is_same_v<D, remote>) {
    return inv.callback(i);
  } else {
    static_assert(!std::is_same_v<D, abort_signal>,
                  "entangle::rpc: an abort_signal parameter must be the "
                  "method's last one");
    return from_value<T>(inv.arg(i), bad_argument{inv, i});
  }
}

/// @private Converts what a method returned into a result.
template <class F, class... Args>
result invoke_to_result(F& f, Args&&... xs) {
  using R = std::invoke_result_t<F&, Args&&...>;
  if constexpr (std::is_void_v<R>) {
    f(std::forward<Args>(xs)...);
    return result{};
  } else {
    return result{f(std::forward<Args>(xs)...)};
  }
}

/// @private The parameter types of a function, a function pointer, or an
/// object with one (non-template) call operator: a lambda, std::function.
template <class... Ts>
struct param_list {
  static constexpr std::size_t size = sizeof...(Ts);
};

template <class F>
struct params_of : params_of<decltype(&F::operator())> {};

template <class R, class... Ts>
struct params_of<R(Ts...)> {
  using type = param_list<Ts...>;
};

template <class R, class... Ts>
struct params_of<R(Ts...) noexcept> : params_of<R(Ts...)> {};

template <class R, class... Ts>
struct params_of<R (*)(Ts...)> : params_of<R(Ts...)> {};

template <class R, class... Ts>
struct params_of<R (*)(Ts...) noexcept> : params_of<R(Ts...)> {};

template <class C, class R, class... Ts>
struct params_of<R (C::*)(Ts...)> : params_of<R(Ts...)> {};

template <class C, class R, class... Ts>
struct params_of<R (C::*)(Ts...) const> : params_of<R(Ts...)> {};

template <class C, class R, class... Ts>
struct params_of<R (C::*)(Ts...) noexcept> : params_of<R(Ts...)> {};

template <class C, class R, class... Ts>
struct params_of<R (C::*)(Ts...) const noexcept> : params_of<R(Ts...)> {};

template <class... Ts>
struct last_is_signal : std::false_type {};
template <class T>
struct last_is_signal<T> : std::is_same<std::decay_t<T>, abort_signal> {};
template <class T, class U, class... Ts>
struct last_is_signal<T, U, Ts...> : last_is_signal<U, Ts...> {};

/// @private Parameter `I` of a method taking `Params`: argument `I`, or the
/// call's signal for a last `abort_signal`.
template <std::size_t I, class P, class... Params>
decltype(auto) param_at(invocation& inv) {
  if constexpr (last_is_signal<Params...>::value
                && I + 1 == sizeof...(Params))
    return inv.signal();
  else
    return from_arg<P>(inv, I);
}

template <class F, class... Params, std::size_t... Is>
result call_checked(F& f, invocation& inv, param_list<Params...>,
                    std::index_sequence<Is...>) {
  constexpr std::size_t wire_args
    = sizeof...(Params) - (last_is_signal<Params...>::value ? 1 : 0);
  if (inv.size() != wire_args)
    throw_bad_arity(inv, wire_args);
  using converted
    = std::tuple<decltype(param_at<Is, Params, Params...>(inv))...>;
  std::optional<converted> xs;
  try {
    // Braced init: converted left to right, before any user code runs.
    xs.emplace(converted{param_at<Is, Params, Params...>(inv)...});
  } catch (...) {
    // Nobody can hold the callbacks converted so far: let them go.
    inv.release_taken();
    throw;
  }
  return std::apply(
    [&f](auto&&... ys) {
      return invoke_to_result(f, std::forward<decltype(ys)>(ys)...);
    },
    std::move(*xs));
}

template <class F, class... Params, std::size_t... Is>
result call_adapted(F& f, invocation& inv, param_list<Params...> ps,
                    std::index_sequence<Is...> is) {
  using bad = typename first_bad<Params...>::type;
  if constexpr (!std::is_void_v<bad>) {
    reject_parameter<bad>(); // the one error, naming the first bad type
    return {};
  } else {
    return call_checked(f, inv, ps, is);
  }
}

} // namespace detail

/// A method of an exposed service: a function of the `invocation`, or any
/// function with concrete parameter types (value, bool, numbers,
/// std::string, array, object, array_buffer, message_port, bigint, date,
/// error_value, rpc::remote for callbacks, readable_stream<T>, any type
/// `post_typed` accepts, and a last `abort_signal` for cancellation),
/// whose arguments are checked and converted (a mismatch or a wrong count
/// is a `TypeError` to the caller). It may return nothing, anything a
/// `result` is made of (a value, a typed message, a readable_stream, a
/// promise of one), or a `result`. Whatever it throws is the caller's
/// error.
class method {
public:
  using raw_fn = std::function<result(invocation&)>;

  method() = default;

  template <class F,
            class = std::enable_if_t<!std::is_same_v<std::decay_t<F>, method>>>
  method(F f) {
    if constexpr (std::is_invocable_v<F&, invocation&>) {
      fn_ = [f = std::move(f)](invocation& inv) mutable {
        return detail::invoke_to_result(f, inv);
      };
    } else {
      using params = typename detail::params_of<F>::type;
      fn_ = [f = std::move(f)](invocation& inv) mutable {
        return detail::call_adapted(f, inv, params{},
                                    std::make_index_sequence<params::size>{});
      };
    }
  }

  result operator()(invocation& inv) const {
    return fn_(inv);
  }

  explicit operator bool() const noexcept {
    return static_cast<bool>(fn_);
  }

private:
  raw_fn fn_;
};

/// A service: methods by name.
using methods = std::map<std::string, method, std::less<>>;

/// Binds a member function to a shared object, as a method:
/// `{"get", rpc::bind(store, &kv_store::get)}`.
template <class T, class R, class... Args>
auto bind(std::shared_ptr<T> obj, R (T::*fn)(Args...)) {
  return [obj = std::move(obj), fn](Args... xs) -> R {
    return ((*obj).*fn)(std::forward<Args>(xs)...);
  };
}
template <class T, class R, class... Args>
auto bind(std::shared_ptr<T> obj, R (T::*fn)(Args...) const) {
  return [obj = std::move(obj), fn](Args... xs) -> R {
    return ((*obj).*fn)(std::forward<Args>(xs)...);
  };
}

namespace detail {
struct service_state;
} // namespace detail

/// What an exposed service counts (a handle returned by `expose`; it does
/// not keep the service alive: all zeros once it is gone).
class service {
public:
  service() noexcept = default;

  /// Calls answering later (a promise) whose answer is not sent yet.
  std::size_t active_calls() const noexcept;
  /// Calls the caller cancelled (its abort signal, or its timeout) before
  /// the answer: their `invocation::signal()` fired.
  std::size_t cancelled_calls() const noexcept;
  /// Results (or errors) of cancelled calls that arrived afterwards and
  /// were discarded, never sent.
  std::size_t discarded_results() const noexcept;

  /// @private
  explicit service(std::weak_ptr<detail::service_state> st) noexcept
    : st_(std::move(st)) {
  }

private:
  std::weak_ptr<detail::service_state> st_;
};

/// Exposes `table` on `port` (owned by the running context): every call
/// that arrives runs the named method on this context's event loop and
/// answers on the port. Bad input -- an unknown method, wrong arguments, a
/// method that throws, a result that cannot be cloned -- is answered with
/// an error and the service keeps serving. It serves until the caller
/// releases its remote (the port's close event closes this end too), until
/// this end is closed, or until the context ends. A cancel from the caller
/// fires the call's `invocation::signal()`; its late answer is discarded.
/// @throws type_error for a null port; dom_exception `InvalidStateError`
///         for a port that is closed, detached, owned by another context,
///         or when called outside any context.
service expose(const message_port& port, methods table);

/// Passes `fn` by reference as an argument (Comlink's `proxy`): the service
/// receives a callback (`invocation::callback`, or an `rpc::remote`
/// parameter) over a fresh channel, and calling it runs `fn` here.
template <class F>
argument proxy(F fn) {
  return argument{std::make_shared<const method>(method{std::move(fn)})};
}

} // namespace entangle::rpc
