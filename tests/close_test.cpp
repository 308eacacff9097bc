// SEMANTICS §8: close(), disentangle and the close event, with the choices of
// ARCHITECTURE §2.1 (close fires on the peer only, queued, after everything
// the closer posted) and §2.2 (a closed port dispatches nothing more; what
// was still queued on it is dropped and counted). Also the closes that
// happen without close(): SEMANTICS §13.1 (a context's end is a destroyed
// document) and §13.4 (ports carried by messages that are never delivered).
//
// Context code never asserts (Catch2 is not thread-safe): it records into
// h.log, and the test body checks after the run.

#include <algorithm>
#include <chrono>
#include <thread>

#include "support.hpp"

using namespace entangle;
using namespace entangle::test;

// -- 8.1 close() --------------------------------------------------------------

TEST_CASE("8.1 close() is idempotent, never throws, and leaves the port "
          "detached and closed",
          "[sem8]") {
  harness h;
  h.run([&](context&) {
    message_channel ch;
    ch.port2().on_close([&](message_event&) { h.log.add("port2 got close"); });
    ch.port2().start();
    h.log.set("before", yes_no(ch.port1().detached() || ch.port1().closed()));
    try {
      ch.port1().close();
      ch.port1().close();
      ch.port1().close();
      message_port{}.close(); // a null handle: nothing to close
      h.log.add("no throw");
    } catch (...) {
      h.log.add("threw");
    }
    h.log.set("detached", yes_no(ch.port1().detached()));
    h.log.set("closed", yes_no(ch.port1().closed()));
    h.log.set("peer closed", yes_no(ch.port2().closed()));
  });
  CHECK(h.log.lines() == lines{"no throw", "port2 got close"});
  CHECK(h.log.get("before") == "no");
  CHECK(h.log.get("detached") == "yes");
  CHECK(h.log.get("closed") == "yes");
  CHECK(h.log.get("peer closed") == "no");
  CHECK(h.rt->drops().total() == 0);
  h.require_clean();
}

// -- 8.2 disentangle fires close at the other port ----------------------------

TEST_CASE("8.2 the peer gets a close event typed close that carries nothing "
          "and targets the peer port",
          "[sem8]") {
  harness h;
  h.run([&](context&) {
    message_channel ch;
    auto p2 = ch.port2();
    p2.add_event_listener("close", [&, p2](message_event& ev) {
      h.log.add("listener");
      h.log.set("type", ev.type);
      h.log.set("data undefined", yes_no(ev.data.is_undefined()));
      h.log.set("no ports", yes_no(ev.ports.empty()));
      h.log.set("origin", "'" + ev.origin + "'");
      h.log.set("target is port2", yes_no(ev.target == p2));
    });
    p2.on_close([&](message_event&) { h.log.add("onclose"); });
    p2.start();
    ch.port1().close();
  });
  CHECK(h.log.lines() == lines{"listener", "onclose"});
  CHECK(h.log.get("type") == "close");
  CHECK(h.log.get("data undefined") == "yes");
  CHECK(h.log.get("no ports") == "yes");
  CHECK(h.log.get("origin") == "''");
  CHECK(h.log.get("target is port2") == "yes");
  h.require_clean();
}

TEST_CASE("8.2 the close event is queued, not fired inside close()", "[sem8]") {
  harness h;
  h.run([&](context&) {
    message_channel ch;
    ch.port2().on_close([&](message_event&) { h.log.add("close event"); });
    ch.port2().start();
    h.log.add("before close()");
    ch.port1().close();
    h.log.add("after close()");
  });
  CHECK(h.log.lines()
        == lines{"before close()", "after close()", "close event"});
  h.require_clean();
}

TEST_CASE("8.2 a close event for a port that was never started waits until "
          "start()",
          "[sem8]") {
  harness h;
  h.run([&](context&) {
    message_channel ch;
    auto p2 = ch.port2();
    p2.add_event_listener("close",
                          [&](message_event&) { h.log.add("close event"); });
    ch.port1().close();
    this_context().queue_task([&, p2] {
      h.log.add("task before start");
      p2.start();
    });
  });
  CHECK(h.log.lines() == lines{"task before start", "close event"});
  h.require_clean();
}

// -- 8.3 when disentangle runs, and who hears it ------------------------------

TEST_CASE("8.3 the closer never gets a close event for its own close()",
          "[sem8]") {
  harness h;
  h.run([&](context&) {
    message_channel ch;
    ch.port1().on_close([&](message_event&) { h.log.add("port1 got close"); });
    ch.port2().on_close([&](message_event&) { h.log.add("port2 got close"); });
    ch.port1().start();
    ch.port2().start();
    ch.port1().close();
  });
  CHECK(h.log.lines() == lines{"port2 got close"});
  h.require_clean();
}

TEST_CASE("8.3 when both ends close, neither gets a close event", "[sem8]") {
  harness h;
  h.run([&](context&) {
    message_channel ch;
    for (auto* p : {&ch.port1(), &ch.port2()}) {
      p->on_close([&](message_event&) { h.log.add("close"); });
      p->start();
    }
    ch.port1().close();
    ch.port2().close();
  });
  CHECK(h.log.lines().empty());
  CHECK(h.rt->drops().total() == 0);
  h.require_clean();
}

// -- 8.4 what happens to messages around close() ------------------------------

TEST_CASE("8.4 messages posted before close() are delivered before the close "
          "event",
          "[sem8]") {
  harness h;
  h.run([&](context&) {
    message_channel ch;
    ch.port1().on_message([&](message_event& m) { h.log.add(label(m)); });
    ch.port1().on_close([&](message_event& m) { h.log.add(label(m)); });
    ch.port2().post_message("TEST");
    ch.port2().post_message("TEST 2");
    ch.port2().close();
  });
  CHECK(h.log.lines() == lines{"TEST", "TEST 2", "close"});
  CHECK(h.rt->drops().total() == 0);
  h.require_clean();
}

TEST_CASE("8.4 posting to a closed port is dropped silently and counted as "
          "closed",
          "[sem8]") {
  harness h;
  h.run([&](context& page) {
    message_channel ch;
    auto w = page.spawn("w", [&](context& self) {
      self.on_message([&](message_event& ev) {
        auto p = ev.ports.at(0);
        p.on_message([&](message_event& m) { h.log.add("w got " + label(m)); });
        p.close();
      });
    });
    ch.port1().on_close([&, p1 = ch.port1()](message_event&) {
      h.log.add("page got close");
      try {
        p1.post_message("late 1");
        p1.post_message("late 2");
        p1.post_message("late 3");
        h.log.add("no throw");
      } catch (...) {
        h.log.add("threw");
      }
      this_context().close();
    });
    ch.port1().start();
    w.post_message("take", {ch.port2()});
  });
  CHECK(h.log.lines() == lines{"page got close", "no throw"});
  CHECK(h.drops(drop_reason::closed) == 3);
  CHECK(h.rt->drops().total() == 3);
  h.require_clean();
}

TEST_CASE("8.4 posting from a closed port is dropped silently and counted as "
          "closed",
          "[sem8]") {
  harness h;
  h.run([&](context&) {
    message_channel ch;
    ch.port1().on_message([&](message_event& m) { h.log.add(label(m)); });
    ch.port1().on_close([&](message_event& m) { h.log.add(label(m)); });
    ch.port2().close();
    try {
      ch.port2().post_message("after close");
      h.log.add("no throw");
    } catch (...) {
      h.log.add("threw");
    }
  });
  CHECK(h.log.lines() == lines{"no throw", "close"});
  CHECK(h.drops(drop_reason::closed) == 1);
  CHECK(h.rt->drops().total() == 1);
  h.require_clean();
}

TEST_CASE("8.4 posting on a closed port still serializes: clone errors throw "
          "and transferred ports are lost",
          "[sem8]") {
  harness h;
  h.run([&](context&) {
    message_channel ch, other;
    other.port1().on_close(
      [&](message_event&) { h.log.add("other.port1 got close"); });
    other.port1().start();
    ch.port1().close();
    try {
      ch.port1().post_message(value::arr({host_object{"function"}}));
      h.log.add("no throw");
    } catch (const dom_exception& e) {
      h.log.add(e.name());
    }
    ch.port1().post_message("carry", {other.port2()});
    h.log.add("carried detached: " + yes_no(other.port2().detached()));
  });
  CHECK(h.log.lines()
        == lines{"DataCloneError", "carried detached: yes",
                 "other.port1 got close"});
  CHECK(h.drops(drop_reason::closed) == 1);
  CHECK(h.rt->drops().total() == 1);
  h.require_clean();
}

TEST_CASE("8.4 a closed port cannot be transferred, its former peer can, and "
          "what the peer's new owner posts is lost",
          "[sem8]") {
  harness h;
  h.run([&](context& page) {
    message_channel ch;
    auto w = page.spawn("w", [&](context& self) {
      self.on_message([&](message_event& ev) {
        auto p = ev.ports.at(0);
        p.post_message("into the void");
        p.add_event_listener("close", [&](message_event&) {
          h.log.add("w got close");
          this_context().close();
        });
        this_context().queue_task([&, p] {
          h.log.add("w: task before start");
          p.start();
        });
      });
    });
    ch.port1().close();
    try {
      w.post_message("closed one", {ch.port1()});
      h.log.add("no throw");
    } catch (const dom_exception& e) {
      h.log.add(e.name());
    }
    w.post_message("peer", {ch.port2()});
    h.log.add("peer transferred: " + yes_no(ch.port2().detached()));
  });
  CHECK(h.log.lines()
        == lines{"DataCloneError", "peer transferred: yes",
                 "w: task before start", "w got close"});
  CHECK(h.drops(drop_reason::closed) == 1);
  CHECK(h.rt->drops().total() == 1);
  h.require_clean();
}

TEST_CASE("8.4 closing a port from its own message handler drops the messages "
          "still queued on it (ARCHITECTURE 2.2)",
          "[sem8]") {
  harness h;
  h.run([&](context&) {
    message_channel ch;
    auto p2 = ch.port2();
    p2.on_message([&, p2](message_event& m) {
      h.log.add("port2 got " + label(m));
      p2.close();
    });
    for (auto s : {"m0", "m1", "m2", "m3", "m4"})
      ch.port1().post_message(s);
  });
  CHECK(h.log.lines() == lines{"port2 got m0"});
  CHECK(h.drops(drop_reason::closed) == 4);
  CHECK(h.rt->drops().total() == 4);
  h.require_clean();
}

TEST_CASE("8.4 closing a received port from its handler drops the rest of "
          "its batch, and the peer gets close",
          "[sem8]") {
  constexpr int n = 200; // more than one dispatch batch
  harness h;
  h.run([&](context& page) {
    message_channel ch;
    auto w = page.spawn("w", [&](context& self) {
      self.on_message([&](message_event& ev) {
        auto p = ev.ports.at(0);
        p.on_message([&, p](message_event& m) {
          h.log.add("w got " + label(m));
          p.close();
        });
      });
    });
    for (int i = 0; i < n; ++i)
      ch.port1().post_message(i);
    w.post_message("take", {ch.port2()});
    ch.port1().on_close([&](message_event&) {
      h.log.add("page got close");
      this_context().close();
    });
    ch.port1().start();
  });
  CHECK(h.log.lines() == lines{"w got 0", "page got close"});
  CHECK(h.drops(drop_reason::closed) == n - 1);
  CHECK(h.rt->drops().total() == n - 1);
  h.require_clean();
}

// -- 8.5 the close event as entangle implements it ----------------------------

TEST_CASE("8.5 across contexts, exactly one close arrives after every message "
          "the closer posted",
          "[sem8]") {
  constexpr int n = 500;
  harness h;
  h.run([&](context& page) {
    message_channel ch;
    auto w = page.spawn("w", [&](context& self) {
      self.on_message([&](message_event& ev) {
        auto p = ev.ports.at(0);
        for (int i = 0; i < n; ++i)
          p.post_message(i);
        p.close();
        p.close();
      });
    });
    auto seen = std::make_shared<int>(0);
    auto closes = std::make_shared<int>(0);
    ch.port1().on_message([&, seen, closes](message_event& m) {
      if (*closes > 0)
        h.log.add("message after close");
      if (static_cast<int>(m.data.as_number()) != (*seen)++)
        h.log.add("out of order");
    });
    ch.port1().on_close([&, seen, closes](message_event&) {
      ++*closes;
      h.log.add("close after " + std::to_string(*seen));
      this_context().queue_task([] { this_context().close(); });
    });
    w.post_message("take", {ch.port2()});
  });
  CHECK(h.log.lines() == lines{"close after 500"});
  CHECK(h.rt->drops().total() == 0);
  h.require_clean();
}

// -- 8.6 a peer closed while the port is in transit ---------------------------

TEST_CASE("8.6 a port whose peer closed while it was in transit gets close "
          "once its new owner starts it",
          "[sem8]") {
  harness h;
  h.run([&](context& page) {
    message_channel ch;
    message_channel carrier; // keeps port2 in flight while port1 closes
    auto w = page.spawn("w", [&](context& self) {
      self.on_message([&](message_event& ev) {
        auto c = ev.ports.at(0);
        c.on_message([&](message_event& m) {
          auto p = m.ports.at(0);
          h.log.add("w got the port");
          p.post_message("into the void");
          p.add_event_listener("message", [&](message_event& x) {
            h.log.add("w got " + label(x));
          });
          p.add_event_listener("close", [&](message_event&) {
            h.log.add("w got close");
            this_context().close();
          });
          this_context().queue_task([&, p] {
            h.log.add("w: task before start");
            p.start();
          });
        });
      });
    });
    ch.port1().post_message("sent before close");
    carrier.port1().post_message("port", {ch.port2()});
    ch.port1().close();
    w.post_message("carrier", {carrier.port2()});
  });
  CHECK(h.log.lines()
        == lines{"w got the port", "w: task before start",
                 "w got sent before close", "w got close"});
  CHECK(h.drops(drop_reason::closed) == 1);
  h.require_clean();
}

TEST_CASE("8.6 a port that already saw close, then is transferred, does not "
          "keep its new owner alive",
          "[sem8]") {
  // The port can never receive anything again; its new owner must still end
  // once nothing else keeps it (a second close event is optional: the end
  // already observed "peer closed" once).
  harness h;
  h.run(
    [&](context& page) {
      message_channel ch;
      auto w = page.spawn("w", [&](context& self) {
        self.on_message([&](message_event& ev) {
          auto p = ev.ports.at(0);
          p.on_close([&](message_event&) { h.log.add("w got close"); });
          p.on_message([&](message_event&) { h.log.add("w got message"); });
          h.log.add("w started it");
        });
      });
      ch.port2().on_close([&, w, p2 = ch.port2()](message_event&) {
        h.log.add("page got close");
        w.post_message("take", {p2});
        this_context().close();
      });
      ch.port2().start();
      ch.port1().close();
    });
  auto got = h.log.lines();
  CHECK(got.size() >= 2);
  CHECK(std::count(got.begin(), got.end(), "w got message") == 0);
  CHECK(std::count(got.begin(), got.end(), "w got close") <= 1);
  h.require_clean();
}

// -- 13.1 a context that ends is a destroyed document -------------------------

TEST_CASE("13.1 when a context ends, its ports' peers get everything it posted "
          "and then close",
          "[sem13]") {
  harness h;
  h.run([&](context& page) {
    message_channel ch;
    auto w = page.spawn("w", [&](context& self) {
      self.on_message([&](message_event& ev) {
        auto p = ev.ports.at(0);
        for (auto s : {"a", "b", "c"})
          p.post_message(s);
        this_context().close();
      });
    });
    ch.port1().on_message([&](message_event& m) { h.log.add(label(m)); });
    ch.port1().on_close([&](message_event& m) {
      h.log.add(label(m));
      this_context().close();
    });
    w.post_message("take", {ch.port2()});
  });
  CHECK(h.log.lines() == lines{"a", "b", "c", "close"});
  CHECK(h.rt->exits().size() == 2);
  h.require_clean();
}

TEST_CASE("13.1 messages still queued for an ended context are dropped and "
          "counted as context_gone",
          "[sem13][context]") {
  harness h;
  h.run([&](context& page) {
    message_channel ch;
    auto w = page.spawn("w", [&](context& self) {
      self.on_message([&](message_event& ev) {
        h.log.add("w got " + label(ev));
        if (label(ev) == "end")
          this_context().close();
      });
    });
    w.post_message("take", {ch.port2()}); // kept, never started
    for (auto s : {"q1", "q2", "q3", "q4", "q5"})
      ch.port1().post_message(s);
    w.post_message("end");
    w.post_message("x");
    w.post_message("y");
  });
  CHECK(h.log.lines() == lines{"w got take", "w got end"});
  // q1..q5 and what was queued for the worker when it ended are
  // context_gone; a post that lands after the worker ended finds a closed
  // port instead (the page runs concurrently). Never lost uncounted.
  CHECK(h.drops(drop_reason::context_gone) >= 5);
  CHECK(h.drops(drop_reason::context_gone) + h.drops(drop_reason::closed)
        == 7);
  CHECK(h.rt->drops().total() == 7);
  h.require_clean();
}

TEST_CASE("13.1 messages left on a started port when its context closes are "
          "dropped as context_gone",
          "[sem13]") {
  constexpr int n = 200; // more than one dispatch batch
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
    for (int i = 0; i < n; ++i)
      ch.port1().post_message(i);
    w.post_message("take", {ch.port2()});
  });
  CHECK(h.log.lines() == lines{"w got 0"});
  CHECK(h.drops(drop_reason::context_gone) == n - 1);
  CHECK(h.rt->drops().total() == n - 1);
  h.require_clean();
}

TEST_CASE("13.1 tasks queued in a context that ends never run", "[sem13]") {
  harness h;
  h.run([&](context& page) {
    auto w = page.spawn("w", [&](context& self) {
      self.queue_task([&] { h.log.add("task ran"); });
      self.post_message("bye");
      self.close();
      self.queue_task([&] { h.log.add("late task ran"); });
    });
    w.on_message([&](message_event& m) { h.log.add("page got " + label(m)); });
  });
  CHECK(h.log.lines() == lines{"page got bye"});
  h.require_clean();
}

// -- 13.4 carried ports of messages that are never delivered ------------------

TEST_CASE("13.4 ports inside a message dropped at a closed port are closed and "
          "their peers get close",
          "[sem13]") {
  harness h;
  h.run([&](context&) {
    message_channel a, b;
    b.port1().on_close([&](message_event&) { h.log.add("b.port1 got close"); });
    b.port1().start();
    a.port1().post_message("carry", {b.port2()}); // sits in a.port2's queue
    a.port2().close();
  });
  CHECK(h.log.lines() == lines{"b.port1 got close"});
  CHECK(h.drops(drop_reason::closed) == 1);
  CHECK(h.rt->drops().total() == 1);
  h.require_clean();
}

TEST_CASE("13.4 ports nested in messages queued for an ended context are "
          "closed in cascade and their peers get close",
          "[sem13][context]") {
  harness h;
  h.run([&](context& page) {
    message_channel a, b, c;
    auto w = page.spawn("w", [&](context& self) {
      self.on_message([&](message_event& ev) {
        if (label(ev) == "end")
          this_context().close();
      });
    });
    auto closes = std::make_shared<int>(0);
    for (auto [name, ch] : {std::pair{"a", &a}, {"b", &b}, {"c", &c}}) {
      ch->port1().on_close(
        [&, closes, name = std::string{name}](message_event&) {
          h.log.add(name + ".port1 got close");
          if (++*closes == 3)
            this_context().close();
        });
      ch->port1().start();
    }
    w.post_message("take", {a.port2()});          // kept by w, never started
    c.port1().post_message("inner", {b.port2()}); // b.port2 inside c.port2
    a.port1().post_message("outer", {c.port2()}); // c.port2 inside a.port2
    w.post_message("end");
  });
  CHECK(
    sorted(h.log.lines())
    == lines{"a.port1 got close", "b.port1 got close", "c.port1 got close"});
  CHECK(h.drops(drop_reason::context_gone) == 2);
  CHECK(h.rt->drops().total() == 2);
  h.require_clean();
}
