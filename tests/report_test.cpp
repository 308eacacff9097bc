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

/// Runs `fn` with stderr going to a file; returns what was written.
template <class F>
std::string capture_stderr(F fn) {
  std::fflush(stderr);
  auto* tmp = std::tmpfile();
  int saved = dup(STDERR_FILENO);
  dup2(fileno(tmp), STDERR_FILENO);
  fn();
  std::fflush(stderr);
  dup2(saved, STDERR_FILENO);
  close(saved);
  std::string out;
  std::rewind(tmp);
  char buf[512];
  while (auto n = std::fread(buf, 1, sizeof buf, tmp))
    out.append(buf, n);
  std::fclose(tmp);
  return out;
}

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
