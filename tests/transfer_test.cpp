// SEMANTICS §6: transfer steps and what follows from them (the §7 ordering
// guarantees that rely on them are in ordering_test.cpp).
//
// Context code never asserts (Catch2 is not thread-safe): it records into
// h.log, and the test body checks after the run.

#include <memory>

#include "support.hpp"

using namespace entangle;
using namespace entangle::test;

namespace {

/// A worker that starts every port it receives and logs
/// "<name> got <label>" for each event on it; it ends itself on "end".
init_function collector(journal& log, std::string name) {
  return [&log, name](context& self) {
    self.on_message([&log, name](message_event& ev) {
      for (auto& p : ev.ports) {
        p.on_close(
          [&log, name](message_event&) { log.add(name + " got close"); });
        p.on_message([&log, name](message_event& m) {
          log.add(name + " got " + label(m));
          if (label(m) == "end")
            this_context().close();
        });
      }
    });
  };
}

} // namespace

// -- 6.1 transfer steps (sender side) -----------------------------------------

TEST_CASE("6.1 a transfer detaches every handle to the port in the sender at "
          "once, and only that port",
          "[sem6]") {
  harness h;
  h.run([&](context& page) {
    message_channel ch;
    auto w = page.spawn("w", [&](context& self) {
      self.on_message([&](message_event& ev) {
        h.log.set("received.detached", yes_no(ev.ports.at(0).detached()));
        this_context().close();
      });
    });
    message_port copy1 = ch.port2();
    message_port copy2 = copy1;
    w.post_message("take", {ch.port2()});
    h.log.set("copy1.detached", yes_no(copy1.detached()));
    h.log.set("copy2.detached", yes_no(copy2.detached()));
    h.log.set("copy2.closed", yes_no(copy2.closed()));
    h.log.set("peer.detached", yes_no(ch.port1().detached()));
  });
  CHECK(h.log.get("copy1.detached") == "yes");
  CHECK(h.log.get("copy2.detached") == "yes");
  CHECK(h.log.get("copy2.closed") == "no");
  CHECK(h.log.get("peer.detached") == "no");
  CHECK(h.log.get("received.detached") == "no");
  h.require_clean();
}

// -- 6.2 transfer-receiving steps ---------------------------------------------

TEST_CASE("6.2 a received port starts disabled even when the sent port was "
          "started, and is entangled with the sender's former peer",
          "[sem6]") {
  harness h;
  h.run([&](context& page) {
    message_channel ch;
    auto w = page.spawn("w", [&](context& self) {
      self.on_message([&](message_event& ev) {
        auto p = ev.ports.at(0);
        h.log.add("w: started=" + yes_no(p.started()));
        p.add_event_listener("message", [&, p](message_event& m) {
          h.log.add("w got " + label(m));
          p.post_message("reply");
        });
        this_context().queue_task([&, p] {
          h.log.add("w: task before start");
          p.start();
        });
      });
    });
    ch.port2().on_message(
      [&](message_event& m) { h.log.add("page port2 got " + label(m)); });
    ch.port1().on_message([&](message_event& m) {
      h.log.add("page got " + label(m));
      this_context().close();
    });
    w.post_message("take", {ch.port2()});
    ch.port1().post_message("held");
  });
  CHECK(h.log.lines()
        == lines{"w: started=no", "w: task before start", "w got held",
                 "page got reply"});
  h.require_clean();
}

// -- 6.3 consequences: queues move with the port ------------------------------

TEST_CASE("6.3 undelivered messages of a started port move with it when it is "
          "transferred from its own handler",
          "[sem6]") {
  harness h;
  h.run([&](context& page) {
    message_channel ch;
    auto w = page.spawn("w", collector(h.log, "w"));
    auto p2 = ch.port2();
    p2.on_message([&, w, p2](message_event& m) {
      h.log.add("page got " + label(m));
      w.post_message("take", {p2});
    });
    for (auto s : {"m0", "m1", "m2", "m3", "end"})
      ch.port1().post_message(s);
  });
  CHECK(
    h.log.lines()
    == lines{"page got m0", "w got m1", "w got m2", "w got m3", "w got end"});
  h.require_clean_exits();
  CHECK(h.drops(drop_reason::closed) == 0);
  h.check_no_leaks();
}

TEST_CASE("6.3 messages the peer posts while the port is in flight go to the "
          "new owner in order",
          "[sem6]") {
  // The port travels inside a message that sits unread in a disabled
  // carrier port, so it is certainly in flight while the peer posts.
  harness h;
  h.run([&](context& page) {
    message_channel ch;
    message_channel carrier;
    auto w = page.spawn("w", [&](context& self) {
      self.on_message([&](message_event& ev) {
        auto c = ev.ports.at(0);
        c.on_message([&](message_event& m) {
          h.log.add("w carrier got " + label(m));
          auto p = m.ports.at(0);
          p.on_message([&](message_event& x) {
            h.log.add("w got " + label(x));
            if (label(x) == "end")
              this_context().close();
          });
        });
      });
    });
    ch.port1().post_message("before");
    carrier.port1().post_message("port", {ch.port2()});
    ch.port1().post_message("during 1");
    ch.port1().post_message("during 2");
    w.post_message("carrier", {carrier.port2()});
    ch.port1().post_message("after");
    ch.port1().post_message("end");
  });
  CHECK(h.log.lines()
        == lines{"w carrier got port", "w got before", "w got during 1",
                 "w got during 2", "w got after", "w got end"});
  h.require_clean();
}

TEST_CASE("6.3 outgoing messages from successive owners arrive in order "
          "(First..Fourth through a chain of workers)",
          "[sem6]") {
  harness h;
  h.run([&](context& page) {
    message_channel ch;
    ch.port1().on_message([&](message_event& m) {
      h.log.add(label(m));
      if (label(m) == "Fourth")
        this_context().close();
    });
    auto w1 = page.spawn("owner2", [&](context& self) {
      self.on_message([&](message_event& ev) {
        auto p = ev.ports.at(0);
        p.post_message("Second");
        p.post_message("Third");
        auto w2 = this_context().spawn("owner3", [&](context& inner) {
          inner.on_message([&](message_event& e) {
            e.ports.at(0).post_message("Fourth");
            this_context().close();
          });
        });
        w2.post_message("take", {p});
      });
    });
    ch.port2().post_message("First");
    w1.post_message("take", {ch.port2()});
  });
  CHECK(h.log.lines() == lines{"First", "Second", "Third", "Fourth"});
  h.require_clean_exits();
  CHECK(h.rt->exits().size() == 3);
  h.check_no_leaks();
}

TEST_CASE("6.3 both ends transferred in separate messages to different "
          "contexts re-form the pair with messages before, during and after",
          "[sem6]") {
  harness h;
  h.run([&](context& page) {
    message_channel ch;
    message_channel carrier; // holds port2 in flight until A has posted
    auto end_a = page.spawn("A", [&](context& self) {
      self.on_message([&](message_event& ev) {
        auto p = ev.ports.at(0);
        p.on_message([&, p](message_event& m) {
          h.log.add("A got " + label(m));
          if (label(m) == "b3") {
            p.post_message("a4 (after both moves)");
            this_context().close();
          }
        });
        p.post_message("a2 (B in flight)");
        p.post_message("a3 (B in flight)");
        this_context().post_message("posted");
      });
    });
    auto end_b = page.spawn("B", [&](context& self) {
      self.on_message([&](message_event& ev) {
        auto c = ev.ports.at(0);
        c.on_message([&](message_event& m) {
          auto p = m.ports.at(0);
          p.on_close([&](message_event&) {
            h.log.add("B got close");
            this_context().close();
          });
          p.on_message([&, p](message_event& x) {
            h.log.add("B got " + label(x));
            if (label(x) == "a3 (B in flight)") {
              p.post_message("b2");
              p.post_message("b3");
            }
          });
        });
      });
    });
    ch.port1().post_message("a1 (before)");
    ch.port2().post_message("b1 (before)");
    carrier.port1().post_message("port", {ch.port2()});
    end_a.post_message("take", {ch.port1()});
    end_a.on_message([end_b, c2 = carrier.port2()](message_event&) {
      end_b.post_message("carrier", {c2});
    });
  });
  auto all = h.log.lines();
  lines a, b;
  for (auto& l : all)
    (l.rfind("A ", 0) == 0 ? a : b).push_back(l);
  CHECK(a == lines{"A got b1 (before)", "A got b2", "A got b3"});
  CHECK(b
        == lines{"B got a1 (before)", "B got a2 (B in flight)",
                 "B got a3 (B in flight)", "B got a4 (after both moves)",
                 "B got close"});
  h.require_clean();
}

TEST_CASE("6.3 both ends transferred in one message arrive entangled with "
          "each other, their queues intact",
          "[sem6]") {
  harness h;
  h.run([&](context& page) {
    message_channel ch;
    auto w = page.spawn("w", [&](context& self) {
      self.on_message([&](message_event& ev) {
        auto seen = std::make_shared<int>(0);
        for (auto i : {0, 1}) {
          auto name = std::string{i == 0 ? "port1" : "port2"};
          ev.ports.at(i).on_message([&, seen, name](message_event& m) {
            h.log.add(name + " got " + label(m));
            if (++*seen == 4)
              this_context().close();
          });
        }
        ev.ports.at(0).post_message("to 2 after");
        ev.ports.at(1).post_message("to 1 after");
      });
    });
    ch.port1().post_message("to 2 before");
    ch.port2().post_message("to 1 before");
    w.post_message("pair", {ch.port1(), ch.port2()});
  });
  auto got = h.log.lines();
  lines one, two;
  for (auto& l : got)
    (l.rfind("port1", 0) == 0 ? one : two).push_back(l);
  CHECK(one == lines{"port1 got to 1 before", "port1 got to 1 after"});
  CHECK(two == lines{"port2 got to 2 before", "port2 got to 2 after"});
  h.require_clean();
}

// -- 6.4 the sender-side object after a transfer ------------------------------

TEST_CASE("6.4 a message posted on the sender's handle after the transfer is "
          "never delivered and is counted as detached",
          "[sem6]") {
  harness h;
  h.run([&](context& page) {
    message_channel ch;
    auto w = page.spawn("w", [&](context& self) {
      self.on_message([&](message_event& ev) {
        ev.ports.at(0).post_message("from new owner");
      });
    });
    ch.port1().on_message([&](message_event& m) {
      h.log.add("port1 got " + label(m));
      this_context().close();
    });
    w.post_message("take", {ch.port2()});
    ch.port2().post_message("ghost");
    ch.port2().post_message("ghost");
  });
  CHECK(h.log.lines() == lines{"port1 got from new owner"});
  CHECK(h.drops(drop_reason::detached) == 2);
  h.require_clean();
}

TEST_CASE("6.4 start, close and handlers on a transferred-away handle have no "
          "effect on the port or its peer",
          "[sem6]") {
  harness h;
  h.run([&](context& page) {
    message_channel ch;
    auto w = page.spawn("w", [&](context& self) {
      self.on_message([&](message_event& ev) {
        auto p = ev.ports.at(0);
        p.on_close([&](message_event&) { h.log.add("w got close"); });
        p.on_message([&, p](message_event& m) {
          h.log.add("w got " + label(m));
          p.post_message("pong");
        });
      });
    });
    auto old = ch.port2();
    w.post_message("take", {old});
    old.on_message([&](message_event& m) { h.log.add("ghost " + label(m)); });
    old.on_close([&](message_event&) { h.log.add("ghost close"); });
    old.start();
    old.close();
    h.log.add("old still detached: " + yes_no(old.detached()));
    ch.port1().on_close([&](message_event&) { h.log.add("port1 got close"); });
    auto port1 = ch.port1();
    port1.on_message([&, port1](message_event& m) {
      h.log.add("port1 got " + label(m));
      port1.close();
      this_context().close();
    });
    ch.port1().post_message("ping");
  });
  // No close reached port1 from old.close(); the conversation went on; the
  // worker got close only from port1's real close().
  CHECK(h.log.lines()
        == lines{"old still detached: yes", "w got ping", "port1 got pong",
                 "w got close"});
  h.require_clean();
}

// -- 6.5 port identity --------------------------------------------------------

TEST_CASE("6.5 a port that comes back to its former context is a new object",
          "[sem6]") {
  harness h;
  h.run([&](context& page) {
    message_channel ch;
    auto w = page.spawn("w", [&](context& self) {
      self.on_message([&](message_event& ev) {
        this_context().post_message(ev.ports.at(0), {ev.ports.at(0)});
      });
    });
    auto old = ch.port2();
    w.on_message([&, old, p1 = ch.port1()](message_event& ev) {
      auto back = ev.ports.at(0);
      h.log.set("same object", yes_no(back == old));
      h.log.set("data is the port", yes_no(ev.data == value{back}));
      h.log.set("old detached", yes_no(old.detached()));
      h.log.set("back detached", yes_no(back.detached()));
      h.log.set("back started", yes_no(back.started()));
      back.on_message([&](message_event& m) {
        h.log.set("back got", label(m));
        this_context().close();
      });
      p1.post_message("hi");
    });
    w.post_message("take", {old});
  });
  CHECK(h.log.get("same object") == "no");
  CHECK(h.log.get("data is the port") == "yes");
  CHECK(h.log.get("old detached") == "yes");
  CHECK(h.log.get("back detached") == "no");
  CHECK(h.log.get("back started") == "no");
  CHECK(h.log.get("back got") == "hi");
  h.require_clean();
}
