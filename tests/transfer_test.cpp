// SEMANTICS §6 (transfer steps and what follows from them) and §7 (ordering
// guarantees). Rows of the §7 table are numbered 7.1..7.7 in table order.
//
// Context code never asserts (Catch2 is not thread-safe): it records into
// h.log, and the test body checks after the run.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <thread>

#include "support.hpp"

using namespace entangle;
using namespace entangle::test;

namespace {


int num(const value& v) {
  return static_cast<int>(v.as_number());
}


/// A handler expecting the numbers 0..n-1 in order: sets `key` to "ok" or to
/// the first mismatch, and calls `then` after the n-th message.
event_handler expect_sequence(journal& log, std::string key, int n,
                              std::function<void()> then) {
  return [&log, key, n, then, next = 0](message_event& ev) mutable {
    if (num(ev.data) != next && log.get(key) == "<unset>")
      log.set(key, "mismatch at " + std::to_string(next));
    if (++next == n) {
      if (log.get(key) == "<unset>")
        log.set(key, "ok");
      then();
    }
  };
}

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

// -- 7 ordering guarantees ----------------------------------------------------

namespace {

/// Shared state of the FIFO stress test.
struct fifo_run {
  journal& log;
  int n;
  int hop;
  std::atomic<int> receiver_moves{0};
  std::atomic<int> sender_moves{0};
};

using ship_fn = std::function<void(int next, message_port p)>;

/// Starts `port` here and checks it delivers expected, expected+1, ...;
/// after `hop` messages hands it on with `ship`; at `n` closes it and calls
/// `done`. Records only the first mismatch.
void receive_numbers(fifo_run& run, message_port port, int expected,
                     ship_fn ship, std::function<void()> done) {
  struct state {
    int expected;
    int taken = 0;
  };
  auto st = std::make_shared<state>(state{expected});
  port.on_message([&run, st, port, ship, done](message_event& ev) {
    int got = num(ev.data);
    if (got != st->expected && run.log.get("mismatch") == "<unset>")
      run.log.set("mismatch", "expected " + std::to_string(st->expected)
                                + ", got " + std::to_string(got));
    ++st->expected;
    if (st->expected == run.n) {
      run.log.set("received", std::to_string(st->expected));
      port.close();
      done();
    } else if (++st->taken == run.hop) {
      ++run.receiver_moves;
      ship(st->expected, port);
    }
  });
}

/// Posts numbers [next, stop) on `out`, `chunk` per task; then hands the
/// port back to the parent (unless everything was posted).
struct pump {
  fifo_run* run;
  message_port out;
  int next;
  int stop;
  void operator()() {
    for (int i = 0; i < 50 && next < stop; ++i)
      out.post_message(next++);
    if (next == run->n)
      return;
    if (next == stop) {
      ++run->sender_moves;
      this_context().post_message(next, {out});
      return;
    }
    this_context().queue_task(*this);
  }
};

} // namespace

TEST_CASE("7.1 per-port FIFO holds for 10000 messages while both ends hop "
          "between contexts hundreds of times",
          "[sem7][sem6]") {
  constexpr int sender_hop = 1000;
  harness h;
  fifo_run run{h.log, 10000, 40};
  h.run([&](context& page) {
    message_channel ch;
    auto bouncers = std::make_shared<std::vector<worker>>();
    auto senders = std::make_shared<std::vector<worker>>();
    auto rr = std::make_shared<int>(0);
    ship_fn page_ship = [bouncers, rr](int next, message_port p) {
      (*bouncers)[(*rr)++ % bouncers->size()].post_message(next, {p});
    };
    auto page_done = [] { this_context().close(); };
    for (int i = 0; i < 3; ++i) {
      auto w = page.spawn("bouncer", [&run](context& self) {
        self.on_message([&run](message_event& ev) {
          receive_numbers(
            run, ev.ports.at(0), num(ev.data),
            [](int next, message_port p) {
              this_context().post_message(next, {p});
            },
            [] { this_context().post_message("finished"); });
        });
      });
      w.on_message([&run, page_ship, page_done](message_event& ev) {
        if (ev.ports.empty()) // "finished"
          this_context().close();
        else
          receive_numbers(run, ev.ports[0], num(ev.data), page_ship, page_done);
      });
      bouncers->push_back(w);
    }
    for (int i = 0; i < 2; ++i) {
      auto s = page.spawn("sender", [&run](context& self) {
        self.on_message([&run](message_event& ev) {
          int next = num(ev.data);
          pump{&run, ev.ports.at(0), next,
               std::min(next + sender_hop, run.n)}();
        });
      });
      s.on_message([senders, i](message_event& ev) {
        (*senders)[1 - i].post_message(ev.data, {ev.ports.at(0)});
      });
      senders->push_back(s);
    }
    (*senders)[0].post_message(0, {ch.port1()});
    receive_numbers(run, ch.port2(), 0, page_ship, page_done);
  });
  CHECK(h.log.get("mismatch") == "<unset>");
  CHECK(h.log.get("received") == "10000");
  CHECK(run.receiver_moves == 10000 / 40 - 1);
  CHECK(run.sender_moves == 10000 / sender_hop - 1);
  CHECK(h.rt->drops().total() == 0);
  h.require_clean();
}

TEST_CASE("7.1 a worker's implicit ports are FIFO in both directions",
          "[sem7]") {
  constexpr int n = 2000;
  harness h;
  h.run([&](context& page) {
    auto w = page.spawn("w", [&](context& self) {
      self.on_message(
        expect_sequence(h.log, "worker", n, [] { this_context().close(); }));
      for (int i = 0; i < n; ++i)
        self.post_message(i);
    });
    w.on_message(expect_sequence(h.log, "parent", n, [] {}));
    for (int i = 0; i < n; ++i)
      w.post_message(i);
  });
  CHECK(h.log.get("worker") == "ok");
  CHECK(h.log.get("parent") == "ok");
  h.require_clean();
}

TEST_CASE("7.2 messages held by a disabled port are delivered in posting order "
          "after start(), before later ones",
          "[sem7]") {
  constexpr int n = 1000;
  harness h;
  h.run([&](context&) {
    message_channel ch;
    for (int i = 0; i < n / 2; ++i)
      ch.port1().post_message(i);
    this_context().queue_task([&, ch] {
      ch.port2().on_message(
        expect_sequence(h.log, "result", n, [] { this_context().close(); }));
      for (int i = n / 2; i < n; ++i)
        ch.port1().post_message(i);
    });
  });
  CHECK(h.log.get("result") == "ok");
  h.require_clean();
}

TEST_CASE("7.3 never-shipped started ports of one context deliver in global "
          "posting order",
          "[sem7]") {
  harness h;
  h.run([&](context&) {
    message_channel a, b, c;
    for (auto* ch : {&a, &b, &c})
      ch->port2().on_message([&](message_event& m) {
        h.log.add(label(m));
        if (label(m) == "c3")
          this_context().close();
      });
    for (auto i : {"1", "2", "3"}) {
      a.port1().post_message(std::string{"a"} + i);
      b.port1().post_message(std::string{"b"} + i);
      c.port1().post_message(std::string{"c"} + i);
    }
  });
  CHECK(h.log.lines()
        == lines{"a1", "b1", "c1", "a2", "b2", "c2", "a3", "b3", "c3"});
  h.require_clean();
}

TEST_CASE("7.3 never-shipped ports enabled together deliver their held "
          "messages in global posting order",
          "[sem7]") {
  // SEMANTICS §1.3: once enabled, unshipped ports form one task source
  // ordered by the time each task was added to its port's queue.
  harness h;
  h.run([&](context&) {
    message_channel a, b;
    for (auto i : {"1", "2"}) {
      a.port1().post_message(std::string{"a"} + i);
      b.port1().post_message(std::string{"b"} + i);
    }
    for (auto* ch : {&a, &b})
      ch->port2().on_message([&](message_event& m) {
        h.log.add(label(m));
        if (h.log.lines().size() == 4)
          this_context().close();
      });
  });
  CHECK(h.log.lines() == lines{"a1", "b1", "a2", "b2"});
  h.require_clean();
}
