#pragma once

#include <algorithm>
#include <cstddef>
#include <iterator>
#include <memory>
#include <utility>
#include <vector>

namespace entangle::detail {

/// A FIFO that costs one pointer and allocates nothing until its first
/// element (a context's task queue; port queues are chunk_fifo's, whose
/// batches move by chunk). libstdc++'s std::deque allocates a 512-byte block and its map at
/// construction, and even an empty vector plus a head index is 32 bytes:
/// every idle port (its message queue) and every idle context (its task
/// queue) would pay for that.
///
/// Invariant: the live elements are items[head, size) of the body; the
/// vector is compacted when the dead prefix is large, so memory stays
/// O(live). Once allocated the body is kept (a busy queue does not
/// allocate per message).
///
/// Memory returns (bounded slack): a queue that drains keeps at most
/// `slack` free slots (a busy queue reuses them without allocating); more
/// capacity than that is freed when it empties, and when compacting finds
/// more than four times the live elements. So a port queue that once held
/// a million messages holds at most 128 envelopes' worth (18 KiB) once
/// drained, a context's task queue at most 128 functions (4 KiB).
template <class T>
class lazy_fifo {
public:
  /// Free slots a drained queue may keep (see the class comment).
  static constexpr std::size_t slack = 128;

  bool empty() const noexcept {
    return !b_ || b_->head == b_->items.size();
  }
  std::size_t size() const noexcept {
    return b_ ? b_->items.size() - b_->head : 0;
  }
  /// Slots allocated (live, dead prefix and free), for the memory bound.
  std::size_t capacity() const noexcept {
    return b_ ? b_->items.capacity() : 0;
  }
  /// Calls `f` on each live element, front to back.
  template <class F>
  void for_each(F&& f) const {
    if (b_)
      for (auto i = b_->head; i < b_->items.size(); ++i)
        f(b_->items[i]);
  }
  /// Precondition: !empty().
  const T& front() const noexcept {
    return b_->items[b_->head];
  }
  /// Appends an element built in place.
  template <class... Args>
  void emplace_back(Args&&... args) {
    if (!b_)
      b_ = std::make_unique<body>();
    b_->items.emplace_back(std::forward<Args>(args)...);
  }
  /// Moves the head into `out` (no temporary: a dispatch path uses it).
  /// Precondition: !empty().
  void pop_front(T& out) {
    auto& b = *b_;
    out = std::move(b.items[b.head]);
    consumed(b, 1);
  }
  void clear() noexcept {
    b_.reset();
  }

private:
  struct body {
    std::vector<T> items;
    std::size_t head = 0;
  };

  /// Advances the head past `k` moved-from elements; resets or compacts
  /// the vector (the invariant's "memory stays O(live)").
  static void consumed(body& b, std::size_t k) {
    b.head += k;
    if (b.head == b.items.size()) {
      b.items.clear();
      b.head = 0;
      if (b.items.capacity() > slack) // drained: give the capacity back
        std::vector<T>{}.swap(b.items);
    } else if (b.head >= 64 && b.head * 2 >= b.items.size()) {
      auto live = b.items.size() - b.head;
      auto first = b.items.begin() + static_cast<long>(b.head);
      if (b.items.capacity() > slack && b.items.capacity() > 4 * live) {
        // Shrinking: move the live elements into storage twice their size.
        std::vector<T> kept;
        kept.reserve(2 * live);
        kept.insert(kept.end(), std::make_move_iterator(first),
                    std::make_move_iterator(b.items.end()));
        b.items.swap(kept);
      } else {
        b.items.erase(b.items.begin(), first);
      }
      b.head = 0;
    }
  }

  std::unique_ptr<body> b_;
};

} // namespace entangle::detail
