// The port scheduler stressed from plain threads (harness: world.hpp).
// scenario: everything at once

#include <catch2/catch.hpp>

#include "round.hpp"

using namespace entangle::stress;

namespace {

/// Random posts (some carrying ports), transfers, starts, closes and doomed
/// drops on pairs of four levels, with checkpoints, then the orderly end.
class chaos_owner : public phased_owner {
public:
  using phased_owner::phased_owner;

  std::uint64_t carried = 0;
  std::uint64_t doomed = 0;
  std::uint64_t closes = 0;

  void run(int chunks, int steps, std::size_t n_owners) {
    for (int c = 0; c < chunks; ++c) {
      for (int i = 0; i < steps && !stopped(); ++i) {
        process(0us);
        if (owned().empty()) {
          process(100us);
          continue;
        }
        step(n_owners);
      }
      checkpoint(c);
    }
    finish();
  }

protected:
  bool start_on_adopt(int) override {
    return rand(10) < 7;
  }

private:
  void step(std::size_t n_owners) {
    int e = random_owned();
    auto r = rand(10000);
    if (r < 6000) {
      std::vector<record_ptr> ports;
      // Carry a lower-level end: containment only goes down the levels, so
      // no port can end up inside its own queue (an unreachable cycle that
      // only a GC could collect). Only on a live pair: a port posted into a
      // closed one is closed, and the world would empty out too soon.
      if (end(e).level > 0 && rand(3) == 0
          && w_.sched.entangled(*end(e).rec)) {
        std::vector<int> lower;
        for (int x : owned())
          if (end(x).level < end(e).level)
            lower.push_back(x);
        if (!lower.empty()) {
          ports.push_back(ship(lower[rand(lower.size())]));
          ++carried;
        }
      }
      post(e, std::move(ports));
    } else if (r < 6800 && n_owners > 1) {
      transfer(e, other_owner(rand(n_owners - 1)));
    } else if (r < 6806) {
      std::vector<record_ptr> ports;
      ports.push_back(ship(e));
      drop_carrying(std::move(ports), drop_reason::doomed);
      ++doomed;
    } else if (r < 6812) {
      close(e);
      ++closes;
    } else if (r < 8000) {
      start_one_held();
    } else {
      std::this_thread::yield();
    }
  }
};

} // namespace

TEST_CASE("port scheduler under concurrent posts, transfers, starts, closes "
          "and cascades",
          "[stress]") {
  constexpr std::size_t n_owners = 4;
  owner_handles handles{n_owners};
  std::mt19937_64 rng{20261121};
  std::uint64_t sent = 0, transfers = 0, carried = 0, doomed = 0, closes = 0,
                hints = 0, heads = 0, stale = 0, alive_at_end = 0;
  auto rounds = stress_rounds();
  for (int round = 0; round < rounds; ++round) {
    CAPTURE(round);
    world w{handles, n_owners};
    // Levels 0..3: an end is only carried by a message on a higher level.
    const int pairs_per_level[] = {16, 12, 8, 6};
    for (int level = 0; level < 4; ++level)
      for (int p = 0; p < pairs_per_level[level]; ++p) {
        bool shipped = p % 3 != 0;
        auto [a, b] = w.add_pair(shipped, level);
        auto oa = static_cast<int>(rng() % n_owners);
        // Never-shipped pairs live in one context (HTML §1.3).
        auto ob = shipped ? static_cast<int>((oa + 1 + rng() % (n_owners - 1))
                                             % n_owners)
                          : oa;
        w.give(a, oa);
        w.give(b, ob);
      }
    constexpr int chunks = 3;
    std::atomic<int> settling{0};
    std::atomic<int> go{0};
    int alive = 0;
    auto owners = make_owners<chaos_owner>(w, n_owners, rng());
    for (auto& o : owners) {
      o->settling = &settling;
      o->go = &go;
    }
    auto t = run_round(
      w, owners, [](chaos_owner& o) { o.run(chunks, 1000, n_owners); },
      checkpoints(w, chunks, n_owners, settling, go, alive));
    alive_at_end += alive;
    check_round(w, t);
    sent += t.sent;
    transfers += t.transfers;
    stale += t.stale_hints;
    hints += w.drain_hints;
    heads += w.unshipped_hints;
    for (auto& o : owners) {
      carried += o->carried;
      doomed += o->doomed;
      closes += o->closes;
    }
  }
  // The run did exercise what it claims to.
  CHECK(transfers > 0);
  CHECK(carried > 0);
  CHECK(doomed > 0);
  CHECK(closes > 0);
  CHECK(hints > 0);
  CHECK(heads > 0);
  CHECK(alive_at_end > 0); // the orderly end had ports to close
  WARN("chaos: " << rounds << " rounds, " << sent << " messages, " << transfers
                 << " transfers, " << carried << " carried ports, " << doomed
                 << " doomed, " << closes << " mid-run closes, " << hints
                 << " drain hints, " << heads << " heads, " << stale
                 << " stale hints, " << alive_at_end
                 << " ports open at the orderly end");
}
