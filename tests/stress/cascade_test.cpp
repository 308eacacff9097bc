// The port scheduler stressed from plain threads (harness: world.hpp).
// scenario: deep cascades through dropped messages

#include <catch2/catch.hpp>

#include "round.hpp"

using namespace entangle::stress;

namespace {

class cascade_owner : public owner {
public:
  using owner::owner;

  std::atomic<int>* arrived = nullptr;
  std::vector<int> chain; // a-ends of this owner's chain (its b-end: a + 1)
  std::size_t n_owners = 0;

  void run(int parties) {
    process(0us); // adopt both ends of every pair of the chain
    // Nest: b[j-1] travels inside a message posted on a[j], so it sits in
    // b[j]'s queue; every level also holds a plain message.
    for (std::size_t j = 0; j < chain.size(); ++j) {
      int a = chain[j];
      std::vector<record_ptr> ports;
      if (j > 0)
        ports.push_back(ship(chain[j - 1] + 1));
      post(a, std::move(ports));
      post(a);
    }
    // Hand about half of the a-ends to the other owners.
    for (int a : chain)
      if (n_owners > 1 && rand(2) == 0)
        transfer(a, other_owner(rand(n_owners - 1)));
    arrived->fetch_add(1);
    while (arrived->load() < parties && !stopped())
      process(100us);
    // Close the top: the whole chain closes (iteratively, on this thread)
    // while the owners of the a-ends keep posting into it.
    close(chain.back() + 1);
    while (!stopped()) {
      process(0us);
      auto mine = owned();
      for (std::size_t k = 0; k < 8 && !mine.empty(); ++k)
        post(mine[rand(mine.size())]);
      if (mine.empty())
        process(500us);
    }
  }

protected:
  void on_adopted(int e) override {
    if (e % 2 == 0) { // an a-end: waits for the close the cascade sends
      end(e).waits_for_close = true;
      start(e);
    }
    // b-ends stay unstarted until they are shipped into the chain.
  }
};

} // namespace

TEST_CASE("cascades: closing the top of deep chains of ports in dropped "
          "messages, on several threads at once",
          "[stress]") {
  constexpr std::size_t n_owners = 3;
  constexpr int depth = 400;
  owner_handles handles{n_owners};
  std::mt19937_64 rng{1234};
  auto rounds = stress_rounds();
  for (int round = 0; round < rounds; ++round) {
    CAPTURE(round);
    world w{handles, n_owners};
    std::vector<std::vector<int>> chains(n_owners);
    for (std::size_t o = 0; o < n_owners; ++o)
      for (int j = 0; j < depth; ++j) {
        // Never shipped at birth: both ends start in the building context.
        auto [a, b] = w.add_pair(false, 0);
        w.give(a, static_cast<int>(o));
        w.give(b, static_cast<int>(o));
        chains[o].push_back(a);
      }
    std::atomic<int> arrived{0};
    auto owners = make_owners<cascade_owner>(w, n_owners, rng());
    for (std::size_t i = 0; i < n_owners; ++i) {
      owners[i]->arrived = &arrived;
      owners[i]->chain = chains[i];
      owners[i]->n_owners = n_owners;
    }
    auto t = run_round(w, owners, [](cascade_owner& o) {
      o.run(static_cast<int>(n_owners));
    });
    check_round(w, t);
    // Every a-end got exactly one close (checked by run_round); the chain
    // was torn down by the cascade, not by its owners.
    int b_closed_by_owner = 0;
    for (std::size_t e = 1; e < w.ends.size(); e += 2)
      b_closed_by_owner += w.ends[e].closed_by_owner;
    CHECK(b_closed_by_owner == static_cast<int>(n_owners));
    auto drops = w.sched.drops();
    CHECK(drops[drop_reason::closed] > 0);
  }
}
