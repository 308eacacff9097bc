// Public handles are safe anywhere (issue #19, point 6): a handle used in a
// context of another runtime, or after its runtime is gone, is inert and
// counted, never undefined behaviour (these cases were use-after-frees
// under ASan); ports do not move between runtimes. And the bookkeeping
// stays bounded (point 7).

#include <fstream>
#include <memory>

#include <malloc.h>

#include "support.hpp"

#include <entangle/testing/testkit.hpp>

using namespace entangle;
using namespace entangle::test;
using entangle::testing::testkit;

namespace {

/// A testkit whose first context keeps `port1` of a channel started (so
/// it lives) and hands both ends out.
struct kit_with_port {
  kit_with_port() : kit([](runtime_config& cfg) { cfg.warnings = false; }) {
    id = kit.rt().open_window("holder", "https://a.example", [this](context&) {
      message_channel ch;
      port1 = ch.port1();
      port2 = ch.port2();
      port2.on_message([this](message_event& ev) { got.push_back(label(ev)); });
    });
    kit.run();
  }
  testkit kit;
  std::uint64_t id = 0;
  message_port port1, port2;
  lines got;
};

} // namespace

TEST_CASE("context ids are unique in the process, not just in a runtime",
          "[handles]") {
  testkit a, b;
  auto x = a.spawn("x", [](context&) {});
  auto y = b.spawn("y", [](context&) {});
  CHECK(x != y);
}

TEST_CASE("a port of runtime A used in a context of runtime B is inert and "
          "counted as foreign_context; B cannot transfer it",
          "[handles]") {
  kit_with_port a;
  testkit b{[](runtime_config& cfg) { cfg.warnings = false; }};
  std::string error;
  b.spawn("stranger", [&](context&) {
    a.port1.post_message("from B"); // A's id space would have matched B's
    a.port1.start();
    a.port1.close();
    message_channel mine;
    try {
      mine.port1().post_message("carry", {a.port1});
    } catch (const dom_exception& e) {
      error = e.name();
    }
  });
  b.run();
  a.kit.run();
  CHECK(error == "DataCloneError");
  CHECK(a.got.empty());
  CHECK(a.kit.drops()[drop_reason::foreign_context] == 1);
  // A's port still works in A.
  a.kit.inject(a.id, [&] { a.port1.post_message("from A"); });
  a.kit.run();
  CHECK(a.got == lines{"from A"});
}

TEST_CASE("handles outlive their runtime: ports and window proxies of a "
          "destroyed runtime are inert (no use-after-free under ASan)",
          "[handles]") {
  message_port orphan;
  window_proxy orphan_window;
  {
    testkit a{[](runtime_config& cfg) { cfg.warnings = false; }};
    a.rt().open_window("gone", "https://a.example", [&](context& self) {
      message_channel ch;
      orphan = ch.port1();
      ch.port2().start();
      orphan_window = self.window();
    });
    a.run();
    CHECK_FALSE(orphan_window.closed());
  } // runtime A and every context of it are gone
  CHECK(orphan_window.closed());
  testkit b{[](runtime_config& cfg) { cfg.warnings = false; }};
  b.spawn("user", [&](context&) {
    orphan.post_message("into the void");
    orphan.start();
    orphan.close();
    orphan_window.post_message("hello?", "*");
    (void) orphan_window.frames();
  });
  b.run();
  CHECK(b.drops().total() == 0); // the drops count in A's scheduler
  CHECK(b.live_ports() == 0);
}

TEST_CASE("window.post_message to a window of another runtime refuses a "
          "port with DataCloneError and changes nothing; values cross",
          "[handles][sem11]") {
  kit_with_port a;
  window_proxy target;
  a.kit.inject(a.id, [&] { target = this_context().window(); });
  auto seen = std::make_shared<lines>();
  a.kit.inject(a.id, [seen] {
    this_context().on_message(
      [seen](message_event& ev) { seen->push_back(label(ev)); });
  });
  testkit b{[](runtime_config& cfg) { cfg.warnings = false; }};
  std::string error, after;
  b.spawn("poster", [&](context&) {
    message_channel ch;
    try {
      target.post_message("with a port", "*", {ch.port1()});
    } catch (const dom_exception& e) {
      error = e.name();
    }
    after = state(ch.port1()); // not shipped: still usable
    target.post_message("just a value", "*");
  });
  b.run();
  a.kit.run();
  CHECK(error == "DataCloneError");
  CHECK(after == "started=false detached=false closed=false");
  CHECK(*seen == lines{"just a value"});
  CHECK(b.live_ports() == 0);
}

TEST_CASE("exits() keeps a bounded history while exit_counts() counts every "
          "end exactly",
          "[handles][context]") {
  harness h{[](runtime_config& cfg) { cfg.exit_history = 10; }};
  constexpr int workers = 500;
  h.run([&](context& top) {
    auto left = std::make_shared<int>(workers);
    for (int i = 0; i < workers; ++i) {
      auto w = top.spawn("short", [](context& self) { self.close(); });
      w.add_event_listener("close", [left](message_event&) {
        if (--*left == 0)
          this_context().close();
      });
    }
  });
  CHECK(h.rt->exits().size() == 10);
  for (auto& e : h.rt->exits()) // the last ten, whoever they were
    CHECK((e.name == "short" || e.name == "main"));
  auto counts = h.rt->exit_counts();
  CHECK(counts[static_cast<std::size_t>(exit_kind::normal)] == workers + 1);
  CHECK(counts[static_cast<std::size_t>(exit_kind::exception)] == 0);
  h.check_no_leaks();
}

namespace {

/// Bytes the heap has handed out and not got back (every malloc arena plus
/// mmapped blocks). Unlike RSS it does not move with the allocator's
/// arenas and caches, so a leak per context shows and noise does not.
std::size_t heap_in_use() {
  auto mi = mallinfo2();
  return mi.uordblks + mi.hblkhd;
}

#if defined(__SANITIZE_ADDRESS__)
constexpr bool measuring_memory = false; // ASan replaces malloc
#else
constexpr bool measuring_memory = true;
#endif

} // namespace

TEST_CASE("the heap returns to its level after waves of short-lived workers "
          "and frames: bookkeeping does not grow per context that ever "
          "lived",
          "[handles][context]") {
  if (!measuring_memory) {
    WARN("not measured under ASan (its quarantine keeps freed memory)");
    return;
  }
  harness h;
  constexpr int wave = 5000;
  // One wave: a window opens `wave` frames and spawns `wave` workers that
  // each end at once, and closes when all of them have.
  auto one_wave = [&] {
    h.rt->open_window("top", "https://a.example", [](context& top) {
      auto left = std::make_shared<int>(2 * wave);
      auto one_gone = [left] {
        if (--*left == 0)
          this_context().close();
      };
      for (int i = 0; i < wave; ++i) {
        auto w = top.spawn("short", [](context& self) { self.close(); });
        w.add_event_listener("close", [one_gone](message_event&) {
          one_gone();
        });
        // A frame reports back through its parent window, then closes.
        top.open_frame("frame", "https://a.example", [](context& f) {
          f.window().parent().post_message("bye");
          f.close();
        });
      }
      top.on_message([one_gone](message_event&) { one_gone(); });
    });
    h.wait();
  };
  one_wave(); // warm-up: CAF's and our caches
  one_wave();
  auto level = heap_in_use();
  for (int i = 0; i < 10; ++i) // 10^5 contexts
    one_wave();
  auto grown = static_cast<double>(heap_in_use())
               - static_cast<double>(level);
  // With an unbounded exit history every ended context keeps a record:
  // +16 MB over these 10^5 contexts (and +82 MB RSS for 60000 workers when
  // exits() also copied it); bounded, the heap stays where it was.
  INFO("heap in use grew by " << grown / 1024 << " KiB over 10 waves");
  CHECK(grown < 4.0 * 1024 * 1024);
  CHECK(h.rt->exits().size() <= runtime_config{}.exit_history);
  CHECK(h.rt->live_contexts() == 0);
  h.check_no_leaks();
}
