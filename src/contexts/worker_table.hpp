#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

namespace entangle::detail {

/// The dedicated workers a context spawned and still has: each worker's
/// context id and the epoch of this context's end of its implicit port
/// pair (the worker object's port).
///
/// Invariants:
/// - Entries are appended in spawn order, and both keys grow with it:
///   context ids and port epochs each come from one increasing counter,
///   and a context spawns on its own thread, one worker at a time (add
///   checks it). So one vector, sorted by both keys at once, answers both
///   lookups by binary search: O(log W) per lookup. (A scan per port end
///   cost O(W): 316 µs per channel a context with 10 000 workers closed,
///   issue #17.)
/// - An erased entry stays, marked dead, so that both orders hold; the dead
///   are squeezed out once they are as many as the live (amortised O(1)
///   per erase, and fewer than twice the live entries held).
///
/// Thread affinity: the owning context only.
class worker_table {
public:
  /// Records a worker just spawned. Returns false (and records nothing)
  /// if a key does not grow, which the counters rule out.
  bool add(std::uint64_t worker, std::uint64_t epoch) {
    if (!list_.empty()
        && (worker <= list_.back().worker || epoch <= list_.back().epoch))
      return false;
    list_.push_back({worker, epoch, false});
    ++live_;
    return true;
  }

  /// The epoch of `worker`'s port, or 0 (not ours, or erased).
  std::uint64_t epoch_of(std::uint64_t worker) const noexcept {
    auto i = std::lower_bound(
      list_.begin(), list_.end(), worker,
      [](const entry& e, std::uint64_t w) { return e.worker < w; });
    return i != list_.end() && i->worker == worker && !i->dead ? i->epoch
                                                               : 0;
  }

  /// The worker whose port has `epoch`, or 0.
  std::uint64_t worker_at(std::uint64_t epoch) const noexcept {
    auto i = find_epoch(epoch);
    return i != list_.end() ? i->worker : 0;
  }

  /// Forgets the worker whose port has `epoch`, if there is one.
  void erase_epoch(std::uint64_t epoch) noexcept {
    auto i = find_epoch(epoch);
    if (i == list_.end())
      return;
    list_[static_cast<std::size_t>(i - list_.begin())].dead = true;
    --live_;
    if (list_.size() - live_ < live_)
      return;
    // As many dead as live: squeeze them out, and give back the memory of
    // a crowd of workers gone.
    list_.erase(std::remove_if(list_.begin(), list_.end(),
                               [](const entry& e) { return e.dead; }),
                list_.end());
    if (list_.capacity() > 4 * list_.size() && list_.capacity() > 8)
      list_.shrink_to_fit();
  }

  /// Calls `f(worker)` for every live worker, in spawn order.
  template <class F>
  void for_each(F&& f) const {
    for (auto& e : list_)
      if (!e.dead)
        f(e.worker);
  }

  std::size_t size() const noexcept {
    return live_;
  }
  /// Entries held, dead ones included (for tests of the bound above).
  std::size_t held() const noexcept {
    return list_.size();
  }

private:
  struct entry {
    std::uint64_t worker;
    std::uint64_t epoch;
    bool dead;
  };

  std::vector<entry>::const_iterator
  find_epoch(std::uint64_t epoch) const noexcept {
    auto i = std::lower_bound(
      list_.begin(), list_.end(), epoch,
      [](const entry& e, std::uint64_t p) { return e.epoch < p; });
    return i != list_.end() && i->epoch == epoch && !i->dead ? i
                                                             : list_.end();
  }

  std::vector<entry> list_;
  std::size_t live_ = 0;
};

} // namespace entangle::detail
