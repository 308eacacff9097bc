#pragma once

#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "entangle/array_buffer.hpp"
#include "entangle/bigint.hpp"
#include "entangle/error.hpp"
#include "entangle/graph.hpp"
#include "entangle/message_port.hpp"
#include "entangle/typed_array.hpp"

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

/// A Date: milliseconds since the Unix epoch (JS time value).
struct date {
  double time_value = 0;
  friend bool operator==(date x, date y) noexcept {
    return x.time_value == y.time_value;
  }
};

/// A RegExp: its source and flags. A clone keeps both and resets
/// `lastIndex`, which is therefore not modelled.
class regexp {
public:
  /// `new RegExp(source, flags)`; an empty source is "(?:)", as in JS.
  /// The pattern is not compiled (C++ has no ECMAScript regex engine that
  /// matches JS exactly); it travels as text.
  /// @throws dom_exception "SyntaxError" for a flag outside "dgimsuvy", a
  ///         repeated flag, or "u" with "v".
  explicit regexp(std::string source, std::string_view flags = "");

  const std::string& source() const noexcept {
    return source_;
  }

  /// Returns the flags in JS's canonical order ("dgimsuvy").
  std::string flags() const;

  /// Returns whether flag `f` (one of "dgimsuvy") is set.
  bool has_flag(char f) const noexcept;

  friend bool operator==(const regexp& x, const regexp& y) {
    return x.source_ == y.source_ && x.flags_ == y.flags_;
  }

private:
  std::string source_;
  std::uint8_t flags_ = 0; // one bit per letter of "dgimsuvy"
};

/// A primitive wrapper object: `new Boolean(b)`, `new Number(n)`,
/// `Object(1n)`, `new String(s)`. A clone keeps the wrapped primitive.
class boxed_primitive {
public:
  using primitive = std::variant<bool, double, bigint, std::string>;

  explicit boxed_primitive(bool b) : v_(b) {
  }
  /// Any arithmetic type other than bool wraps a Number.
  template <class T, class = std::enable_if_t<std::is_arithmetic_v<T>
                                              && !std::is_same_v<T, bool>>>
  explicit boxed_primitive(T x) : v_(static_cast<double>(x)) {
  }
  explicit boxed_primitive(bigint b) : v_(std::move(b)) {
  }
  explicit boxed_primitive(std::string s) : v_(std::move(s)) {
  }
  explicit boxed_primitive(const char* s) : v_(std::string{s}) {
  }

  /// The wrapped primitive (JS `valueOf()`).
  const primitive& value_of() const noexcept {
    return v_;
  }

  friend bool operator==(const boxed_primitive& x, const boxed_primitive& y) {
    return x.v_ == y.v_;
  }

private:
  primitive v_;
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

/// @private In flight: a later occurrence of the object (graph node or
/// buffer) the message defined `id`-th, in preorder (V8's ObjectReference).
struct clone_ref {
  std::uint32_t id = 0;
  friend bool operator==(clone_ref x, clone_ref y) noexcept {
    return x.id == y.id;
  }
};

/// @private An `error_value` behind one pointer. A value is as big as its
/// largest alternative, and an Error's two strings (64 bytes) made every
/// value -- every array element, every queued message -- 16 bytes bigger
/// than the next largest (an `object`), for a kind messages rarely carry.
/// Copies are deep; a moved-from box reads as a default Error.
class error_box {
public:
  explicit error_box(error_value x)
    : p_(std::make_unique<error_value>(std::move(x))) {
  }
  error_box(const error_box& other)
    : p_(std::make_unique<error_value>(other.get())) {
  }
  error_box(error_box&&) noexcept = default;
  error_box& operator=(const error_box& other) {
    p_ = std::make_unique<error_value>(other.get());
    return *this;
  }
  error_box& operator=(error_box&&) noexcept = default;
  ~error_box() = default;

  const error_value& get() const noexcept {
    if (p_)
      return *p_;
    static const error_value fallback;
    return fallback;
  }
  error_value& get() {
    if (!p_)
      p_ = std::make_unique<error_value>();
    return *p_;
  }

  friend bool operator==(const error_box& x, const error_box& y) {
    return x.get() == y.get();
  }

private:
  std::unique_ptr<error_value> p_;
};

/// @private The type a value's variant stores for alternative `T`.
template <class T>
using value_slot_t
  = std::conditional_t<std::is_same_v<T, error_value>, error_box, T>;

struct clone_def;

/// @private In flight: the plain description of a graph node or a view
/// (src/values/clone_def.hpp); owns it, copies deeply.
class clone_def_box {
public:
  explicit clone_def_box(std::unique_ptr<clone_def> def) noexcept;
  clone_def_box(const clone_def_box& other);
  clone_def_box(clone_def_box&& other) noexcept;
  clone_def_box& operator=(const clone_def_box& other);
  clone_def_box& operator=(clone_def_box&& other) noexcept;
  ~clone_def_box();

  clone_def& get() const noexcept {
    return *def_;
  }

  friend bool operator==(const clone_def_box& x, const clone_def_box& y);

private:
  std::unique_ptr<clone_def> def_;
};

/// @private Whether the double `x` is an integer representable as `Int`.
template <class Int>
bool integral_fits(double x) noexcept {
  auto bound = std::ldexp(1.0, std::numeric_limits<Int>::digits);
  auto low = std::is_signed_v<Int> ? -bound : 0.0;
  return x >= low && x < bound && std::trunc(x) == x;
}

} // namespace detail

/// A structured-clone value: what a message carries.
///
/// Two families. *Plain* values are C++ values: primitives, `date`,
/// `regexp`, `boxed_primitive`, `error_value`, `array` and `object` (copying
/// a value deep-copies them, so each occurrence is a distinct JS object).
/// *References* have JS identity: `array_buffer`, `message_port` and the
/// graph kinds `shared_object`, `shared_array`, `value_map`, `value_set`
/// (copies refer to one object). A message preserves identity within
/// itself: a reference reached twice arrives as one object reached twice,
/// and cycles through graph kinds arrive as cycles. `typed_array` and
/// `data_view` are plain views over a referenced buffer.
///
/// Nesting is capped (see `runtime_config::max_clone_depth`) because
/// copying, destroying and serializing plain values are recursive.
class value {
public:
  using variant_type
    = std::variant<undefined_t, null_t, bool, double, bigint, std::string,
                   date, regexp, boxed_primitive, detail::error_box,
                   array_buffer,
                   typed_array, data_view, array, object, shared_object,
                   shared_array, value_map, value_set, message_port,
                   host_object, detail::port_slot, detail::clone_ref,
                   detail::clone_def_box>;

  /// @private The alternatives up to this index are primitives or plain
  /// data without references: their copy is their clone.
  static constexpr std::size_t last_simple_index = 8;

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
  value(bigint x) noexcept : v_(std::move(x)) {
  }
  value(const char* s) : v_(std::string{s}) {
  }
  value(std::string s) noexcept : v_(std::move(s)) {
  }
  value(std::string_view s) : v_(std::string{s}) {
  }
  value(date x) noexcept : v_(x) {
  }
  value(regexp x) noexcept : v_(std::move(x)) {
  }
  value(boxed_primitive x) noexcept : v_(std::move(x)) {
  }
  value(error_value x) : v_(detail::error_box{std::move(x)}) {
  }
  value(array_buffer x) noexcept : v_(std::move(x)) {
  }
  value(typed_array x) noexcept : v_(std::move(x)) {
  }
  value(data_view x) noexcept : v_(std::move(x)) {
  }
  value(array x) noexcept : v_(std::move(x)) {
  }
  value(object x) noexcept : v_(std::move(x)) {
  }
  value(shared_object x) noexcept : v_(std::move(x)) {
  }
  value(shared_array x) noexcept : v_(std::move(x)) {
  }
  value(value_map x) noexcept : v_(std::move(x)) {
  }
  value(value_set x) noexcept : v_(std::move(x)) {
  }
  value(message_port x) noexcept : v_(std::move(x)) {
  }
  value(host_object x) noexcept : v_(std::move(x)) {
  }
  /// @private
  value(detail::port_slot x) noexcept : v_(x) {
  }
  /// @private
  value(detail::clone_ref x) noexcept : v_(x) {
  }
  /// @private
  value(detail::clone_def_box x) noexcept : v_(std::move(x)) {
  }

  /// Builds an Object from key/value pairs: `value::obj({{"a", 1}})`.
  static value obj(std::initializer_list<std::pair<const std::string, value>>);

  /// Builds an Array: `value::arr({1, "two", 3.0})`.
  static value arr(std::initializer_list<value>);

  // -- inspection ------------------------------------------------------------

  template <class T>
  bool is() const noexcept {
    return std::holds_alternative<detail::value_slot_t<T>>(v_);
  }
  bool is_undefined() const noexcept {
    return is<undefined_t>();
  }
  bool is_null() const noexcept {
    return is<null_t>();
  }
  bool is_bool() const noexcept {
    return is<bool>();
  }
  bool is_number() const noexcept {
    return is<double>();
  }
  bool is_bigint() const noexcept {
    return is<bigint>();
  }
  bool is_string() const noexcept {
    return is<std::string>();
  }
  /// An `object` or a `shared_object` (what `at(key)` reads).
  bool is_object() const noexcept {
    return is<object>() || is<shared_object>();
  }
  /// An `array` or a `shared_array` (what `at(index)` reads).
  bool is_array() const noexcept {
    return is<array>() || is<shared_array>();
  }

  /// Returns the alternative `T`; @throws type_error when it holds another.
  template <class T>
  const T& get() const {
    if (auto* p = get_if<T>())
      return *p;
    throw_wrong_type(type_name_of<T>());
  }
  template <class T>
  T& get() {
    if (auto* p = get_if<T>())
      return *p;
    throw_wrong_type(type_name_of<T>());
  }

  /// Returns a pointer to the alternative `T`, or nullptr.
  template <class T>
  const T* get_if() const noexcept {
    if constexpr (std::is_same_v<T, error_value>) {
      auto* box = std::get_if<detail::error_box>(&v_);
      return box ? &box->get() : nullptr;
    } else {
      return std::get_if<T>(&v_);
    }
  }
  template <class T>
  T* get_if() noexcept(!std::is_same_v<T, error_value>) {
    if constexpr (std::is_same_v<T, error_value>) {
      auto* box = std::get_if<detail::error_box>(&v_);
      return box ? &box->get() : nullptr; // allocates if moved from
    } else {
      return std::get_if<T>(&v_);
    }
  }

  bool as_bool() const {
    return get<bool>();
  }
  double as_number() const {
    return get<double>();
  }
  const bigint& as_bigint() const {
    return get<bigint>();
  }
  const std::string& as_string() const {
    return get<std::string>();
  }

  /// Returns a Number that is an integer, or a BigInt, as `Int`.
  /// @throws range_error if it has a fraction or does not fit `Int`;
  ///         type_error if it is neither a Number nor a BigInt.
  template <class Int>
  Int as_integer() const {
    static_assert(std::is_integral_v<Int> && !std::is_same_v<Int, bool>);
    if (auto* d = std::get_if<double>(&v_)) {
      if (detail::integral_fits<Int>(*d))
        return static_cast<Int>(*d);
      throw_not_integral(*d, std::numeric_limits<Int>::digits
                               + (std::is_signed_v<Int> ? 1 : 0),
                         std::is_signed_v<Int>);
    }
    if (auto* b = std::get_if<bigint>(&v_))
      return b->to<Int>();
    throw_wrong_type("number or bigint");
  }
  std::int32_t as_int32() const {
    return as_integer<std::int32_t>();
  }
  std::uint32_t as_uint32() const {
    return as_integer<std::uint32_t>();
  }
  std::int64_t as_int64() const {
    return as_integer<std::int64_t>();
  }
  std::uint64_t as_uint64() const {
    return as_integer<std::uint64_t>();
  }
  std::size_t as_size() const {
    return as_integer<std::size_t>();
  }

  // -- members of an object or shared_object ---------------------------------

  /// Returns whether this is an object with the property `key`.
  bool contains(std::string_view key) const noexcept {
    return find(key) != nullptr;
  }

  /// Returns the property `key`, or nullptr (also when not an object).
  const value* find(std::string_view key) const noexcept;

  /// Returns the property `key`.
  /// @throws type_error if not an object, or naming a missing key.
  const value& at(std::string_view key) const;
  const value& operator[](std::string_view key) const {
    return at(key);
  }

  /// Returns the property `key` as `T`, or `fallback` when it is missing
  /// or undefined. `T` is `value`, bool, an integer type (range-checked as
  /// `as_integer`), a floating-point type, `std::string` or an alternative.
  /// @throws type_error if not an object, or naming a present key of the
  ///         wrong type; range_error naming a key out of `T`'s range.
  template <class T>
  T get_or(std::string_view key, T fallback) const {
    auto* m = &member_or_throw(key, true);
    if (m->is_undefined())
      return fallback;
    try {
      if constexpr (std::is_same_v<T, value>)
        return *m;
      else if constexpr (std::is_same_v<T, bool>)
        return m->as_bool();
      else if constexpr (std::is_integral_v<T>)
        return m->as_integer<T>();
      else if constexpr (std::is_floating_point_v<T>)
        return static_cast<T>(m->as_number());
      else
        return m->get<T>();
    } catch (const dom_exception& e) {
      rethrow_for_member(key, e);
    }
  }
  std::string get_or(std::string_view key, const char* fallback) const {
    return get_or<std::string>(key, std::string{fallback});
  }

  // -- elements of an array or shared_array ----------------------------------

  /// Returns element `index` (undefined for a hole in a shared_array).
  /// @throws type_error if not an array; range_error past the end.
  const value& at(std::size_t index) const;
  const value& operator[](std::size_t index) const {
    return at(index);
  }

  /// Returns the JS-ish type name of the held alternative ("number", ...).
  const char* type_name() const noexcept;

  /// The variant itself, for `std::visit` and `index()`. An Error is held
  /// as `detail::error_box` (its `get()` is the `error_value`); `is`,
  /// `get` and `get_if` hide that.
  const variant_type& var() const noexcept {
    return v_;
  }
  variant_type& var() noexcept {
    return v_;
  }

  /// Plain values compare by content, references by identity (JS `===`
  /// for objects; no two plain arrays or objects are `===` in JS, but
  /// equal content is the useful C++ meaning).
  friend bool operator==(const value& x, const value& y) {
    return x.v_ == y.v_;
  }
  friend bool operator!=(const value& x, const value& y) {
    return !(x == y);
  }

private:
  template <class T>
  static const char* type_name_of() noexcept;

  /// The member `key` of this object; a missing key is undefined when
  /// `missing_ok`, else a type_error naming it.
  const value& member_or_throw(std::string_view key, bool missing_ok) const;

  [[noreturn]] void throw_wrong_type(const char* wanted) const;
  [[noreturn]] static void throw_not_integral(double x, int bits,
                                              bool is_signed);
  [[noreturn]] static void rethrow_for_member(std::string_view key,
                                              const dom_exception& e);

  variant_type v_;
};

/// Renders a value as JSON-like text for logs and demos (buffers and ports
/// are summarised; an object reached again is `[Circular *n]` or
/// `[Ref *n]`, as Node's inspector prints it).
std::string to_string(const value& x);

} // namespace entangle
