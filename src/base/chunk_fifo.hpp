#pragma once

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <new>
#include <type_traits>
#include <utility>

namespace entangle::detail {

/// A port's message queue: a FIFO of chunks, one pointer while empty,
/// whose batches move by relinking chunks.
///
/// Why not a vector with a head index (what it replaced): a queue that a
/// fast producer filled to 10^5-10^6 messages grew by reallocation under
/// the record lock (moving every message, faulting in fresh pages, while
/// the consumer waited on the lock), and each batch the consumer took was
/// moved out one message at a time and the rest compacted. Here a post
/// appends in place (at worst it links a chunk), and a batch takes whole
/// chunks by relinking them (take_front): a message is moved once into
/// its chunk and once out of it, wherever it waits.
///
/// Invariants:
/// - the chunks form a ring through `next`; `last_` is the newest (null
///   when empty) and `last_->next` the oldest;
/// - every linked chunk holds at least one live element, in
///   [head, tail): emptied chunks are unlinked at once, so empty() is
///   `last_ == nullptr` and memory stays O(live): only the oldest chunk
///   has a consumed prefix and only the newest room at its end, apart
///   from a batch given back (prepend), whose chunks keep theirs, and a
///   queue appended whole (splice_back), which leaves the room of the
///   chunk that was newest (its caller first fills that room when the
///   other queue fits in it);
/// - `last_->count` is the number of live elements in the whole queue
///   (the field means nothing in other chunks).
///
/// Chunk sizes grow 1, 4, 16, 64 as a queue fills, so a port holding one
/// message holds a chunk of one; freed chunks go to a small per-thread
/// cache (a busy queue does not allocate per message, an idle one keeps
/// nothing).
template <class T>
class chunk_fifo {
  static_assert(alignof(T) <= __STDCPP_DEFAULT_NEW_ALIGNMENT__);
  // Splitting a chunk allocates first and then only moves (split).
  static_assert(std::is_nothrow_move_constructible_v<T>);
  struct alignas(alignof(T) > alignof(void*) ? alignof(T) : alignof(void*))
    chunk {
    chunk* next = nullptr;
    std::size_t count = 0;
    std::uint32_t head = 0;
    std::uint32_t tail = 0;
    std::uint32_t cap = 0;
    /// The storage of element i (for constructing one there).
    void* slot(std::uint32_t i) noexcept {
      return reinterpret_cast<unsigned char*>(this + 1)
             + std::size_t{i} * sizeof(T);
    }
    /// Element i, which must be alive (laundered at its own address: the
    /// elements before it may be gone already).
    T* at(std::uint32_t i) noexcept {
      return std::launder(static_cast<T*>(slot(i)));
    }
    std::uint32_t live() const noexcept {
      return tail - head;
    }
  };

public:
  /// A queue's first chunk holds one element (a port with one message
  /// waiting costs what a vector of one would); each next chunk of a
  /// filling queue is four times larger, up to big_cap.
  static constexpr std::uint32_t small_cap = 1;
  static constexpr std::uint32_t big_cap = 64;

  /// Elements taken from the front of a queue, in order: a linear list of
  /// chunks with a cursor. take() hands out the element at the cursor and
  /// leaves it in place (a dispatch uses it there, no move out); handed-out
  /// elements live until clear(), so one stays valid while the next are
  /// taken (a handler that reads its port synchronously). give_rest() moves
  /// what was not handed out to another batch, to go back in front of the
  /// queue (prepend).
  class batch {
  public:
    batch() noexcept = default;
    batch(const batch&) = delete;
    batch& operator=(const batch&) = delete;
    ~batch() {
      clear();
    }

    bool empty() const noexcept {
      return first_ == nullptr;
    }
    /// Elements held, handed out or not.
    std::size_t size() const noexcept {
      return size_;
    }
    /// Elements not handed out yet.
    std::size_t left() const noexcept {
      return left_;
    }
    /// The last element held. Precondition: !empty().
    T& back() noexcept {
      return *last_->at(last_->tail - 1);
    }
    /// The element at the cursor. Precondition: left() > 0.
    T& peek() noexcept {
      return *cur_->at(idx_);
    }
    /// Hands out the element at the cursor and advances it; the element
    /// stays valid until clear(). Precondition: left() > 0.
    T& take() noexcept {
      T& x = *cur_->at(idx_);
      ++idx_;
      if (--left_ > 0 && idx_ == cur_->tail) {
        cur_ = cur_->next;
        idx_ = cur_->head;
      }
      return x;
    }
    /// Moves the elements not handed out to the end of `out`, in order
    /// (whole chunks by relinking).
    void give_rest(batch& out) {
      if (left_ == 0)
        return;
      auto* c = cur_;
      if (idx_ == c->head) { // nothing of c handed out: it goes whole
        chunk* prev = nullptr;
        for (auto* p = first_; p != c; p = p->next)
          prev = p;
        if (prev != nullptr)
          prev->next = nullptr;
        else
          first_ = nullptr;
        last_ = prev;
      } else { // split c: its handed-out part stays
        auto* d = split(c, idx_, c->tail - idx_);
        size_ -= d->live();
        out.append_chunk(d);
        auto* rest = c->next;
        c->next = nullptr;
        last_ = c;
        c = rest;
      }
      while (c != nullptr) {
        auto* next = c->next;
        size_ -= c->live();
        out.append_chunk(c);
        c = next;
      }
      left_ = 0;
    }
    /// Destroys every element, handed out or not, and frees the chunks.
    void clear() noexcept {
      while (first_ != nullptr) {
        auto* c = first_;
        first_ = c->next;
        destroy(c);
      }
      last_ = cur_ = nullptr;
      size_ = left_ = 0;
      idx_ = 0;
    }

    /// Iterates every element held (handed out or not), front to back.
    class iterator {
    public:
      using iterator_category = std::forward_iterator_tag;
      using value_type = T;
      using difference_type = std::ptrdiff_t;
      using pointer = T*;
      using reference = T&;
      iterator() noexcept = default;
      T& operator*() const noexcept {
        return *c_->at(i_);
      }
      T* operator->() const noexcept {
        return c_->at(i_);
      }
      iterator& operator++() noexcept {
        if (++i_ == c_->tail) {
          c_ = c_->next;
          i_ = c_ != nullptr ? c_->head : 0;
        }
        return *this;
      }
      bool operator==(const iterator& o) const noexcept {
        return c_ == o.c_ && i_ == o.i_;
      }
      bool operator!=(const iterator& o) const noexcept {
        return !(*this == o);
      }

    private:
      friend class batch;
      iterator(chunk* c, std::uint32_t i) noexcept : c_(c), i_(i) {
      }
      chunk* c_ = nullptr;
      std::uint32_t i_ = 0;
    };
    iterator begin() const noexcept {
      return first_ != nullptr ? iterator{first_, first_->head} : iterator{};
    }
    iterator end() const noexcept {
      return iterator{};
    }

  private:
    friend class chunk_fifo;
    /// Invariant: while left_ > 0, the cursor (cur_, idx_) is a live
    /// element and the left_ elements from it are the batch's last ones.
    void append_chunk(chunk* c) noexcept {
      c->next = nullptr;
      if (last_ != nullptr)
        last_->next = c;
      else
        first_ = c;
      last_ = c;
      if (left_ == 0) {
        cur_ = c;
        idx_ = c->head;
      }
      size_ += c->live();
      left_ += c->live();
    }
    chunk* first_ = nullptr;
    chunk* last_ = nullptr;
    chunk* cur_ = nullptr;
    std::size_t size_ = 0;
    std::size_t left_ = 0;
    std::uint32_t idx_ = 0;
  };

  chunk_fifo() noexcept = default;
  chunk_fifo(const chunk_fifo&) = delete;
  chunk_fifo& operator=(const chunk_fifo&) = delete;
  ~chunk_fifo() {
    clear();
  }

  bool empty() const noexcept {
    return last_ == nullptr;
  }
  std::size_t size() const noexcept {
    return last_ != nullptr ? last_->count : 0;
  }
  /// Slots allocated (live, consumed prefix and room), for the memory
  /// bound. O(chunks).
  std::size_t capacity() const noexcept {
    std::size_t n = 0;
    each_chunk([&n](chunk* c) { n += c->cap; });
    return n;
  }
  /// Precondition: !empty().
  T& front() noexcept {
    auto* f = last_->next;
    return *f->at(f->head);
  }
  const T& front() const noexcept {
    auto* f = last_->next;
    return *f->at(f->head);
  }
  /// The newest element. Precondition: !empty().
  T& back() noexcept {
    return *last_->at(last_->tail - 1);
  }
  /// Calls `f` on each live element, front to back.
  template <class F>
  void for_each(F&& f) const {
    each_chunk([&f](chunk* c) {
      for (auto i = c->head; i < c->tail; ++i)
        f(*static_cast<const T*>(c->at(i)));
    });
  }

  /// Appends an element built in place.
  template <class... Args>
  void emplace_back(Args&&... args) {
    emplace_back_first(small_cap, std::forward<Args>(args)...);
  }

  /// emplace_back, but an empty queue's first chunk gets `first_cap` slots
  /// (one of the sizes grown() makes), not small_cap: for a queue that is
  /// about to fill (a post stage).
  template <class... Args>
  void emplace_back_first(std::uint32_t first_cap, Args&&... args) {
    auto* t = last_;
    if (t != nullptr && t->tail < t->cap) {
      ::new (t->slot(t->tail)) T(std::forward<Args>(args)...);
      ++t->tail;
      ++t->count;
      return;
    }
    auto* c = acquire(t == nullptr ? first_cap : grown(t->cap));
    try {
      ::new (c->slot(0)) T(std::forward<Args>(args)...);
    } catch (...) {
      release(c);
      throw;
    }
    c->tail = 1;
    if (t == nullptr) {
      c->next = c;
      c->count = 1;
    } else {
      c->next = t->next;
      t->next = c;
      c->count = t->count + 1;
    }
    last_ = c;
  }

  /// Slots free at the end of the newest chunk: that many emplace_backs
  /// allocate nothing.
  std::size_t room() const noexcept {
    return last_ != nullptr ? last_->cap - last_->tail : 0;
  }

  /// Moves every element of `o` to the end of this queue, in order,
  /// leaving `o` empty. O(1): the two rings are relinked.
  void splice_back(chunk_fifo& o) noexcept {
    if (o.last_ == nullptr)
      return;
    auto total = size() + o.size();
    if (last_ != nullptr) {
      auto* first = o.last_->next;
      o.last_->next = last_->next;
      last_->next = first;
    }
    last_ = o.last_;
    last_->count = total;
    o.last_ = nullptr;
  }

  /// Moves the head into `out` (no temporary: a dispatch path uses it).
  /// Precondition: !empty().
  void pop_front(T& out) {
    auto* f = last_->next;
    auto* x = f->at(f->head);
    out = std::move(*x);
    x->~T();
    ++f->head;
    auto left = last_->count - 1;
    if (f->head == f->tail)
      unlink_first(f);
    if (last_ != nullptr)
      last_->count = left;
  }

  /// Moves up to `max` elements from the front to the end of `out`;
  /// returns how many: at least one if the queue is not empty, fewer than
  /// `max` where the next chunk would not fit whole. Whole chunks move by
  /// relinking; only a first chunk holding more than `max` is split,
  /// element by element.
  std::size_t take_front(batch& out, std::size_t max) {
    auto total = size();
    std::size_t n = 0;
    while (last_ != nullptr && n < max) {
      auto* f = last_->next;
      std::size_t live = f->live();
      if (live <= max - n) {
        if (f == last_)
          last_ = nullptr;
        else
          last_->next = f->next;
        out.append_chunk(f);
        n += live;
        continue;
      }
      // More than is wanted. After whole chunks, stop short of `max` (a
      // batch is at most `max`): batches then keep to chunk boundaries,
      // and a long queue drains without a move. Only a first chunk larger
      // than `max` is split, moving the wanted ones (f keeps at least one).
      if (n > 0)
        break;
      auto k = static_cast<std::uint32_t>(max); // < live <= big_cap
      out.append_chunk(split(f, f->head, k));
      f->head += k;
      n = max;
    }
    if (last_ != nullptr)
      last_->count = total - n;
    return n;
  }

  /// Puts `b`'s elements in front of the head, in order (gives back
  /// elements taken from the front that must stay first). O(1).
  /// Precondition: none of `b` was handed out (a batch give_rest filled).
  void prepend(batch& b) noexcept {
    if (b.empty())
      return;
    auto total = size() + b.size_;
    if (last_ == nullptr) {
      b.last_->next = b.first_;
      last_ = b.last_;
    } else {
      b.last_->next = last_->next;
      last_->next = b.first_;
    }
    last_->count = total;
    b.first_ = b.last_ = b.cur_ = nullptr;
    b.size_ = b.left_ = 0;
    b.idx_ = 0;
  }

  /// Moves every element to the end of `out`, leaving the queue empty.
  /// O(1).
  void take_all(batch& out) noexcept {
    while (last_ != nullptr) {
      auto* f = last_->next;
      if (f == last_)
        last_ = nullptr;
      else
        last_->next = f->next;
      out.append_chunk(f);
    }
  }

  /// Erases the first live element matching `pred`; returns whether one
  /// did. O(size): for rare repairs, not a path per message.
  template <class P>
  bool erase_first(P&& pred) {
    if (last_ == nullptr)
      return false;
    auto total = last_->count;
    auto* prev = last_;
    auto* c = last_->next;
    for (;;) {
      for (auto i = c->head; i < c->tail; ++i) {
        if (!pred(*c->at(i)))
          continue;
        for (auto j = i + 1; j < c->tail; ++j)
          *c->at(j - 1) = std::move(*c->at(j));
        c->at(c->tail - 1)->~T();
        --c->tail;
        if (c->live() == 0) {
          if (c == prev) { // the only chunk
            last_ = nullptr;
          } else {
            prev->next = c->next;
            if (c == last_)
              last_ = prev;
          }
          release(c);
        }
        if (last_ != nullptr)
          last_->count = total - 1;
        return true;
      }
      if (c == last_)
        return false;
      prev = c;
      c = c->next;
    }
  }

  void clear() noexcept {
    while (last_ != nullptr) {
      auto* f = last_->next;
      if (f == last_)
        last_ = nullptr;
      else
        last_->next = f->next;
      destroy(f);
    }
  }

private:
  template <class F>
  void each_chunk(F&& f) const {
    if (last_ == nullptr)
      return;
    auto* c = last_->next;
    for (;;) {
      auto* next = c->next;
      f(c);
      if (c == last_)
        return;
      c = next;
    }
  }

  void unlink_first(chunk* f) noexcept {
    if (f == last_)
      last_ = nullptr;
    else
      last_->next = f->next;
    release(f);
  }

  /// Moves the `k` elements of `c` from `from` into a fresh chunk, which
  /// it returns, and destroys them in `c` (the caller fixes c's bounds).
  /// The chunk is allocated first, so a failure leaves `c` as it was.
  static chunk* split(chunk* c, std::uint32_t from, std::uint32_t k) {
    std::uint32_t cap = small_cap;
    while (cap < k)
      cap = grown(cap);
    auto* d = acquire(cap);
    for (std::uint32_t i = 0; i < k; ++i) {
      auto* x = c->at(from + i);
      ::new (d->slot(i)) T(std::move(*x));
      x->~T();
    }
    d->tail = k;
    if (from + k == c->tail)
      c->tail = from;
    return d;
  }

  static std::uint32_t grown(std::uint32_t cap) noexcept {
    return cap >= big_cap / 4 ? big_cap : cap * 4;
  }
  static_assert(small_cap == 1 && big_cap == 64, "size_class knows these");

  /// Freed chunks of each size, per thread: a queue drained by one thread
  /// and refilled by another recycles through the allocator once per
  /// chunk, not per message; a thread keeps at most `keep` of each size.
  struct cache {
    static constexpr std::uint32_t keep = 8;
    chunk* free[4] = {nullptr, nullptr, nullptr, nullptr};
    std::uint32_t n[4] = {0, 0, 0, 0};
    /// Set once the thread's cache is gone: a queue destroyed later in
    /// the thread's exit (another thread_local, a static) frees directly.
    bool dead = false;
    ~cache() {
      for (auto* c : free)
        while (c != nullptr) {
          auto* next = c->next;
          ::operator delete(static_cast<void*>(c));
          c = next;
        }
      dead = true;
    }
  };
  static cache& local_cache() noexcept {
    [[gnu::tls_model("initial-exec")]] static thread_local cache c;
    return c;
  }
  static unsigned size_class(std::uint32_t cap) noexcept {
    // 1, 4, 16, 64: the sizes grown() makes.
    return cap == 1 ? 0 : cap == 4 ? 1 : cap == 16 ? 2 : 3;
  }

  static chunk* acquire(std::uint32_t cap) {
    auto& k = local_cache();
    auto cls = size_class(cap);
    chunk* c = k.dead ? nullptr : k.free[cls];
    if (c != nullptr) {
      k.free[cls] = c->next;
      --k.n[cls];
    } else {
      c = static_cast<chunk*>(::operator new(sizeof(chunk) + cap * sizeof(T)));
    }
    ::new (static_cast<void*>(c)) chunk{};
    c->cap = cap;
    return c;
  }
  /// Returns an emptied chunk (no live element) to the thread's cache.
  static void release(chunk* c) noexcept {
    auto& k = local_cache();
    auto cls = size_class(c->cap);
    if (k.n[cls] < cache::keep && !k.dead) {
      c->next = k.free[cls];
      k.free[cls] = c;
      ++k.n[cls];
      return;
    }
    ::operator delete(static_cast<void*>(c));
  }
  /// Destroys a chunk's live elements and releases it.
  static void destroy(chunk* c) noexcept {
    for (auto i = c->head; i < c->tail; ++i)
      c->at(i)->~T();
    c->head = c->tail;
    release(c);
  }

  chunk* last_ = nullptr;
};

} // namespace entangle::detail
