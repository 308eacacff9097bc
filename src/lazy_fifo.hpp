#pragma once

#include <cstddef>
#include <utility>
#include <vector>

namespace entangle::detail {

/// A FIFO that allocates nothing until its first element: libstdc++'s
/// std::deque allocates a 512-byte block and its map at construction, which
/// every idle context would pay for its (usually empty) task queue.
///
/// Invariant: the live elements are items_[head_, size); the vector is
/// compacted when the dead prefix is large, so memory stays O(live).
template <class T>
class lazy_fifo {
public:
  bool empty() const noexcept {
    return head_ == items_.size();
  }
  T& front() noexcept {
    return items_[head_];
  }
  void push_back(T x) {
    items_.push_back(std::move(x));
  }
  void pop_front() {
    items_[head_++] = T{};
    if (head_ == items_.size()) {
      items_.clear();
      head_ = 0;
    } else if (head_ >= 64 && head_ * 2 >= items_.size()) {
      items_.erase(items_.begin(), items_.begin() + head_);
      head_ = 0;
    }
  }
  void clear() noexcept {
    items_.clear();
    head_ = 0;
  }

private:
  std::vector<T> items_;
  std::size_t head_ = 0;
};

} // namespace entangle::detail
