// Synchronous receive and ref/unref (issue #19, point 2): Node's
// receiveMessageOnPort, port.ref()/unref(), worker.ref()/unref() and
// unref'ed timers, against the lifetime rule (context_core::reachable).

#include <memory>

#include "support.hpp"

#include <entangle/testing/testkit.hpp>

using namespace entangle;
using namespace entangle::test;
using entangle::testing::testkit;

TEST_CASE("receive_message_on_port takes queued messages now, in order, on "
          "an unstarted port, fires no listener, and leaves the close",
          "[liveness]") {
  testkit kit;
  auto log = std::make_shared<lines>();
  kit.spawn("main", [log](context&) {
    message_channel ch;
    auto rx = ch.port2();
    rx.add_event_listener("message", [log](message_event& ev) {
      log->push_back("listener " + label(ev));
    });
    message_channel carried;
    ch.port1().post_message("one");
    ch.port1().post_message("two", {carried.port1()});
    ch.port1().close();
    auto a = receive_message_on_port(rx);
    auto b = receive_message_on_port(rx);
    auto c = receive_message_on_port(rx); // the close stays queued
    log->push_back(a ? label(*a) : "none");
    log->push_back(b ? label(*b) + " ports=" + std::to_string(b->ports.size())
                     : "none");
    log->push_back(c ? label(*c) : "none");
    log->push_back("started " + yn(rx.started()));
    if (b && !b->ports.empty()) {
      b->ports[0].close(); // an adopted port of this context
      carried.port2().close();
    }
    rx.on_close([log](message_event&) { log->push_back("close"); });
    rx.start();
  });
  kit.run();
  CHECK(*log
        == lines{"one", "two ports=1", "none", "started false", "close"});
  CHECK(kit.live_ports() == 0);
}

TEST_CASE("receive_message_on_port on a started never-shipped port keeps "
          "the combined order of the rest",
          "[liveness][sem7]") {
  testkit kit;
  auto log = std::make_shared<lines>();
  kit.spawn("main", [log](context&) {
    message_channel a, b;
    a.port2().on_message([log](message_event& ev) { log->push_back(label(ev)); });
    b.port2().on_message([log, a, b](message_event& ev) {
      log->push_back(label(ev));
      if (label(ev) == "b2")
        for (auto* p : {&a.port1(), &a.port2(), &b.port1(), &b.port2()})
          p->close();
    });
    a.port1().post_message("a1");
    b.port1().post_message("b1");
    a.port1().post_message("a2");
    b.port1().post_message("b2");
    auto taken = receive_message_on_port(a.port2()); // a1, synchronously
    log->push_back("took " + (taken ? label(*taken) : std::string{"none"}));
  });
  kit.run();
  CHECK(*log == lines{"took a1", "b1", "a2", "b2"});
}

TEST_CASE("an unref'ed started port does not keep its context alive; ref() "
          "makes it count again",
          "[liveness][context]") {
  testkit kit;
  auto log = std::make_shared<lines>();
  message_port kept;
  auto id = kit.spawn("unrefed", [&, log](context&) {
    message_channel ch;
    kept = ch.port1(); // held outside, never used
    ch.port2().on_message([](message_event&) {});
    ch.port2().unref();
    log->push_back("has_ref " + yn(ch.port2().has_ref()));
  });
  kit.run();
  CHECK(*log == lines{"has_ref false"});
  CHECK(kit.live_contexts() == 0); // nothing referenced kept it
  auto id2 = kit.spawn("refed-again", [&](context&) {
    message_channel ch;
    kept = ch.port1();
    ch.port2().on_message([](message_event&) { this_context().close(); });
    ch.port2().unref();
    ch.port2().ref();
  });
  kit.run();
  CHECK(kit.live_contexts() == 1); // waits for a message again
  kit.inject(id2, [&] { kept.post_message("bye"); });
  kit.run();
  CHECK(kit.live_contexts() == 0);
  (void) id;
}

TEST_CASE("an unref'ed timer does not keep its context alive but fires while "
          "it lives",
          "[liveness][context]") {
  testkit kit;
  auto log = std::make_shared<lines>();
  kit.spawn("main", [log](context& self) {
    auto t = self.set_interval([log] { log->push_back("tick"); },
                               std::chrono::milliseconds{10});
    self.unref_timer(t);
    // A referenced timeout keeps the context for 25 ms: two ticks.
    self.set_timeout([log] { log->push_back("done"); },
                     std::chrono::milliseconds{25});
  });
  kit.run();
  kit.advance(std::chrono::milliseconds{30});
  CHECK(*log == lines{"tick", "tick", "done"});
  CHECK(kit.live_contexts() == 0);
}

TEST_CASE("an unref'ed worker does not keep its creator alive; the worker "
          "then finishes what is queued to it and ends",
          "[liveness][sem12]") {
  testkit kit;
  auto log = std::make_shared<lines>();
  kit.spawn("main", [log](context& self) {
    auto w = self.spawn("w", [log](context& me) {
      me.on_message([log](message_event& ev) {
        log->push_back("worker got " + label(ev));
      });
    });
    w.post_message("last job");
    w.unref();
    log->push_back("has_ref " + yn(w.has_ref()));
  });
  kit.run();
  CHECK(*log == lines{"has_ref false", "worker got last job"});
  CHECK(kit.live_contexts() == 0);
  CHECK(kit.live_ports() == 0);
}
