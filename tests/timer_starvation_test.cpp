// SEMANTICS §4.6, "endless ping-pong must not starve other task sources
// such as timers" (issue 16, point 5). Timers are tasks of their context's
// event loop: a due timer runs at the end of the turn in which it became
// due, even when CAF's clock thread, on a loaded machine, would deliver its
// wake-up milliseconds (thousands of rounds) late. So these tests bound
// what runs between a timer coming due and its callback in *rounds* and
// messages, on the threaded runtime, and hold whatever the machine's load:
// no wall-clock limit is asserted anywhere.

#include <chrono>
#include <memory>

#include "entangle/testing/catch.hpp"
#include "support.hpp"

using namespace entangle;
using namespace entangle::test;
using entangle::testing::testkit;
using std::chrono::milliseconds;
using std::chrono::steady_clock;

namespace {

/// A worker that answers every message on its global with the same data,
/// `burst` times.
worker echo(context& page, int burst) {
  return page.spawn("echo", [burst](context& self) {
    self.on_message([burst](message_event& ev) {
      for (int i = 0; i < burst; ++i)
        this_context().post_message(ev.data);
    });
  });
}

} // namespace

TEST_CASE("4.6 a 0 ms timer set during a ping-pong between two contexts as "
          "fast as they can fires before the next round",
          "[timers][sem4]") {
  harness h;
  auto set_at = std::make_shared<long>(-1);
  auto fired_at = std::make_shared<long>(-1);
  h.run([&, set_at, fired_at](context& page) {
    auto w = echo(page, 1);
    auto rounds = std::make_shared<long>(0);
    w.on_message([w, rounds, set_at, fired_at](message_event&) {
      ++*rounds;
      if (*rounds == 1000) {
        *set_at = *rounds;
        this_context().set_timeout(
          [rounds, fired_at] {
            *fired_at = *rounds;
            this_context().close(); // the worker closes with its parent
          },
          milliseconds{0});
      }
      w.post_message("ball");
    });
    w.post_message("ball");
  });
  REQUIRE(*set_at == 1000);
  // The turn that set it ends by running it: not one more round first.
  CHECK(*fired_at - *set_at == 0);
  h.require_clean();
}

TEST_CASE("4.6 a 0 ms timer set while a producer floods the context fires "
          "within the rest of the current dispatch batch",
          "[timers][sem4]") {
  // The worker answers each message with a burst of 100: the page's queue
  // keeps up to 100 waiting, taken 64 per turn (dispatch_batch).
  harness h{[](runtime_config& cfg) { cfg.dispatch_batch = 64; }};
  auto set_at = std::make_shared<long>(-1);
  auto fired_at = std::make_shared<long>(-1);
  h.run([&, set_at, fired_at](context& page) {
    auto w = echo(page, 100);
    auto got = std::make_shared<long>(0);
    w.on_message([w, got, set_at, fired_at](message_event&) {
      ++*got;
      if (*got == 1050) {
        *set_at = *got;
        this_context().set_timeout(
          [got, fired_at] {
            *fired_at = *got;
            this_context().close();
          },
          milliseconds{0});
      }
      if (*got % 100 == 0)
        w.post_message("more");
    });
    w.post_message("more");
  });
  REQUIRE(*set_at == 1050);
  INFO("messages dispatched after the timer was set: " << *fired_at - *set_at);
  CHECK(*fired_at >= *set_at);
  CHECK(*fired_at - *set_at <= 63); // at most the rest of one batch of 64
  h.require_clean();
}

TEST_CASE("4.6 a timer that comes due while its context is busy runs at the "
          "end of the round in which it came due",
          "[timers][sem4]") {
  harness h;
  auto due_round = std::make_shared<long>(-1);
  auto fired_at = std::make_shared<long>(-1);
  h.run([&, due_round, fired_at](context& page) {
    auto w = echo(page, 1);
    auto rounds = std::make_shared<long>(0);
    // The actor clock is the steady clock: once this reads the due time
    // as passed, the end of the same turn does too.
    auto due = std::make_shared<steady_clock::time_point>();
    w.on_message([w, rounds, due, due_round, fired_at](message_event&) {
      ++*rounds;
      if (*rounds == 1) {
        this_context().set_timeout(
          [rounds, fired_at] {
            *fired_at = *rounds;
            this_context().close();
          },
          milliseconds{2});
        *due = steady_clock::now() + milliseconds{2};
      } else if (*due_round < 0 && steady_clock::now() >= *due) {
        *due_round = *rounds;
      }
      w.post_message("ball");
    });
    w.post_message("ball");
  });
  REQUIRE(*fired_at > 1);
  // It may even run a round earlier than this handler noticed (the end of
  // the previous turn read the clock later than that handler did), never
  // a round later.
  if (*due_round >= 0)
    CHECK(*fired_at <= *due_round);
  h.require_clean();
}

TEST_CASE("4.6 a 0 ms interval in a busy context ticks between every two "
          "rounds",
          "[timers][sem4]") {
  harness h;
  auto ticks = std::make_shared<long>(0);
  auto most_rounds_between = std::make_shared<long>(0);
  h.run([&, ticks, most_rounds_between](context& page) {
    auto w = echo(page, 1);
    auto since_tick = std::make_shared<long>(0);
    auto id = std::make_shared<timer_id>(0);
    *id = page.set_interval(
      [ticks, since_tick, id] {
        *since_tick = 0;
        if (++*ticks == 1000) {
          this_context().clear_interval(*id);
          this_context().close();
        }
      },
      milliseconds{0});
    w.on_message([w, since_tick, most_rounds_between](message_event&) {
      *most_rounds_between = std::max(*most_rounds_between, ++*since_tick);
      w.post_message("ball");
    });
    w.post_message("ball");
  });
  CHECK(*ticks == 1000);
  // Each turn ends by running it again (it is due at once): a round never
  // passes without a tick.
  CHECK(*most_rounds_between == 1);
  h.require_clean();
}

TEST_CASE("4.6 testkit: a 0 ms timer runs at the end of the task that set it, "
          "before the context's next event; a later one waits for advance()",
          "[timers][sem4][testkit]") {
  testkit kit;
  std::vector<std::string> log;
  kit.spawn("a", [&](context&) {
    message_channel ch;
    auto p = ch.port2();
    p.on_message([&, p](message_event& ev) {
      log.push_back(label(ev));
      if (label(ev) == "m1") {
        this_context().set_timeout([&] { log.push_back("0 ms"); },
                                   milliseconds{0});
        this_context().set_timeout([&, p] {
          log.push_back("5 ms");
          p.close();
        }, milliseconds{5});
      }
    });
    ch.port1().post_message("m1");
    ch.port1().post_message("m2");
  });
  auto first = kit.step();
  REQUIRE(first);
  CHECK(first->data == value{"m1"});
  CHECK(log == std::vector<std::string>{"m1", "0 ms"});
  auto second = kit.step();
  REQUIRE(second);
  CHECK(second->data == value{"m2"});
  kit.run();
  CHECK(log == std::vector<std::string>{"m1", "0 ms", "m2"});
  CHECK(kit.has_pending_timer()); // virtual time has not moved
  kit.advance(milliseconds{5});
  CHECK(log == std::vector<std::string>{"m1", "0 ms", "m2", "5 ms"});
  CHECK(kit.live_contexts() == 0);
  CHECK(kit.live_ports() == 0);
}
