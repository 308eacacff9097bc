// Orderly shutdown (issue #19, point 3): a parent's normal end lets its
// dedicated workers finish what is already queued to them (HTML's closing
// flag: queued tasks are unaffected, new ones are discarded); a crash or
// terminate() still takes them down at once; runtime::stop() returns once
// every context ended; runtime::shutdown(grace) drains, then terminates.

#include <atomic>
#include <thread>
#include <memory>

#include "support.hpp"

#include <entangle/testing/testkit.hpp>

using namespace entangle;
using namespace entangle::test;
using entangle::testing::testkit;

namespace {

/// The MDN hand-a-port-then-talk pattern with a quick end: the parent
/// hands each worker one end of a fresh channel with a first message,
/// posts "cancel" on the end it keeps and closes itself, all in one task.
/// Returns how many cancels arrived.
int hand_post_close(int workers, bool crash_parent = false) {
  harness h;
  std::atomic<int> cancels{0};
  h.run([&](context& parent) {
    for (int i = 0; i < workers; ++i) {
      auto w = parent.spawn("w", [&cancels](context& self) {
        self.on_message([&cancels](message_event& ev) {
          auto port = ev.ports.at(0);
          port.on_message([&cancels](message_event& m) {
            if (m.data.as_string() == "cancel")
              ++cancels;
          });
        });
      });
      message_channel ch;
      w.post_message("job", {ch.port2()});
      ch.port1().post_message("cancel");
    }
    if (crash_parent)
      throw std::runtime_error("parent crashed");
    this_context().close();
  });
  h.check_no_leaks();
  return cancels.load();
}

} // namespace

TEST_CASE("12.5 a parent that hands each worker a port, posts on its end and "
          "closes itself in one task loses none of those posts (50 threaded "
          "runs of 6 workers)",
          "[sem12][shutdown]") {
  int got = 0;
  for (int run = 0; run < 50; ++run)
    got += hand_post_close(6);
  CHECK(got == 300);
}

TEST_CASE("12.5 the same protocol with one worker, 200 threaded runs",
          "[sem12][shutdown]") {
  int got = 0;
  for (int run = 0; run < 200; ++run)
    got += hand_post_close(1);
  CHECK(got == 200);
}

TEST_CASE("12.5 a parent that crashes takes its workers down at once "
          "(terminated, not drained)",
          "[sem12][shutdown]") {
  harness h;
  h.run([&](context& parent) {
    for (int i = 0; i < 3; ++i) {
      auto w = parent.spawn("w", [](context& self) {
        self.on_message([](message_event& ev) { ev.ports.at(0).start(); });
      });
      message_channel ch;
      w.post_message("job", {ch.port2()});
    }
    throw std::runtime_error("parent crashed");
  });
  auto counts = h.rt->exit_counts();
  CHECK(counts[static_cast<std::size_t>(exit_kind::exception)] == 1);
  CHECK(counts[static_cast<std::size_t>(exit_kind::terminated)] == 3);
  CHECK(counts[static_cast<std::size_t>(exit_kind::normal)] == 0);
  h.check_no_leaks();
}

TEST_CASE("12.5 a draining worker dispatches what was queued, discards new "
          "tasks and timers, and drops what arrives later (context_gone)",
          "[sem12][shutdown][testkit]") {
  // K hands a port to its worker P, which hands it on to its own worker W
  // and closes itself: W drains. W's handler answers K, and K's echo
  // arrives after the drain began: dropped when W ends.
  testkit kit;
  auto log = std::make_shared<lines>();
  kit.spawn("K", [log](context& k) {
    message_channel ch;
    auto p = k.spawn("P", [](context& self) {
      self.on_message([](message_event& ev) {
        auto w = this_context().spawn("W", [](context& me) {
          me.on_message([](message_event& job) {
            auto port = job.ports.at(0);
            // Started from a task queued before P's end is seen, so the
            // message is dispatched while W drains (the testkit's order).
            this_context().queue_task([port] {
              port.on_message([port](message_event& m) {
                auto log = std::string{"W got "} + label(m);
                port.post_message(log);
                this_context().queue_task(
                  [port] { port.post_message("task"); });
                this_context().set_timeout(
                  [port] { port.post_message("timer"); },
                  std::chrono::milliseconds{0});
              });
            });
          });
        });
        w.post_message("job", {ev.ports.at(0)});
        this_context().close(); // a normal end: W finishes what is queued
      });
    });
    p.post_message("port", {ch.port2()});
    auto mine = ch.port1();
    mine.on_message([log, mine](message_event& m) {
      log->push_back(label(m));
      mine.post_message("echo"); // reaches W after its drain began
    });
    mine.on_close([log](message_event&) {
      log->push_back("close");
      this_context().close();
    });
    mine.post_message("queued before the end");
  });
  kit.run();
  CHECK(*log == lines{"W got queued before the end", "close"});
  CHECK(kit.drops()[drop_reason::context_gone] == 1); // the echo
  CHECK(kit.live_contexts() == 0);
  CHECK(kit.live_ports() == 0);
  auto counts = kit.rt().exit_counts();
  CHECK(counts[static_cast<std::size_t>(exit_kind::normal)] == 3);
}

TEST_CASE("runtime::stop() returns once every context ended",
          "[shutdown][context]") {
  runtime_config cfg;
  cfg.warnings = false;
  runtime rt{cfg};
  for (int i = 0; i < 4; ++i)
    rt.spawn("forever", [](context& self) {
      message_channel ch;
      ch.port1().start(); // waits for messages forever
      self.spawn("child", [](context& c) {
        c.set_interval([] {}, std::chrono::milliseconds{1});
      });
    });
  rt.stop();
  CHECK(rt.live_contexts() == 0);
  CHECK(rt.live_ports() == 0);
}

TEST_CASE("runtime::shutdown(grace) lets queues drain, terminates what is "
          "left, and reports both",
          "[shutdown][context]") {
  runtime_config cfg;
  cfg.warnings = false;
  runtime rt{cfg};
  std::atomic<int> got{0};
  std::atomic<bool> spawned{false};
  rt.spawn("consumer", [&](context& self) {
    message_channel ch;
    auto mine = ch.port2();
    mine.on_message([&](message_event&) { ++got; });
    // A producer that has queued 1000 messages by the time we shut down,
    // then keeps posting from a timer (new work: refused).
    self.spawn("producer", [](context& p) {
      p.on_message([](message_event& ev) {
        auto port = ev.ports.at(0);
        for (int i = 0; i < 1000; ++i)
          port.post_message(i);
        this_context().set_interval([port] { port.post_message(-1); },
                                    std::chrono::milliseconds{1});
      });
    }).post_message("go", {ch.port1()});
    spawned = true;
  });
  while (!spawned)
    std::this_thread::yield();
  // Let the producer post its 1000 (they are queued for the consumer or
  // already dispatched) before shutting down.
  while (got < 1000 && rt.live_contexts() > 0)
    std::this_thread::sleep_for(std::chrono::milliseconds{1});
  auto report = rt.shutdown(std::chrono::seconds{10});
  CHECK(got >= 1000);
  CHECK(report.finished == 2);
  CHECK(report.terminated == 0);
  CHECK(rt.live_contexts() == 0);
  CHECK(rt.live_ports() == 0);
}

TEST_CASE("runtime::shutdown terminates a context that cannot finish within "
          "the grace period",
          "[shutdown][context]") {
  runtime_config cfg;
  cfg.warnings = false;
  runtime rt{cfg};
  std::atomic<bool> busy{false};
  rt.spawn("busy", [&](context& self) {
    self.queue_task([&] {
      busy = true;
      // A long task: the drain cannot finish before the deadline (the
      // context ends when the task returns and the kill is seen).
      std::this_thread::sleep_for(std::chrono::milliseconds{300});
    });
  });
  while (!busy)
    std::this_thread::yield();
  auto report = rt.shutdown(std::chrono::milliseconds{20});
  CHECK(report.terminated == 1);
  CHECK(rt.live_contexts() == 0);
}

TEST_CASE("runtime::shutdown from inside a context is an InvalidStateError",
          "[shutdown][context]") {
  harness h;
  std::string error;
  runtime* rt = h.rt.get();
  h.run([&](context&) {
    try {
      rt->shutdown(std::chrono::milliseconds{1});
    } catch (const dom_exception& e) {
      error = e.name();
    }
  });
  CHECK(error == "InvalidStateError");
}
