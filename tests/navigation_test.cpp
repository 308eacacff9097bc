// SEMANTICS §11.3-11.4 and §13.1, navigation (issue 16, point 3): a window
// navigated by another window (the web's `iframe.src = url` or
// `frame.location = url`) loses its document exactly as one that navigates
// itself, and a navigation takes effect at the end of the task that asked
// for it, not after the rest of a dispatch batch.

#include <catch2/catch.hpp>

#include <memory>

#include "entangle/testing/catch.hpp"
#include "support.hpp"

using namespace entangle;
using namespace entangle::test;
using entangle::testing::testkit;

namespace {

/// Makes the running window log its window messages as "<tag>:<data>".
void log_messages(const std::string& tag, std::shared_ptr<lines> log) {
  this_context().on_message([tag, log](message_event& ev) {
    log->push_back(tag + ":" + label(ev));
  });
}

/// A document that starts every port it is sent and logs what arrives on
/// it, and logs its window messages, all tagged `tag`.
init_function document(const std::string& tag, std::shared_ptr<lines> log) {
  return [tag, log](context& self) {
    self.on_message([tag, log](message_event& ev) {
      log->push_back(tag + ":" + label(ev));
      for (auto& p : ev.ports)
        p.on_message([tag, log](message_event& m) {
          log->push_back(tag + " port:" + label(m));
        });
    });
  };
}

} // namespace

TEST_CASE("11.3 a parent navigates its frame: the old document's ports close, "
          "window messages queued for it are dropped and counted, and later "
          "posts are checked against the new origin",
          "[sem11][sem13]") {
  testkit kit;
  auto log = std::make_shared<lines>();
  window_proxy frame, grandchild;
  message_port kept;
  auto page_id = kit.rt().open_window("page", "https://a.example", [&](context& page) {
    frame = page.open_frame("frame", "https://b.example", [&](context& f) {
      document("old", log)(f);
      grandchild = f.open_frame("inner", "https://b.example",
                                [](context&) {});
    });
  });
  kit.run();
  kit.inject(page_id, [&] {
    message_channel ch;
    kept = ch.port1();
    kept.on_close([log](message_event&) { log->push_back("kept got close"); });
    kept.start();
    frame.post_message("before", "*", {ch.port2()}); // the old document's
    frame.navigate("https://c.example/next.html", document("new", log));
    // Posted after the request but before it took effect: for the old
    // document, which is gone by the time it is delivered.
    frame.post_message("too late", "*");
    // Queued on the port "before" carries; the old document starts that
    // port while handling "before", but the navigation task was queued
    // first, so this message goes with the old document's ports.
    kept.post_message("on the old document's port");
  });
  kit.run();
  CHECK(*log == lines{"old:before", "kept got close"});
  CHECK(kit.drops()[drop_reason::context_gone] == 2);
  CHECK(grandchild.closed()); // the old document's frames went with it
  CHECK_FALSE(frame.closed()); // the window itself stays
  kit.inject(page_id, [&] {
    frame.post_message("for b", "https://b.example"); // the old origin
    frame.post_message("for c", "https://c.example");
  });
  kit.run();
  CHECK(log->back() == "new:for c");
  CHECK(kit.drops()[drop_reason::origin_mismatch] == 1);
}

TEST_CASE("11.3 navigation takes effect at the end of the current task: the "
          "rest of a dispatch batch never reaches the old document",
          "[sem11][sem13]") {
  // Ten messages wait on the frame's port when it starts it; with a batch
  // of 64 they are taken in one lock round. The first navigates.
  testkit kit{[](runtime_config& cfg) { cfg.dispatch_batch = 64; }};
  auto log = std::make_shared<lines>();
  auto peer_log = std::make_shared<lines>();
  kit.rt().open_window("page", "https://a.example", [&](context& page) {
    auto frame = page.open_frame("frame", "https://b.example",
                                 [log](context& f) {
      f.on_message([log](message_event& ev) {
        auto p = ev.ports.at(0);
        p.on_message([log](message_event& m) {
          log->push_back("old document got " + label(m));
          this_context().navigate("https://b.example/next",
                                  [log](context&) { log->push_back("new"); });
        });
      });
    });
    message_channel ch;
    auto mine = ch.port1();
    mine.on_close([peer_log](message_event&) { peer_log->push_back("close"); });
    mine.start(); // close events wait for start(), like messages
    frame.post_message("take", "*", {ch.port2()});
    for (int i = 1; i <= 10; ++i)
      mine.post_message("m" + std::to_string(i));
  });
  kit.run();
  CHECK(*log == lines{"old document got m1", "new"});
  CHECK(*peer_log == lines{"close"});
  CHECK(kit.drops()[drop_reason::context_gone] == 9);
}

TEST_CASE("11.3 navigating through one's own window proxy is self-navigation; "
          "a sibling may navigate a frame too",
          "[sem11]") {
  testkit kit;
  auto log = std::make_shared<lines>();
  window_proxy a, b;
  auto page_id = kit.rt().open_window("page", "https://a.example", [&](context& page) {
    a = page.open_frame("a", "https://a.example", [&](context& self) {
      log_messages("a", log);
      self.window().navigate("https://a2.example", document("a2", log));
      // Still the old document until this task returns.
      log->push_back("a still " + self.origin().serialize());
    });
    b = page.open_frame("b", "https://b.example", [&](context&) {
      log_messages("b", log);
      a.navigate("https://a3.example", document("a3", log));
    });
  });
  kit.run();
  kit.inject(page_id, [&] { a.post_message("hello", "https://a3.example"); });
  kit.run();
  CHECK(*log == lines{"a still https://a.example", "a3:hello"});
}

TEST_CASE("11.2 navigate() with an unparsable URL is a SyntaxError that "
          "changes nothing; only a window may navigate; a closed window "
          "ignores it",
          "[sem11]") {
  testkit kit;
  auto log = std::make_shared<lines>();
  window_proxy frame, gone;
  std::vector<std::string> got;
  auto page_id = kit.rt().open_window("page", "https://a.example", [&](context& page) {
    frame = page.open_frame("frame", "https://b.example",
                            [log](context&) { log_messages("frame", log); });
    gone = page.open_frame("gone", "https://b.example",
                           [](context& self) { self.close(); });
    got.push_back(outcome([&] {
      frame.navigate("http://foo bar", [log](context&) {
        log->push_back("should not run");
      });
    }));
    got.push_back(outcome([&] { window_proxy{}.navigate("https://x", {}); }));
    page.spawn("worker", [&](context&) {
      got.push_back(outcome([&] { frame.navigate("https://c.example", {}); }));
    });
  });
  kit.run();
  REQUIRE(gone.closed());
  kit.inject(page_id, [&] {
    gone.navigate("https://c.example", [log](context&) {
      log->push_back("a closed window came back");
    });
    frame.post_message("still b", "https://b.example");
  });
  kit.run();
  CHECK(got
        == std::vector<std::string>{"SyntaxError", "type_error:TypeError",
                                    "InvalidStateError"});
  CHECK(*log == lines{"frame:still b"});
}

TEST_CASE("11.3 threaded: a parent navigates its frame while the frame is "
          "busy; the frame's old peers get close and the new document answers",
          "[sem11][sem13]") {
  harness h;
  h.rt->open_window("page", "https://a.example", [&](context& page) {
    auto frame = page.open_frame("frame", "https://b.example",
                                 [](context& f) {
      f.on_message([](message_event& ev) {
        // An endless echo on the port the page sent: the frame is busy.
        auto p = ev.ports.at(0);
        p.on_message([p](message_event& m) { p.post_message(m.data); });
      });
    });
    message_channel ch;
    auto mine = ch.port1();
    auto rounds = std::make_shared<int>(0);
    mine.on_message([&, mine, frame, rounds](message_event& m) {
      if (++*rounds == 100)
        frame.navigate("https://c.example", [&](context& f) {
          f.on_message([&](message_event& ev) {
            h.log.add("new document got " + label(ev) + " from "
                      + ev.origin);
            this_context().close();
          });
        });
      mine.post_message(m.data);
    });
    mine.on_close([&, frame](message_event&) {
      h.log.add("echo closed");
      frame.post_message("hello", "https://c.example");
      this_context().queue_task([] { this_context().close(); });
    });
    frame.post_message("echo", "*", {ch.port2()});
    mine.post_message("ball");
  });
  h.wait();
  CHECK(h.log.lines()
        == lines{"echo closed",
                 "new document got hello from https://a.example"});
  h.require_clean();
}
