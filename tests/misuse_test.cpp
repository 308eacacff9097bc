// Bad input (tag [context]): handles used by a context that does not own
// them, or outside any context, transfers that cannot happen, and the drop
// counters that account for every message lost on the way. Each case
// checks that the runtime goes on working afterwards.
//
// Context code never asserts (Catch2 is not thread-safe): it records into
// h.log, and the test body checks after the run.

#include "support.hpp"

using namespace entangle;
using namespace entangle::test;

// -- bad input ----------------------------------------------------------------

TEST_CASE("6.1 a transfer whose serialization fails ships nothing and the port "
          "can be transferred afterwards",
          "[sem6][context]") {
  harness h;
  h.run([&](context& page) {
    message_channel ch;
    auto w = page.spawn("w", [&](context& self) {
      self.on_message([&](message_event& ev) {
        ev.ports.at(0).on_message([&](message_event& m) {
          h.log.add("w got " + label(m));
          this_context().close();
        });
      });
    });
    auto detached = [&] { return ch.port2().detached() ? "yes" : "no"; };
    try {
      w.post_message(value::arr({host_object{"function"}}), {ch.port2()});
      h.log.add("no throw");
    } catch (const dom_exception& e) {
      h.log.add(e.name());
    }
    h.log.add(std::string{"detached after failure: "} + detached());
    w.post_message("take", {ch.port2()});
    h.log.add(std::string{"detached after success: "} + detached());
    ch.port1().post_message("end");
  });
  CHECK(h.log.lines()
        == lines{"DataCloneError", "detached after failure: no",
                 "detached after success: yes", "w got end"});
  h.require_clean();
}

TEST_CASE("a port handle used from a context that does not own it is inert "
          "and counted as foreign_context",
          "[context]") {
  harness h;
  h.run([&](context& page) {
    message_channel ch;
    auto p1 = ch.port1();
    auto w = page.spawn("thief", [&, p1](context& self) {
      p1.post_message("stolen");
      p1.start();
      p1.on_message([&](message_event&) { h.log.add("thief handler ran"); });
      p1.close();
      try {
        self.post_message("smuggle", {p1});
        h.log.add("thief: no throw");
      } catch (const dom_exception& e) {
        h.log.add("thief: " + e.name());
      }
      h.log.set("closed seen by thief", p1.closed() ? "yes" : "no");
      self.post_message("done");
    });
    ch.port2().on_message([&](message_event& m) {
      h.log.add("port2 got " + label(m));
      this_context().close();
    });
    ch.port2().on_close([&](message_event&) { h.log.add("port2 got close"); });
    w.on_message([p1](message_event&) { p1.post_message("from the owner"); });
  });
  CHECK(h.log.lines()
        == lines{"thief: DataCloneError", "port2 got from the owner"});
  CHECK(h.log.get("closed seen by thief") == "no");
  CHECK(h.drops(drop_reason::foreign_context) == 1);
  CHECK(h.rt->drops().total() == 1);
  h.require_clean();
  CHECK(conversation_after(h) == "pong");
}

TEST_CASE("a worker handle used from a context that did not spawn it is "
          "inert: it neither posts to nor terminates the worker",
          "[context]") {
  harness h;
  h.run([&](context& page) {
    auto target = page.spawn("target", [](context& self) {
      self.on_message([](message_event& m) {
        this_context().post_message("pong to " + label(m));
      });
    });
    auto thief = page.spawn("thief", [target](context& self) {
      target.post_message("from the thief");
      target.terminate();
      self.post_message("done");
    });
    thief.on_message(
      [target](message_event&) { target.post_message("owner"); });
    auto log_and_end = [&](message_event& m) {
      h.log.add(label(m));
      this_context().close();
    };
    target.on_message(log_and_end);
    target.add_event_listener("close", log_and_end);
  });
  CHECK(h.log.lines() == lines{"pong to owner"});
  CHECK(exit_of(h, "target") == "normal");
  CHECK(h.drops(drop_reason::foreign_context) == 1);
  h.require_clean();
}

TEST_CASE("a port handle used outside any context is inert and counted as "
          "foreign_context",
          "[context]") {
  harness h;
  message_port leaked;
  h.run([&](context&) {
    message_channel ch;
    leaked = ch.port2();
  });
  leaked.post_message("from the test thread");
  leaked.start();
  leaked.close();
  CHECK(h.drops(drop_reason::foreign_context) == 1);
  h.check_no_leaks();
  CHECK(conversation_after(h) == "pong");
}

TEST_CASE("6.4 transferring twice throws DataCloneError and posting on the "
          "detached handle is counted; neither breaks the runtime",
          "[sem6][context]") {
  harness h;
  h.run([&](context& page) {
    message_channel ch;
    auto w = page.spawn("w", [&](context& self) {
      self.on_message([&](message_event& ev) {
        auto p = ev.ports.at(0);
        p.on_message([&](message_event& m) {
          h.log.add("w got " + label(m));
          this_context().close();
        });
      });
    });
    w.post_message("take", {ch.port2()});
    try {
      w.post_message("take again", {ch.port2()});
      h.log.add("no throw");
    } catch (const dom_exception& e) {
      h.log.add(e.name());
    }
    ch.port2().post_message("on the detached handle");
    ch.port1().post_message("to the new owner");
  });
  CHECK(h.log.lines() == lines{"DataCloneError", "w got to the new owner"});
  CHECK(h.drops(drop_reason::detached) == 1);
  CHECK(h.rt->drops().total() == 1);
  h.require_clean();
  CHECK(conversation_after(h) == "pong");
}

TEST_CASE("drop counters count every lost message once, under its reason",
          "[context]") {
  harness h;
  h.run([&](context& page) {
    message_channel closed_ch, doomed_ch, moved_ch, stolen_ch;
    auto stolen = stolen_ch.port1();
    auto w = page.spawn("w", [stolen](context& self) {
      for (int i = 0; i < 3; ++i)
        stolen.post_message("foreign"); // 3 x foreign_context
      self.on_message([](message_event& ev) {
        if (ev.data == value{"end"})
          this_context().close();
      });
    });
    // closed: 2 posted to a closed port, 1 posted from it
    closed_ch.port2().close();
    closed_ch.port1().post_message("to closed");
    closed_ch.port1().post_message("to closed");
    closed_ch.port2().post_message("from closed");
    // doomed: the target port in its own message
    doomed_ch.port1().post_message("doomed", {doomed_ch.port2()});
    // detached: 2 on the handle of a port moved to w
    w.post_message("take", {moved_ch.port2()});
    moved_ch.port2().post_message("detached");
    moved_ch.port2().post_message("detached");
    // context_gone: 4 queued at the moved port (never started) when w ends
    for (int i = 0; i < 4; ++i)
      moved_ch.port1().post_message(i);
    w.post_message("end");
  });
  auto d = h.rt->drops();
  CHECK(d[drop_reason::closed] == 3);
  CHECK(d[drop_reason::doomed] == 1);
  CHECK(d[drop_reason::detached] == 2);
  CHECK(d[drop_reason::foreign_context] == 3);
  CHECK(d[drop_reason::context_gone] == 4);
  CHECK(d[drop_reason::unentangled] == 0);
  CHECK(d[drop_reason::messageerror] == 0);
  CHECK(d.total() == 13);
  h.require_clean();
}
