#pragma once

#include <cstddef>
#include <iterator>
#include <utility>
#include <vector>

namespace entangle::detail {

/// A FIFO that allocates nothing until its first element. libstdc++'s
/// std::deque allocates a 512-byte block and its map at construction, which
/// every idle port (its message queue) and every idle context (its task
/// queue) would pay for.
///
/// Invariant: the live elements are items_[head_, size); the vector is
/// compacted when the dead prefix is large, so memory stays O(live).
template <class T>
class lazy_fifo {
public:
  bool empty() const noexcept {
    return head_ == items_.size();
  }
  std::size_t size() const noexcept {
    return items_.size() - head_;
  }
  const T& front() const noexcept {
    return items_[head_];
  }
  /// Appends an element built in place.
  template <class... Args>
  void emplace_back(Args&&... args) {
    items_.emplace_back(std::forward<Args>(args)...);
  }
  /// Moves the head into `out` (no temporary: a dispatch path uses it).
  void pop_front(T& out) {
    out = std::move(items_[head_++]);
    if (head_ == items_.size()) {
      items_.clear();
      head_ = 0;
    } else if (head_ >= 64 && head_ * 2 >= items_.size()) {
      items_.erase(items_.begin(), items_.begin() + head_);
      head_ = 0;
    }
  }
  /// Moves every element out, leaving the queue empty.
  std::vector<T> take_all() {
    std::vector<T> out;
    if (head_ == 0) {
      out.swap(items_);
    } else {
      out.assign(std::make_move_iterator(items_.begin() + head_),
                 std::make_move_iterator(items_.end()));
      items_.clear();
    }
    head_ = 0;
    return out;
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
