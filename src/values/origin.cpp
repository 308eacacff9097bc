#include "entangle/origin.hpp"

#include <algorithm>
#include <atomic>
#include <cctype>

#include <fmt/format.h>

#include "entangle/error.hpp"

namespace entangle {

namespace {

[[noreturn]] void syntax_error(std::string_view url, const char* why) {
  throw dom_exception(std::string{error_name::syntax},
                      fmt::format("'{}' is not an absolute URL: {}", url, why));
}

std::string lower(std::string_view s) {
  std::string out{s};
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) {
    return static_cast<char>(std::tolower(c));
  });
  return out;
}

int default_port(const std::string& scheme) {
  if (scheme == "http" || scheme == "ws")
    return 80;
  if (scheme == "https" || scheme == "wss")
    return 443;
  if (scheme == "ftp")
    return 21;
  return -1;
}

bool special(const std::string& scheme) {
  return default_port(scheme) != -1;
}

// WHATWG URL "forbidden host code point" (plus controls and space).
bool forbidden_host_char(unsigned char c) {
  if (c <= 0x20 || c == 0x7f)
    return true;
  switch (c) {
    case '#': case '%': case '/': case ':': case '<': case '>': case '?':
    case '@': case '[': case '\\': case ']': case '^': case '|':
      return true;
    default:
      return false;
  }
}

std::atomic<std::uint64_t> next_opaque{1};

} // namespace

origin origin::opaque() {
  origin o;
  o.opaque_id_ = next_opaque.fetch_add(1, std::memory_order_relaxed);
  return o;
}

origin origin::parse(std::string_view url) {
  // Leading/trailing C0 controls and spaces are stripped by the URL parser.
  while (!url.empty() && static_cast<unsigned char>(url.front()) <= 0x20)
    url.remove_prefix(1);
  while (!url.empty() && static_cast<unsigned char>(url.back()) <= 0x20)
    url.remove_suffix(1);
  auto colon = url.find(':');
  if (colon == std::string_view::npos || colon == 0)
    syntax_error(url, "no scheme");
  auto scheme = lower(url.substr(0, colon));
  if (!std::isalpha(static_cast<unsigned char>(scheme[0])))
    syntax_error(url, "the scheme must start with a letter");
  for (unsigned char c : scheme)
    if (!std::isalnum(c) && c != '+' && c != '-' && c != '.')
      syntax_error(url, "invalid character in the scheme");
  if (!special(scheme)) {
    // data:, file:, blob: (without an inner URL), custom schemes: opaque.
    return opaque();
  }
  auto rest = url.substr(colon + 1);
  // Special schemes tolerate any number of slashes or backslashes.
  std::size_t slashes = 0;
  while (slashes < rest.size() && (rest[slashes] == '/' || rest[slashes] == '\\'))
    ++slashes;
  rest.remove_prefix(slashes);
  auto end = rest.find_first_of("/\\?#");
  auto authority = rest.substr(0, end);
  if (auto at = authority.rfind('@'); at != std::string_view::npos)
    authority.remove_prefix(at + 1); // credentials are not part of the origin
  std::string_view host = authority;
  std::string_view port;
  if (!authority.empty() && authority.front() == '[') {
    auto close = authority.find(']');
    if (close == std::string_view::npos)
      syntax_error(url, "unterminated IPv6 address");
    host = authority.substr(0, close + 1);
    auto after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':')
        syntax_error(url, "garbage after the IPv6 address");
      port = after.substr(1);
    }
    for (auto c : host.substr(1, host.size() - 2))
      if (!std::isxdigit(static_cast<unsigned char>(c)) && c != ':' && c != '.')
        syntax_error(url, "invalid IPv6 address");
  } else {
    if (auto c = authority.rfind(':'); c != std::string_view::npos) {
      host = authority.substr(0, c);
      port = authority.substr(c + 1);
    }
    for (unsigned char c : host)
      if (forbidden_host_char(c))
        syntax_error(url, "invalid character in the host");
  }
  if (host.empty())
    syntax_error(url, "empty host");
  origin o;
  o.scheme_ = scheme;
  o.host_ = lower(host);
  if (!port.empty()) {
    long n = 0;
    for (unsigned char c : port) {
      if (!std::isdigit(c))
        syntax_error(url, "the port is not a number");
      n = n * 10 + (c - '0');
      if (n > 65535)
        syntax_error(url, "the port is out of range");
    }
    o.port_ = static_cast<int>(n) == default_port(scheme) ? -1
                                                          : static_cast<int>(n);
  }
  return o;
}

std::string origin::serialize() const {
  if (is_opaque())
    return "null";
  if (port_ < 0)
    return fmt::format("{}://{}", scheme_, host_);
  return fmt::format("{}://{}:{}", scheme_, host_, port_);
}

std::string origin::key() const {
  if (is_opaque())
    return fmt::format("opaque:{}", opaque_id_);
  return serialize();
}

} // namespace entangle
