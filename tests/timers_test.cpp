// The web's timers on every context (setTimeout / setInterval / clear*),
// running on CAF's actor clock. Delays here are real (a few milliseconds):
// the timers are what is under test, never a synchronisation device.

#include <memory>

#include "support.hpp"

using namespace entangle;
using namespace entangle::test;
using std::chrono::milliseconds;

TEST_CASE("a timeout runs once, after its delay, as a task of its context",
          "[timers]") {
  harness h;
  h.run([&](context& self) {
    auto id = self.id();
    auto t = self.set_timeout(
      [&, id] {
        h.log.add("fired");
        h.log.set("same context", this_context().id() == id ? "yes" : "no");
      },
      milliseconds{5});
    h.log.set("id", t != 0 ? "nonzero" : "zero");
  });
  CHECK(h.log.lines() == lines{"fired"});
  CHECK(h.log.get("same context") == "yes");
  CHECK(h.log.get("id") == "nonzero");
  h.require_clean();
}

TEST_CASE("shorter timeouts fire first, whatever order they were set in",
          "[timers]") {
  harness h;
  h.run([&](context& self) {
    self.set_timeout([&] { h.log.add("slow"); }, milliseconds{40});
    self.set_timeout([&] { h.log.add("fast"); }, milliseconds{2});
    self.set_timeout([&] { h.log.add("negative counts as 0"); },
                     milliseconds{-5});
  });
  CHECK(h.log.lines() == lines{"negative counts as 0", "fast", "slow"});
  h.require_clean();
}

TEST_CASE("an interval repeats until its own callback clears it", "[timers]") {
  harness h;
  h.run([&](context& self) {
    auto n = std::make_shared<int>(0);
    auto id = std::make_shared<timer_id>(0);
    *id = self.set_interval(
      [&, n, id] {
        h.log.add("tick " + std::to_string(++*n));
        if (*n == 3)
          this_context().clear_interval(*id);
      },
      milliseconds{1});
  });
  CHECK(h.log.lines() == lines{"tick 1", "tick 2", "tick 3"});
  h.require_clean();
}

TEST_CASE("a cleared timeout never runs and no longer keeps its context alive",
          "[timers]") {
  harness h;
  h.run([&](context& self) {
    auto id = self.set_timeout([&] { h.log.add("ran"); },
                               std::chrono::hours{1});
    self.clear_timeout(id);
    self.clear_interval(12345); // unknown ids are ignored
  });
  CHECK(h.log.lines().empty());
  h.require_clean();
}

TEST_CASE("timeouts and intervals share one id space", "[timers]") {
  harness h;
  h.run([&](context& self) {
    auto a = self.set_interval([&] { h.log.add("interval"); },
                               std::chrono::hours{1});
    auto b = self.set_timeout([&] { h.log.add("timeout"); },
                              std::chrono::hours{1});
    h.log.set("distinct", a != b ? "yes" : "no");
    self.clear_timeout(a); // clears the interval, as on the web
    self.clear_interval(b);
  });
  CHECK(h.log.get("distinct") == "yes");
  CHECK(h.log.lines().empty());
  h.require_clean();
}

TEST_CASE("a timer fires during an endless ping-pong (HTML 4.6: no starvation)",
          "[timers][sem4]") {
  harness h;
  h.run([&](context& self) {
    message_channel ch;
    auto a = ch.port1();
    auto b = ch.port2();
    auto rounds = std::make_shared<long>(0);
    a.on_message([a, rounds](message_event&) {
      ++*rounds;
      a.post_message("ping");
    });
    b.on_message([b](message_event&) { b.post_message("pong"); });
    a.post_message("ping");
    self.set_timeout(
      [&, a, b, rounds] {
        h.log.set("rounds before the timer", *rounds > 0 ? ">0" : "0");
        a.close();
        b.close();
      },
      milliseconds{5});
  });
  CHECK(h.log.get("rounds before the timer") == ">0");
  h.require_clean();
}

TEST_CASE("timers of a context that closed itself never fire", "[timers]") {
  harness h;
  h.run([&](context& self) {
    self.set_timeout([&] { h.log.add("ran"); }, milliseconds{1});
    self.close();
  });
  CHECK(h.log.lines().empty());
  h.require_clean();
}

TEST_CASE("an exception escaping a timer callback ends the context as "
          "exception and closes its ports",
          "[timers][context]") {
  harness h;
  h.run([&](context& page) {
    message_channel ch;
    auto w = page.spawn("w", [&](context& self) {
      self.on_message([&](message_event& ev) {
        auto p = ev.ports.at(0);
        p.start();
        this_context().set_timeout([] { throw std::runtime_error("tick"); },
                                   milliseconds{1});
      });
    });
    auto p1 = ch.port1();
    p1.on_close([&, p1](message_event&) {
      h.log.add("page got close");
      this_context().close();
    });
    p1.start(); // close events, like messages, wait for start()
    w.post_message("take", {ch.port2()});
  });
  CHECK(h.log.lines() == lines{"page got close"});
  CHECK(exit_of(h, "w") == "exception");
  CHECK(what_of(h, "w") == "tick");
  h.check_no_leaks();
}
