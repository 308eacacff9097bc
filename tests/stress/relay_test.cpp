// The port scheduler stressed from plain threads (harness: world.hpp).
// scenario: one end passed around while its peer streams

#include <catch2/catch.hpp>

#include "round.hpp"

using namespace entangle::stress;

namespace {

class relay_owner : public owner {
public:
  using owner::owner;

  std::size_t n_owners = 0;

  /// The producer: owns end 0, posts `n` messages, then closes it.
  void produce(int n) {
    process(0us); // adopt end 0
    for (int i = 0; i < n && owns(0); ++i) {
      post(0);
      if (rand(16) == 0) {
        process(0us);
        std::this_thread::yield();
      }
    }
    if (owns(0))
      close(0);
    while (!stopped())
      process(500us);
  }

  /// A consumer: while it owns end 1, pops on hints, sometimes posts back,
  /// and hands end 1 to another consumer after a random quota.
  void consume() {
    while (!stopped()) {
      process(200us);
      if (!owns(1))
        continue;
      if (!end(1).started && rand(2) == 0)
        start(1);
      if (rand(8) == 0)
        post(1);
      if (end(1).recvd >= quota_) {
        // consumers are 1..n-1
        auto to = static_cast<int>(1 + rand(n_owners - 2));
        transfer(1, to >= id_ ? to + 1 : to);
      }
    }
  }

protected:
  void on_adopted(int e) override {
    if (e == 1) {
      end(1).waits_for_close = true;
      quota_ = end(1).recvd + 1 + rand(64);
      if (rand(2) == 0)
        start(1); // else: held unstarted for a while (messages keep coming)
    } else {
      start(e);
    }
  }

private:
  std::uint64_t quota_ = 0;
};

} // namespace

TEST_CASE("per-port FIFO while one end is passed between threads and its "
          "peer keeps posting",
          "[stress]") {
  constexpr std::size_t n_owners = 4; // one producer, three consumers
  constexpr int n_messages = 3000;
  owner_handles handles{n_owners};
  std::mt19937_64 rng{42};
  std::uint64_t transfers = 0;
  auto rounds = stress_rounds();
  for (int round = 0; round < rounds; ++round) {
    CAPTURE(round);
    world w{handles, n_owners};
    w.add_pair(true, 0);
    w.give(0, 0);
    w.give(1, 1);
    auto owners = make_owners<relay_owner>(w, n_owners, rng());
    for (auto& o : owners)
      o->n_owners = n_owners;
    auto t = run_round(w, owners, [](relay_owner& o) {
      if (o.id() == 0)
        o.produce(n_messages);
      else
        o.consume();
    });
    check_round(w, t);
    // Everything the producer posted arrived, in order, across transfers.
    CHECK(w.ends[0].sent == static_cast<std::uint64_t>(n_messages));
    CHECK(w.ends[1].recvd == static_cast<std::uint64_t>(n_messages));
    CHECK(w.ends[1].closes == 1);
    CHECK(w.ends[0].closes == 0);
    CHECK(w.ends[1].adopted > 1);
    transfers += t.transfers;
  }
  WARN("relay: " << rounds << " rounds of " << n_messages << " messages, "
                 << transfers << " transfers");
}
