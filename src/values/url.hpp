#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace entangle::detail {

/// What the WHATWG URL standard's basic URL parser (URL §4.4) yields that
/// an origin depends on, or that a later parse against this URL as its
/// base needs: scheme, host and port, and an opaque path (a blob: URL's
/// origin is the origin of the URL in its path).
///
/// Path segments, credentials, query and fragment are parsed over but not
/// kept: no step that reads them can fail the parse or change an origin.
struct url_record {
  std::string scheme;
  /// Serialized (an IPv6 address in brackets, an IPv4 address, an ASCII
  /// domain or an opaque host); nullopt is the null host, "" the empty one.
  std::optional<std::string> host;
  /// nullopt for no port or the scheme's default port.
  std::optional<std::uint16_t> port;
  /// Whether the path is opaque (`data:x`, `blob:https://...`); `path` is
  /// then its value, percent-encoded as the standard serializes it.
  bool opaque_path = false;
  std::string path;
};

/// The outcome of parse_url: the record, or why parsing failed.
struct url_parse_result {
  std::optional<url_record> url;
  const char* error = nullptr;
};

/// Parses `input` (UTF-8) against `base` (null for none) as the basic URL
/// parser does, without a state override.
url_parse_result parse_url(std::string_view input, const url_record* base);

/// Whether `scheme` is special (ftp, file, http, https, ws, wss).
bool is_special_scheme(std::string_view scheme) noexcept;

/// The scheme's default port, or -1.
int default_port(std::string_view scheme) noexcept;

} // namespace entangle::detail
