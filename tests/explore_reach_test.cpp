// What exploring produces ([explore]): the interleavings the threaded
// runtime allows are reached (other orders of ready contexts, a drain that
// took only part of what another turn posted, a timer between any two
// messages, a fault landing before or after queued work, a synchronous
// receive seeing half of another turn's posts), and none it forbids
// (per-port and per-sender order, the never-shipped combined order, a
// worker's messages after its init, close after everything, timers never
// early). docs/testing.md, "Which schedules are explored, and why those".

#include <catch2/catch.hpp>

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "entangle/all.hpp"
#include "entangle/testing/catch.hpp"

using namespace entangle;
using namespace entangle::testing;
using std::chrono::milliseconds;

namespace {

/// Runs `body` under `n` schedules, all of which must pass (the body
/// collects what it saw into its own captures).
void under_schedules(std::uint64_t n, const std::function<void(testkit&)>& body,
                     std::function<void(runtime_config&)> tune = {}) {
  explore_options opts;
  opts.schedules = n;
  opts.tune = std::move(tune);
  auto r = explore(opts, body);
  INFO(r.report());
  REQUIRE(r);
}

} // namespace

// -- reached ------------------------------------------------------------------

TEST_CASE("explore reaches both orders of two ready workers", "[explore]") {
  std::set<std::string> orders;
  under_schedules(200, [&](testkit& kit) {
    auto order = std::make_shared<std::string>();
    kit.spawn("page", [order](context& self) {
      for (auto name : {"a", "b"})
        self.spawn(name, [order, name](context&) { *order += name; });
    });
    kit.run();
    orders.insert(*order);
  });
  CHECK(orders == std::set<std::string>{"ab", "ba"});
}

TEST_CASE("explore splits a batch: a drain may take part of what one task "
          "posted, then the rest comes in a later batch",
          "[explore]") {
  // dispatch_batch is the runtime's 64: on the threaded runtime the
  // worker's drain can run between the page's posts (it takes what is
  // there) or after them (it takes all three at once).
  std::set<std::vector<std::size_t>> seen;
  under_schedules(300, [&](testkit& kit) {
    std::vector<std::size_t> left; // what each dispatch saw still queued
    kit.spawn("page", [&](context& self) {
      auto w = self.spawn("w", [&kit, &left](context& me) {
        me.on_message([&kit, &left](message_event& ev) {
          auto p = ev.ports.at(0);
          p.on_message([&kit, &left, p](message_event&) {
            left.push_back(kit.queued(p));
          });
        });
      });
      message_channel ch;
      w.post_message("port", {ch.port2()});
      for (int i = 0; i < 3; ++i)
        ch.port1().post_message(i);
      ch.port1().close();
    });
    kit.run();
    kit.require(left.size() == 3, "three messages");
    seen.insert(left);
  });
  // All three in one batch (2, 1, 0 left behind each), and split ones.
  CHECK(seen.count({3, 2, 1}) + seen.count({2, 1, 0}) >= 1);
  CHECK(seen.size() >= 3);
}

TEST_CASE("explore fires a timer between any two messages", "[explore]") {
  // A worker gets four messages the page posts in one task, and has a
  // 5 ms timer: with time moving whenever the schedule says, the timer
  // fires before all of them, between any two, or after all.
  std::set<int> at;
  under_schedules(1000, [&](testkit& kit) {
    auto seen = std::make_shared<int>(0);
    auto fired_at = std::make_shared<int>(-1);
    kit.spawn("page", [seen, fired_at](context& self) {
      auto w = self.spawn("w", [seen, fired_at](context& me) {
        me.set_timeout([seen, fired_at] { *fired_at = *seen; },
                       milliseconds{5});
        me.on_message([seen](message_event& ev) {
          auto p = ev.ports.at(0);
          p.on_message([seen](message_event&) { ++*seen; });
          p.on_close([](message_event&) { this_context().close(); });
        });
      });
      message_channel ch;
      w.post_message("port", {ch.port2()});
      for (int i = 0; i < 4; ++i)
        ch.port1().post_message(i);
      ch.port1().close();
    });
    kit.advance(milliseconds{10});
    kit.require(*seen == 4, "all four delivered");
    at.insert(*fired_at);
  });
  // -1: the worker closed before its timer was due (it is then dropped).
  for (int k = 0; k <= 4; ++k)
    CHECK(at.count(k) == 1);
}

TEST_CASE("explore lands a crash before, between or after queued messages",
          "[explore]") {
  std::set<int> got;
  under_schedules(300, [&](testkit& kit) {
    auto seen = std::make_shared<int>(0);
    message_port mine;
    kit.spawn("page", [&mine, seen](context& self) {
      auto w = self.spawn("w", [seen](context& me) {
        me.on_message([seen](message_event& ev) {
          auto p = ev.ports.at(0);
          p.on_message([seen](message_event&) { ++*seen; });
        });
      });
      message_channel ch;
      w.post_message("port", {ch.port2()});
      mine = ch.port1();
    });
    kit.run();
    kit.inject("page", [&] {
      mine.post_message(1);
      mine.post_message(2);
    });
    kit.crash("w", "boom");
    kit.run();
    got.insert(*seen);
  }, [](runtime_config& c) { c.dispatch_batch = 1; });
  CHECK(got == std::set<int>{0, 1, 2});
}

TEST_CASE("explore lets a synchronous receive see part of what another "
          "turn posted",
          "[explore]") {
  std::set<std::string> seen;
  under_schedules(300, [&](testkit& kit) {
    auto got = std::make_shared<std::string>();
    kit.spawn("page", [got](context& self) {
      auto w = self.spawn("w", [got](context& me) {
        me.on_message([got](message_event& ev) {
          auto p = ev.ports.at(0);
          while (auto m = receive_message_on_port(p))
            *got += m->data.as_string();
          this_context().close();
        });
      });
      message_channel ch;
      w.post_message("port", {ch.port2()});
      ch.port1().post_message("x");
      ch.port1().post_message("y");
    });
    kit.run();
    seen.insert(*got);
  });
  CHECK(seen == std::set<std::string>{"", "x", "xy"});
}

// -- never taken ----------------------------------------------------------------

TEST_CASE("explore keeps per-port order across transfers, and close after "
          "everything",
          "[explore]") {
  under_schedules(500, [](testkit& kit) {
    auto got = std::make_shared<std::vector<int>>();
    auto closed_after = std::make_shared<int>(-1);
    kit.spawn("page", [got, closed_after](context& self) {
      // The receiving end travels page -> mid -> end (unstarted) while the
      // page posts on the other end.
      auto mid = self.spawn("mid", [got, closed_after](context& me) {
        auto end = me.spawn("end", [got, closed_after](context& e) {
          e.on_message([got, closed_after](message_event& ev) {
            auto p = ev.ports.at(0);
            p.on_message([got](message_event& m) {
              got->push_back(static_cast<int>(m.data.as_number()));
            });
            p.on_close([got, closed_after](message_event&) {
              *closed_after = static_cast<int>(got->size());
            });
          });
        });
        me.on_message([end](message_event& ev) {
          end.post_message("port", {ev.ports.at(0)});
        });
      });
      message_channel ch;
      mid.post_message("port", {ch.port2()});
      for (int i = 0; i < 5; ++i)
        ch.port1().post_message(i);
      ch.port1().close();
      self.close(); // mid, then end, finish what is queued to them
    });
    kit.run();
    kit.require(*got == std::vector<int>{0, 1, 2, 3, 4}, "in order");
    kit.require(*closed_after == 5, "close after all five");
    kit.require(kit.live_contexts() == 0, "all ended");
  });
}

TEST_CASE("explore keeps one sender's window messages in order",
          "[explore]") {
  under_schedules(300, [](testkit& kit) {
    auto got = std::make_shared<std::vector<int>>();
    kit.open_window("top", "https://a.example", [got](context& self) {
      auto frame = self.open_frame("frame", "https://b.example",
                                   [got](context& f) {
                                     f.on_message([got](message_event& ev) {
                                       got->push_back(static_cast<int>(
                                         ev.data.as_number()));
                                     });
                                   });
      for (int i = 0; i < 4; ++i)
        frame.post_message(i, "*");
    });
    kit.run();
    kit.require(*got == std::vector<int>{0, 1, 2, 3}, "in order");
  });
}

TEST_CASE("explore keeps the combined order of never-shipped ports",
          "[explore]") {
  // HTML 1.3: ports that never left their context form one task source in
  // posting order; other contexts running meanwhile change nothing.
  under_schedules(300, [](testkit& kit) {
    auto got = std::make_shared<std::string>();
    kit.spawn("page", [got](context& self) {
      auto w = self.spawn("w", [](context& me) {
        me.on_message([](message_event& ev) {
          ev.ports.at(0).post_message("pong");
        });
      });
      message_channel a, b, c;
      a.port2().on_message([got](message_event& m) { *got += m.data.as_string(); });
      b.port2().on_message([got](message_event& m) { *got += m.data.as_string(); });
      c.port1().on_message([](message_event&) {});
      w.post_message("ping", {c.port2()});
      a.port1().post_message("1");
      b.port1().post_message("2");
      a.port1().post_message("3");
      b.port1().post_message("4");
      self.set_timeout([] { this_context().close(); }, milliseconds{1});
    });
    kit.advance(milliseconds{5});
    kit.require(*got == "1234", "posting order, not " + *got);
  });
}

TEST_CASE("explore never runs a worker's messages before its init, nor a "
          "timer early",
          "[explore]") {
  under_schedules(300, [](testkit& kit) {
    auto log = std::make_shared<std::string>();
    auto early = std::make_shared<bool>(false);
    kit.spawn("page", [&kit, log, early](context& self) {
      auto w = self.spawn("w", [log](context& me) {
        *log += "init;";
        me.on_message([log](message_event& ev) {
          *log += ev.data.as_string() + ";";
          this_context().close();
        });
      });
      w.post_message("hi");
      auto set_at = kit.now();
      self.set_timeout(
        [&kit, set_at, early] {
          *early = kit.now() - set_at < milliseconds{7};
        },
        milliseconds{7});
    });
    kit.advance(milliseconds{20});
    kit.require(*log == "init;hi;", "init first, not " + *log);
    kit.require(!*early, "the timer did not fire early");
  });
}

TEST_CASE("explore replays a schedule the same way whatever ran before",
          "[explore]") {
  // Context ids and heap addresses differ between these runs; the
  // schedule's choices must not depend on them.
  auto body = [](testkit& kit) {
    auto got = std::make_shared<std::vector<std::string>>();
    kit.spawn("page", [got](context& self) {
      for (auto name : {"a", "b", "c"}) {
        auto w = self.spawn(name, [got, name](context& me) {
          me.on_message([got, name](message_event& ev) {
            got->push_back(std::string{name} + ev.data.as_string());
            this_context().close();
          });
        });
        w.post_message("!");
      }
    });
    kit.run();
  };
  auto first = replay(schedule::random(7), {}, body);
  for (int round = 0; round < 5; ++round) {
    {
      testkit other; // shifts ids and allocations
      for (int i = 0; i < 20 * round; ++i)
        other.spawn("x", [](context&) {});
      other.run();
    }
    explore_options opts;
    auto again = replay(schedule::random(7), opts, body);
    CHECK(again.failed == first.failed);
  }
  // Record the events through a failing check to compare them.
  auto events = [&](std::uint64_t seed) {
    auto r = replay(schedule::random(seed), {}, [&](testkit& kit) {
      body(kit);
      kit.check(false, "show the events");
    });
    return r.events;
  };
  auto e1 = events(11);
  for (int i = 0; i < 3; ++i) {
    testkit other;
    for (int k = 0; k < 10; ++k)
      other.spawn("y", [](context&) {});
    other.run();
    CHECK(events(11) == e1);
  }
}
