// Typed arrays and DataView: the element conversions of ECMAScript's
// NumericToRawBytes / RawBytesToNumeric (ToInt8 ... ToBigUint64,
// ToUint8Clamp, IEEE-754 binary16 rounding) over an array_buffer's bytes.

#include "entangle/typed_array.hpp"

#include <cmath>
#include <cstring>

#include <fmt/format.h>

#include "entangle/error.hpp"

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "element loads assume a little-endian machine");

namespace entangle {

namespace {

// -- element conversions ------------------------------------------------------

/// JS ToIntN/ToUintN: NaN and infinities are 0, else truncate and wrap
/// modulo 2^bits.
std::uint64_t wrap(double x, int bits) noexcept {
  if (!std::isfinite(x))
    return 0;
  auto modulus = std::ldexp(1.0, bits);
  auto m = std::fmod(std::trunc(x), modulus); // exact
  if (m < 0)
    m += modulus;
  return static_cast<std::uint64_t>(m);
}

/// JS ToUint8Clamp: clamp to [0, 255], round half to even.
std::uint64_t clamp_u8(double x) noexcept {
  if (!(x > 0)) // also NaN
    return 0;
  if (x >= 255)
    return 255;
  return static_cast<std::uint64_t>(std::nearbyint(x));
}

/// Rounds to IEEE binary16, to nearest with ties to even, straight from
/// the double (rounding through float could round twice).
std::uint64_t to_half(double x) noexcept {
  std::uint64_t sign = std::signbit(x) ? 0x8000u : 0;
  if (std::isnan(x))
    return sign | 0x7e00u;
  auto a = std::fabs(x);
  if (a >= 65520.0) // halfway past the largest finite half (65504)
    return sign | 0x7c00u;
  if (a < std::ldexp(1.0, -14)) // subnormal (or zero); 1024 is the carry
    return sign
           | static_cast<std::uint64_t>(std::nearbyint(std::ldexp(a, 24)));
  auto e = std::ilogb(a);
  auto mant = std::nearbyint((std::ldexp(a, -e) - 1.0) * 1024.0);
  if (mant >= 1024) {
    mant = 0;
    ++e;
  }
  return sign | (static_cast<std::uint64_t>(e + 15) << 10)
         | static_cast<std::uint64_t>(mant);
}

double from_half(std::uint64_t h) noexcept {
  auto sign = (h & 0x8000u) != 0 ? -1.0 : 1.0;
  auto e = static_cast<int>((h >> 10) & 0x1fu);
  auto mant = static_cast<double>(h & 0x3ffu);
  if (e == 0)
    return sign * std::ldexp(mant, -24);
  if (e == 31)
    return mant == 0 ? sign * HUGE_VAL : std::nan("");
  return sign * std::ldexp(1.0 + mant / 1024.0, e - 15);
}

[[noreturn]] void wrong_kind(element_kind k, bool wanted_bigint) {
  throw type_error(fmt::format("{} elements are {}, not {}", to_string(k),
                               wanted_bigint ? "Numbers" : "BigInts",
                               wanted_bigint ? "BigInts" : "Numbers"));
}

/// The raw bits of Number `x` as an element of kind `k`.
std::uint64_t number_bits(element_kind k, double x) {
  switch (k) {
    case element_kind::int8:
    case element_kind::uint8:
      return wrap(x, 8);
    case element_kind::uint8_clamped:
      return clamp_u8(x);
    case element_kind::int16:
    case element_kind::uint16:
      return wrap(x, 16);
    case element_kind::int32:
    case element_kind::uint32:
      return wrap(x, 32);
    case element_kind::float16:
      return to_half(x);
    case element_kind::float32: {
      auto f = static_cast<float>(x);
      std::uint32_t u = 0;
      std::memcpy(&u, &f, 4);
      return u;
    }
    case element_kind::float64: {
      std::uint64_t u = 0;
      std::memcpy(&u, &x, 8);
      return u;
    }
    default:
      wrong_kind(k, false);
  }
}

double number_of(element_kind k, std::uint64_t bits) {
  switch (k) {
    case element_kind::int8:
      return static_cast<std::int8_t>(bits);
    case element_kind::uint8:
    case element_kind::uint8_clamped:
      return static_cast<std::uint8_t>(bits);
    case element_kind::int16:
      return static_cast<std::int16_t>(bits);
    case element_kind::uint16:
      return static_cast<std::uint16_t>(bits);
    case element_kind::int32:
      return static_cast<std::int32_t>(bits);
    case element_kind::uint32:
      return static_cast<std::uint32_t>(bits);
    case element_kind::float16:
      return from_half(bits);
    case element_kind::float32: {
      auto u = static_cast<std::uint32_t>(bits);
      float f = 0;
      std::memcpy(&f, &u, 4);
      return f;
    }
    case element_kind::float64: {
      double d = 0;
      std::memcpy(&d, &bits, 8);
      return d;
    }
    default:
      wrong_kind(k, false);
  }
}

/// JS ToBigInt64 / ToBigUint64: `x` modulo 2^64.
std::uint64_t bigint_bits(element_kind k, const bigint& x) {
  if (!is_bigint_kind(k))
    wrong_kind(k, true);
  if (x.fits<std::int64_t>()) // two's complement is the wrap
    return static_cast<std::uint64_t>(x.to<std::int64_t>());
  static const auto two64 = bigint::parse("18446744073709551616");
  auto r = x % two64;
  if (r.sign() < 0)
    r = r + two64;
  return r.to<std::uint64_t>();
}

bigint bigint_of(element_kind k, std::uint64_t bits) {
  if (k == element_kind::bigint64)
    return bigint{static_cast<std::int64_t>(bits)};
  if (k == element_kind::biguint64)
    return bigint{bits};
  wrong_kind(k, true);
}

std::uint64_t load(const std::uint8_t* p, std::size_t n, bool little) {
  std::uint64_t out = 0;
  if (little) {
    std::memcpy(&out, p, n);
  } else {
    for (std::size_t i = 0; i < n; ++i)
      out = (out << 8) | p[i];
  }
  return out;
}

void store(std::uint8_t* p, std::size_t n, std::uint64_t bits, bool little) {
  if (little) {
    std::memcpy(p, &bits, n);
  } else {
    for (std::size_t i = n; i-- > 0;) {
      p[i] = static_cast<std::uint8_t>(bits);
      bits >>= 8;
    }
  }
}

[[noreturn]] void out_of_range(const char* what, std::size_t i,
                               std::size_t n) {
  throw range_error(
    fmt::format("{} {} is out of range (length {})", what, i, n));
}

/// Whether [offset, offset + bytes) lies inside `b` (no overflow).
bool inside(const array_buffer& b, std::size_t offset,
            std::size_t bytes) noexcept {
  auto n = b.byte_length();
  return !b.detached() && offset <= n && bytes <= n - offset;
}

std::uint8_t* data_of(const array_buffer& b) {
  // A buffer is a reference: writing through a const handle is what
  // writing through any JS reference to it does.
  return const_cast<array_buffer&>(b).bytes().data();
}

} // namespace

std::string_view to_string(element_kind k) noexcept {
  constexpr std::string_view names[] = {
    "Int8Array",    "Uint8Array",   "Uint8ClampedArray", "Int16Array",
    "Uint16Array",  "Int32Array",   "Uint32Array",       "Float16Array",
    "Float32Array", "Float64Array", "BigInt64Array",     "BigUint64Array",
  };
  return names[static_cast<std::size_t>(k)];
}

// -- typed_array --------------------------------------------------------------

typed_array::typed_array(element_kind kind, std::size_t length)
  : buffer_(length * element_size(kind)), length_(length), kind_(kind) {
  // nop
}

typed_array::typed_array(element_kind kind, array_buffer buffer,
                         std::size_t byte_offset)
  : buffer_(std::move(buffer)), byte_offset_(byte_offset), kind_(kind) {
  auto size = element_size(kind);
  auto n = buffer_.byte_length();
  if (byte_offset % size != 0 || byte_offset > n || (n - byte_offset) % size)
    throw range_error(fmt::format(
      "{}: byte offset {} of a {}-byte buffer is not at a whole element",
      to_string(kind), byte_offset, n));
  length_ = (n - byte_offset) / size;
}

typed_array::typed_array(element_kind kind, array_buffer buffer,
                         std::size_t byte_offset, std::size_t length)
  : buffer_(std::move(buffer)),
    byte_offset_(byte_offset),
    length_(length),
    kind_(kind) {
  auto size = element_size(kind);
  if (byte_offset % size != 0 || length > (SIZE_MAX / size)
      || !inside(buffer_, byte_offset, length * size))
    throw range_error(fmt::format(
      "{}: {} elements from byte {} do not fit a {}-byte buffer",
      to_string(kind), length, byte_offset, buffer_.byte_length()));
}

bool typed_array::out_of_bounds() const noexcept {
  return !inside(buffer_, byte_offset_, length_ * element_size(kind_));
}

std::size_t typed_array::byte_offset() const noexcept {
  return out_of_bounds() ? 0 : byte_offset_;
}

std::size_t typed_array::length() const noexcept {
  return out_of_bounds() ? 0 : length_;
}

std::size_t typed_array::byte_length() const noexcept {
  return length() * element_size(kind_);
}

const std::uint8_t* typed_array::at(std::size_t i) const {
  auto n = length();
  if (i >= n)
    out_of_range(fmt::format("{} index", to_string(kind_)).c_str(), i, n);
  return data_of(buffer_) + byte_offset_ + i * element_size(kind_);
}

double typed_array::get(std::size_t i) const {
  if (is_bigint_kind(kind_))
    wrong_kind(kind_, false);
  return number_of(kind_, load(at(i), element_size(kind_), true));
}

bigint typed_array::get_bigint(std::size_t i) const {
  if (!is_bigint_kind(kind_))
    wrong_kind(kind_, true);
  return bigint_of(kind_, load(at(i), 8, true));
}

void typed_array::set(std::size_t i, double x) {
  auto bits = number_bits(kind_, x); // checks the kind first
  store(const_cast<std::uint8_t*>(at(i)), element_size(kind_), bits, true);
}

void typed_array::set(std::size_t i, const bigint& x) {
  auto bits = bigint_bits(kind_, x);
  store(const_cast<std::uint8_t*>(at(i)), 8, bits, true);
}

bool operator==(const typed_array& x, const typed_array& y) {
  if (x.kind_ != y.kind_ || x.length() != y.length())
    return false;
  auto n = x.byte_length();
  return n == 0
         || std::memcmp(x.buffer_.bytes().data() + x.byte_offset_,
                        y.buffer_.bytes().data() + y.byte_offset_, n)
              == 0;
}

// -- data_view ----------------------------------------------------------------

data_view::data_view(array_buffer buffer, std::size_t byte_offset)
  : buffer_(std::move(buffer)), byte_offset_(byte_offset) {
  auto n = buffer_.byte_length();
  if (byte_offset > n)
    throw range_error(fmt::format(
      "DataView: byte offset {} is past the end of a {}-byte buffer",
      byte_offset, n));
  byte_length_ = n - byte_offset;
}

data_view::data_view(array_buffer buffer, std::size_t byte_offset,
                     std::size_t byte_length)
  : buffer_(std::move(buffer)),
    byte_offset_(byte_offset),
    byte_length_(byte_length) {
  if (!inside(buffer_, byte_offset, byte_length))
    throw range_error(fmt::format(
      "DataView: {} bytes from byte {} do not fit a {}-byte buffer",
      byte_length, byte_offset, buffer_.byte_length()));
}

bool data_view::out_of_bounds() const noexcept {
  return !inside(buffer_, byte_offset_, byte_length_);
}

std::size_t data_view::byte_offset() const noexcept {
  return out_of_bounds() ? 0 : byte_offset_;
}

std::size_t data_view::byte_length() const noexcept {
  return out_of_bounds() ? 0 : byte_length_;
}

std::uint8_t* data_view::window(element_kind type, std::size_t offset) const {
  if (type == element_kind::uint8_clamped)
    throw type_error("DataView has no Uint8Clamped accessor");
  auto size = element_size(type);
  auto n = byte_length();
  if (offset > n || size > n - offset)
    out_of_range("DataView offset", offset, n);
  return data_of(buffer_) + byte_offset_ + offset;
}

double data_view::get(element_kind type, std::size_t offset,
                      bool little_endian) const {
  if (is_bigint_kind(type))
    wrong_kind(type, false);
  auto* p = window(type, offset);
  return number_of(type, load(p, element_size(type), little_endian));
}

bigint data_view::get_bigint(element_kind type, std::size_t offset,
                             bool little_endian) const {
  if (!is_bigint_kind(type))
    wrong_kind(type, true);
  return bigint_of(type, load(window(type, offset), 8, little_endian));
}

void data_view::set(element_kind type, std::size_t offset, double x,
                    bool little_endian) {
  auto* p = window(type, offset);
  store(p, element_size(type), number_bits(type, x), little_endian);
}

void data_view::set(element_kind type, std::size_t offset, const bigint& x,
                    bool little_endian) {
  auto* p = window(type, offset);
  store(p, 8, bigint_bits(type, x), little_endian);
}

bool operator==(const data_view& x, const data_view& y) {
  auto n = x.byte_length();
  if (n != y.byte_length())
    return false;
  return n == 0
         || std::memcmp(x.buffer_.bytes().data() + x.byte_offset_,
                        y.buffer_.bytes().data() + y.byte_offset_, n)
              == 0;
}

} // namespace entangle
