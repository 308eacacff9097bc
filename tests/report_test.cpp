// Errors you can see and "why is it still running?" (issue #19, points 4
// and 5): uncaught exceptions reach the runtime's hook, the creator's error
// event, or stderr; silent no-ops on inert ports say why once; and the
// runtime reports, per live context, what keeps it alive.

#include <unistd.h>

#include <cstdio>
#include <memory>
#include <mutex>

#include "support.hpp"

#include <entangle/testing/testkit.hpp>

using namespace entangle;
using namespace entangle::test;
using entangle::testing::testkit;

namespace {

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

std::string reasons_of(const std::vector<context_liveness>& all,
                       const std::string& name) {
  std::string out;
  for (auto& c : all)
    if (c.name == name)
      for (auto& r : c.reasons)
        out += r + "\n";
  return out;
}

} // namespace

TEST_CASE("an uncaught exception in a top-level context is printed with its "
          "name and what(); the runtime's hook takes it instead",
          "[report][context]") {
  auto printed = capture_stderr([] {
    testkit kit{[](runtime_config& cfg) { cfg.warnings = true; }};
    kit.spawn("svc", [](context&) { throw std::runtime_error("boom"); });
    kit.run();
  });
  CHECK(contains(printed, "entangle: uncaught exception in context 'svc'"));
  CHECK(contains(printed, "): boom"));
  std::vector<std::string> seen;
  auto quiet = capture_stderr([&] {
    testkit kit{[&](runtime_config& cfg) {
      cfg.warnings = true;
      cfg.on_error = [&](const context_error& e) {
        seen.push_back(e.name + ": " + e.what);
      };
    }};
    kit.spawn("svc", [](context&) { throw std::runtime_error("boom"); });
    kit.run();
  });
  CHECK(seen == lines{"svc: boom"});
  CHECK_FALSE(contains(quiet, "uncaught"));
}

TEST_CASE("a worker's uncaught exception is printed by its creator unless the "
          "worker object has an error listener",
          "[report][sem12]") {
  for (bool listen : {false, true}) {
    CAPTURE(listen);
    std::string got;
    auto printed = capture_stderr([&] {
      testkit kit{[](runtime_config& cfg) { cfg.warnings = true; }};
      kit.spawn("page", [&, listen](context& self) {
        auto w = self.spawn("w", [](context& me) {
          me.on_message([](message_event&) {
            throw std::runtime_error("worker failed");
          });
        });
        if (listen)
          w.on_error([&](message_event& ev) { got = ev.error; });
        w.add_event_listener("close", [](message_event&) {
          this_context().close();
        });
        w.post_message("go");
      });
      kit.run();
    });
    CHECK(contains(printed, "uncaught exception in worker 'w'") == !listen);
    CHECK(got == (listen ? "worker failed" : ""));
  }
}

TEST_CASE("posting on a transferred or closed port warns once per port; the "
          "drops are still counted",
          "[report][sem6][sem8]") {
  testkit kit{[](runtime_config& cfg) { cfg.warnings = true; }};
  auto printed = capture_stderr([&] {
    kit.spawn("main", [](context&) {
      message_channel a, b;
      b.port1().post_message("take", {a.port1()}); // a.port1 is transferred
      a.port1().post_message("lost 1");
      a.port1().post_message("lost 2");
      a.port2().close();
      a.port2().post_message("lost 3");
      a.port2().post_message("lost 4");
      close_all({b.port1(), b.port2()});
    });
    kit.run();
  });
  auto count = [&](const std::string& what) {
    std::size_t n = 0;
    for (auto at = printed.find(what); at != std::string::npos;
         at = printed.find(what, at + 1))
      ++n;
    return n;
  };
  CHECK(count("post_message on a port that was transferred away") == 1);
  CHECK(count("post_message on a port that was closed") == 1);
  CHECK(kit.drops()[drop_reason::detached] == 2);
  CHECK(kit.drops()[drop_reason::closed] >= 2);
}

TEST_CASE("why_alive names what keeps each context running, and what a "
          "window waits for in vain",
          "[report][context]") {
  testkit kit;
  message_port held_sender;
  kit.rt().open_window("page", "https://a.example", [&](context& self) {
    message_channel ch;
    ch.port2().add_event_listener("message", [](message_event&) {});
    ch.port1().post_message("never seen"); // port2 is never started
    held_sender = ch.port1();
    self.spawn("w", [](context& me) {
      message_channel mine;
      mine.port2().start(); // waits forever
      me.set_interval([] {}, std::chrono::hours{1});
    });
  });
  kit.run();
  auto all = kit.rt().why_alive();
  REQUIRE(all.size() == 2);
  auto page = reasons_of(all, "page");
  auto worker = reasons_of(all, "w");
  CHECK(contains(page, "a window: lives until it closes itself"));
  CHECK(contains(page, "holds 1 message but was never started"));
  CHECK(contains(page, "is running (its implicit port"));
  CHECK(contains(worker, "is started and waits for messages"));
  CHECK(contains(worker, "1 pending timer"));
  CHECK(contains(worker, "its creator is alive"));
  auto text = kit.rt().describe_live();
  CHECK(contains(text, "window 'page'"));
  CHECK(contains(text, "worker 'w'"));
  kit.rt().stop();
  CHECK(kit.live_contexts() == 0);
}

TEST_CASE("run_for prints why contexts are still running when it times out",
          "[report][context]") {
  runtime_config cfg;
  cfg.warnings = true;
  runtime rt{cfg};
  rt.spawn("stuck", [](context&) {
    message_channel ch;
    ch.port2().start();
  });
  bool ended = true;
  auto printed = capture_stderr(
    [&] { ended = rt.run_for(std::chrono::milliseconds{50}); });
  CHECK_FALSE(ended);
  CHECK(contains(printed, "run_for: contexts still running"));
  CHECK(contains(printed, "context 'stuck'"));
  CHECK(contains(printed, "is started and waits for messages"));
  rt.stop();
}

// -- continue_after_exception: the web's "report an exception" ---------------

TEST_CASE("continue_after_exception: a worker whose handler throws reports "
          "the error at its creator's worker object and keeps answering",
          "[report][sem12]") {
  std::vector<std::string> seen;
  std::vector<context_error> hooked;
  auto printed = capture_stderr([&] {
    testkit kit{[&](runtime_config& cfg) {
      cfg.warnings = true;
      cfg.continue_after_exception = true;
    }};
    kit.spawn("page", [&](context& self) {
      auto w = self.spawn("w", [](context& me) {
        me.on_message([](message_event& ev) {
          if (ev.data.as_number() == 1)
            throw std::runtime_error("bad request 1");
          this_context().post_message(ev.data.as_number() * 10);
        });
      });
      w.on_error([&](message_event& ev) { seen.push_back("error " + ev.error); });
      w.on_message([&, w](message_event& ev) {
        seen.push_back("reply " + to_string(ev.data));
        w.terminate();
        this_context().close();
      });
      w.add_event_listener("close", [&](message_event&) {
        seen.push_back("close");
      });
      w.post_message(1); // throws in the worker
      w.post_message(2); // still answered: the worker kept running
    });
    kit.run();
    CHECK(kit.live_contexts() == 0);
    for (auto& e : kit.rt().exits())
      CHECK(e.kind != exit_kind::exception);
  });
  CHECK(seen == lines{"error bad request 1", "reply 20"});
  CHECK_FALSE(contains(printed, "uncaught")); // the creator listened
}

TEST_CASE("continue_after_exception: the global's error listener sees it "
          "first; prevent_default keeps it from the creator and stderr",
          "[report][sem12]") {
  for (bool cancel : {false, true}) {
    CAPTURE(cancel);
    std::vector<std::string> seen;
    auto printed = capture_stderr([&] {
      testkit kit{[](runtime_config& cfg) {
        cfg.warnings = true;
        cfg.continue_after_exception = true;
      }};
      kit.spawn("page", [&, cancel](context& self) {
        auto w = self.spawn("w", [&, cancel](context& me) {
          me.on_error([&, cancel](message_event& ev) {
            seen.push_back("global " + ev.error);
            if (cancel)
              ev.prevent_default();
          });
          me.on_message([](message_event&) {
            // The task still runs: the event loop goes on.
            this_context().queue_task([] { this_context().close(); });
            throw std::runtime_error("oops");
          });
        });
        w.add_event_listener("close", [&](message_event&) {
          seen.push_back("close");
          this_context().close();
        });
        w.post_message("go");
      });
      kit.run();
    });
    // Either way the worker ran on until its own close.
    CHECK(seen == lines{"global oops", "close"});
    // Not cancelled, and nobody listens at the worker object: printed.
    CHECK(contains(printed, "uncaught exception in worker 'w'") == !cancel);
  }
}

TEST_CASE("continue_after_exception: a top-level context keeps running after "
          "an exception in init or a handler; the hook sees each with "
          "ended == false; an error handler that throws ends it",
          "[report][context]") {
  std::vector<std::string> hooked;
  std::vector<std::string> handled;
  testkit kit{[&](runtime_config& cfg) {
    cfg.warnings = false;
    cfg.continue_after_exception = true;
    cfg.on_error = [&](const context_error& e) {
      hooked.push_back(e.what + (e.ended ? " (ended)" : " (running)"));
    };
  }};
  message_port outside;
  auto id = kit.rt().open_window("svc", "https://a.example",
                                 [&](context& self) {
    message_channel ch;
    outside = ch.port1();
    ch.port2().on_message([](message_event& ev) {
      if (ev.data.as_string() == "fail")
        throw std::runtime_error("handler failed");
    });
    self.on_error([&](message_event& ev) {
      handled.push_back(ev.error);
      if (ev.error == "handler failed")
        throw std::logic_error("the error handler failed too");
    });
    throw std::runtime_error("init failed"); // handlers above stay
  });
  kit.run();
  CHECK(hooked == lines{"init failed (running)"});
  CHECK(handled == lines{"init failed"});
  CHECK(kit.live_contexts() == 1); // a window: it lives on
  kit.inject(id, [&] { outside.post_message("fail"); });
  kit.run();
  CHECK(handled == lines{"init failed", "handler failed"});
  // The error handler threw while reporting: that one ends the context.
  REQUIRE(kit.rt().exits().size() == 1);
  CHECK(kit.rt().exits()[0].kind == exit_kind::exception);
  CHECK(kit.rt().exits()[0].what == "the error handler failed too");
  CHECK(hooked.size() == 3);
  CHECK(hooked.back() == "the error handler failed too (ended)");
}

TEST_CASE("continue_after_exception, threaded: a worker throwing on every "
          "other message answers all the others, in order",
          "[report][sem12]") {
  harness h{[](runtime_config& cfg) { cfg.continue_after_exception = true; }};
  constexpr int n = 200;
  auto replies = std::make_shared<std::vector<int>>();
  auto errors = std::make_shared<int>(0);
  h.run([=](context& self) {
    auto w = self.spawn("w", [](context& me) {
      me.on_message([](message_event& ev) {
        auto x = static_cast<int>(ev.data.as_number());
        if (x % 2 == 1)
          throw std::runtime_error("odd");
        this_context().post_message(x);
      });
    });
    w.on_error([errors](message_event&) { ++*errors; });
    w.on_message([=](message_event& ev) {
      replies->push_back(static_cast<int>(ev.data.as_number()));
      if (replies->size() == n / 2)
        this_context().close();
    });
    for (int i = 0; i < n; ++i)
      w.post_message(i);
  });
  std::vector<int> expected;
  for (int i = 0; i < n; i += 2)
    expected.push_back(i);
  CHECK(*replies == expected);
  CHECK(*errors <= n / 2); // the last ones may race the parent's end
  h.require_clean_exits();
  h.check_no_leaks();
}
