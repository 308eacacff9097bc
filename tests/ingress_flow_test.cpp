// Flow control on outside ports ([ingress][flow]): a post from a thread
// that is not a context is admitted against the receiving end's marks on
// the posting thread (QuotaExceededError there, nothing changed), posts on
// their way to the runtime count as unread, and wait_ready blocks the
// outside thread (never a context) until the receiver has room.

#include <atomic>
#include <condition_variable>
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

TEST_CASE("outside ports: the outside end's mark holds what waits for a "
          "slow outside reader; the context sees backpressure, ready and "
          "QuotaExceededError",
          "[ingress][flow]") {
  // The reverse direction: a context posts to an outside thread that
  // reads slowly. Messages in the outside port's inbox count as unread
  // until a thread takes them, so the context's credit follows the
  // thread's pace, not the gateway's (which empties the port at once).
  auto cfg = quiet();
  runtime rt{cfg};
  struct shared {
    std::mutex mu;
    std::condition_variable cv;
    std::vector<std::string> log;
    bool refused = false;
  };
  auto sh = std::make_shared<shared>();
  auto note = [sh](std::string s, bool refused = false) {
    std::lock_guard<std::mutex> guard{sh->mu};
    sh->log.push_back(std::move(s));
    sh->refused = sh->refused || refused;
    sh->cv.notify_all();
  };
  constexpr int total = 8;
  auto id = rt.spawn("producer", [note](context& self) {
    self.on_connect([note](message_event& ev) {
      this_context().on_connect({});
      auto port = ev.ports.at(0);
      auto next = std::make_shared<int>(1);
      // Posts while there is room (the ready event's promise).
      auto pump = [port, next, note] {
        while (*next <= total && port.desired_size().value_or(1) > 0)
          port.post_message((*next)++);
        if (*next > total)
          port.close();
      };
      port.on_ready([port, note, pump](message_event&) {
        note("ready " + std::to_string(port.desired_size().value_or(-99)));
        pump();
      });
      port.on_message([port, note, next](message_event&) { // "go"
        for (; *next <= 4; ++*next)
          port.post_message(*next); // to the hard limit, 2 x 2
        note("credit " + std::to_string(*port.desired_size()));
        // Later (the gateway has long put all four in the inbox): still
        // no room, and one more is refused.
        this_context().set_timeout(
          [port, note] {
            note("credit " + std::to_string(*port.desired_size()));
            try {
              port.post_message(99);
              note("admitted", true);
            } catch (const dom_exception& e) {
              note(e.name(), true);
            }
          },
          milliseconds{200});
      });
    });
  });
  auto port = rt.connect(id);
  port.set_high_water_mark({2});
  CHECK(port.water_mark().messages == 2);
  port.post_message("go");
  {
    std::unique_lock<std::mutex> guard{sh->mu};
    REQUIRE(sh->cv.wait_for(guard, seconds{30}, [&] { return sh->refused; }));
    CHECK(sh->log == lines{"credit -2", "credit -2", "QuotaExceededError"});
  }
  std::vector<double> got;
  while (auto m = port.receive(seconds{30}))
    got.push_back(m->data.as_number());
  CHECK(got == std::vector<double>{1, 2, 3, 4, 5, 6, 7, 8});
  CHECK(port.closed());
  // Every ready the producer saw had room: a notice made stale by the
  // gateway's hold is not fired.
  std::lock_guard<std::mutex> guard{sh->mu};
  REQUIRE(sh->log.size() > 3);
  for (std::size_t i = 3; i < sh->log.size(); ++i) {
    CHECK(sh->log[i].rfind("ready ", 0) == 0);
    CHECK(std::stoi(sh->log[i].substr(6)) > 0);
  }
  CHECK(rt.run_for(seconds{30}));
}
