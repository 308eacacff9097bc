// The WHATWG URL standard's host parser: IPv6 and IPv4 parsing and
// serialization, percent-decoding, opaque hosts; domains go through
// domain_to_ascii (idna.cpp). Step names in comments are the standard's.

#include "values/url_host.hpp"

#include <array>
#include <cstdint>
#include <cstdlib>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "values/idna.hpp"
#include "values/url_chars.hpp"

namespace entangle::detail {

using namespace url_chars;

namespace {

constexpr int eof = -1;

// -- IPv6 (§3.5 "IPv6 parser", §3.6 "IPv6 serializer") ----------------------

using ipv6_address = std::array<std::uint16_t, 8>;

std::optional<ipv6_address> parse_ipv6(std::string_view in) {
  ipv6_address address{};
  std::size_t piece = 0;
  std::optional<std::size_t> compress;
  std::size_t p = 0;
  auto at = [&](std::size_t i) {
    return i < in.size() ? static_cast<int>(static_cast<unsigned char>(in[i]))
                         : eof;
  };
  if (at(p) == ':') {
    if (at(p + 1) != ':')
      return std::nullopt;
    p += 2;
    compress = ++piece;
  }
  while (at(p) != eof) {
    if (piece == 8)
      return std::nullopt;
    if (at(p) == ':') {
      if (compress)
        return std::nullopt;
      ++p;
      compress = ++piece;
      continue;
    }
    unsigned value = 0;
    std::size_t length = 0;
    while (length < 4 && is_hex(at(p))) {
      value = value * 0x10 + static_cast<unsigned>(hex_value(at(p)));
      ++p;
      ++length;
    }
    if (at(p) == '.') {
      // An IPv4 address in the last two pieces.
      if (length == 0)
        return std::nullopt;
      p -= length;
      if (piece > 6)
        return std::nullopt;
      int numbers_seen = 0;
      while (at(p) != eof) {
        int v4 = -1;
        if (numbers_seen > 0) {
          if (at(p) == '.' && numbers_seen < 4)
            ++p;
          else
            return std::nullopt;
        }
        if (!is_digit(at(p)))
          return std::nullopt;
        while (is_digit(at(p))) {
          int number = at(p) - '0';
          if (v4 == -1)
            v4 = number;
          else if (v4 == 0)
            return std::nullopt; // a leading zero
          else
            v4 = v4 * 10 + number;
          if (v4 > 255)
            return std::nullopt;
          ++p;
        }
        address[piece] = static_cast<std::uint16_t>(address[piece] * 0x100
                                                    + v4);
        ++numbers_seen;
        if (numbers_seen == 2 || numbers_seen == 4)
          ++piece;
      }
      if (numbers_seen != 4)
        return std::nullopt;
      break;
    }
    if (at(p) == ':') {
      ++p;
      if (at(p) == eof)
        return std::nullopt;
    } else if (at(p) != eof) {
      return std::nullopt;
    }
    address[piece++] = static_cast<std::uint16_t>(value);
  }
  if (compress) {
    auto swaps = piece - *compress;
    piece = 7;
    while (piece != 0 && swaps > 0) {
      std::swap(address[piece], address[*compress + swaps - 1]);
      --piece;
      --swaps;
    }
  } else if (piece != 8) {
    return std::nullopt;
  }
  return address;
}

std::string serialize_ipv6(const ipv6_address& a) {
  // The first longest run of zero pieces, if longer than one, becomes "::".
  std::size_t best = 8;
  std::size_t best_len = 1;
  for (std::size_t i = 0; i < 8;) {
    if (a[i] != 0) {
      ++i;
      continue;
    }
    auto j = i;
    while (j < 8 && a[j] == 0)
      ++j;
    if (j - i > best_len) {
      best = i;
      best_len = j - i;
    }
    i = j;
  }
  std::string out = "[";
  bool ignore0 = false;
  for (std::size_t i = 0; i < 8; ++i) {
    if (ignore0 && a[i] == 0)
      continue;
    ignore0 = false;
    if (i == best) {
      out += i == 0 ? "::" : ":";
      ignore0 = true;
      continue;
    }
    out += fmt::format("{:x}", a[i]);
    if (i != 7)
      out += ':';
  }
  out += ']';
  return out;
}

// -- IPv4 (§3.5 "IPv4 parser", "ends in a number") -------------------------

/// "IPv4 number parser"; values too large for any address saturate.
std::optional<std::uint64_t> parse_ipv4_number(std::string_view in) {
  if (in.empty())
    return std::nullopt;
  unsigned radix = 10;
  if (in.size() >= 2 && in[0] == '0' && (in[1] == 'x' || in[1] == 'X')) {
    in.remove_prefix(2);
    radix = 16;
  } else if (in.size() >= 2 && in[0] == '0') {
    in.remove_prefix(1);
    radix = 8;
  }
  std::uint64_t out = 0;
  for (unsigned char c : in) {
    if (!is_hex(c))
      return std::nullopt;
    auto d = static_cast<unsigned>(hex_value(c));
    if (d >= radix)
      return std::nullopt;
    out = std::min<std::uint64_t>(out * radix + d, std::uint64_t{1} << 40);
  }
  return out; // "" after a prefix is 0
}

bool ends_in_number(std::string_view in) {
  auto parts = split(in, '.');
  if (parts.back().empty()) {
    if (parts.size() == 1)
      return false;
    parts.pop_back();
  }
  auto last = parts.back();
  if (!last.empty()) {
    bool digits = true;
    for (char c : last)
      digits = digits && is_digit(c);
    if (digits)
      return true;
  }
  return parse_ipv4_number(last).has_value();
}

std::optional<std::string> parse_ipv4(std::string_view in) {
  auto parts = split(in, '.');
  if (parts.back().empty() && parts.size() > 1)
    parts.pop_back();
  if (parts.size() > 4)
    return std::nullopt;
  std::vector<std::uint64_t> numbers;
  for (auto part : parts) {
    auto n = parse_ipv4_number(part);
    if (!n)
      return std::nullopt;
    numbers.push_back(*n);
  }
  for (std::size_t i = 0; i + 1 < numbers.size(); ++i)
    if (numbers[i] > 255)
      return std::nullopt;
  if (numbers.back() >= std::uint64_t{1} << (8 * (5 - numbers.size())))
    return std::nullopt;
  auto ipv4 = numbers.back();
  for (std::size_t i = 0; i + 1 < numbers.size(); ++i)
    ipv4 += numbers[i] << (8 * (3 - i));
  return fmt::format("{}.{}.{}.{}", (ipv4 >> 24) & 0xff, (ipv4 >> 16) & 0xff,
                     (ipv4 >> 8) & 0xff, ipv4 & 0xff);
}

// -- domains and opaque hosts -------------------------------------------------

std::string percent_decode(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    auto hi = i + 1 < in.size() ? static_cast<unsigned char>(in[i + 1]) : 0;
    auto lo = i + 2 < in.size() ? static_cast<unsigned char>(in[i + 2]) : 0;
    if (in[i] == '%' && is_hex(hi) && is_hex(lo)) {
      out += static_cast<char>(hex_value(hi) * 16 + hex_value(lo));
      i += 2;
    } else {
      out += in[i];
    }
  }
  return out;
}

/// "UTF-8 decode without BOM", kept as UTF-8: each invalid sequence (its
/// maximal subpart, as the Encoding standard's decoder reads it) becomes
/// U+FFFD, which no domain survives.
std::string utf8_sanitize(std::string_view in) {
  static constexpr std::string_view replacement = "\xef\xbf\xbd";
  std::string out;
  out.reserve(in.size());
  std::size_t i = 0;
  while (i < in.size()) {
    auto b = static_cast<unsigned char>(in[i]);
    if (b < 0x80) {
      out += static_cast<char>(b);
      ++i;
      continue;
    }
    int need = 0;
    unsigned char lo = 0x80, hi = 0xbf;
    if (b >= 0xc2 && b <= 0xdf) {
      need = 1;
    } else if (b >= 0xe0 && b <= 0xef) {
      need = 2;
      lo = b == 0xe0 ? 0xa0 : 0x80;
      hi = b == 0xed ? 0x9f : 0xbf;
    } else if (b >= 0xf0 && b <= 0xf4) {
      need = 3;
      lo = b == 0xf0 ? 0x90 : 0x80;
      hi = b == 0xf4 ? 0x8f : 0xbf;
    } else {
      out += replacement;
      ++i;
      continue;
    }
    auto j = i + 1;
    bool ok = true;
    for (int seen = 0; seen < need; ++seen, ++j) {
      auto c = j < in.size() ? static_cast<unsigned char>(in[j]) : 0;
      if (j >= in.size() || c < lo || c > hi) {
        ok = false;
        break;
      }
      lo = 0x80;
      hi = 0xbf;
    }
    if (ok)
      out.append(in.substr(i, j - i));
    else
      out += replacement; // the offending byte is read again
    i = j;
  }
  return out;
}

/// "Opaque-host parser" (non-special schemes).
std::optional<std::string> parse_opaque_host(std::string_view in,
                                             const char** why) {
  std::string out;
  for (unsigned char c : in) {
    if (forbidden_host(c)) {
      *why = "forbidden code point in the host";
      return std::nullopt;
    }
    // UTF-8 percent-encoded with the C0 control percent-encode set.
    if (c < 0x20 || c > 0x7e)
      out += fmt::format("%{:02X}", c);
    else
      out += static_cast<char>(c);
  }
  return out;
}

} // namespace

std::optional<std::string> parse_host(std::string_view input, bool is_opaque,
                                      const char** why) {
  if (!input.empty() && input.front() == '[') {
    if (input.size() < 2 || input.back() != ']') {
      *why = "unterminated IPv6 address";
      return std::nullopt;
    }
    auto address = parse_ipv6(input.substr(1, input.size() - 2));
    if (!address) {
      *why = "invalid IPv6 address";
      return std::nullopt;
    }
    return serialize_ipv6(*address);
  }
  if (is_opaque)
    return parse_opaque_host(input, why);
  auto ascii = domain_to_ascii(utf8_sanitize(percent_decode(input)), why);
  if (!ascii)
    return std::nullopt;
  if (ends_in_number(*ascii)) {
    auto v4 = parse_ipv4(*ascii);
    if (!v4)
      *why = "invalid IPv4 address";
    return v4;
  }
  return ascii;
}

} // namespace entangle::detail
