// The port scheduler stressed from plain threads (harness: world.hpp).
// scenario: both ends close at once, while posting

#include <catch2/catch.hpp>

#include "round.hpp"

using namespace entangle::stress;

namespace {

class closer_owner : public owner {
public:
  using owner::owner;

  std::atomic<int>* arrived = nullptr;
  const std::vector<int>* close_at = nullptr; // per end: step to close at

  void run(int steps, int parties) {
    process(0us); // adopt
    for (int s = 0; s < steps; ++s) {
      process(0us);
      auto mine = owned();
      for (int e : mine)
        if ((*close_at)[static_cast<std::size_t>(e)] == s)
          close(e);
      if (owned().empty())
        continue;
      if (rand(8) == 0) // (so both ends may end up in one owner, too)
        transfer(random_owned(), other_owner(0));
      else
        post(random_owned());
    }
    // Everyone arrives, then each closes what is left in the same order, so
    // the two ends of a pair close at (nearly) the same moment; owner 1
    // ships half of its ends to owner 0 instead, racing the peer's close.
    arrived->fetch_add(1);
    while (arrived->load() < parties && !stopped())
      std::this_thread::yield();
    closing_ = true;
    auto mine = owned();
    std::sort(mine.begin(), mine.end());
    for (int e : mine) {
      if (id_ == 1 && rand(2) == 0)
        transfer(e, 0);
      else
        close(e);
    }
    while (!stopped())
      process(500us);
  }

protected:
  void on_adopted(int e) override {
    if (closing_)
      close(e);
    else
      start(e);
  }

private:
  bool closing_ = false;
};

} // namespace

TEST_CASE("both ends of a pair close concurrently, while both post",
          "[stress]") {
  constexpr std::size_t n_owners = 2;
  constexpr int n_pairs = 24;
  constexpr int steps = 400;
  owner_handles handles{n_owners};
  std::mt19937_64 rng{7};
  std::uint64_t sent = 0;
  int at_end = 0;
  auto rounds = stress_rounds();
  for (int round = 0; round < rounds; ++round) {
    CAPTURE(round);
    world w{handles, n_owners};
    std::vector<int> close_at;
    for (int p = 0; p < n_pairs; ++p) {
      auto [a, b] = w.add_pair(true, 0);
      w.give(a, 0);
      w.give(b, 1);
      // A third of the ends close mid-run (sometimes both ends at the same
      // step); the rest together at the end.
      for (int k = 0; k < 2; ++k) {
        auto r = rng() % 3;
        close_at.push_back(r == 0 ? static_cast<int>(rng() % steps) : steps);
        at_end += r != 0;
      }
    }
    std::atomic<int> arrived{0};
    auto owners = make_owners<closer_owner>(w, n_owners, rng());
    for (auto& o : owners) {
      o->arrived = &arrived;
      o->close_at = &close_at;
    }
    auto t = run_round(w, owners,
                       [](closer_owner& o) { o.run(steps, n_owners); });
    check_round(w, t);
    sent += t.sent;
  }
  WARN("close: " << rounds << " rounds, " << sent << " messages, " << at_end
                 << " ends closed together at the end");
}
