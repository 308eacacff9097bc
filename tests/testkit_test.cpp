// The deterministic testkit (include/entangle/testing/): stepping, virtual
// time, inspection, faults and recording. The first two test cases are the
// example of docs/testing.md, verbatim.

#include <catch2/catch.hpp>

#include <memory>
#include <string>
#include <vector>

#include "entangle/all.hpp"
#include "entangle/testing/catch.hpp"

using namespace entangle;
using namespace entangle::testing;
using std::chrono::milliseconds;

// -- docs/testing.md: a request/response protocol with a timeout -------------

namespace {

// The server answers {"op": "double", "n": N} with N * 2 on the port it
// was handed; `mute` makes it swallow requests (a server that hangs).
void server(context& self, bool mute) {
  self.on_message([mute](message_event& ev) {
    auto port = ev.ports.at(0);
    port.on_message([port, mute](message_event& req) {
      if (!mute)
        port.post_message(req.data["n"].as_number() * 2);
    });
  });
}

// The client hands the server a port, sends one request and waits at most
// 100 ms for the answer. It records what happened in `outcome`.
void client(context& self, bool mute_server, std::string& outcome) {
  message_channel ch;
  auto srv = self.spawn("server", [mute_server](context& s) {
    server(s, mute_server);
  });
  auto port = ch.port1();
  auto timer = std::make_shared<timer_id>(0);
  port.on_message([port, timer, &outcome](message_event& ev) {
    this_context().clear_timeout(*timer);
    outcome = "answer " + to_string(ev.data);
    port.close();
    this_context().close();
  });
  *timer = self.set_timeout(
    [port, &outcome] {
      outcome = "timed out";
      port.close();
      this_context().close();
    },
    milliseconds{100});
  srv.post_message("hello", {ch.port2()});
  port.post_message(value::obj({{"op", "double"}, {"n", 21}}));
}

} // namespace

TEST_CASE("testkit: a request is answered before its timeout", "[testkit]") {
  testkit kit;
  std::string outcome;
  kit.spawn("client", [&](context& self) { client(self, false, outcome); });

  // The server's global gets the greeting with the port...
  CHECK(kit.step() == message_in("server", "hello"));
  // ...then the request on that port, then the client the answer.
  auto request = kit.step();
  REQUIRE(request);
  CHECK(request->context == "server");
  CHECK(request->data["n"] == value{21});
  auto answer = kit.step();
  REQUIRE(answer);
  CHECK(answer->context == "client");
  CHECK(answer->data == value{42});
  CHECK(outcome == "answer 42");

  // The client closed its port: the server sees close, then both end.
  CHECK(kit.step() == close_at(request->port));
  CHECK_FALSE(kit.step());
  CHECK_FALSE(kit.has_pending_timer());
  CHECK(kit.live_contexts() == 0);
  CHECK(kit.live_ports() == 0);
}

TEST_CASE("testkit: a request to a hung server times out in virtual time",
          "[testkit]") {
  testkit kit;
  std::string outcome;
  kit.spawn("client", [&](context& self) { client(self, true, outcome); });

  kit.run(); // greeting and request delivered; nothing answers
  CHECK(kit.deliveries().size() == 2);
  CHECK(kit.idle());
  CHECK(kit.has_pending_timer());
  CHECK(outcome.empty());

  kit.advance(milliseconds{99}); // not yet
  CHECK(outcome.empty());

  kit.advance(milliseconds{1}); // the timeout fires, the client gives up
  CHECK(outcome == "timed out");
  CHECK(kit.deliveries().back().type == "close"); // the server saw it
  CHECK(kit.live_contexts() == 0);
  CHECK(kit.live_ports() == 0);
}

// -- the testkit's own contract -----------------------------------------------

TEST_CASE("testkit: nothing runs until driven; step dispatches one event",
          "[testkit]") {
  testkit kit;
  message_port a, b;
  kit.spawn("solo", [&](context&) {
    message_channel ch;
    a = ch.port1();
    b = ch.port2();
    b.start();
    a.post_message(1);
    a.post_message(2);
    a.post_message(3);
  });
  CHECK_FALSE(a); // init has not run yet
  // The operands of == are evaluated in unspecified order: step first when
  // the expectation names a handle that this very step creates.
  auto first = kit.step();
  CHECK(first == message_at(b, 1));
  CHECK(kit.queued(b) == 2);
  CHECK(kit.step() == message_at(b, 2));
  CHECK(kit.step() == message_at(b, 3));
  CHECK(kit.queued(b) == 0);
  CHECK(kit.idle());
  CHECK_FALSE(kit.step());
  CHECK(kit.live_contexts() == 1); // b is started and entangled: alive
  kit.close_port(a);
  CHECK(kit.step() == close_at(b));
  CHECK(kit.live_contexts() == 0);
  CHECK(kit.live_ports() == 0);
}

TEST_CASE("testkit: queued shows messages held by an unstarted port",
          "[testkit]") {
  testkit kit;
  message_port a, b;
  auto id = kit.spawn("solo", [&](context&) {
    message_channel ch;
    a = ch.port1();
    b = ch.port2();
    a.post_message("x");
    a.post_message("y");
    a.start();
  });
  kit.run();
  CHECK(kit.queued(b) == 2);
  CHECK(kit.deliveries().empty());
  kit.inject(id, [&] { b.start(); });
  CHECK(kit.run() == 2);
  CHECK(kit.deliveries()[0].data == value{"x"});
  CHECK(kit.deliveries()[1].data == value{"y"});
  kit.inject(id, [&] { this_context().close(); });
  CHECK(kit.live_contexts() == 0);
}

TEST_CASE("testkit: queued counts the rest of a batch being dispatched",
          "[testkit]") {
  // With dispatch_batch > 1 a drain takes several messages at once; those
  // not dispatched yet are still queued as far as the port's user can see.
  testkit kit{[](runtime_config& c) { c.dispatch_batch = 8; }};
  std::vector<std::size_t> seen;
  message_port a;
  auto page_id = kit.spawn("page", [&](context& page) {
    message_channel ch;
    a = ch.port1();
    auto w = page.spawn("worker", [&](context& self) {
      self.on_message([&](message_event& ev) {
        auto p = ev.ports.at(0);
        p.on_message([&, p](message_event&) { seen.push_back(kit.queued(p)); });
      });
    });
    w.post_message("port", {ch.port2()});
  });
  kit.run();
  REQUIRE(a);
  kit.inject(page_id, [&] {
    for (int i = 0; i < 3; ++i)
      a.post_message(i);
  });
  kit.run();
  CHECK(seen == std::vector<std::size_t>{2, 1, 0});
}

TEST_CASE("testkit: intervals fire only as virtual time advances",
          "[testkit][timers]") {
  testkit kit;
  int ticks = 0;
  auto id = kit.spawn("ticker", [&](context& self) {
    self.set_interval([&] { ++ticks; }, milliseconds{10});
  });
  kit.run();
  CHECK(ticks == 0);
  kit.advance(milliseconds{35});
  CHECK(ticks == 3);
  kit.advance(milliseconds{5});
  CHECK(ticks == 4);
  kit.terminate(id);
  CHECK(kit.live_contexts() == 0);
  CHECK(kit.rt().exits().at(0).kind == exit_kind::terminated);
}

TEST_CASE("testkit: timers fire at their own due times when a cleared one "
          "came first, a shorter one came later, or a callback arms another",
          "[testkit][timers]") {
  // A context has one wake-up on CAF's clock at a time, for its first due
  // timer (src/contexts/context_timers.cpp): the wake-up of a cleared timer
  // asks for the next one, and a timer earlier than the pending wake-up
  // gets one of its own.
  testkit kit;
  std::vector<std::string> fired;
  auto at = [&](const char* what) {
    return [&fired, &kit, what] {
      fired.push_back(std::string{what} + "@"
                      + std::to_string(kit.now().count()));
    };
  };
  kit.spawn("page", [&](context& self) {
    self.clear_timeout(self.set_timeout(at("cleared"), milliseconds{100}));
    self.set_timeout(at("b"), milliseconds{200});
    self.set_timeout(at("a"), milliseconds{50}); // earlier than pending
    self.set_timeout(
      [&, at] {
        at("c")();
        this_context().set_timeout(at("d"), milliseconds{30}); // at 150
      },
      milliseconds{120});
    for (int i = 0; i < 1000; ++i) // an RPC client's pattern
      self.clear_timeout(self.set_timeout(at("never"), milliseconds{10}));
  });
  kit.run();
  kit.advance(milliseconds{49});
  CHECK(fired.empty());
  kit.advance(milliseconds{1});
  CHECK(fired == std::vector<std::string>{"a@50"});
  kit.advance(milliseconds{70});
  CHECK(fired == std::vector<std::string>{"a@50", "c@120"});
  kit.advance(milliseconds{30});
  CHECK(fired == std::vector<std::string>{"a@50", "c@120", "d@150"});
  kit.advance(milliseconds{100});
  CHECK(fired
        == std::vector<std::string>{"a@50", "c@120", "d@150", "b@200"});
  CHECK_FALSE(kit.has_pending_timer());
}

TEST_CASE("testkit: a crashed context closes its ports; the peer sees "
          "everything it posted, then close",
          "[testkit]") {
  testkit kit;
  message_port mine;
  std::uint64_t worker_id = 0;
  kit.spawn("page", [&](context& page) {
    message_channel ch;
    mine = ch.port1();
    mine.start();
    auto w = page.spawn("w", [&](context& self) {
      worker_id = self.id();
      self.on_message([](message_event& ev) {
        auto p = ev.ports.at(0);
        p.post_message("before the crash");
      });
    });
    w.post_message("port", {ch.port2()});
  });
  kit.run();
  REQUIRE(worker_id != 0);
  kit.crash(worker_id, "injected");
  kit.run();
  auto& log = kit.deliveries();
  REQUIRE(log.size() == 5);
  CHECK(log[1].data == value{"before the crash"});
  CHECK(log[1].port == mine);
  // Then, in no fixed order between the two ports: close at `mine`; and at
  // the worker object an "error" (the exception) followed by close.
  std::size_t close_at_mine = 0, error_at_worker = 0, close_at_worker = 0;
  for (std::size_t i = 2; i < 5; ++i) {
    if (log[i].type == "close" && log[i].port == mine)
      close_at_mine = i;
    else if (log[i].type == "error" && !log[i].port)
      error_at_worker = i;
    else if (log[i].type == "close" && !log[i].port)
      close_at_worker = i;
  }
  CHECK(close_at_mine != 0);
  CHECK(error_at_worker != 0);
  CHECK(close_at_worker > error_at_worker);
  CHECK(log[error_at_worker].data == value{"injected"});
  bool crashed = false;
  for (auto& e : kit.rt().exits())
    crashed |= e.name == "w" && e.kind == exit_kind::exception
               && e.what == "injected";
  CHECK(crashed);
}

TEST_CASE("testkit: run() of a deterministic runtime runs to completion, "
          "advancing time to each timer",
          "[testkit][timers]") {
  runtime_config cfg;
  cfg.deterministic = true;
  runtime rt{cfg};
  std::vector<std::string> log;
  rt.spawn("a", [&](context& self) {
    self.set_timeout([&] { log.push_back("late"); }, std::chrono::hours{24});
    self.set_timeout([&] { log.push_back("early"); }, milliseconds{1});
  });
  rt.run(); // a day of virtual time passes instantly
  CHECK(log == std::vector<std::string>{"early", "late"});
  CHECK(rt.live_contexts() == 0);
}

TEST_CASE("13.3 ports that would carry each other in transit are collected at "
          "the post that closes the cycle",
          "[sem13][testkit][cycle]") {
  testkit kit;
  kit.spawn("a", [](context&) {
    message_channel x, y;
    // y2 travels in a message queued on x2; x2 in one queued on y2 would
    // make garbage that reference counting never frees: neither carrying
    // message could ever be delivered. The second post is dropped instead,
    // x2 closes, and so does y2 (stranded in x2's queue).
    x.port1().post_message("carries y2", {y.port2()});
    y.port1().post_message("carries x2", {x.port2()});
  });
  kit.run();
  CHECK(kit.live_contexts() == 0);
  CHECK(kit.live_ports() == 0);
  CHECK(kit.drops()[drop_reason::unreachable] == 2);
  CHECK(kit.drops().total() == 2);
}
