// bigint on Boost.Multiprecision's cpp_int (header-only, so it stays out of
// the public header and adds no library to link): values that fit int64
// never touch it.

#include "entangle/bigint.hpp"

#include <cmath>
#include <functional>

#include <boost/multiprecision/cpp_int.hpp>
#include <fmt/format.h>

#include "entangle/error.hpp"

namespace entangle::detail {

namespace mp = boost::multiprecision;

struct bigint_rep {
  mp::cpp_int v;

  static mp::cpp_int of(const bigint& x) {
    return x.big_ ? x.big_->v : mp::cpp_int{x.small_};
  }

  /// The canonical form of `v` (inline when it fits int64).
  static bigint make(mp::cpp_int v) {
    bigint out;
    if (v >= std::numeric_limits<std::int64_t>::min()
        && v <= std::numeric_limits<std::int64_t>::max()) {
      out.small_ = v.convert_to<std::int64_t>();
    } else {
      // swap, not a move: GCC takes cpp_int's move constructor for a read
      // of uninitialized limbs (-Wmaybe-uninitialized, a false positive).
      auto rep = std::make_shared<bigint_rep>();
      rep->v.swap(v);
      out.big_ = std::move(rep);
    }
    return out;
  }
};

} // namespace entangle::detail

namespace entangle {

using detail::bigint_rep;
namespace mp = boost::multiprecision;

namespace {

[[noreturn]] void syntax_error(std::string_view text) {
  throw dom_exception(std::string{error_name::syntax},
                      fmt::format("cannot convert \"{}\" to a BigInt", text));
}

bool is_space(char c) noexcept {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v'
         || c == '\f';
}

int digit_value(char c) noexcept {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'z')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'Z')
    return c - 'A' + 10;
  return 99;
}

/// Digits of `radix` into a cpp_int, a machine word at a time.
mp::cpp_int parse_digits(std::string_view digits, int radix,
                         std::string_view text) {
  if (digits.empty())
    syntax_error(text);
  mp::cpp_int out;
  std::uint64_t chunk = 0;
  std::uint64_t scale = 1;
  for (char c : digits) {
    auto d = digit_value(c);
    if (d >= radix)
      syntax_error(text);
    chunk = chunk * static_cast<std::uint64_t>(radix)
            + static_cast<std::uint64_t>(d);
    scale *= static_cast<std::uint64_t>(radix);
    if (scale > (std::uint64_t{1} << 56)) { // next digit could overflow
      out = out * scale + chunk;
      chunk = 0;
      scale = 1;
    }
  }
  if (scale > 1)
    out = out * scale + chunk;
  return out;
}

} // namespace

bigint bigint::parse(std::string_view text) {
  auto s = text;
  while (!s.empty() && is_space(s.front()))
    s.remove_prefix(1);
  while (!s.empty() && is_space(s.back()))
    s.remove_suffix(1);
  if (s.empty())
    return bigint{};
  if (s.size() > 2 && s[0] == '0') {
    int radix = 0;
    switch (s[1]) {
      case 'x':
      case 'X':
        radix = 16;
        break;
      case 'o':
      case 'O':
        radix = 8;
        break;
      case 'b':
      case 'B':
        radix = 2;
        break;
      default:
        break;
    }
    if (radix != 0)
      return bigint_rep::make(parse_digits(s.substr(2), radix, text));
  }
  bool negative = s[0] == '-';
  if (s[0] == '-' || s[0] == '+')
    s.remove_prefix(1);
  auto v = parse_digits(s, 10, text);
  return bigint_rep::make(negative ? mp::cpp_int{-v} : v);
}

bigint bigint::from_magnitude(bool negative,
                              const std::vector<std::uint8_t>& magnitude) {
  mp::cpp_int v;
  if (!magnitude.empty())
    mp::import_bits(v, magnitude.begin(), magnitude.end(), 8);
  return bigint_rep::make(negative ? mp::cpp_int{-v} : v);
}

bigint bigint::from_uint64(std::uint64_t x) {
  return bigint_rep::make(mp::cpp_int{x});
}

std::string bigint::to_string(int radix) const {
  if (radix < 2 || radix > 36)
    throw range_error(fmt::format("radix {} is not between 2 and 36", radix));
  if (!big_ && radix == 10)
    return std::to_string(small_);
  auto v = bigint_rep::of(*this);
  bool negative = v < 0;
  if (negative)
    v = -v;
  if (radix == 10) {
    auto out = v.str();
    return negative ? "-" + out : out;
  }
  // Peel off word-sized chunks of digits, least significant first.
  std::uint64_t chunk_scale = 1;
  int chunk_digits = 0;
  while (chunk_scale <= (std::uint64_t{1} << 56) / 36) {
    chunk_scale *= static_cast<std::uint64_t>(radix);
    ++chunk_digits;
  }
  std::string rev;
  do {
    mp::cpp_int q;
    mp::cpp_int r;
    mp::divide_qr(v, mp::cpp_int{chunk_scale}, q, r);
    auto chunk = r.convert_to<std::uint64_t>();
    for (int i = 0; i < chunk_digits && (chunk != 0 || q != 0); ++i) {
      rev += "0123456789abcdefghijklmnopqrstuvwxyz"[chunk % radix];
      chunk /= static_cast<std::uint64_t>(radix);
    }
    v = std::move(q);
  } while (v != 0);
  if (rev.empty())
    rev = "0";
  if (negative)
    rev += '-';
  return {rev.rbegin(), rev.rend()};
}

int bigint::sign() const noexcept {
  if (!big_)
    return small_ < 0 ? -1 : (small_ > 0 ? 1 : 0);
  return big_->v.sign();
}

std::vector<std::uint8_t> bigint::magnitude() const {
  std::vector<std::uint8_t> out;
  auto v = bigint_rep::of(*this);
  if (v < 0)
    v = -v;
  if (v != 0)
    mp::export_bits(v, std::back_inserter(out), 8);
  return out;
}

bool bigint::fits_uint64() const noexcept {
  return big_ && big_->v > 0
         && big_->v <= std::numeric_limits<std::uint64_t>::max();
}

std::uint64_t bigint::big_uint64() const noexcept {
  return big_->v.convert_to<std::uint64_t>();
}

void bigint::throw_out_of_range(int bits, bool is_signed) const {
  throw range_error(fmt::format("{}n does not fit in a {}-bit {} integer",
                                to_string(), bits,
                                is_signed ? "signed" : "unsigned"));
}

double bigint::to_double() const noexcept {
  if (!big_)
    return static_cast<double>(small_);
  // Round to nearest, ties to even: keep the top 64 bits and fold every
  // lower bit into bit 0 (a sticky bit below the rounding position), then
  // let the hardware round those 64 bits to 53.
  mp::cpp_int v = big_->v;
  bool negative = v < 0;
  if (negative)
    v = -v;
  auto shift = mp::msb(v) - 63; // big: at least 64 bits long
  mp::cpp_int low = v & ((mp::cpp_int{1} << shift) - 1);
  auto top = mp::cpp_int{v >> shift}.convert_to<std::uint64_t>();
  if (low != 0)
    top |= 1;
  auto d = std::ldexp(static_cast<double>(top), static_cast<int>(shift));
  return negative ? -d : d;
}

std::size_t bigint::hash() const noexcept {
  if (!big_)
    return std::hash<std::int64_t>{}(small_);
  const auto& be = big_->v.backend();
  std::size_t h = be.sign() ? 0x9e3779b97f4a7c15u : 0;
  for (std::size_t i = 0; i < be.size(); ++i)
    h = (h ^ static_cast<std::size_t>(be.limbs()[i])) * 0x100000001b3u;
  return h;
}

bigint operator+(const bigint& x, const bigint& y) {
  std::int64_t r = 0;
  if (!x.big_ && !y.big_ && !__builtin_add_overflow(x.small_, y.small_, &r))
    return bigint{r};
  return bigint_rep::make(bigint_rep::of(x) + bigint_rep::of(y));
}

bigint operator-(const bigint& x, const bigint& y) {
  std::int64_t r = 0;
  if (!x.big_ && !y.big_ && !__builtin_sub_overflow(x.small_, y.small_, &r))
    return bigint{r};
  return bigint_rep::make(bigint_rep::of(x) - bigint_rep::of(y));
}

bigint operator*(const bigint& x, const bigint& y) {
  std::int64_t r = 0;
  if (!x.big_ && !y.big_ && !__builtin_mul_overflow(x.small_, y.small_, &r))
    return bigint{r};
  return bigint_rep::make(bigint_rep::of(x) * bigint_rep::of(y));
}

namespace {

void check_divisor(const bigint& y) {
  if (y.sign() == 0)
    throw range_error("BigInt division by zero");
}

bool small_divisible(const bigint& x, const bigint& y) noexcept {
  // INT64_MIN / -1 is the one quotient of two int64s that overflows.
  return x.fits<std::int64_t>() && y.fits<std::int64_t>()
         && !(x == bigint{std::numeric_limits<std::int64_t>::min()}
              && y == bigint{-1});
}

} // namespace

bigint operator/(const bigint& x, const bigint& y) {
  check_divisor(y);
  if (small_divisible(x, y))
    return bigint{x.small_ / y.small_};
  return bigint_rep::make(bigint_rep::of(x) / bigint_rep::of(y));
}

bigint operator%(const bigint& x, const bigint& y) {
  check_divisor(y);
  if (small_divisible(x, y))
    return bigint{x.small_ % y.small_};
  return bigint_rep::make(bigint_rep::of(x) % bigint_rep::of(y));
}

bigint operator-(const bigint& x) {
  return bigint{} - x;
}

int compare(const bigint& x, const bigint& y) noexcept {
  if (!x.big_ && !y.big_)
    return x.small_ < y.small_ ? -1 : (x.small_ > y.small_ ? 1 : 0);
  if (x.big_ && y.big_)
    return x.big_->v.compare(y.big_->v);
  // A big value never equals an int64 (the canonical form).
  if (x.big_)
    return x.big_->v > y.small_ ? 1 : -1;
  return y.big_->v > x.small_ ? -1 : 1;
}

} // namespace entangle
