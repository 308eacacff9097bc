#pragma once

// A flow-controlled writer for the remote credit tests: posts 0, 1, ...
// while desired_size and desired_bytes are above 0 and otherwise waits for
// `ready` (nothing else wakes it, so a lost ready stalls it), counting
// what a wrong view would show: posts refused (QuotaExceededError) and a
// desired size above the largest mark the reader sets (`top`).

#include <atomic>
#include <cstdint>
#include <memory>

#include "entangle/all.hpp"

namespace remote_test {

struct flow_writer {
  std::atomic<int> sent{0};
  std::atomic<int> limit{0};
  std::atomic<int> quota_errors{0};
  std::atomic<int> over_mark{0};
  std::atomic<int> readies{0};
  std::atomic<bool> go{false};
  int total = 0;
  entangle::high_water_mark mark;
  entangle::high_water_mark top;
  bool idle = false; // stopped at `limit`, not by backpressure
  bool closed = false;
};

/// Posts on `x` as far as its view and `w`'s limit allow.
inline void pump(const std::shared_ptr<flow_writer>& w, entangle::message_port x) {
  w->idle = false;
  for (;;) {
    auto ds = x.desired_size();
    auto db = x.desired_bytes();
    if ((ds && *ds > static_cast<std::int64_t>(w->top.messages))
        || (db && *db > static_cast<std::int64_t>(w->top.bytes)))
      ++w->over_mark;
    if ((ds && *ds <= 0) || (db && *db <= 0))
      return; // held back: ready resumes it
    if (w->sent >= w->limit || w->sent >= w->total) {
      w->idle = true;
      return;
    }
    try {
      x.post_message(w->sent.load());
    } catch (const entangle::dom_exception&) {
      ++w->quota_errors;
      return;
    }
    ++w->sent;
  }
}

/// All read and credited, as far as batching lets x know: a byte mark is
/// credited on every read, a message mark every half mark.
inline bool drained(const std::shared_ptr<flow_writer>& w,
                    entangle::message_port x) {
  auto ds = x.desired_size();
  auto db = x.desired_bytes();
  if (w->mark.bytes != 0)
    return db && *db == static_cast<std::int64_t>(w->mark.bytes);
  return ds && *ds > static_cast<std::int64_t>(w->mark.messages / 2);
}

} // namespace remote_test
