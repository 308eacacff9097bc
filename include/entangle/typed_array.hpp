#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "entangle/array_buffer.hpp"
#include "entangle/bigint.hpp"

namespace entangle {

/// The element types of JavaScript's typed arrays, which are also the types
/// DataView reads and writes.
enum class element_kind : std::uint8_t {
  int8,
  uint8,
  uint8_clamped,
  int16,
  uint16,
  int32,
  uint32,
  float16,
  float32,
  float64,
  bigint64,
  biguint64,
};

/// Every element kind, in declaration order.
inline constexpr element_kind all_element_kinds[] = {
  element_kind::int8,    element_kind::uint8,    element_kind::uint8_clamped,
  element_kind::int16,   element_kind::uint16,   element_kind::int32,
  element_kind::uint32,  element_kind::float16,  element_kind::float32,
  element_kind::float64, element_kind::bigint64, element_kind::biguint64,
};

/// Returns the size of one element in bytes.
constexpr std::size_t element_size(element_kind k) noexcept {
  switch (k) {
    case element_kind::int8:
    case element_kind::uint8:
    case element_kind::uint8_clamped:
      return 1;
    case element_kind::int16:
    case element_kind::uint16:
    case element_kind::float16:
      return 2;
    case element_kind::int32:
    case element_kind::uint32:
    case element_kind::float32:
      return 4;
    default:
      return 8;
  }
}

/// Returns whether elements of `k` are BigInts (BigInt64Array,
/// BigUint64Array); the others are Numbers.
constexpr bool is_bigint_kind(element_kind k) noexcept {
  return k == element_kind::bigint64 || k == element_kind::biguint64;
}

/// Returns the JavaScript constructor name ("Int8Array" ... "BigUint64Array").
std::string_view to_string(element_kind k) noexcept;

/// A typed array (`Int8Array` ... `BigUint64Array`): a view of `length`
/// elements of one kind over an `array_buffer`, from `byte_offset`.
///
/// A view is a value (copying it copies the view, not the bytes); what it
/// shares is its buffer, a reference. Views sharing one buffer share it
/// after a structured clone too, and a view whose buffer is detached (or
/// shrank below it) is out of bounds: `length()` is 0 and cloning it throws
/// `DataCloneError`. Elements use the machine's byte order (as in JS).
class typed_array {
public:
  /// `new Int16Array(length)`: `length` zero elements over a new buffer.
  typed_array(element_kind kind, std::size_t length);

  /// `new Int16Array(buffer, byte_offset)`: the rest of `buffer`.
  /// @throws range_error if `byte_offset` is not a multiple of the element
  ///         size or past the end, or the rest is not whole elements.
  typed_array(element_kind kind, array_buffer buffer,
              std::size_t byte_offset = 0);

  /// `new Int16Array(buffer, byte_offset, length)`.
  /// @throws range_error if misaligned or not inside `buffer`.
  typed_array(element_kind kind, array_buffer buffer, std::size_t byte_offset,
              std::size_t length);

  element_kind kind() const noexcept {
    return kind_;
  }

  /// The buffer viewed (a reference: writes show through every view).
  const array_buffer& buffer() const noexcept {
    return buffer_;
  }

  /// Whether the view no longer fits its buffer (detached or shrunk).
  bool out_of_bounds() const noexcept;

  /// Returns the offset into the buffer (0 when out of bounds, as in JS).
  std::size_t byte_offset() const noexcept;

  /// Returns the number of elements (0 when out of bounds).
  std::size_t length() const noexcept;

  /// Returns `length() * element_size(kind())`.
  std::size_t byte_length() const noexcept;

  /// Returns element `i` of a Number kind.
  /// @throws range_error if `i >= length()`; type_error for a BigInt kind.
  double get(std::size_t i) const;

  /// Returns element `i` of a BigInt kind.
  /// @throws range_error if `i >= length()`; type_error for a Number kind.
  bigint get_bigint(std::size_t i) const;

  /// Stores `x` into element `i` as JS does: integer kinds wrap modulo
  /// 2^bits (NaN and infinities become 0), `uint8_clamped` clamps and
  /// rounds half to even, float kinds round to nearest.
  /// @throws range_error if `i >= length()`; type_error for a BigInt kind.
  void set(std::size_t i, double x);

  /// Stores `x` modulo 2^64 into element `i` of a BigInt kind.
  /// @throws range_error if `i >= length()`; type_error for a Number kind.
  void set(std::size_t i, const bigint& x);

  /// Same kind and the same element bytes (contents, not identity).
  friend bool operator==(const typed_array& x, const typed_array& y);
  friend bool operator!=(const typed_array& x, const typed_array& y) {
    return !(x == y);
  }

private:
  const std::uint8_t* at(std::size_t i) const;

  array_buffer buffer_;
  std::size_t byte_offset_ = 0;
  std::size_t length_ = 0;
  element_kind kind_;
};

/// A `DataView`: typed reads and writes at any byte offset of a window of
/// an `array_buffer`, in either byte order (big-endian unless asked, as in
/// JS). A value holding a buffer reference, like `typed_array`.
class data_view {
public:
  /// `new DataView(buffer, byte_offset)`: the rest of `buffer`.
  /// @throws range_error if `byte_offset` is past the end.
  explicit data_view(array_buffer buffer, std::size_t byte_offset = 0);

  /// `new DataView(buffer, byte_offset, byte_length)`.
  /// @throws range_error if the window is not inside `buffer`.
  data_view(array_buffer buffer, std::size_t byte_offset,
            std::size_t byte_length);

  const array_buffer& buffer() const noexcept {
    return buffer_;
  }

  /// Whether the window no longer fits its buffer (detached or shrunk).
  bool out_of_bounds() const noexcept;

  /// Returns the offset into the buffer (0 when out of bounds).
  std::size_t byte_offset() const noexcept;

  /// Returns the window's size (0 when out of bounds).
  std::size_t byte_length() const noexcept;

  /// `getInt8` ... `getFloat64` (`type` is not a BigInt kind nor
  /// `uint8_clamped`, which DataView lacks).
  /// @throws range_error past the window; type_error for such a `type`.
  double get(element_kind type, std::size_t offset,
             bool little_endian = false) const;

  /// `getBigInt64`, `getBigUint64`.
  bigint get_bigint(element_kind type, std::size_t offset,
                    bool little_endian = false) const;

  /// `setInt8` ... `setFloat64`, converting `x` as `typed_array::set`.
  void set(element_kind type, std::size_t offset, double x,
           bool little_endian = false);

  /// `setBigInt64`, `setBigUint64` (modulo 2^64).
  void set(element_kind type, std::size_t offset, const bigint& x,
           bool little_endian = false);

  /// The same window contents (not identity).
  friend bool operator==(const data_view& x, const data_view& y);
  friend bool operator!=(const data_view& x, const data_view& y) {
    return !(x == y);
  }

private:
  std::uint8_t* window(element_kind type, std::size_t offset) const;

  array_buffer buffer_;
  std::size_t byte_offset_ = 0;
  std::size_t byte_length_ = 0;
};

} // namespace entangle
