// Cycles of ports in transit, driven into the port scheduler from plain
// threads (TSan sees every access; see owner_handles.hpp).
//
// Two threads race to close the same cycle from both sides: X posts b2 into
// a2's queue while Y posts a2 into b2's queue. Each post alone is fine; the
// second one would leave a2 and b2 inside each other's queues, where nothing
// can ever deliver them. The scheduler serializes port-carrying posts on its
// transit mutex, so whichever walks second sees the first's link and drops
// its own message as unreachable (closing the port it carried, which drops
// the stranded message in that port's queue too). Without that mutex both
// walks can run before either link exists, and the cycle survives.

#include <atomic>
#include <cstdint>
#include <memory>
#include <thread>

#include <catch2/catch.hpp>

#include "owner_handles.hpp"
#include "ports/port_record.hpp"
#include "ports/port_scheduler.hpp"
#include "ports/serialized_message.hpp"

using entangle::drop_reason;
using entangle::detail::port_record;
using entangle::detail::port_scheduler;
using entangle::detail::serialized_message;
using entangle::test::owner_handles;

namespace {

using record_ptr = std::shared_ptr<port_record>;

serialized_message carrying(record_ptr port) {
  serialized_message m;
  m.data = "carrier";
  m.ports.push_back(std::move(port));
  return m;
}

/// Whether `rec` is closed (under its lock).
bool is_closed(port_record& rec) {
  entangle::detail::record_guard guard{rec.mu()};
  return rec.closed;
}

} // namespace

TEST_CASE("two threads closing the same port cycle from both sides: exactly "
          "one post is collected as unreachable, every time",
          "[stress][cycle]") {
  constexpr int rounds = 2000;
  owner_handles handles{2};
  auto& x_owner = handles.actors[0];
  auto& y_owner = handles.actors[1];
  port_scheduler sched{[](const caf::actor&, port_scheduler::wake_kind,
                          port_record&, std::uint64_t, std::uint64_t) {}};
  sched.warnings = false;
  int both_closed = 0;
  int first_peers_closed = 0;
  for (int round = 0; round < rounds; ++round) {
    auto [a1, a2] = sched.make_pair(true);
    auto [b1, b2] = sched.make_pair(true);
    sched.adopt(*a1, x_owner, nullptr);
    sched.adopt(*b2, x_owner, nullptr);
    sched.adopt(*b1, y_owner, nullptr);
    sched.adopt(*a2, y_owner, nullptr);
    std::atomic<int> ready{0};
    auto race = [&](const record_ptr& via, const record_ptr& carried) {
      sched.ship(*carried);
      auto msg = carrying(carried);
      ready.fetch_add(1);
      while (ready.load() < 2) {
        // spin: both posts start together
      }
      sched.post(*via, std::move(msg));
    };
    std::thread x{race, a1, b2}; // b2 -> a2's queue
    std::thread y{race, b1, a2}; // a2 -> b2's queue
    x.join();
    y.join();
    both_closed += is_closed(*a2) && is_closed(*b2);
    // Both survivors lost their peers: nothing is left to deliver to them.
    first_peers_closed += !sched.entangled(*a1) && !sched.entangled(*b1);
    sched.close(a1, drop_reason::closed);
    sched.close(b1, drop_reason::closed);
  }
  CHECK(both_closed == rounds);
  CHECK(first_peers_closed == rounds);
  auto drops = sched.drops();
  // Per round: the post that would close the cycle, and the one it strands.
  CHECK(drops[drop_reason::unreachable] == 2u * rounds);
  CHECK(drops.total() == 2u * rounds);
  CHECK(sched.live_records() == 0);
}
