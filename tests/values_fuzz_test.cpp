// Randomized structured-clone round trips (SEMANTICS §5.2, every kind):
// random graphs with sharing, cycles, sparse arrays, Maps and Sets, views
// over shared buffers, transferred buffers and ports, posted from a page
// to a worker; each arrival must be isomorphic to a second graph built
// from the same seed (tests/graph_support.hpp), and every node must be
// freed afterwards (ASan checks the rest).
//
//   ENTANGLE_VALUES_FUZZ       graphs per run (default 150: well under a
//                              second, also under ASan)
//   ENTANGLE_VALUES_FUZZ_SEED  the first graph's seed (default: random;
//                              printed, so a failure can be replayed)

#include <cstdlib>
#include <iostream>
#include <random>

#include "graph_support.hpp"
#include "support.hpp"

using namespace entangle;
using namespace entangle::test;

namespace {

std::uint64_t env_or(const char* name, std::uint64_t fallback) {
  if (const char* v = std::getenv(name); v != nullptr && *v != '\0')
    return std::stoull(v);
  return fallback;
}

} // namespace

TEST_CASE("5.2 random graphs of every kind arrive isomorphic: sharing, "
          "cycles, holes and transfers included (fuzz)",
          "[sem5][fuzz]") {
  auto n = env_or("ENTANGLE_VALUES_FUZZ", 150);
  auto seed = env_or("ENTANGLE_VALUES_FUZZ_SEED", std::random_device{}());
  std::cout << "values fuzz: ENTANGLE_VALUES_FUZZ_SEED=" << seed
            << " ENTANGLE_VALUES_FUZZ=" << n << std::endl;
  auto nodes_before = live_graph_nodes();
  std::vector<value> expected;
  std::vector<value> got;
  std::vector<std::string> sender_problems;
  {
    harness h;
    h.run([&](context& page) {
      auto w = page.spawn("w", [&](context& self) {
        self.on_message([&](message_event& ev) {
          got.push_back(std::move(ev.data));
          if (got.size() == n)
            this_context().close();
        });
      });
      for (std::uint64_t i = 0; i < n; ++i) {
        graph_gen sent{seed + i, true};
        graph_gen twin{seed + i, true};
        auto graph = sent.make();
        expected.push_back(twin.make());
        w.post_message(graph, sent.transfer);
        for (auto& t : sent.transfer) {
          bool gone = t.port() ? t.port()->detached() : t.buffer()->detached();
          if (!gone)
            sender_problems.push_back("seed " + std::to_string(seed + i)
                                      + ": a transferred item is not "
                                        "detached");
        }
      }
      if (n == 0)
        w.terminate();
    });
    h.require_clean();
  }
  CHECK(sender_problems.empty());
  REQUIRE(got.size() == n);
  for (std::uint64_t i = 0; i < n; ++i) {
    INFO("ENTANGLE_VALUES_FUZZ_SEED=" << seed + i
                                      << " ENTANGLE_VALUES_FUZZ=1");
    CHECK(isomorphism{}(expected[i], got[i]) == "");
  }
  expected.clear();
  got.clear();
  CHECK(live_graph_nodes() == nodes_before);
}
