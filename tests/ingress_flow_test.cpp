// Flow control on outside ports ([ingress][flow]): a post from a thread
// that is not a context is admitted against the receiving end's marks on
// the posting thread (QuotaExceededError there, nothing changed), posts on
// their way to the runtime count as unread, and wait_ready blocks the
// outside thread (never a context) until the receiver has room.

#include <atomic>
#include <memory>
#include <thread>

#include "support.hpp"

using namespace entangle;
using namespace entangle::test;
using std::chrono::milliseconds;
using std::chrono::seconds;

namespace {

runtime_config quiet() {
  runtime_config cfg;
  cfg.warnings = false;
  return cfg;
}

/// What a sink context saw on its connection.
struct sink_log {
  std::mutex mu;
  std::vector<double> got;
};

/// A context whose connection has high-water mark `mark`: it says "set"
/// once the mark is in place, and then reads nothing --
/// unless `slow` is set, where it reads every message with a pause (a
/// consumer slower than the producer).
void sink(context& self, std::shared_ptr<sink_log> log, std::size_t mark,
          bool slow, int expect) {
  self.on_connect([log, mark, slow, expect](message_event& ev) {
    this_context().on_connect({});
    auto port = ev.ports.at(0);
    port.set_high_water_mark({mark});
    auto read = [log, port, slow, expect](message_event& m) {
      if (m.data.is_string())
        return;
      if (slow)
        std::this_thread::sleep_for(std::chrono::microseconds{30});
      std::lock_guard<std::mutex> guard{log->mu};
      log->got.push_back(m.data.as_number());
      if (static_cast<int>(log->got.size()) == expect)
        port.post_message("all");
    };
    if (slow)
      port.on_message(read);
    port.post_message("set");
  });
}

} // namespace

TEST_CASE("outside ports: a post past the receiver's hard limit throws "
          "QuotaExceededError on the posting thread; posts on their way "
          "count as unread",
          "[ingress][flow]") {
  auto cfg = quiet();
  runtime rt{cfg};
  auto log = std::make_shared<sink_log>();
  auto id = rt.spawn("sink", [log](context& self) {
    sink(self, log, 3, false, -1);
  });
  auto port = rt.connect(id);
  auto set = port.receive(seconds{10});
  REQUIRE(set);
  CHECK(set->data.as_string() == "set");
  CHECK(port.desired_size() == std::optional<std::int64_t>{3});
  CHECK_FALSE(port.desired_bytes());
  // Nothing reads: whether or not the runtime has queued them yet, three
  // posts use the room and six reach the hard limit (2 x 3).
  for (int i = 0; i < 3; ++i)
    port.post_message(i);
  CHECK(port.desired_size() == std::optional<std::int64_t>{0});
  for (int i = 3; i < 6; ++i)
    port.post_message(i);
  CHECK(port.desired_size() == std::optional<std::int64_t>{-3});
  CHECK(outcome([&] { port.post_message(6); }) == "QuotaExceededError");
  CHECK(outcome([&] { port.post_message(7); }) == "QuotaExceededError");
  CHECK_FALSE(port.wait_ready(milliseconds{30})); // nobody reads
  port.close();
  CHECK(rt.run_for(seconds{30}));
  // The six admitted posts were queued (never read): dropped with the
  // port; the refused ones never left this thread.
  CHECK(rt.drops().total() == 6);
}

TEST_CASE("outside ports: a flood into a slow context stays within the hard "
          "limit; everything admitted arrives once, in order",
          "[ingress][flow]") {
  auto cfg = quiet();
  runtime rt{cfg};
  constexpr int total = 20000;
  constexpr std::size_t mark = 50;
  auto log = std::make_shared<sink_log>();
  auto id = rt.spawn("sink", [log](context& self) {
    sink(self, log, mark, true, -1);
  });
  auto port = rt.connect(id);
  REQUIRE(port.receive(seconds{10}));
  int refused = 0;
  std::int64_t lowest = mark;
  for (int i = 0; i < total; ++i) {
    try {
      port.post_message(i);
    } catch (const dom_exception& e) {
      CHECK(e.name() == "QuotaExceededError");
      ++refused;
    }
    lowest = std::min(lowest, port.desired_size().value_or(mark));
  }
  // The unread data (queued + on its way) never passed 2 x the mark. The
  // view errs on the safe side by at most the one post the gateway is
  // queueing (counted queued before it stops counting as on its way).
  CHECK(lowest >= -static_cast<std::int64_t>(mark) - 1);
  CHECK(refused > 0);
  port.close();
  CHECK(rt.run_for(seconds{60}));
  std::lock_guard<std::mutex> guard{log->mu};
  CHECK(static_cast<int>(log->got.size()) + refused == total);
  CHECK(std::is_sorted(log->got.begin(), log->got.end()));
  CHECK(std::adjacent_find(log->got.begin(), log->got.end())
        == log->got.end());
}

TEST_CASE("outside ports: a producer that waits for room is never refused "
          "and never passes the mark",
          "[ingress][flow]") {
  auto cfg = quiet();
  runtime rt{cfg};
  constexpr int total = 5000;
  constexpr std::size_t mark = 16;
  auto log = std::make_shared<sink_log>();
  auto id = rt.spawn("sink", [log](context& self) {
    sink(self, log, mark, true, total);
  });
  auto port = rt.connect(id);
  REQUIRE(port.receive(seconds{10}));
  std::int64_t lowest = mark;
  for (int i = 0; i < total; ++i) {
    REQUIRE(port.wait_ready(seconds{30}));
    port.post_message(i); // would throw past the hard limit
    lowest = std::min(lowest, port.desired_size().value_or(mark));
  }
  CHECK(lowest >= -1); // the mark, give or take the post being queued
  auto all = port.receive(seconds{60});
  REQUIRE(all);
  CHECK(all->data.as_string() == "all");
  {
    std::lock_guard<std::mutex> guard{log->mu};
    std::vector<double> want(total);
    for (int i = 0; i < total; ++i)
      want[i] = i;
    CHECK(log->got == want);
  }
  port.close();
  CHECK(rt.run_for(seconds{30}));
}
