// SEMANTICS §7: ordering guarantees, also while ports move between contexts.
// Rows of the §7 table are numbered 7.1..7.7 in table order (the transfer
// steps themselves, §6, are in transfer_test.cpp).
//
// Context code never asserts (Catch2 is not thread-safe): it records into
// h.log, and the test body checks after the run.

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

} // namespace

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

// -- the post stage (docs/architecture.md, "The post stage") -----------------
//
// A flood to a busy port goes over in groups of runtime_config::post_batch;
// none of that may show: FIFO and close-after-everything hold, across a
// transfer of the posting end too, with groups or without.

TEST_CASE("7.1 a flood to a busy port stays FIFO and whole, across a transfer "
          "of the posting end, and close comes after it, with post groups "
          "of 64, 5 or none",
          "[sem7][post_stage]") {
  constexpr int n = 20000;
  for (std::size_t batch : {64, 5, 1}) {
    INFO("post_batch " << batch);
    harness h{[batch](runtime_config& c) { c.post_batch = batch; }};
    h.run([&](context& page) {
      message_channel ch;
      // Posts from..to-1 on the port it is given, then hands the port on
      // (to the page, which gives it to the second poster) or closes it.
      auto poster = [](context& self) {
        self.on_message([](message_event& ev) {
          auto port = ev.ports.at(0);
          int from = num(ev.data);
          for (int i = from; i < from + n / 2; ++i)
            port.post_message(i);
          if (from == 0)
            this_context().post_message("half", {port});
          else
            port.close();
          this_context().close();
        });
      };
      auto first = page.spawn("poster1", poster);
      auto second = page.spawn("poster2", poster);
      first.on_message([second](message_event& ev) {
        second.post_message(n / 2, {ev.ports.at(0)});
      });
      auto got = std::make_shared<int>(0);
      ch.port2().on_message([&h, got](message_event& ev) {
        if (num(ev.data) != *got && h.log.get("mismatch") == "<unset>")
          h.log.set("mismatch", "at " + std::to_string(*got));
        ++*got;
      });
      ch.port2().on_close([&h, got](message_event&) {
        h.log.set("received before close", std::to_string(*got));
        this_context().close();
      });
      first.post_message(0, {ch.port1()});
    });
    CHECK(h.log.get("mismatch") == "<unset>");
    CHECK(h.log.get("received before close") == std::to_string(n));
    CHECK(h.rt->drops().total() == 0);
    h.require_clean();
  }
}

TEST_CASE("7.1 a post to another port comes after the ones staged before "
          "it: told on a second port, the receiver finds every earlier "
          "message received or queued",
          "[sem7][post_stage]") {
  constexpr int n = 500;
  constexpr int rounds = 20;
  harness h;
  // The poster stays in its turn until the receiver has looked (a spin on
  // this, not a message: the turn's end would hand the stage over too).
  auto checked = std::make_shared<std::atomic<int>>(0);
  h.run([&](context& page) {
    message_channel data, told;
    auto w = page.spawn("poster", [&h, checked](context& self) {
      self.on_message([&h, checked](message_event& ev) {
        auto data = ev.ports.at(0);
        auto told = ev.ports.at(1);
        for (int r = 0; r < rounds; ++r) {
          for (int i = 0; i < n; ++i)
            data.post_message(r * n + i);
          told.post_message(r);
          auto until = std::chrono::steady_clock::now() + std::chrono::seconds{10};
          while (checked->load() <= r) {
            if (std::chrono::steady_clock::now() > until) {
              h.log.set("timeout", std::to_string(r));
              break;
            }
            std::this_thread::yield();
          }
        }
        this_context().close();
      });
    });
    auto seen = std::make_shared<int>(0);
    data.port2().on_message([seen](message_event&) { ++*seen; });
    told.port2().on_message([&h, seen, data, checked](message_event& ev) {
      // Round r's messages were all posted before this one: what the
      // port has not dispatched yet must be in its queue now.
      int r = num(ev.data);
      while (receive_message_on_port(data.port2()))
        ++*seen;
      if (*seen < (r + 1) * n && h.log.get("short") == "<unset>")
        h.log.set("short", "round " + std::to_string(r) + ": "
                             + std::to_string(*seen));
      checked->store(r + 1);
      if (r == rounds - 1) {
        h.log.set("seen", std::to_string(*seen));
        this_context().close();
      }
    });
    w.post_message("go", {data.port1(), told.port1()});
  });
  CHECK(h.log.get("timeout") == "<unset>");
  CHECK(h.log.get("short") == "<unset>");
  CHECK(h.log.get("seen") == std::to_string(n * rounds));
  h.require_clean();
}
