#pragma once

#include <cstddef>
#include <optional>
#include <unordered_map>
#include <utility>
#include <vector>

#include "entangle/value.hpp"

namespace entangle::detail {

/// The hash of a Map key or Set value under SameValueZero, or nullopt for
/// a value that equals nothing else (a plain value that is an object in
/// JS: each occurrence stands for a fresh object).
std::optional<std::size_t> key_hash(const value& k) noexcept;

/// JS SameValueZero: primitives by value (NaN equals NaN, -0 equals 0),
/// references by identity, plain object-like values never.
bool same_value_zero(const value& x, const value& y) noexcept;

/// The entries of a Map (key, value) or a Set (value, unused) in insertion
/// order, with a hash index for lookups.
///
/// Invariants: slot `i` is live iff `!dead_[i]`, and `live_` counts live
/// slots; `index_` maps the key hash of every live keyed entry to its
/// slot; no two live entries have SameValueZero-equal keys. Erasing marks
/// a slot dead (the order of the others stays, iteration skips it); dead
/// slots are squeezed out once they outnumber the live ones.
class value_table {
public:
  using entry = std::pair<value, value>;

  std::size_t size() const noexcept {
    return live_;
  }

  /// Returns the live entry whose key equals `key`, or nullptr.
  const entry* find(const value& key) const noexcept;

  /// Sets `key`'s value, appending the entry if the key is new; returns
  /// whether it was new.
  bool assign(value key, value val);

  /// Erases the entry for `key`; returns whether there was one.
  bool erase(const value& key);

  void clear() noexcept;

  /// Returns the first live slot at or after `i` (`slots()` if none).
  std::size_t next_live(std::size_t i) const noexcept;

  std::size_t slots() const noexcept {
    return entries_.size();
  }

  const entry& slot(std::size_t i) const noexcept {
    return entries_[i];
  }

  /// Calls `f` with the key and the value of every live entry.
  template <class F>
  void for_each_value(F&& f) const {
    for (std::size_t i = 0; i < entries_.size(); ++i) {
      if (!dead_[i]) {
        f(entries_[i].first);
        f(entries_[i].second);
      }
    }
  }

private:
  std::size_t* slot_of(const value& key, std::size_t h) noexcept;
  void compact();

  std::vector<entry> entries_;
  std::vector<bool> dead_;
  std::unordered_multimap<std::size_t, std::size_t> index_;
  std::size_t live_ = 0;
};

} // namespace entangle::detail
