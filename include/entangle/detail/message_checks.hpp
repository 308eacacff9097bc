#pragma once

// @private Compile-time checks behind the `post_message` overloads: a
// message that is not a structured-clone `value` (a std::vector<int>, a
// std::map, a lambda, your own struct) fails to compile with one
// static_assert naming the fix, instead of "no matching function ...
// candidate expects 2 arguments" and a page of candidates.

#include <type_traits>
#include <utility>

namespace entangle {

class value;

namespace detail {

template <class T, class = void>
struct has_call_operator : std::false_type {};

template <class T>
struct has_call_operator<T, std::void_t<decltype(&T::operator())>>
  : std::true_type {};

/// @private A lambda or a std::function. (Plain functions and pointers are
/// not caught here: they convert to bool, hence to a `value`.)
template <class T>
inline constexpr bool is_callable_message_v = has_call_operator<T>::value;

template <class T, class = void>
struct is_map_like : std::false_type {};

template <class T>
struct is_map_like<
  T, std::void_t<typename T::key_type, typename T::mapped_type>>
  : std::true_type {};

template <class T, class = void>
struct is_range_like : std::false_type {};

template <class T>
struct is_range_like<T, std::void_t<decltype(std::declval<T&>().begin()),
                                    decltype(std::declval<T&>().end())>>
  : std::true_type {};

/// @private Enables the rejecting overloads: `T` does not convert to
/// `value` (V is `value`, named late so it may be incomplete here).
template <class T, class V = value>
using if_not_value = std::enable_if_t<!std::is_convertible_v<T, V>, int>;

/// @private Fails to compile with the message that names the fix for a
/// message of type `T` (exactly one of these fires).
template <class T>
constexpr void reject_non_value() {
  using U = std::remove_cv_t<std::remove_reference_t<T>>;
  constexpr bool fn = is_callable_message_v<U>;
  constexpr bool map = !fn && is_map_like<U>::value;
  constexpr bool range = !fn && !map && is_range_like<U>::value;
  static_assert(!fn,
                "entangle: a function or lambda cannot be posted (the web "
                "throws DataCloneError for one): post data, or hand the "
                "function to an RPC call as rpc::proxy(fn) "
                "(<entangle/rpc.hpp>)");
  static_assert(!map,
                "entangle: a std::map cannot be posted as is: copy it into "
                "an entangle::object (std::map<std::string, value, "
                "std::less<>>), e.g. value::obj({{\"key\", 1}}), or post "
                "your own type with post_typed (<entangle/typed.hpp>)");
  static_assert(!range,
                "entangle: a container of non-values (e.g. std::vector<int>) "
                "cannot be posted as is: copy it into an entangle::array "
                "(std::vector<value>): array(v.begin(), v.end()) or "
                "value::arr({1, 2, 3}), or use post_typed "
                "(<entangle/typed.hpp>)");
  static_assert(fn || map || range,
                "entangle: this type is not a structured-clone value (a "
                "number, bool, string, entangle::array, entangle::object, "
                "array_buffer, message_port, ...): convert it to one, or "
                "give it an inspect() overload, register it and post it with "
                "post_typed (<entangle/typed.hpp>)");
}

} // namespace detail

} // namespace entangle
