#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace entangle {

namespace detail {
struct url_record;
} // namespace detail

/// An origin (HTML "origin"): a tuple (scheme, host, port) or an opaque
/// origin. Tuple origins are equal when their parts are; every opaque origin
/// is equal only to itself (copies of it included).
///
/// `parse` reads a URL with the WHATWG URL standard's parser, as
/// window.postMessage reads its targetOrigin (HTML §11.2), and returns the
/// URL's origin (URL §4.1):
/// - `http`, `https`, `ws`, `wss` and `ftp` URLs give tuple origins. The
///   host is normalised as the standard does: lower-cased, percent-decoded,
///   converted to ASCII by IDNA/UTS-46 (`https://faß.example` is
///   `https://xn--fa-hia.example`), an IPv4 address in any number form
///   written dotted-decimal (`http://0x7f.1` is `http://127.0.0.1`), an
///   IPv6 address compressed (`http://[0:0::1]` is `http://[::1]`). A
///   default port is dropped; credentials, path, query and fragment are
///   ignored; tabs and newlines anywhere, and spaces and controls at either
///   end, are removed first.
/// - A `blob:` URL has the origin of the URL after `blob:` if that is an
///   `http`, `https` or `file` URL (`blob:https://a.example/id` is
///   `https://a.example`).
/// - Every other URL (`data:`, `file:`, `about:`, custom schemes) gives a
///   fresh opaque origin, which serializes as "null".
class origin {
public:
  /// A fresh opaque origin (distinct from every other).
  static origin opaque();

  /// Parses an absolute URL's origin.
  /// @throws dom_exception `SyntaxError` when the URL parser fails on `url`
  ///         (no scheme, an invalid host such as `http://[]` or
  ///         `http://a b`, a bad port...); the message says why.
  static origin parse(std::string_view url);

  /// Parses `url` against the absolute URL `base` (a relative URL such as
  /// "/path" or "//host" takes what it lacks from `base`) and returns the
  /// result's origin.
  /// @throws dom_exception `SyntaxError` when `base` or `url` fails to
  ///         parse.
  static origin parse(std::string_view url, std::string_view base);

  bool is_opaque() const noexcept {
    return opaque_id_ != 0;
  }

  /// Empty for an opaque origin.
  const std::string& scheme() const noexcept;
  /// Empty for an opaque origin.
  const std::string& host() const noexcept;
  /// The port, or -1 for the scheme's default (and for an opaque origin).
  int port() const noexcept {
    return tuple_ ? tuple_->port : -1;
  }

  /// "scheme://host[:port]", or "null" for an opaque origin.
  std::string serialize() const;

  /// A string equal for same-origin values only (opaque ones included).
  std::string key() const;

  friend bool operator==(const origin& x, const origin& y) noexcept {
    if (x.opaque_id_ != y.opaque_id_)
      return false;
    return x.tuple_ == y.tuple_; // tuples are interned: one per origin
  }
  friend bool operator!=(const origin& x, const origin& y) noexcept {
    return !(x == y);
  }

private:
  origin() = default;
  static origin of(const detail::url_record& url);

  /// A tuple origin's parts, never changed and shared by every origin
  /// equal to it (interned): every context carries its origin, so an
  /// origin is one pointer and an id (24 bytes), not two strings (80).
  struct tuple {
    std::string scheme;
    std::string host;
    int port = -1;
  };
  static std::shared_ptr<const tuple> intern(tuple t);
  std::shared_ptr<const tuple> tuple_; // null for an opaque origin
  std::uint64_t opaque_id_ = 0;
};

} // namespace entangle
