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

#include "entangle/array_buffer.hpp"
#include "entangle/message_port.hpp"
#include "entangle/rpc/promise.hpp"
#include "entangle/rpc/remote.hpp"
#include "entangle/transfer.hpp"
#include "entangle/value.hpp"

namespace entangle::rpc {

/// What a method returns: a value (cloned to the caller, or moved where it
/// is in `transfer`), or a promise the service settles later (its value is
/// cloned when it settles). Built implicitly from anything a `value` can be
/// made of, from a `promise`, or with `rpc::transfer`.
class result {
public:
  result() noexcept = default;

  template <class T,
            class = std::enable_if_t<std::is_constructible_v<value, T&&>>>
  result(T&& x) : data(std::forward<T>(x)) {
  }

  result(promise later) noexcept : later(std::move(later)) {
  }

  value data;
  transfer_list transfer;
  /// Set for an answer that comes later.
  promise later;
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
};

namespace detail {

/// @private Throws the `type_error` for argument `i` of `inv` not being
/// `expected`.
[[noreturn]] void throw_bad_argument(invocation& inv, std::size_t i,
                                     const char* expected);
/// @private Throws the `type_error` for a wrong argument count.
[[noreturn]] void throw_bad_arity(invocation& inv, std::size_t expected);

template <class>
inline constexpr bool unsupported_parameter = false;

/// @private Value alternatives a parameter takes as they are.
template <class D>
inline constexpr bool is_plain_alternative
  = std::is_same_v<D, array> || std::is_same_v<D, object>
    || std::is_same_v<D, array_buffer> || std::is_same_v<D, message_port>
    || std::is_same_v<D, bigint> || std::is_same_v<D, date>
    || std::is_same_v<D, error_value>;

/// @private Converts argument `i` to a parameter of type `T`.
template <class T>
decltype(auto) from_arg(invocation& inv, std::size_t i) {
  using D = std::decay_t<T>;
  value& v = inv.arg(i);
  if constexpr (std::is_same_v<D, value>) {
    return static_cast<value&>(v);
  } else if constexpr (std::is_same_v<D, remote>) {
    return inv.callback(i);
  } else if constexpr (std::is_same_v<D, bool>) {
    if (auto* b = v.get_if<bool>())
      return *b;
    throw_bad_argument(inv, i, "a boolean");
  } else if constexpr (std::is_integral_v<D>) {
    if (auto* b = v.get_if<bigint>())
      if (b->fits<D>())
        return b->to<D>();
    if (auto* d = v.get_if<double>())
      if (entangle::detail::integral_fits<D>(*d))
        return static_cast<D>(*d);
    throw_bad_argument(inv, i, "an integer in range");
  } else if constexpr (std::is_floating_point_v<D>) {
    if (auto* d = v.get_if<double>())
      return static_cast<D>(*d);
    throw_bad_argument(inv, i, "a number");
  } else if constexpr (std::is_same_v<D, std::string>) {
    if (auto* s = v.get_if<std::string>())
      return static_cast<std::string&>(*s);
    throw_bad_argument(inv, i, "a string");
  } else if constexpr (is_plain_alternative<D>) {
    if (auto* x = v.get_if<D>())
      return static_cast<D&>(*x);
    throw_bad_argument(inv, i, value{D{}}.type_name());
  } else {
    static_assert(unsupported_parameter<T>,
                  "rpc: a method parameter must be value, bool, an integer "
                  "or floating-point type, std::string, array, object, "
                  "array_buffer, message_port, bigint, date, error_value or "
                  "rpc::remote (a callback)");
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

template <class F, class... Params, std::size_t... Is>
result call_adapted(F& f, invocation& inv, param_list<Params...>,
                    std::index_sequence<Is...>) {
  if (inv.size() != sizeof...(Params))
    throw_bad_arity(inv, sizeof...(Params));
  using converted = std::tuple<decltype(from_arg<Params>(inv, Is))...>;
  std::optional<converted> xs;
  try {
    // Braced init: converted left to right, before any user code runs.
    xs.emplace(converted{from_arg<Params>(inv, Is)...});
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

} // namespace detail

/// A method of an exposed service: a function of the `invocation`, or any
/// function with concrete parameter types (value, bool, numbers,
/// std::string, array, object, array_buffer, message_port, bigint, date,
/// error_value, rpc::remote for callbacks), whose arguments are checked and
/// converted (a mismatch or a wrong count is a `TypeError` to the caller).
/// It may return nothing, anything a `value` is made of, a `result` or a
/// `promise`. Whatever it throws is the caller's error.
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

/// Exposes `table` on `port` (owned by the running context): every call
/// that arrives runs the named method on this context's event loop and
/// answers on the port. Bad input -- an unknown method, wrong arguments, a
/// method that throws, a result that cannot be cloned -- is answered with
/// an error and the service keeps serving. It serves until the caller
/// releases its remote (the port's close event closes this end too), until
/// this end is closed, or until the context ends.
/// @throws type_error for a null port; dom_exception `InvalidStateError`
///         for a port that is closed, detached, owned by another context,
///         or when called outside any context.
void expose(const message_port& port, methods table);

/// Passes `fn` by reference as an argument (Comlink's `proxy`): the service
/// receives a callback (`invocation::callback`, or an `rpc::remote`
/// parameter) over a fresh channel, and calling it runs `fn` here.
template <class F>
argument proxy(F fn) {
  return argument{std::make_shared<const method>(method{std::move(fn)})};
}

} // namespace entangle::rpc
