#include "entangle/origin.hpp"

#include <atomic>
#include <mutex>
#include <unordered_map>

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

std::shared_ptr<const origin::tuple> origin::intern(tuple t) {
  // One shared tuple per distinct origin while any origin names it: the
  // same origin parsed for each of 5 000 windows costs one tuple, not
  // 5 000 (96 bytes each). Expired entries go every 1 024 new ones, so
  // the table stays O(live distinct origins).
  static std::mutex mu;
  static std::unordered_map<std::string, std::weak_ptr<const tuple>> table;
  static std::size_t added = 0;
  auto key = fmt::format("{}://{}:{}", t.scheme, t.host, t.port);
  std::lock_guard<std::mutex> guard{mu};
  auto& slot = table[key];
  if (auto hit = slot.lock())
    return hit;
  auto fresh = std::make_shared<const tuple>(std::move(t));
  slot = fresh;
  if (++added % 1024 == 0)
    for (auto i = table.begin(); i != table.end();)
      i = i->second.expired() ? table.erase(i) : std::next(i);
  return fresh;
}

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
  o.tuple_ = intern(tuple{url.scheme, url.host.value_or(std::string{}),
                          url.port ? static_cast<int>(*url.port) : -1});
  return o;
}

origin origin::parse(std::string_view url) {
  return of(parse_or_throw(url, nullptr));
}

origin origin::parse(std::string_view url, std::string_view base) {
  auto b = parse_or_throw(base, nullptr);
  return of(parse_or_throw(url, &b));
}

const std::string& origin::scheme() const noexcept {
  static const std::string none;
  return tuple_ ? tuple_->scheme : none;
}

const std::string& origin::host() const noexcept {
  static const std::string none;
  return tuple_ ? tuple_->host : none;
}

std::string origin::serialize() const {
  if (!tuple_)
    return "null";
  if (tuple_->port < 0)
    return fmt::format("{}://{}", tuple_->scheme, tuple_->host);
  return fmt::format("{}://{}:{}", tuple_->scheme, tuple_->host,
                     tuple_->port);
}

std::string origin::key() const {
  if (is_opaque())
    return fmt::format("opaque:{}", opaque_id_);
  return serialize();
}

} // namespace entangle
