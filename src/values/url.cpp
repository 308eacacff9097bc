// The WHATWG URL standard's basic URL parser (URL §4.4), as a state machine
// with the standard's states and steps, keeping what url_record keeps.
// Input is read byte by byte: every character the states compare against
// is ASCII, and a non-ASCII code point's UTF-8 bytes all fall into the
// states' "otherwise" branches, as the code point would.

#include "values/url.hpp"

#include <fmt/format.h>

#include "values/url_chars.hpp"
#include "values/url_host.hpp"

namespace entangle::detail {

using namespace url_chars;

bool is_special_scheme(std::string_view scheme) noexcept {
  return scheme == "file" || default_port(scheme) != -1;
}

int default_port(std::string_view scheme) noexcept {
  if (scheme == "http" || scheme == "ws")
    return 80;
  if (scheme == "https" || scheme == "wss")
    return 443;
  if (scheme == "ftp")
    return 21;
  return -1;
}

namespace {

constexpr int eof = -1;

enum class state {
  scheme_start,
  scheme,
  no_scheme,
  special_relative_or_authority,
  path_or_authority,
  relative,
  relative_slash,
  special_authority_slashes,
  special_authority_ignore_slashes,
  authority,
  host,
  port,
  file,
  file_slash,
  file_host,
  path_start,
  path,
  opaque_path,
  query,
  fragment,
};

/// Two code points: an ASCII letter, then ':' or '|'.
bool is_windows_drive_letter(std::string_view s) {
  return s.size() == 2 && is_alpha(static_cast<unsigned char>(s[0]))
         && (s[1] == ':' || s[1] == '|');
}

/// Strips leading and trailing C0 controls and spaces, and removes every
/// ASCII tab or newline.
std::string preprocess(std::string_view in) {
  while (!in.empty() && static_cast<unsigned char>(in.front()) <= 0x20)
    in.remove_prefix(1);
  while (!in.empty() && static_cast<unsigned char>(in.back()) <= 0x20)
    in.remove_suffix(1);
  std::string out;
  out.reserve(in.size());
  for (char c : in)
    if (c != '\t' && c != '\n' && c != '\r')
      out += c;
  return out;
}

url_parse_result fail(const char* why) {
  return {std::nullopt, why};
}

} // namespace

url_parse_result parse_url(std::string_view raw, const url_record* base) {
  auto in = preprocess(raw);
  auto n = static_cast<long>(in.size());
  url_record url;
  auto st = state::scheme_start;
  std::string buffer;
  bool at_sign_seen = false;
  bool inside_brackets = false;
  const char* why = nullptr;
  auto next_is = [&](long p, char c) { return p + 1 < n && in[p + 1] == c; };
  for (long p = 0;; ++p) {
    int c = p < n ? static_cast<unsigned char>(in[p]) : eof;
    bool special = is_special_scheme(url.scheme);
    bool ends_authority = c == eof || c == '/' || c == '?' || c == '#'
                          || (special && c == '\\');
    switch (st) {
      case state::scheme_start:
        if (is_alpha(c)) {
          buffer += ascii_lower(c);
          st = state::scheme;
        } else {
          st = state::no_scheme;
          --p;
        }
        break;
      case state::scheme:
        if (is_alpha(c) || is_digit(c) || c == '+' || c == '-' || c == '.') {
          buffer += ascii_lower(c);
        } else if (c == ':') {
          url.scheme = std::move(buffer);
          buffer.clear();
          if (url.scheme == "file") {
            st = state::file;
          } else if (is_special_scheme(url.scheme) && base != nullptr
                     && base->scheme == url.scheme) {
            st = state::special_relative_or_authority;
          } else if (is_special_scheme(url.scheme)) {
            st = state::special_authority_slashes;
          } else if (next_is(p, '/')) {
            st = state::path_or_authority;
            ++p;
          } else {
            url.opaque_path = true;
            st = state::opaque_path;
          }
        } else {
          buffer.clear();
          st = state::no_scheme;
          p = -1; // start over from the first code point
        }
        break;
      case state::no_scheme:
        if (base == nullptr || (base->opaque_path && c != '#'))
          return fail(base == nullptr ? "not an absolute URL (no scheme)"
                                      : "a relative URL against a base "
                                        "with an opaque path");
        if (base->opaque_path) { // c == '#'
          url.scheme = base->scheme;
          url.opaque_path = true;
          url.path = base->path;
          st = state::fragment;
        } else {
          st = base->scheme != "file" ? state::relative : state::file;
          --p;
        }
        break;
      case state::special_relative_or_authority:
        if (c == '/' && next_is(p, '/')) {
          st = state::special_authority_ignore_slashes;
          ++p;
        } else {
          st = state::relative;
          --p;
        }
        break;
      case state::path_or_authority:
        if (c == '/') {
          st = state::authority;
        } else {
          st = state::path;
          --p;
        }
        break;
      case state::relative:
        url.scheme = base->scheme;
        special = is_special_scheme(url.scheme);
        if (c == '/' || (special && c == '\\')) {
          st = state::relative_slash;
        } else {
          url.host = base->host;
          url.port = base->port;
          url.opaque_path = base->opaque_path;
          url.path = base->path;
          if (c == '?')
            st = state::query;
          else if (c == '#')
            st = state::fragment;
          else if (c != eof) {
            st = state::path; // (the path is shortened; not kept)
            --p;
          }
        }
        break;
      case state::relative_slash:
        if (special && (c == '/' || c == '\\')) {
          st = state::special_authority_ignore_slashes;
        } else if (c == '/') {
          st = state::authority;
        } else {
          url.host = base->host;
          url.port = base->port;
          st = state::path;
          --p;
        }
        break;
      case state::special_authority_slashes:
        st = state::special_authority_ignore_slashes;
        if (c == '/' && next_is(p, '/'))
          ++p;
        else
          --p;
        break;
      case state::special_authority_ignore_slashes:
        if (c != '/' && c != '\\') {
          st = state::authority;
          --p;
        }
        break;
      case state::authority:
        if (c == '@') {
          at_sign_seen = true; // what came before is credentials: not kept
          buffer.clear();
        } else if (ends_authority) {
          if (at_sign_seen && buffer.empty())
            return fail("credentials without a host");
          p -= static_cast<long>(buffer.size()) + 1;
          buffer.clear();
          st = state::host;
        } else {
          buffer += static_cast<char>(c);
        }
        break;
      case state::host:
        if (c == ':' && !inside_brackets) {
          if (buffer.empty())
            return fail("empty host");
          url.host = parse_host(buffer, !special, &why);
          if (!url.host)
            return fail(why);
          buffer.clear();
          st = state::port;
        } else if (ends_authority) {
          --p;
          if (special && buffer.empty())
            return fail("empty host");
          url.host = parse_host(buffer, !special, &why);
          if (!url.host)
            return fail(why);
          buffer.clear();
          st = state::path_start;
        } else {
          if (c == '[')
            inside_brackets = true;
          if (c == ']')
            inside_brackets = false;
          buffer += static_cast<char>(c);
        }
        break;
      case state::port:
        if (is_digit(c)) {
          buffer += static_cast<char>(c);
        } else if (ends_authority) {
          if (!buffer.empty()) {
            long port = 0;
            for (char d : buffer) {
              port = port * 10 + (d - '0');
              if (port > 65535)
                return fail("the port is out of range");
            }
            if (port == default_port(url.scheme))
              url.port.reset();
            else
              url.port = static_cast<std::uint16_t>(port);
            buffer.clear();
          }
          st = state::path_start;
          --p;
        } else {
          return fail("the port is not a number");
        }
        break;
      case state::file:
        url.scheme = "file";
        url.host = std::string{};
        if (c == '/' || c == '\\') {
          st = state::file_slash;
        } else if (base != nullptr && base->scheme == "file") {
          url.host = base->host;
          if (c == '?')
            st = state::query;
          else if (c == '#')
            st = state::fragment;
          else if (c != eof) {
            st = state::path;
            --p;
          }
        } else {
          st = state::path;
          --p;
        }
        break;
      case state::file_slash:
        if (c == '/' || c == '\\') {
          st = state::file_host;
        } else {
          if (base != nullptr && base->scheme == "file")
            url.host = base->host;
          st = state::path;
          --p;
        }
        break;
      case state::file_host:
        if (c == eof || c == '/' || c == '\\' || c == '?' || c == '#') {
          --p;
          if (is_windows_drive_letter(buffer)) {
            st = state::path; // "C|" is a path, not a host (a quirk)
          } else if (buffer.empty()) {
            url.host = std::string{};
            st = state::path_start;
          } else {
            url.host = parse_host(buffer, false, &why);
            if (!url.host)
              return fail(why);
            if (*url.host == "localhost")
              url.host = std::string{};
            st = state::path_start;
          }
          buffer.clear();
        } else {
          buffer += static_cast<char>(c);
        }
        break;
      case state::path_start:
        if (special) {
          st = state::path;
          if (c != '/' && c != '\\')
            --p;
        } else if (c == '?') {
          st = state::query;
        } else if (c == '#') {
          st = state::fragment;
        } else if (c != eof) {
          st = state::path;
          if (c != '/')
            --p;
        }
        break;
      case state::path:
        // Segments end at '/' (and '\' if special); they are not kept.
        if (c == '?')
          st = state::query;
        else if (c == '#')
          st = state::fragment;
        break;
      case state::opaque_path:
        if (c == '?') {
          st = state::query;
        } else if (c == '#') {
          st = state::fragment;
        } else if (c == ' ') {
          url.path += next_is(p, '?') || next_is(p, '#') ? "%20" : " ";
        } else if (c != eof) {
          // UTF-8 percent-encoded with the C0 control percent-encode set.
          if (c < 0x20 || c > 0x7e)
            url.path += fmt::format("%{:02X}", c);
          else
            url.path += static_cast<char>(c);
        }
        break;
      case state::query:
        if (c == '#')
          st = state::fragment;
        break;
      case state::fragment:
        break;
    }
    if (p >= n)
      return {std::move(url), nullptr};
  }
}

} // namespace entangle::detail
