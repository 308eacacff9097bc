// The transit forest (src/ports/transit_forest.hpp): how ports in transit
// nest, as a link-cut tree. Checked against a plain parent-pointer forest
// under random links, cuts and root queries, and for the shapes the
// scheduler makes (deep nests built top-down and bottom-up, holders dying
// before what they held).

#include <catch2/catch.hpp>

#include <memory>
#include <random>
#include <vector>

#include "ports/port_record.hpp"
#include "ports/port_scheduler.hpp"
#include "ports/transit_forest.hpp"

using entangle::detail::port_record;
using entangle::detail::port_scheduler;
using entangle::detail::transit_forest;

namespace {

/// Records to link (never posted to: only their identity is used).
struct records {
  explicit records(std::size_t n)
    : sched([](const caf::actor&, port_scheduler::wake_kind,
               port_record&, std::uint64_t, std::uint64_t) {}) {
    while (all.size() < n) {
      auto [a, b] = sched.make_pair();
      all.push_back(std::move(a));
      all.push_back(std::move(b));
    }
    // Keep every record of the pairs made: dropping one end without a
    // close would leave its peer link cycle behind (a leak under ASan).
    made = all;
    all.resize(n);
  }
  ~records() {
    for (auto& rec : made) // closing clears the peer links
      sched.close(rec, entangle::drop_reason::closed);
  }
  records(const records&) = delete;
  records& operator=(const records&) = delete;
  port_scheduler sched;
  std::vector<std::shared_ptr<port_record>> made;
  std::vector<std::shared_ptr<port_record>> all;
};

/// The reference: parent pointers, roots found by walking.
struct naive {
  explicit naive(std::size_t n) : parent(n, -1) {
  }
  int root(int x) const {
    while (parent[static_cast<std::size_t>(x)] >= 0)
      x = parent[static_cast<std::size_t>(x)];
    return x;
  }
  std::vector<int> parent;
};

} // namespace

TEST_CASE("transit_forest agrees with a parent-pointer forest under random "
          "links, cuts and root queries",
          "[internals][transit]") {
  constexpr std::size_t n = 300;
  records r{n};
  transit_forest f;
  naive ref{n};
  auto seed = GENERATE(1u, 2u, 3u, 4u, 5u);
  std::mt19937_64 rng{seed};
  CAPTURE(seed);
  auto at = [&](std::size_t i) -> port_record& { return *r.all[i]; };
  for (int step = 0; step < 40000; ++step) {
    auto x = rng() % n;
    auto y = rng() % n;
    auto op = rng() % 10;
    if (op < 4) {
      // Link a root under a node of another tree (the scheduler only ever
      // links a just-shipped port, a root, and never into its own tree).
      if (ref.parent[x] < 0 && ref.root(static_cast<int>(y)) != int(x)) {
        f.link(at(x), at(y));
        ref.parent[x] = static_cast<int>(y);
      }
    } else if (op < 7) {
      f.cut(at(x));
      ref.parent[x] = -1;
    } else {
      REQUIRE(f.find_root(at(x)) == r.all[static_cast<std::size_t>(
                                       ref.root(static_cast<int>(x)))]
                                       .get());
    }
  }
  for (std::size_t i = 0; i < n; ++i)
    REQUIRE(f.find_root(at(i))
            == r.all[static_cast<std::size_t>(ref.root(int(i)))].get());
  for (std::size_t i = 0; i < n; ++i)
    f.cut(at(i));
  CHECK(f.nodes() == 0);
  for (auto& rec : r.all)
    CHECK(rec->transit(std::memory_order_seq_cst) == nullptr);
}

TEST_CASE("transit_forest: a nest of 20000 ports built top-down or bottom-up "
          "finds its root from the bottom",
          "[internals][transit]") {
  constexpr std::size_t n = 20000;
  records r{n};
  transit_forest f;
  bool top_down = GENERATE(true, false);
  CAPTURE(top_down);
  // Top-down: 1 into 0, then 2 into 1, ... (the post into the deepest
  // port walked the whole chain each time before). Bottom-up: n-1 into
  // n-2, then n-2 into n-3, ...
  for (std::size_t k = 1; k < n; ++k) {
    auto child = top_down ? k : n - k;
    auto holder = child - 1;
    REQUIRE(f.find_root(*r.all[holder]) != r.all[child].get());
    f.link(*r.all[child], *r.all[holder]);
  }
  for (std::size_t i = 0; i < n; i += 997)
    REQUIRE(f.find_root(*r.all[i]) == r.all[0].get());
  // Adopting the outermost's first child splits the nest there.
  f.cut(*r.all[1]);
  CHECK(f.find_root(*r.all[n - 1]) == r.all[1].get());
  CHECK(f.find_root(*r.all[0]) == r.all[0].get());
  for (auto& rec : r.all)
    f.cut(*rec);
  CHECK(f.nodes() == 0);
}

TEST_CASE("transit_forest: a holder that dies before the ports it held keeps "
          "its node until the last of them is cut",
          "[internals][transit]") {
  records r{3};
  transit_forest f;
  f.link(*r.all[1], *r.all[0]);
  f.link(*r.all[2], *r.all[1]);
  CHECK(f.nodes() == 3);
  // The middle one closes (cut from its holder) and dies while 2 is still
  // linked under it.
  f.cut(*r.all[1]);
  f.forget(*r.all[1]);
  CHECK(r.all[1]->transit(std::memory_order_seq_cst) == nullptr);
  CHECK(f.nodes() == 2); // 0's node went with its last child; 1's stays
  // Its node no longer names it: 2's root is a dead record (nullptr).
  CHECK(f.find_root(*r.all[2]) == nullptr);
  f.cut(*r.all[2]);
  CHECK(f.nodes() == 0);
}
