// Conformance tests for SEMANTICS §12.1-12.5 (dedicated workers): the
// implicit port pair, enabling after init, close(), terminate(), the end of
// a worker, and the error event at the worker object.

#include <memory>

#include "support.hpp"

#include <entangle/testing/catch.hpp>
#include <entangle/testing/explore.hpp>
#include <entangle/testing/testkit.hpp>

using namespace entangle;
using namespace entangle::test;
using entangle::testing::explore;
using entangle::testing::testkit;
using std::chrono::hours;
using std::chrono::milliseconds;

TEST_CASE("12.1 worker.post_message and the worker's own post_message are an "
          "implicit port pair: FIFO both ways, origin \"\", no source",
          "[sem12]") {
  harness h;
  h.run([&](context& page) {
    auto w = page.spawn("w", [&](context& self) {
      self.on_message([&](message_event& ev) {
        h.log.add("w got " + label(ev));
        this_context().post_message(ev.data);
      });
    });
    auto n = std::make_shared<int>(0);
    w.on_message([&, n](message_event& ev) {
      h.log.add("page got " + label(ev));
      if (!ev.origin.empty() || ev.source.index() != 0 || ev.target)
        h.log.add("unexpected event fields");
      if (++*n == 3)
        this_context().close();
    });
    for (auto s : {"1", "2", "3"})
      w.post_message(s);
  });
  // FIFO per direction; the two contexts' lines may interleave.
  lines w_lines, page_lines;
  for (auto& l : h.log.lines())
    (l.rfind("w ", 0) == 0 ? w_lines : page_lines).push_back(l);
  CHECK(w_lines == lines{"w got 1", "w got 2", "w got 3"});
  CHECK(page_lines == lines{"page got 1", "page got 2", "page got 3"});
  h.require_clean();
}

TEST_CASE("12.2 messages posted to a worker before its init finished are "
          "delivered after it, even to a listener that did not start anything",
          "[sem12]") {
  harness h;
  h.run([&](context& page) {
    auto w = page.spawn("w", [&](context& self) {
      h.log.add("init runs");
      // A listener, not on_message: the machinery still enables the port.
      self.add_event_listener("message", [&](message_event& ev) {
        h.log.add("w got " + label(ev));
        if (label(ev) == "m3")
          this_context().close();
      });
      h.log.add("init ends");
    });
    w.post_message("m1");
    w.post_message("m2");
    w.post_message("m3");
    this_context().close(); // posts already made still arrive
  });
  CHECK(h.log.lines()
        == lines{"init runs", "init ends", "w got m1", "w got m2",
                 "w got m3"});
  h.require_clean();
}

TEST_CASE("12.2 what a worker posts during its init reaches its creator only "
          "after that init ran",
          "[sem12]") {
  harness h;
  h.run([&](context& page) {
    auto w = page.spawn("w", [&](context& self) {
      self.post_message("from init");
      // Work after the post: the page must not see the message before this.
      h.log.add("worker init done");
      this_context().close();
    });
    w.on_message([&](message_event& ev) {
      h.log.add("page got " + label(ev));
      this_context().close();
    });
  });
  CHECK(h.log.lines() == lines{"worker init done", "page got from init"});
  h.require_clean();
}

TEST_CASE("12.3 a worker's close() discards its queued tasks and timers, and "
          "what it posts after close() still reaches its creator",
          "[sem12]") {
  harness h;
  h.run([&](context& page) {
    auto w = page.spawn("w", [&](context& self) {
      self.on_message([&](message_event&) {
        auto& me = this_context();
        me.queue_task([&] { h.log.add("task ran"); });
        me.set_timeout([&] { h.log.add("timer ran"); }, milliseconds{0});
        me.post_message("before close");
        me.close();
        me.post_message("after close");
      });
    });
    auto n = std::make_shared<int>(0);
    w.on_message([&, n](message_event& ev) {
      h.log.add("page got " + label(ev));
    });
    w.add_event_listener("close", [&](message_event&) {
      h.log.add("worker ended");
      this_context().close();
    });
    w.post_message("go");
  });
  CHECK(h.log.lines()
        == lines{"page got before close", "page got after close",
                 "worker ended"});
  h.require_clean();
}

TEST_CASE("12.4 terminate() drops the messages the worker posted that were not "
          "dispatched yet: no message event after terminate()",
          "[sem12]") {
  harness h;
  h.run([&](context& page) {
    auto w = page.spawn("w", [](context& self) {
      for (int i = 0; i < 100; ++i)
        self.post_message(i);
    });
    auto got = std::make_shared<int>(0);
    w.on_message([&, got, w](message_event&) {
      ++*got;
      w.terminate(); // the other 99 were already queued here
      h.log.set("got", std::to_string(*got));
      this_context().close();
    });
  });
  CHECK(h.log.get("got") == "1");
  CHECK(h.rt->drops().total() >= 99);
  bool terminated = false;
  for (auto& e : h.rt->exits())
    terminated |= e.name == "w" && e.kind == exit_kind::terminated;
  // The worker may have finished and closed itself before the kill landed.
  INFO("the worker ended as terminated, or normally if it was already done");
  CHECK((terminated || h.rt->exits().size() == 2));
  h.check_no_leaks();
}

TEST_CASE("12.4 posting to a terminated worker is a silent, counted drop",
          "[sem12][context]") {
  harness h;
  h.run([&](context& page) {
    auto w = page.spawn("w", [](context& self) {
      self.on_message([](message_event&) {});
    });
    w.terminate();
    w.post_message("into the void"); // no exception, counted
    w.terminate();                   // idempotent
    this_context().close();
  });
  CHECK(h.rt->drops()[drop_reason::closed] == 1);
  h.require_clean_exits();
  h.check_no_leaks();
}

TEST_CASE("12.5 a worker that ends closes all its ports, the implicit one "
          "included",
          "[sem12]") {
  harness h;
  h.run([&](context& page) {
    message_channel ch;
    auto w = page.spawn("w", [](context& self) {
      self.on_message([](message_event& ev) {
        ev.ports.at(0).post_message("last words");
        this_context().close();
      });
    });
    auto p1 = ch.port1();
    auto closes = std::make_shared<int>(0);
    auto done = [&, closes] {
      if (++*closes == 2)
        this_context().close();
    };
    p1.on_message([&](message_event& ev) { h.log.add("port1 got " + label(ev)); });
    p1.on_close([&, done](message_event&) {
      h.log.add("port1 got close");
      done();
    });
    w.add_event_listener("close", [&, done](message_event&) {
      h.log.add("worker object got close");
      done();
    });
    w.post_message("take", {ch.port2()});
  });
  auto got = h.log.lines();
  CHECK(got.size() == 3);
  CHECK(got.at(0) == "port1 got last words");
  CHECK(sorted({got.at(1), got.at(2)})
        == lines{"port1 got close", "worker object got close"});
  h.require_clean();
}

TEST_CASE("an exception escaping a worker's handler reaches its creator as an "
          "error event, before the worker's close",
          "[sem12][context]") {
  harness h;
  h.run([&](context& page) {
    auto w = page.spawn("w", [](context& self) {
      self.on_message(
        [](message_event& ev) { throw std::runtime_error(label(ev)); });
    });
    w.on_error([&](message_event& ev) {
      h.log.add("error: " + ev.error);
    });
    w.add_event_listener("close", [&](message_event&) {
      h.log.add("close");
      this_context().close();
    });
    w.post_message("boom");
  });
  CHECK(h.log.lines() == lines{"error: boom", "close"});
  h.check_no_leaks();
}

TEST_CASE("12.5 a chain of 20000 workers, each spawned by the one before, "
          "ends from the top down without exhausting the stack",
          "[sem12][context]") {
  // Each worker's control block named its parent strongly, so the last
  // worker's destruction released its parent, whose destruction released
  // the next... one set of stack frames per link (100 000 links crashed).
  constexpr int depth = 20000;
  harness h;
  std::atomic<int> bottom{0};
  struct chain {
    static void init(context& self, int left, std::atomic<int>& bottom) {
      if (left == 0) {
        bottom = 1;
        this_context().post_message("at the bottom"); // to its parent
        return;
      }
      auto next = self.spawn(
        "w", [left, &bottom](context& c) { init(c, left - 1, bottom); });
      next.on_message([](message_event& ev) { // pass it up
        this_context().post_message(std::move(ev.data));
      });
    }
  };
  h.run([&](context& top) {
    auto first = top.spawn(
      "w", [&bottom](context& c) { chain::init(c, depth - 1, bottom); });
    first.on_message([&h, first](message_event& ev) {
      h.log.add("top got " + label(ev));
      first.terminate(); // every worker below ends in turn
      this_context().close();
    });
  });
  CHECK(bottom == 1);
  CHECK(h.log.lines() == lines{"top got at the bottom"});
  auto ends = h.rt->exit_counts();
  // Terminating the first worker takes the chain down at once (orderly
  // shutdown is for a parent's normal end); counted past exits()' history.
  CHECK(ends[static_cast<std::size_t>(exit_kind::normal)] == 1); // the top
  CHECK(ends[static_cast<std::size_t>(exit_kind::exception)] == 0);
  CHECK(ends[static_cast<std::size_t>(exit_kind::terminated)] == depth);
  CHECK(h.rt->exits().size() == 1000); // runtime_config::exit_history
  h.check_no_leaks();
}

TEST_CASE("12.5 a context with many workers hears each one at its own worker "
          "object while others end around it, and its crash terminates the "
          "ones left",
          "[sem12][context]") {
  // The context finds a worker object by worker id (ready, error) and a
  // worker by its object's port (a port's end, the testkit's reports):
  // both through a table that drops ended workers as it goes.
  static constexpr int n = 60;
  harness h;
  h.run([&](context& page) {
    auto ws = std::make_shared<std::vector<worker>>();
    auto replies = std::make_shared<int>(0);
    auto errors = std::make_shared<int>(0);
    auto booms = std::make_shared<int>(0);
    for (int i = 0; i < n; ++i) {
      ws->push_back(page.spawn("w" + std::to_string(i), [i](context& self) {
        self.on_message([i](message_event& ev) {
          if (label(ev) == "boom")
            throw std::runtime_error("boom " + std::to_string(i));
          this_context().post_message(std::to_string(i) + ":" + label(ev));
        });
      }));
    }
    for (int i = 0; i < n; ++i) {
      auto& w = ws->at(static_cast<std::size_t>(i));
      w.on_message([&h, i, ws, replies, booms](message_event& ev) {
        h.log.add("w" + std::to_string(i) + " got " + label(ev));
        if (++*replies != n)
          return;
        // Every worker answered: end the even ones and 1 and 3 (half of
        // the table and then some), then make the rest throw, but two.
        for (int j = 0; j < n; ++j)
          if (j % 2 == 0 || j == 1 || j == 3)
            ws->at(static_cast<std::size_t>(j)).terminate();
        for (int j = 9; j < n; j += 2) {
          ws->at(static_cast<std::size_t>(j)).post_message("boom");
          ++*booms;
        }
        for (int j : {5, 7})
          ws->at(static_cast<std::size_t>(j)).post_message("still here");
      });
      w.on_error([&h, i, errors, booms](message_event& ev) {
        h.log.add("w" + std::to_string(i) + " error " + ev.error);
        if (++*errors == *booms)
          throw std::runtime_error("the page fails"); // takes 5 and 7 down
      });
      w.post_message("hi");
    }
  });
  auto got = h.log.lines();
  lines want;
  for (int i = 0; i < n; ++i)
    want.push_back("w" + std::to_string(i) + " got " + std::to_string(i)
                   + ":hi");
  for (int i = 9; i < n; i += 2)
    want.push_back("w" + std::to_string(i) + " error boom "
                   + std::to_string(i));
  // 5 and 7 may answer "still here" before the page fails, or not.
  lines seen;
  for (auto& line : got)
    if (line.find("still here") == std::string::npos)
      seen.push_back(line);
  CHECK(sorted(seen) == sorted(want));
  auto ends = h.rt->exit_counts();
  auto count = [&](exit_kind k) {
    return ends[static_cast<std::size_t>(k)];
  };
  CHECK(count(exit_kind::exception) == 1 + 26); // the page, 9, 11, ..., 59
  CHECK(count(exit_kind::terminated) == n / 2 + 2 + 2); // ended, then 5, 7
  CHECK(count(exit_kind::normal) == 0);
  h.check_no_leaks();
}

TEST_CASE("12.5 a context lets go of an ended worker's channel at once: a "
          "worker per job leaves no port behind while its creator lives; a "
          "kept worker object drops posts as context_gone, without a "
          "warning",
          "[sem12][context]") {
  // Each worker object's port used to stay open, with its channel and the
  // context's worker-table entry, until the creator itself ended (issue
  // #17: 264 B per job for a service that spawns a worker per job).
  static constexpr int jobs = 100;
  auto printed = capture_stderr([] {
    testkit kit{[](runtime_config& cfg) { cfg.warnings = true; }};
    auto results = std::make_shared<int>(0);
    auto kept = std::make_shared<worker>();
    auto late = std::make_shared<int>(0);
    kit.spawn("service", [results, kept, late](context& self) {
      message_channel ch;
      ch.port1().on_message([results](message_event&) { ++*results; });
      for (int i = 0; i < jobs; ++i) {
        // The job reports on a port of its own and ends; its worker object
        // is dropped at once, as a fire-and-forget job's is.
        message_channel reply;
        self.spawn("job", [](context& me) {
          me.on_message([](message_event& ev) {
            ev.ports.at(0).post_message("done");
            this_context().close();
          });
        }).post_message("go", {reply.port2()});
        reply.port1().on_message([results](message_event&) { ++*results; });
        // (a job that answers closes its end with its context: ours stays
        // open until we close it, as any port does)
        reply.port1().on_close([](message_event& ev) { ev.target.close(); });
      }
      *kept = self.spawn("kept", [](context& me) {
        me.post_message("bye");
        me.close();
      });
      kept->on_message([late](message_event&) { ++*late; });
      self.set_timeout([] {}, hours{1}); // the service lives on
    });
    kit.run();
    CHECK(*results == jobs);
    CHECK(*late == 1); // what the kept worker posted before it ended
    // Every job's and the kept worker's channel is gone; only the
    // service's own channel (both ends in the service) is left.
    CHECK(kit.live_ports() == 2);
    // The kept object: a post is dropped as context_gone (posted to a
    // context that ended), a handler set now never runs, and neither is a
    // misuse worth a warning (the user closed nothing).
    auto before = kit.drops();
    kit.inject("service", [kept, late] {
      kept->post_message("too late");
      kept->on_message([late](message_event&) { ++*late; });
    });
    kit.run();
    CHECK(kit.drops()[drop_reason::context_gone]
          == before[drop_reason::context_gone] + 1);
    CHECK(kit.drops().total() == before.total() + 1);
    CHECK(*late == 1);
  });
  CHECK(printed.find("closed") == std::string::npos);
  CHECK(printed.find("detached") == std::string::npos);
}

TEST_CASE("12.5 a worker that posts and then throws: its creator hears the "
          "messages, the error at the worker object and close, in every "
          "schedule, and then lets go of the worker's channel",
          "[sem12][context]") {
  // The worker reports its error to its creator's mailbox before its port
  // closes, but its messages and the close can reach the creator in one
  // batch ahead of the report (a wake-up for a message was pending): the
  // worker object must still be there for the error.
  auto result = explore([](testkit& kit) {
    auto heard = std::make_shared<std::vector<std::string>>();
    kit.spawn("page", [heard](context& page) {
      auto w = page.spawn("w", [](context& self) {
        self.on_message([](message_event& ev) {
          this_context().post_message("before " + label(ev));
          if (label(ev) == "2")
            throw std::runtime_error("boom");
        });
      });
      w.on_message([heard](message_event& ev) {
        heard->push_back(label(ev));
      });
      w.on_error([heard](message_event& ev) {
        heard->push_back("error " + ev.error);
      });
      w.add_event_listener("close", [heard](message_event&) {
        heard->push_back("close");
      });
      w.post_message("1");
      w.post_message("2");
      page.set_timeout([] {}, hours{1}); // lives on
    });
    kit.run();
    auto count = [&](const char* what) {
      return std::count(heard->begin(), heard->end(), what);
    };
    // The messages in order; the error and the close after the message
    // that threw, in an order that depends on the schedule.
    auto b1 = std::find(heard->begin(), heard->end(), "before 1");
    auto b2 = std::find(heard->begin(), heard->end(), "before 2");
    kit.require(heard->size() == 4 && b1 < b2 && count("error boom") == 1
                  && count("close") == 1,
                "heard the two messages, the error and close");
    kit.require(kit.live_ports() == 0, "the worker's channel is gone");
  });
  CHECK(result);
}
