#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace entangle {

namespace detail {
struct bigint_rep;
} // namespace detail

/// An arbitrary-precision integer: JavaScript's `BigInt`.
///
/// Immutable, with value semantics. A value that fits in `std::int64_t` is
/// stored inline (no allocation); a larger one points to one immutable
/// heap representation (Boost.Multiprecision's `cpp_int`, kept out of this
/// header), so copying is cheap and copies may be read from any thread.
///
/// Invariant: `big_` is set exactly when the value does not fit
/// `std::int64_t`, so every value has one form (comparison and hashing
/// rely on it).
class bigint {
public:
  /// Zero (`0n`).
  bigint() noexcept = default;

  /// Any integer type (not bool): `bigint{42}`, `bigint x = -1;`.
  template <class Int, std::enable_if_t<std::is_integral_v<Int>
                                          && !std::is_same_v<Int, bool>,
                                        int> = 0>
  bigint(Int x) {
    if constexpr (std::is_signed_v<Int> || sizeof(Int) < 8) {
      small_ = static_cast<std::int64_t>(x);
    } else if (x <= static_cast<std::uint64_t>(
                 std::numeric_limits<std::int64_t>::max())) {
      small_ = static_cast<std::int64_t>(x);
    } else {
      *this = from_uint64(static_cast<std::uint64_t>(x));
    }
  }

  /// JavaScript's StringToBigInt: optional surrounding whitespace, then
  /// decimal digits with an optional sign, or `0x`/`0o`/`0b` digits without
  /// one; "" is 0. @throws dom_exception "SyntaxError" otherwise.
  static bigint parse(std::string_view text);

  /// The integer whose absolute value has the big-endian bytes `magnitude`
  /// (the portable form: `magnitude()` and `sign()` rebuild any value).
  static bigint from_magnitude(bool negative,
                               const std::vector<std::uint8_t>& magnitude);

  /// Returns the digits in `radix` (2 to 36, lower case), with a leading
  /// '-' when negative and no "n" suffix.
  std::string to_string(int radix = 10) const;

  /// Returns -1, 0 or 1.
  int sign() const noexcept;

  /// Returns the big-endian bytes of the absolute value (empty for 0).
  std::vector<std::uint8_t> magnitude() const;

  /// Returns whether the value is representable as `Int`.
  template <class Int>
  bool fits() const noexcept {
    static_assert(std::is_integral_v<Int> && !std::is_same_v<Int, bool>);
    if (!big_) {
      if constexpr (std::is_signed_v<Int>)
        return small_ >= std::numeric_limits<Int>::min()
               && small_ <= std::numeric_limits<Int>::max();
      else
        return small_ >= 0
               && static_cast<std::uint64_t>(small_)
                    <= std::numeric_limits<Int>::max();
    }
    if constexpr (!std::is_signed_v<Int> && sizeof(Int) == 8)
      return fits_uint64();
    else
      return false;
  }

  /// Returns the value as `Int`. @throws range_error when it does not fit.
  template <class Int>
  Int to() const {
    if (!fits<Int>())
      throw_out_of_range(std::numeric_limits<Int>::digits
                           + (std::is_signed_v<Int> ? 1 : 0),
                         std::is_signed_v<Int>);
    return big_ ? static_cast<Int>(big_uint64())
                : static_cast<Int>(small_);
  }

  /// JavaScript's `Number(x)`: the nearest double (±Infinity if too large).
  double to_double() const noexcept;

  /// A hash consistent with `==`.
  std::size_t hash() const noexcept;

  // -- arithmetic (JavaScript's BigInt operators) ----------------------------

  friend bigint operator+(const bigint& x, const bigint& y);
  friend bigint operator-(const bigint& x, const bigint& y);
  friend bigint operator*(const bigint& x, const bigint& y);
  /// Truncates toward zero. @throws range_error when `y` is 0.
  friend bigint operator/(const bigint& x, const bigint& y);
  /// Has the sign of `x`. @throws range_error when `y` is 0.
  friend bigint operator%(const bigint& x, const bigint& y);
  friend bigint operator-(const bigint& x);

  // -- comparison ------------------------------------------------------------

  /// Returns <0, 0 or >0 as `x` is less than, equal to or greater than `y`.
  friend int compare(const bigint& x, const bigint& y) noexcept;

  friend bool operator==(const bigint& x, const bigint& y) noexcept {
    if (!x.big_ && !y.big_)
      return x.small_ == y.small_;
    return compare(x, y) == 0;
  }
  friend bool operator!=(const bigint& x, const bigint& y) noexcept {
    return !(x == y);
  }
  friend bool operator<(const bigint& x, const bigint& y) noexcept {
    return compare(x, y) < 0;
  }
  friend bool operator<=(const bigint& x, const bigint& y) noexcept {
    return compare(x, y) <= 0;
  }
  friend bool operator>(const bigint& x, const bigint& y) noexcept {
    return compare(x, y) > 0;
  }
  friend bool operator>=(const bigint& x, const bigint& y) noexcept {
    return compare(x, y) >= 0;
  }

private:
  friend struct detail::bigint_rep;

  static bigint from_uint64(std::uint64_t x);
  bool fits_uint64() const noexcept;
  std::uint64_t big_uint64() const noexcept;
  [[noreturn]] void throw_out_of_range(int bits, bool is_signed) const;

  std::int64_t small_ = 0;
  std::shared_ptr<const detail::bigint_rep> big_;
};

} // namespace entangle
