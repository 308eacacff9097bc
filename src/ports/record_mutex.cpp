// The slow paths of record_mutex (port_record.hpp): a lock that found the
// word taken, and an unlock that found sleepers.

#include "ports/port_record.hpp"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace entangle::detail {

namespace {

/// Spins before sleeping: a record's holder releases within a few dozen
/// instructions unless it was preempted.
constexpr int spins = 100;

void futex(std::atomic<std::uint32_t>& word, int op, std::uint32_t val) {
  static_assert(sizeof(std::atomic<std::uint32_t>) == sizeof(std::uint32_t));
  syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word), op, val,
          nullptr, nullptr, 0);
}

} // namespace

void record_mutex::lock_contended(std::uint32_t c) noexcept {
  for (int i = 0; i < spins; ++i) {
    if (c == 0
        && state_.compare_exchange_weak(c, 1, std::memory_order_acquire,
                                        std::memory_order_relaxed))
      return;
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause(); // let the holder's hyperthread run
#endif
    c = state_.load(std::memory_order_relaxed);
  }
  // Sleep, marking the word "held with sleepers" so the unlock wakes one;
  // whoever wakes takes the lock as 2 (others may still sleep).
  if (c != 2)
    c = state_.exchange(2, std::memory_order_acquire);
  while (c != 0) {
    futex(state_, FUTEX_WAIT_PRIVATE, 2);
    c = state_.exchange(2, std::memory_order_acquire);
  }
}

void record_mutex::wake_one() noexcept {
  futex(state_, FUTEX_WAKE_PRIVATE, 1);
}

} // namespace entangle::detail
