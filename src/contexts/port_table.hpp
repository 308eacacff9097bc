#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "base/caf_compat.hpp"
#include "ports/port_object.hpp"

namespace entangle::detail {

/// A context's port objects, found by their epoch (how a wake-up hint, which
/// carries only the epoch, finds its port).
///
/// It holds plain pointers and owns nothing: every entry is ATTACHED (its
/// `record` set: inserted at adoption, erased by every way out of ATTACHED
/// before its `record` is taken and the object lets go of itself:
/// context_core::unlist), and an attached object keeps itself alive
/// (port_object.hpp: `record` or an adopted_port's `self`). Only the
/// context's destructor unpins without erasing, the table dying with it.
/// `find` and `snapshot` hand out strong references (strong_ref). 8-byte
/// slots where a `shared_ptr` took 16: ~10 bytes per idle port at the
/// table's average load.
///
/// Why not std::unordered_map: a node per port (key, shared_ptr, next
/// pointer, malloc header: 48 B) plus a bucket is a fifth of what an idle
/// port may cost (<= 256 B). The key is already inside the value
/// (`port_object::epoch`, fixed once adopted), so a set of pointers is
/// enough: 16-byte slots, open addressing with linear probing, no per-entry
/// allocation. Epochs are unique and mostly increasing, and a Fibonacci hash
/// spreads such keys almost perfectly, so probing stays short even at the
/// 7/8 load factor that keeps the table small. (A library map such as
/// absl::flat_hash_set would do with a heterogeneous lookup, but would add a
/// dependency and a control byte per slot for one map.)
///
/// Invariants: `slots_` has `mask_ + 1` entries (a power of two >= 8) or is
/// null when empty; every live entry sits in the probe run that starts at
/// its home slot, with no empty slot between home and entry (deletion
/// shifts entries back instead of leaving tombstones); `size_` counts
/// non-null slots; the load stays <= 7/8, and the table halves once it is
/// 1/8 full so memory stays O(live ports).
///
/// Thread affinity: the owning context only.
class port_table {
public:
  port_table() = default;
  port_table(port_table&& other) noexcept
    : slots_(std::move(other.slots_)),
      mask_(std::exchange(other.mask_, 0)),
      size_(std::exchange(other.size_, 0)) {
  }
  port_table& operator=(port_table&&) = delete;
  port_table(const port_table&) = delete;
  port_table& operator=(const port_table&) = delete;

  std::size_t size() const noexcept {
    return size_;
  }

  /// The port object with `epoch`, or null.
  port_ptr find(std::uint64_t epoch) const {
    if (!slots_)
      return nullptr;
    for (auto i = home(epoch);; i = (i + 1) & mask_) {
      auto* s = slots_[i];
      if (s == nullptr)
        return nullptr;
      if (s->epoch == epoch)
        return strong_ref(*s);
    }
  }

  /// Adds `p`, which is ATTACHED. Precondition: no entry has `p->epoch`
  /// (epochs are unique).
  void insert(port_object* p) {
    if (!slots_ || (size_ + 1) * 8 > (mask_ + 1) * 7)
      rehash(slots_ ? (mask_ + 1) * 2 : 8);
    place(p);
    ++size_;
  }

  /// Removes the entry with `epoch`, if any.
  void erase(std::uint64_t epoch) noexcept {
    if (!slots_)
      return;
    auto i = home(epoch);
    for (;; i = (i + 1) & mask_) {
      if (!slots_[i])
        return;
      if (slots_[i]->epoch == epoch)
        break;
    }
    // Backward shift: move later entries of the run into the hole when
    // their home lies cyclically at or before it.
    auto hole = i;
    for (auto j = (i + 1) & mask_; slots_[j]; j = (j + 1) & mask_) {
      auto h = home(slots_[j]->epoch);
      if (((j - h) & mask_) >= ((j - hole) & mask_)) {
        slots_[hole] = slots_[j];
        hole = j;
      }
    }
    slots_[hole] = nullptr;
    --size_;
    if (size_ == 0)
      slots_.reset();
    else if (mask_ + 1 > 8 && size_ * 8 < mask_ + 1)
      rehash((mask_ + 1) / 2);
  }

  /// Every entry, in no particular order (a copy: the caller may change the
  /// table while walking it).
  std::vector<port_ptr> snapshot() const {
    std::vector<port_ptr> out;
    out.reserve(size_);
    if (slots_)
      for (std::size_t i = 0; i <= mask_; ++i)
        if (slots_[i] != nullptr)
          out.push_back(strong_ref(*slots_[i]));
    return out;
  }

private:
  std::size_t home(std::uint64_t epoch) const noexcept {
    // Fibonacci hashing: the high bits of the product are well mixed.
    return static_cast<std::size_t>((epoch * 0x9E3779B97F4A7C15ull) >> 32)
           & mask_;
  }

  void place(port_object* p) noexcept {
    auto i = home(p->epoch);
    while (slots_[i] != nullptr)
      i = (i + 1) & mask_;
    slots_[i] = p;
  }

  void rehash(std::size_t capacity) {
    auto old = std::move(slots_);
    auto old_cap = old ? mask_ + 1 : 0;
    slots_ = std::make_unique<port_object*[]>(capacity); // zeroed
    mask_ = capacity - 1;
    for (std::size_t i = 0; i < old_cap; ++i)
      if (old[i] != nullptr)
        place(old[i]);
  }

  std::unique_ptr<port_object*[]> slots_;
  std::size_t mask_ = 0;
  std::size_t size_ = 0;
};

} // namespace entangle::detail
