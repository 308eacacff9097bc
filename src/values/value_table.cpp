#include "values/value_table.hpp"

#include <cmath>
#include <functional>
#include <string_view>

#include "values/buffer_access.hpp"
#include "values/graph_node.hpp"

namespace entangle::detail {

namespace {

std::size_t mix(std::size_t kind, std::size_t h) noexcept {
  return h ^ (kind * 0x9e3779b97f4a7c15u);
}

std::size_t pointer_hash(const void* p) noexcept {
  return std::hash<const void*>{}(p);
}

} // namespace

std::optional<std::size_t> key_hash(const value& k) noexcept {
  auto kind = k.var().index();
  if (auto* d = k.get_if<double>()) {
    if (std::isnan(*d))
      return mix(kind, 0x7ff8);
    return mix(kind, std::hash<double>{}(*d == 0 ? 0.0 : *d));
  }
  if (auto* s = k.get_if<std::string>())
    return mix(kind, std::hash<std::string_view>{}(*s));
  if (auto* b = k.get_if<bigint>())
    return mix(kind, b->hash());
  if (auto* b = k.get_if<bool>())
    return mix(kind, *b ? 1 : 2);
  if (k.is_undefined() || k.is_null())
    return mix(kind, 3);
  if (auto* n = graph_access::node_of(k))
    return mix(kind, pointer_hash(n));
  if (auto* b = k.get_if<array_buffer>())
    return mix(kind, pointer_hash(clone_access::get(*b)));
  if (auto* p = k.get_if<message_port>())
    return mix(kind, pointer_hash(p->object().get()));
  return std::nullopt;
}

bool same_value_zero(const value& x, const value& y) noexcept {
  if (x.var().index() != y.var().index())
    return false;
  if (auto* d = x.get_if<double>()) {
    auto e = *y.get_if<double>();
    return *d == e || (std::isnan(*d) && std::isnan(e));
  }
  if (auto* s = x.get_if<std::string>())
    return *s == *y.get_if<std::string>();
  if (auto* b = x.get_if<bigint>())
    return *b == *y.get_if<bigint>();
  if (auto* b = x.get_if<bool>())
    return *b == *y.get_if<bool>();
  if (x.is_undefined() || x.is_null())
    return true;
  if (auto* n = graph_access::node_of(x))
    return n == graph_access::node_of(y);
  if (auto* b = x.get_if<array_buffer>())
    return b->same_buffer(*y.get_if<array_buffer>());
  if (auto* p = x.get_if<message_port>())
    return *p == *y.get_if<message_port>();
  return false;
}

std::size_t* value_table::slot_of(const value& key, std::size_t h) noexcept {
  auto [lo, hi] = index_.equal_range(h);
  for (auto i = lo; i != hi; ++i)
    if (same_value_zero(entries_[i->second].first, key))
      return &i->second;
  return nullptr;
}

const value_table::entry* value_table::find(const value& key) const noexcept {
  auto h = key_hash(key);
  if (!h)
    return nullptr;
  auto* slot = const_cast<value_table*>(this)->slot_of(key, *h);
  return slot != nullptr ? &entries_[*slot] : nullptr;
}

bool value_table::assign(value key, value val) {
  if (auto* d = key.get_if<double>(); d != nullptr && *d == 0)
    *d = 0.0; // Map.prototype.set and Set.prototype.add store -0 as +0
  auto h = key_hash(key);
  if (h) {
    if (auto* slot = slot_of(key, *h)) {
      entries_[*slot].second = std::move(val);
      return false;
    }
  }
  entries_.emplace_back(std::move(key), std::move(val));
  dead_.push_back(false);
  if (h)
    index_.emplace(*h, entries_.size() - 1);
  ++live_;
  return true;
}

bool value_table::erase(const value& key) {
  auto h = key_hash(key);
  if (!h)
    return false;
  auto [lo, hi] = index_.equal_range(*h);
  for (auto i = lo; i != hi; ++i) {
    auto s = i->second;
    if (same_value_zero(entries_[s].first, key)) {
      index_.erase(i);
      dead_[s] = true;
      entries_[s] = entry{}; // release what it held now
      --live_;
      if (entries_.size() - live_ > live_ + 8)
        compact();
      return true;
    }
  }
  return false;
}

void value_table::clear() noexcept {
  entries_.clear();
  dead_.clear();
  index_.clear();
  live_ = 0;
}

std::size_t value_table::next_live(std::size_t i) const noexcept {
  while (i < entries_.size() && dead_[i])
    ++i;
  return i;
}

void value_table::compact() {
  std::size_t j = 0;
  for (std::size_t i = 0; i < entries_.size(); ++i) {
    if (dead_[i])
      continue;
    if (i != j)
      entries_[j] = std::move(entries_[i]);
    ++j;
  }
  entries_.resize(j);
  dead_.assign(j, false);
  index_.clear();
  for (std::size_t i = 0; i < j; ++i)
    if (auto h = key_hash(entries_[i].first))
      index_.emplace(*h, i);
}

} // namespace entangle::detail
