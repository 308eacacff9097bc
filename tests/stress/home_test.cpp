// The port scheduler stressed from plain threads (harness: world.hpp).
// scenario: never-shipped ports

#include <catch2/catch.hpp>

#include "round.hpp"

using namespace entangle::stress;

namespace {

/// Pairs whose two ends live in one owner (never shipped, HTML §1.3): the
/// owner keeps their heads in a heap and dispatches the oldest first. Then messages held
/// before start(), then leaving the combined order with messages queued.
class home_owner : public phased_owner {
public:
  using phased_owner::phased_owner;

  std::vector<int> pairs; // a-ends of this owner's pairs (b-end: a + 1)
  std::size_t n_owners = 0;

  void run(int steps) {
    process(0us); // adopt: the first half starts at once, the rest is held
    auto half = pairs.size() / 2;
    // 1. Every message lands on a started never-shipped port, so the
    //    owner must dispatch its messages exactly in posting order (stamp
    //    order) across all its ports.
    strict_order = true;
    for (int i = 0; i < steps; ++i) {
      int a = pairs[rand(half)];
      post(a + static_cast<int>(rand(2)));
      if (rand(4) == 0)
        process(0us);
    }
    checkpoint(0, false);
    strict_order = false;
    // 2. Messages held before start(): start() reports the held head,
    //    and the held messages join the order with their old stamps.
    for (int i = 0; i < steps; ++i) {
      int a = pairs[half + rand(pairs.size() - half)];
      int e = a + static_cast<int>(rand(2));
      if (owns(e))
        post(e);
      if (rand(16) == 0)
        start_one_held();
      if (rand(4) == 0)
        process(0us);
    }
    checkpoint(1);
    // 3. Leaving the combined order with messages queued: post a few on
    //    a, then ship a at once, so b is started, never-shipped and
    //    non-empty when it becomes shipped; from then on it drains on
    //    hints (its heap entry is stale).
    for (int a : pairs) {
      for (std::size_t k = 1 + rand(4); k > 0; --k)
        post(a);
      if (n_owners > 1)
        transfer(a, other_owner(rand(n_owners - 1)));
      post(a + 1);
    }
    checkpoint(2);
    finish();
  }

protected:
  bool start_on_adopt(int e) override {
    auto half = pairs.size() / 2;
    for (std::size_t i = 0; i < half; ++i)
      if (pairs[i] == e || pairs[i] + 1 == e)
        return true;
    return false;
  }
};

} // namespace

TEST_CASE("never-shipped ports: posting order, held messages, "
          "leaving the combined order with messages queued",
          "[stress]") {
  constexpr std::size_t n_owners = 3;
  constexpr int n_pairs = 8; // per owner
  owner_handles handles{n_owners};
  std::mt19937_64 rng{99};
  std::uint64_t sent = 0, heads = 0, hints = 0;
  auto rounds = stress_rounds();
  for (int round = 0; round < rounds; ++round) {
    CAPTURE(round);
    world w{handles, n_owners};
    std::vector<std::vector<int>> pairs(n_owners);
    for (std::size_t o = 0; o < n_owners; ++o)
      for (int p = 0; p < n_pairs; ++p) {
        auto [a, b] = w.add_pair(false, 0);
        w.give(a, static_cast<int>(o));
        w.give(b, static_cast<int>(o));
        pairs[o].push_back(a);
      }
    std::atomic<int> settling{0};
    std::atomic<int> go{0};
    int alive = 0;
    auto owners = make_owners<home_owner>(w, n_owners, rng());
    for (std::size_t i = 0; i < n_owners; ++i) {
      owners[i]->settling = &settling;
      owners[i]->go = &go;
      owners[i]->pairs = pairs[i];
      owners[i]->n_owners = n_owners;
    }
    auto t = run_round(
      w, owners, [](home_owner& o) { o.run(400); },
      checkpoints(w, 3, n_owners, settling, go, alive));
    check_round(w, t);
    CHECK(alive == static_cast<int>(n_owners * n_pairs * 2));
    sent += t.sent;
    heads += w.unshipped_hints;
    hints += w.drain_hints;
  }
  CHECK(heads > 0);
  CHECK(hints > 0);
  WARN("home: " << rounds << " rounds, " << sent << " messages, " << heads
                << " unshipped heads, " << hints << " drain hints");
}
