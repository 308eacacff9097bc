#pragma once

#include <algorithm>
#include <cstddef>
#include <vector>

namespace entangle::detail {

/// For a list of weak entries that grows by appends (a window's frames,
/// the runtime's outside ports; their readers skip dead entries): drops
/// the entries `dead` names once the vector is full (before a push_back
/// would reallocate), and leaves at least half of its capacity free after
/// that.
/// Each prune then scans at most twice what was appended since the last,
/// so an append costs amortised O(1) however many entries stay alive
/// (pruning on every append, or every 64th, cost O(n) per append:
/// issue #17).
template <class T, class Alloc, class Pred>
void prune_when_full(std::vector<T, Alloc>& v, Pred dead) {
  if (v.size() < v.capacity())
    return;
  v.erase(std::remove_if(v.begin(), v.end(), dead), v.end());
  if (v.size() * 2 > v.capacity())
    v.reserve(std::max<std::size_t>(8, v.capacity() * 2));
}

} // namespace entangle::detail
