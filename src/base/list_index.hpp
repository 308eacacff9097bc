#pragma once

#include <cstddef>
#include <functional>
#include <unordered_map>
#include <vector>

namespace entangle::detail {

/// A list of distinct items, in insertion order, with their positions: a
/// scan while the list is short (no allocation beyond the list, and as
/// fast as a hash for a few items), a hash index once it is longer, so n
/// insertions and lookups cost O(n), not O(n²). For what one message
/// carries (its transfer list, a frame's port names), usually a handful of
/// items but as many as a sender likes (issue #17: 10 000 ports in one
/// message were ~10⁸ compares; a remote peer's frame could ask for 65 536).
///
/// Invariants: `items_` holds no two equal items; once `index_` is built
/// (past `scan_limit` items) it maps every item to its position.
template <class T, class Hash = std::hash<T>>
class list_index {
public:
  static constexpr std::size_t scan_limit = 16;
  static constexpr std::size_t npos = static_cast<std::size_t>(-1);

  /// Appends `x`; false (and nothing appended) if it is already listed.
  bool insert(const T& x) {
    if (find(x) != npos)
      return false;
    items_.push_back(x);
    if (!index_.empty()) {
      index_.emplace(x, items_.size() - 1);
    } else if (items_.size() > scan_limit) {
      index_.reserve(items_.size() * 2);
      for (std::size_t i = 0; i < items_.size(); ++i)
        index_.emplace(items_[i], i);
    }
    return true;
  }

  /// The position of `x`, or npos.
  std::size_t find(const T& x) const {
    if (!index_.empty()) {
      auto i = index_.find(x);
      return i == index_.end() ? npos : i->second;
    }
    for (std::size_t i = 0; i < items_.size(); ++i)
      if (items_[i] == x)
        return i;
    return npos;
  }

  bool contains(const T& x) const {
    return find(x) != npos;
  }
  const std::vector<T>& items() const noexcept {
    return items_;
  }
  std::size_t size() const noexcept {
    return items_.size();
  }

private:
  std::vector<T> items_;
  std::unordered_map<T, std::size_t, Hash> index_;
};

} // namespace entangle::detail
