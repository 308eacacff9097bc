#pragma once

#include <cstdint>
#include <initializer_list>
#include <map>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "entangle/array_buffer.hpp"
#include "entangle/message_port.hpp"

namespace entangle {

/// JavaScript's `undefined`.
struct undefined_t {
  friend bool operator==(undefined_t, undefined_t) noexcept {
    return true;
  }
};

/// JavaScript's `null`.
struct null_t {
  friend bool operator==(null_t, null_t) noexcept {
    return true;
  }
};

inline constexpr undefined_t undefined{};
inline constexpr null_t null{};

/// A BigInt-like integer (kept exact; numbers are doubles as in JS).
struct bigint {
  std::int64_t v = 0;
  friend bool operator==(bigint x, bigint y) noexcept {
    return x.v == y.v;
  }
};

/// A Date: milliseconds since the Unix epoch (JS time value).
struct date {
  double time_value = 0;
  friend bool operator==(date x, date y) noexcept {
    return x.time_value == y.time_value;
  }
};

/// An Error object. Cloning normalises `name` to one of Error, EvalError,
/// RangeError, ReferenceError, SyntaxError, TypeError, URIError (HTML
/// StructuredSerialize), and keeps `message`.
struct error_value {
  std::string name = "Error";
  std::string message;
  friend bool operator==(const error_value& x, const error_value& y) {
    return x.name == y.name && x.message == y.message;
  }
};

/// A local object that has no structured-clone form (a function, a Symbol, a
/// DOM node, a socket...). It can live in a value inside one context, but
/// posting it throws `DataCloneError`.
struct host_object {
  std::string kind;
  friend bool operator==(const host_object& x, const host_object& y) {
    return x.kind == y.kind;
  }
};

namespace detail {
/// @private Placeholder for the i-th transferred port inside a message that
/// is in flight; replaced by the received port before user code sees it.
struct port_slot {
  std::uint32_t index = 0;
  friend bool operator==(port_slot x, port_slot y) noexcept {
    return x.index == y.index;
  }
};
} // namespace detail

class value;

/// An Array.
using array = std::vector<value>;

/// A plain Object: own, enumerable, string-keyed properties.
using object = std::map<std::string, value, std::less<>>;

/// A structured-clone value: what a message carries.
///
/// Values are C++ value types: copying a value deep-copies arrays and objects
/// (so cycles cannot exist), while `array_buffer` and `message_port` are
/// references, as in JavaScript. Within one message, a buffer reached twice
/// arrives as one buffer reached twice (identity is preserved).
///
/// Nesting is capped (see `runtime_config::max_clone_depth`) because copying,
/// destroying and serializing are recursive.
class value {
public:
  using variant_type
    = std::variant<undefined_t, null_t, bool, double, bigint, std::string, date,
                   error_value, array_buffer, array, object, message_port,
                   host_object, detail::port_slot>;

  // -- construction ----------------------------------------------------------

  value() noexcept = default;
  value(undefined_t) noexcept {
  }
  value(null_t) noexcept : v_(null_t{}) {
  }
  value(bool b) noexcept : v_(b) {
  }
  /// Any arithmetic type other than bool is a Number (a double), as in JS.
  template <class T, class = std::enable_if_t<std::is_arithmetic_v<T>
                                              && !std::is_same_v<T, bool>>>
  value(T x) noexcept : v_(static_cast<double>(x)) {
  }
  value(bigint x) noexcept : v_(x) {
  }
  value(const char* s) : v_(std::string{s}) {
  }
  value(std::string s) noexcept : v_(std::move(s)) {
  }
  value(std::string_view s) : v_(std::string{s}) {
  }
  value(date x) noexcept : v_(x) {
  }
  value(error_value x) noexcept : v_(std::move(x)) {
  }
  value(array_buffer x) noexcept : v_(std::move(x)) {
  }
  value(array x) noexcept : v_(std::move(x)) {
  }
  value(object x) noexcept : v_(std::move(x)) {
  }
  value(message_port x) noexcept : v_(std::move(x)) {
  }
  value(host_object x) noexcept : v_(std::move(x)) {
  }
  /// @private
  value(detail::port_slot x) noexcept : v_(x) {
  }

  /// Builds an Object from key/value pairs: `value::obj({{"a", 1}})`.
  static value obj(std::initializer_list<std::pair<const std::string, value>>);

  /// Builds an Array: `value::arr({1, "two", 3.0})`.
  static value arr(std::initializer_list<value>);

  // -- inspection ------------------------------------------------------------

  template <class T>
  bool is() const noexcept {
    return std::holds_alternative<T>(v_);
  }
  bool is_undefined() const noexcept {
    return is<undefined_t>();
  }
  bool is_null() const noexcept {
    return is<null_t>();
  }
  bool is_number() const noexcept {
    return is<double>();
  }
  bool is_string() const noexcept {
    return is<std::string>();
  }

  /// Returns the alternative `T`; @throws type_error when it holds another.
  template <class T>
  const T& get() const {
    if (auto* p = std::get_if<T>(&v_))
      return *p;
    throw_wrong_type(type_name_of<T>());
  }
  template <class T>
  T& get() {
    if (auto* p = std::get_if<T>(&v_))
      return *p;
    throw_wrong_type(type_name_of<T>());
  }

  /// Returns a pointer to the alternative `T`, or nullptr.
  template <class T>
  const T* get_if() const noexcept {
    return std::get_if<T>(&v_);
  }
  template <class T>
  T* get_if() noexcept {
    return std::get_if<T>(&v_);
  }

  double as_number() const {
    return get<double>();
  }
  const std::string& as_string() const {
    return get<std::string>();
  }

  /// Object member access; @throws type_error if not an Object or if the
  /// key is missing (const version).
  const value& operator[](std::string_view key) const;

  /// Array element access; @throws type_error if not an Array or out of
  /// range.
  const value& operator[](std::size_t index) const;

  /// Returns the JS-ish type name of the held alternative ("number", ...).
  const char* type_name() const noexcept;

  const variant_type& var() const noexcept {
    return v_;
  }
  variant_type& var() noexcept {
    return v_;
  }

  friend bool operator==(const value& x, const value& y) {
    return x.v_ == y.v_;
  }
  friend bool operator!=(const value& x, const value& y) {
    return !(x == y);
  }

private:
  template <class T>
  static const char* type_name_of() noexcept;

  [[noreturn]] void throw_wrong_type(const char* wanted) const;

  variant_type v_;
};

/// Renders a value as JSON-like text for logs and demos (buffers and ports
/// are summarised).
std::string to_string(const value& x);

} // namespace entangle
