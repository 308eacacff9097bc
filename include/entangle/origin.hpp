#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace entangle {

/// An origin (HTML "origin"): a tuple (scheme, host, port) or an opaque
/// origin. Tuple origins are equal when their parts are; every opaque origin
/// is equal only to itself (copies of it included).
///
/// `parse` reads an absolute URL as window.postMessage's targetOrigin does
/// (HTML §11.2): scheme and host are lower-cased, a default port is dropped,
/// path, query and fragment are ignored. `http`, `https`, `ws`, `wss` and
/// `ftp` URLs give tuple origins; other schemes (`data:`, `file:`, ...) give
/// a fresh opaque origin.
class origin {
public:
  /// A fresh opaque origin (distinct from every other).
  static origin opaque();

  /// Parses an absolute URL's origin.
  /// @throws dom_exception `SyntaxError` when `url` is not an absolute URL
  ///         (no scheme, a space or forbidden character in the host, a bad
  ///         port...).
  static origin parse(std::string_view url);

  bool is_opaque() const noexcept {
    return opaque_id_ != 0;
  }

  const std::string& scheme() const noexcept {
    return scheme_;
  }
  const std::string& host() const noexcept {
    return host_;
  }
  /// The port, or -1 for the scheme's default.
  int port() const noexcept {
    return port_;
  }

  /// "scheme://host[:port]", or "null" for an opaque origin.
  std::string serialize() const;

  /// A string equal for same-origin values only (opaque ones included).
  std::string key() const;

  friend bool operator==(const origin& x, const origin& y) noexcept {
    return x.opaque_id_ == y.opaque_id_ && x.scheme_ == y.scheme_
           && x.host_ == y.host_ && x.port_ == y.port_;
  }
  friend bool operator!=(const origin& x, const origin& y) noexcept {
    return !(x == y);
  }

private:
  origin() = default;

  std::string scheme_;
  std::string host_;
  int port_ = -1;
  std::uint64_t opaque_id_ = 0;
};

} // namespace entangle
