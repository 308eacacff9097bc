// What keeps an ended context's memory: nothing but what still refers to
// the actor. A timer's wake-up on CAF's clock is an ordinary timeout, which
// CAF cancels when the actor terminates (context_core::ensure_wake), so the
// clock does not hold an ended context until the wake-up's due time
// (issue #17: a context that cleared a 1-hour timeout and closed stayed in
// memory for that hour, as a delayed message cannot be cancelled).

#include <catch2/catch.hpp>

#include <chrono>

#include <entangle/all.hpp>
#include <entangle/testing/testkit.hpp>

#include "contexts/context_core.hpp"

using namespace entangle;
using entangle::testing::testkit;
using entangle::detail::contexts_destroyed;
using std::chrono::hours;
using std::chrono::milliseconds;

TEST_CASE("a context that ends with a timer's wake-up pending is let go at "
          "once, not when the wake-up is due",
          "[internals][timers]") {
  // cleared: set and cleared (the wake-up stays pending); unref'd: pending
  // but not keeping the context alive; due later: still pending when the
  // context closes itself.
  for (int how = 0; how < 3; ++how) {
    INFO("how " << how);
    testkit kit;
    auto before = contexts_destroyed();
    kit.spawn("page", [how](context& self) {
      self.spawn("w", [how](context& me) {
        auto id = me.set_timeout([] {}, hours{1});
        if (how == 0)
          me.clear_timeout(id);
        else if (how == 1)
          me.unref_timer(id);
        me.close();
      });
      // The page lives on (a timer of its own), so the runtime does not
      // end: only the clock could hold the worker.
      self.set_timeout([] {}, hours{2});
    });
    kit.run();
    CHECK(contexts_destroyed() == before + 1); // the worker
    // Its wake-up is gone from the clock: advancing past it runs nothing
    // and delivers nothing to an ended context.
    kit.advance(milliseconds{3600 * 1000 + 1});
    CHECK(contexts_destroyed() == before + 1);
    CHECK(kit.has_pending_timer()); // the page's, still pending
  }
}

TEST_CASE("a threaded runtime lets go of a context that ended with a "
          "cleared timer's wake-up pending",
          "[internals][timers]") {
  runtime_config cfg;
  cfg.warnings = false;
  runtime rt{cfg};
  auto before = contexts_destroyed();
  constexpr int n = 50;
  bool all_gone = false;
  rt.spawn("page", [&all_gone, before](context& self) {
    for (int i = 0; i < n; ++i)
      self.spawn("w", [](context& me) {
        me.clear_timeout(me.set_timeout([] {}, hours{1}));
        me.close();
      });
    // Polls for up to 10 s (the workers end on other threads; CAF's clock
    // thread applies the cancellations): a held worker would wait an hour.
    auto polls = std::make_shared<int>(0);
    auto id = std::make_shared<timer_id>(0);
    *id = self.set_interval(
      [&all_gone, before, polls, id] {
        if (contexts_destroyed() >= before + n || ++*polls > 1000) {
          all_gone = contexts_destroyed() >= before + n;
          this_context().close();
        }
      },
      milliseconds{10});
  });
  rt.run();
  CHECK(all_gone);
}
