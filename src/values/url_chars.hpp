#pragma once

// Code point classes the WHATWG URL standard (§3.2, §4.4) and Infra name,
// over the bytes of UTF-8 input: each is ASCII, so a non-ASCII code point's
// bytes (all >= 0x80) never fall into one by accident.

#include <string_view>
#include <vector>

namespace entangle::detail::url_chars {

inline bool is_alpha(int c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

inline bool is_digit(int c) {
  return c >= '0' && c <= '9';
}

inline bool is_hex(int c) {
  return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/// The value of a hex digit (`is_hex(c)` holds).
inline int hex_value(int c) {
  return is_digit(c) ? c - '0' : (c | 0x20) - 'a' + 10;
}

inline char ascii_lower(int c) {
  return static_cast<char>(c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c);
}

inline bool is_ascii(std::string_view s) {
  for (unsigned char c : s)
    if (c >= 0x80)
      return false;
  return true;
}

/// "Forbidden host code point".
inline bool forbidden_host(unsigned char c) {
  switch (c) {
    case 0x00: case 0x09: case 0x0a: case 0x0d: case ' ': case '#':
    case '/': case ':': case '<': case '>': case '?': case '@': case '[':
    case '\\': case ']': case '^': case '|':
      return true;
    default:
      return false;
  }
}

/// "Forbidden domain code point": the above, C0 controls, '%' and DEL.
inline bool forbidden_domain(unsigned char c) {
  return forbidden_host(c) || c <= 0x1f || c == '%' || c == 0x7f;
}

/// Infra's "strictly split" on `sep`: "" gives one empty item.
inline std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  for (;;) {
    auto i = s.find(sep);
    out.push_back(s.substr(0, i));
    if (i == std::string_view::npos)
      return out;
    s.remove_prefix(i + 1);
  }
}

} // namespace entangle::detail::url_chars
