#pragma once

// Running and checking one round of a stress scenario (see world.hpp).

#include "owner.hpp"

namespace entangle::stress {

// -- running a round ----------------------------------------------------------

struct totals {
  std::uint64_t sent = 0; // posted + dropped on purpose
  std::uint64_t received = 0;
  std::uint64_t transfers = 0;
  std::uint64_t stale_hints = 0;
  std::vector<std::string> errors;
};

/// Runs `body(i)` on one thread per owner, waits until every record of the
/// world is closed (or the deadline passes), stops and joins the threads,
/// and checks what all scenarios share. Returns the owners' totals.
/// Runs `body(i)` on one thread per owner; `midway` (if any) runs on the
/// main thread meanwhile and returns an error or "". Then waits until every
/// record of the world is closed (or the deadline passes), stops and joins
/// the threads, and checks what all scenarios share.
template <class Owner, class Body>
totals run_round(world& w, std::vector<std::unique_ptr<Owner>>& owners,
                 Body body, std::function<std::string()> midway = {}) {
  std::vector<std::thread> threads;
  std::vector<std::string> crashes(owners.size());
  for (std::size_t i = 0; i < owners.size(); ++i)
    threads.emplace_back([&, i] {
      current_sink = owners[i].get(); // this thread is that owner
      // Its posts to busy ports are staged as a context's are (post_stage):
      // owner::process ends a "turn". Some owners hand over in groups of
      // 64 (spliced whole), some of 5 (moved one by one).
      entangle::detail::post_stage::turn staging{i % 2 == 0 ? 64u : 5u};
      try {
        body(*owners[i]);
      } catch (const std::exception& ex) {
        crashes[i] = std::string{"exception: "} + ex.what();
      }
    });
  std::string midway_error = midway ? midway() : std::string{};
  auto deadline = std::chrono::steady_clock::now() + round_deadline;
  bool hung = false;
  while (midway_error.empty() && w.open_records() > 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      hung = true;
      break;
    }
    std::this_thread::sleep_for(1ms);
  }
  w.stop = true;
  for (auto& t : threads)
    t.join();

  totals t;
  for (auto& c : crashes)
    if (!c.empty())
      t.errors.push_back(c);
  if (!midway_error.empty())
    t.errors.push_back(midway_error);
  if (hung)
    t.errors.push_back("round hung: records still open:\n" + w.describe_open());
  for (auto& o : owners) {
    t.sent += o->posted + o->dropped_here;
    t.received += o->received;
    t.transfers += o->transfers;
    t.stale_hints += o->stale_hints;
    t.errors.insert(t.errors.end(), o->errors.begin(), o->errors.end());
    if (!o->owned().empty())
      t.errors.push_back("an owner still owns ends after all were closed");
  }
  for (auto& b : w.boxes)
    if (b->pending_adopts() > 0)
      t.errors.push_back("a transfer was never adopted");
  // Every end popped at most one close (checked inline); every end that
  // waited for it popped exactly one, and then had received everything its
  // peer posted: the sentinel goes behind the peer's last message.
  for (std::size_t e = 0; e < w.ends.size(); ++e) {
    auto& s = w.ends[e];
    if (s.waits_for_close && s.closes != 1)
      t.errors.push_back("end " + std::to_string(e) + " waited for close and "
                         "popped " + std::to_string(s.closes) + " sentinels");
    if (s.closes == 1 && s.recvd != w.ends[e ^ 1].sent)
      t.errors.push_back("end " + std::to_string(e) + " saw close after "
                         + std::to_string(s.recvd) + " of "
                         + std::to_string(w.ends[e ^ 1].sent) + " messages");
  }
  return t;
}

/// The assertions every round ends with (main thread only).
inline void check_round(world& w, const totals& t) {
  std::string first;
  for (std::size_t i = 0; i < t.errors.size() && i < 8; ++i)
    first += "\n  " + t.errors[i];
  INFO("first errors:" << first);
  REQUIRE(t.errors.empty()); // one broken round says enough
  CHECK(w.bad_hints.load() == 0);
  auto drops = w.sched.drops();
  INFO("sent " << t.sent << ", received " << t.received << ", dropped "
               << drops.total());
  CHECK(drops.total() == t.sent - t.received);
  CHECK(w.sched.live_records() == 0);
}

// -- checkpoints and the orderly end ------------------------------------------

/// An owner whose run is cut into stretches by checkpoints, and that ends
/// in order: even ends close, odd ends wait for their close event.
///
/// At a checkpoint nobody posts, transfers or closes; every owner (usually)
/// starts what it holds and keeps draining, and the main thread waits for
/// world::settled(): every queue empty (a lost wake-up or token leaves one
/// non-empty) and every open port still entangled (a lost close event
/// leaves one that is not).
class phased_owner : public owner {
public:
  using owner::owner;

  std::atomic<int>* settling = nullptr; // owners that reached a checkpoint
  std::atomic<int>* go = nullptr;       // checkpoints the main thread passed

protected:
  void checkpoint(int c, bool start_held = true) {
    settling_ = true;
    if (start_held)
      start_all();
    settling->fetch_add(1);
    while (go->load() <= c && !stopped())
      process(200us);
    settling_ = false;
  }

  void finish() {
    closing_ = true;
    start_all();
    auto mine = owned();
    for (int e : mine) {
      if (e % 2 == 0)
        close(e);
      else
        end(e).waits_for_close = true;
    }
    while (!stopped())
      process(500us);
  }

  /// Whether a port adopted outside checkpoints and the end starts now.
  virtual bool start_on_adopt(int e) = 0;

  void on_adopted(int e) override {
    if (closing_) {
      if (e % 2 == 0) {
        close(e);
      } else {
        end(e).waits_for_close = true;
        start(e);
      }
    } else if (settling_ || start_on_adopt(e)) {
      start(e);
    } else {
      hold(e);
    }
  }

private:
  bool settling_ = false;
  bool closing_ = false;
};

/// The main thread's side of `checkpoints` checkpoints (run_round's
/// `midway`). Stores the number of open ports at the last one in `alive`.
inline std::function<std::string()> checkpoints(world& w, int checkpoints,
                                         std::size_t n_owners,
                                         std::atomic<int>& settling,
                                         std::atomic<int>& go, int& alive) {
  return [&w, checkpoints, n_owners, &settling, &go, &alive] {
    for (int c = 0; c < checkpoints; ++c) {
      auto deadline = std::chrono::steady_clock::now() + round_deadline;
      std::string bad;
      while (settling.load() < static_cast<int>(n_owners) * (c + 1)
             || (alive = w.settled(bad)) < 0) {
        if (alive == -2)
          return "checkpoint " + std::to_string(c) + ": " + bad;
        if (std::chrono::steady_clock::now() > deadline)
          return "checkpoint " + std::to_string(c)
                 + ": queues did not drain (lost wake-up?):\n"
                 + w.describe_open(true);
        std::this_thread::sleep_for(1ms);
      }
      go = c + 1;
    }
    return std::string{};
  };
}


template <class Owner>
std::vector<std::unique_ptr<Owner>> make_owners(world& w, std::size_t n,
                                                std::uint64_t seed) {
  std::vector<std::unique_ptr<Owner>> out;
  for (std::size_t i = 0; i < n; ++i) {
    out.push_back(
      std::make_unique<Owner>(w, static_cast<int>(i), seed * 977 + i));
  }
  return out;
}

} // namespace entangle::stress
