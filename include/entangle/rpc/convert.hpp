#pragma once

// @private How RPC arguments and results cross the wire as C++ types: a
// structured-clone value travels as itself; any type `post_typed` accepts
// travels as a typed marker (its registered name and CAF's binary encoding
// of it, made in the sending context); a stream travels as a stream marker
// (its port, transferred). The wire shapes are in <entangle/rpc.hpp>.

#include <cstdint>
#include <string>
#include <type_traits>
#include <typeinfo>
#include <utility>
#include <vector>

#include <caf/binary_deserializer.hpp>
#include <caf/binary_serializer.hpp>

#include "entangle/detail/message_checks.hpp"
#include "entangle/message_port.hpp"
#include "entangle/stream.hpp"
#include "entangle/typed.hpp"
#include "entangle/value.hpp"

namespace entangle::rpc {

class remote;

namespace detail {

/// @private The typed marker for `bytes` of registered type `name`.
value typed_marker(const std::string& name, std::vector<char> bytes);

/// @private The bytes of a typed marker of type `name`, or nullptr when
/// `v` is not one (or is one of another type).
const std::vector<std::uint8_t>* typed_bytes(const value& v,
                                             const std::string& name);

/// @private The stream marker carrying `port` (moved in the transfer list).
value stream_marker(const message_port& port);

/// @private The port of a stream marker, or nullptr.
const message_port* stream_port(const value& v);

/// @private What `v` is, for an error message ("a string", "a typed
/// my::point", "a stream", ...).
std::string describe(const value& v);

template <class T>
struct is_readable_stream : std::false_type {};
template <class U>
struct is_readable_stream<readable_stream<U>> : std::true_type {};

template <class T>
inline constexpr bool is_readable_stream_v = is_readable_stream<T>::value;

/// @private Value alternatives a parameter takes as they are.
template <class D>
inline constexpr bool is_plain_alternative
  = std::is_same_v<D, array> || std::is_same_v<D, object>
    || std::is_same_v<D, array_buffer> || std::is_same_v<D, message_port>
    || std::is_same_v<D, bigint> || std::is_same_v<D, date>
    || std::is_same_v<D, error_value>;

/// @private Whether a parameter or a result of type `D` converts from a
/// value on the wire (what `from_value` handles, callbacks aside).
template <class D>
inline constexpr bool is_wire_type
  = std::is_same_v<D, value> || std::is_arithmetic_v<D>
    || std::is_same_v<D, std::string> || is_plain_alternative<D>
    || is_readable_stream_v<D> || is_typed_message_v<D>;

/// @private Fails to compile, naming the fix, for a type that cannot be an
/// RPC argument or result (exactly one static_assert fires; `what` is
/// "argument" or "result").
template <class T>
constexpr void reject_wire_type() {
  using U = std::remove_cv_t<std::remove_reference_t<T>>;
  constexpr bool fn = entangle::detail::is_callable_message_v<U>;
  constexpr bool ptr = !fn && std::is_pointer_v<U>;
  static_assert(!fn,
                "entangle::rpc: a function or lambda is not an argument: "
                "pass it by reference as rpc::proxy(fn)");
  static_assert(!ptr,
                "entangle::rpc: a pointer cannot cross a port (it would "
                "alias this context's memory): pass the object itself");
  static_assert(fn || ptr,
                "entangle::rpc: this type can be neither a structured-clone "
                "value nor a typed message: convert it to a value (number, "
                "string, entangle::array, entangle::object, ...), or give it "
                "an inspect() overload and register it with "
                "cfg.add_message_type<T>(\"name\") as for post_typed");
}

/// @private The value for argument or result `x` of type `T` (a value, a
/// typed marker, a stream marker; the stream's port goes into
/// `transfer`). Runs in the sending context. @throws dom_exception
/// `DataCloneError` for a typed message whose type is not registered or
/// fails to encode, `InvalidStateError` for a stream already read from.
template <class T>
value to_wire(const T& x, transfer_list& transfer) {
  if constexpr (std::is_constructible_v<value, const T&>) {
    return value(x);
  } else if constexpr (is_readable_stream_v<T>) {
    auto port = x.port();
    transfer.emplace_back(port);
    return stream_marker(port);
  } else {
    const auto& name = entangle::detail::registered_name(typeid(T), false);
    std::vector<char> bytes;
    caf::binary_serializer sink{entangle::detail::current_execution_unit(),
                                bytes};
    if (auto err = sink(const_cast<T&>(x)))
      entangle::detail::throw_encode_error(typeid(T), err);
    return typed_marker(name, std::move(bytes));
  }
}

/// @private Converts `v` (what arrived) to a `T`; `fail(expected)` throws
/// the caller's error naming what was expected.
template <class T, class Fail>
decltype(auto) from_value(value& v, Fail&& fail) {
  using D = std::decay_t<T>;
  if constexpr (std::is_same_v<D, value>) {
    return static_cast<value&>(v);
  } else if constexpr (std::is_same_v<D, bool>) {
    if (auto* b = v.get_if<bool>())
      return *b;
    fail("a boolean");
  } else if constexpr (std::is_integral_v<D>) {
    if (auto* b = v.get_if<bigint>())
      if (b->fits<D>())
        return b->to<D>();
    if (auto* d = v.get_if<double>())
      if (entangle::detail::integral_fits<D>(*d))
        return static_cast<D>(*d);
    fail("an integer in range");
  } else if constexpr (std::is_floating_point_v<D>) {
    if (auto* d = v.get_if<double>())
      return static_cast<D>(*d);
    fail("a number");
  } else if constexpr (std::is_same_v<D, std::string>) {
    if (auto* s = v.get_if<std::string>())
      return static_cast<std::string&>(*s);
    fail("a string");
  } else if constexpr (is_plain_alternative<D>) {
    if (auto* x = v.get_if<D>())
      return static_cast<D&>(*x);
    fail(value{D{}}.type_name());
  } else if constexpr (is_readable_stream_v<D>) {
    if (auto* port = stream_port(v))
      return D{*port};
    fail("a stream");
  } else if constexpr (is_typed_message_v<D>) {
    const auto& name = entangle::detail::registered_name(typeid(D), false);
    auto* bytes = typed_bytes(v, name);
    if (bytes == nullptr)
      fail(("a typed " + name).c_str());
    D out{};
    caf::binary_deserializer source{entangle::detail::current_execution_unit(),
                                    *bytes};
    if (auto err = source(out))
      entangle::detail::throw_decode_error(name, caf::to_string(err));
    if (source.remaining() != 0)
      entangle::detail::throw_decode_error(name,
                                           "trailing bytes after the value");
    return out;
  } else {
    reject_wire_type<T>();
  }
}

} // namespace detail

} // namespace entangle::rpc
