#include "entangle/origin.hpp"

#include <atomic>

#include <fmt/format.h>

#include "entangle/error.hpp"
#include "values/url.hpp"

namespace entangle {

namespace {

std::atomic<std::uint64_t> next_opaque{1};

[[noreturn]] void syntax_error(std::string_view url, const char* why) {
  throw dom_exception(std::string{error_name::syntax},
                      fmt::format("'{}' is not a valid URL: {}", url, why));
}

detail::url_record parse_or_throw(std::string_view url,
                                  const detail::url_record* base) {
  auto r = detail::parse_url(url, base);
  if (!r.url)
    syntax_error(url, r.error);
  return std::move(*r.url);
}

} // namespace

origin origin::opaque() {
  origin o;
  o.opaque_id_ = next_opaque.fetch_add(1, std::memory_order_relaxed);
  return o;
}

origin origin::of(const detail::url_record& url) {
  // URL §4.1 "origin".
  if (url.scheme == "blob") {
    // The origin of the URL in the path, for http(s) and file URLs only.
    if (url.opaque_path) {
      auto inner = detail::parse_url(url.path, nullptr);
      if (inner.url
          && (inner.url->scheme == "http" || inner.url->scheme == "https"
              || inner.url->scheme == "file"))
        return of(*inner.url);
    }
    return opaque();
  }
  if (url.scheme == "file" || !detail::is_special_scheme(url.scheme))
    return opaque(); // file: left to the implementation; opaque here
  origin o;
  o.scheme_ = url.scheme;
  o.host_ = url.host.value_or(std::string{});
  o.port_ = url.port ? static_cast<int>(*url.port) : -1;
  return o;
}

origin origin::parse(std::string_view url) {
  return of(parse_or_throw(url, nullptr));
}

origin origin::parse(std::string_view url, std::string_view base) {
  auto b = parse_or_throw(base, nullptr);
  return of(parse_or_throw(url, &b));
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
