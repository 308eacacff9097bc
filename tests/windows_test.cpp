// Conformance tests for SEMANTICS §11 (window.postMessage): target origins
// checked at delivery against the target's current origin, origin and
// source on the event, SyntaxError before serializing, navigation, frames.
// Run on the deterministic testkit: windows are separate contexts, and the
// tests script exactly when each one runs.

#include <catch2/catch.hpp>

#include <memory>

#include "entangle/testing/catch.hpp"
#include "support.hpp"

using namespace entangle;
using namespace entangle::test;
using entangle::testing::testkit;

namespace {

/// Makes the running window log every window message as
/// "<tag>:<data>@<origin>".
void log_messages(const std::string& tag, std::shared_ptr<lines> log) {
  this_context().on_message([tag, log](message_event& ev) {
    log->push_back(tag + ":" + label(ev) + "@" + ev.origin);
  });
}

} // namespace

TEST_CASE("11.1 one argument means \"/\" (same origin only); \"*\" reaches any "
          "origin; a URL must match the target's origin",
          "[sem11]") {
  testkit kit;
  auto log = std::make_shared<lines>();
  window_proxy same, other;
  auto first_id = kit.rt().open_window("page", "https://a.example/index.html",
                       [&](context& page) {
    same = page.open_frame("same", "https://a.example/frame",
                           [log](context&) { log_messages("same", log); });
    other = page.open_frame("other", "https://b.example",
                            [log](context&) { log_messages("other", log); });
  });
  kit.run();
  kit.inject(first_id, [&] {
    same.post_message("slash");                  // "/" = a.example
    other.post_message("slash");                 // dropped: b != a
    same.post_message("star", "*");
    other.post_message("star", "*");
    other.post_message("url", "https://B.example:443/any/path?q");
    same.post_message("url", "https://b.example");  // dropped
  });
  kit.run();
  CHECK(sorted(*log)
        == lines{"other:star@https://a.example", "other:url@https://a.example",
                 "same:slash@https://a.example", "same:star@https://a.example"});
  CHECK(kit.drops()[drop_reason::origin_mismatch] == 2);
}

TEST_CASE("11.2 an unparsable target origin is a SyntaxError thrown before "
          "serializing: nothing is transferred",
          "[sem11]") {
  testkit kit;
  std::vector<std::string> got;
  kit.rt().open_window("page", "https://a.example", [&](context& page) {
    message_channel ch;
    auto self = page.window();
    got.push_back(outcome([&] {
      self.post_message(host_object{"function"}, "example.org", {ch.port1()});
    }));
    got.push_back(outcome(
      [&] { self.post_message(1, "http://foo bar", {ch.port1()}); }));
    got.push_back(ch.port1().detached() ? "detached" : "usable");
    got.push_back(outcome([&] {
      self.post_message(host_object{"function"}, "*", {ch.port1()});
    }));
    got.push_back(ch.port1().detached() ? "detached" : "usable");
  });
  kit.run();
  CHECK(got
        == std::vector<std::string>{"SyntaxError", "SyntaxError", "usable",
                                    "DataCloneError", "usable"});
}

TEST_CASE("11.3 the event carries the sender's origin and a source proxy that "
          "reaches the sender for the reply",
          "[sem11][sem10]") {
  testkit kit;
  auto log = std::make_shared<lines>();
  kit.rt().open_window("page", "https://a.example", [&](context& page) {
    log_messages("page", log);
    auto frame = page.open_frame("frame", "https://b.example", [](context& f) {
      f.on_message([](message_event& ev) {
        auto* src = std::get_if<window_proxy>(&ev.source);
        if (src != nullptr)
          src->post_message("pong to " + label(ev), ev.origin);
      });
    });
    frame.post_message("ping", "https://b.example");
  });
  kit.run();
  CHECK(*log == lines{"page:pong to ping@https://b.example"});
}

TEST_CASE("11.3 a target that navigated drops what was posted to its old "
          "document (ports closed); later posts reach the new one",
          "[sem11][sem13]") {
  testkit kit;
  auto log = std::make_shared<lines>();
  window_proxy frame;
  message_port kept;
  auto first_id = kit.rt().open_window("page", "https://a.example", [&](context& page) {
    frame = page.open_frame("frame", "https://b.example", [log](context& f) {
      f.on_message([log](message_event& ev) {
        if (label(ev) == "navigate")
          this_context().navigate("https://c.example", [log](context&) {
            log_messages("new document", log);
          });
        else
          log->push_back("old document:" + label(ev));
      });
    });
  });
  kit.run();
  kit.inject(first_id, [&] {
    message_channel ch;
    kept = ch.port1();
    kept.on_close([log](message_event&) { log->push_back("kept got close"); });
    kept.start(); // close events wait for start(), like messages
    frame.post_message("navigate", "*");
    // Queued for the old document: dropped even with "*".
    frame.post_message("for the old document", "*", {ch.port2()});
  });
  kit.run();
  kit.inject(first_id, [&] {
    frame.post_message("for b", "https://b.example"); // origin changed
    frame.post_message("for c", "https://c.example");
  });
  kit.run();
  CHECK(*log == lines{"kept got close", "new document:for c@https://a.example"});
  CHECK(kit.drops()[drop_reason::context_gone] == 1);
  CHECK(kit.drops()[drop_reason::origin_mismatch] == 1);
}

TEST_CASE("11.3 navigating closes every port of the old document: peers get "
          "close",
          "[sem11][sem13]") {
  testkit kit;
  auto log = std::make_shared<lines>();
  kit.rt().open_window("page", "https://a.example", [&](context& page) {
    message_channel ch;
    auto peer = ch.port2();
    peer.on_close([log](message_event&) { log->push_back("peer got close"); });
    peer.start();
    page.open_frame("frame", "https://b.example", [log](context& f) {
      f.on_message([](message_event& ev) {
        ev.ports.at(0).start();
        this_context().navigate("https://b.example", [](context&) {});
      });
    }).post_message("take", "*", {ch.port1()});
  });
  kit.run();
  CHECK(*log == lines{"peer got close"});
}

TEST_CASE("11.5 a window can post to itself", "[sem11]") {
  testkit kit;
  auto log = std::make_shared<lines>();
  kit.rt().open_window("page", "https://a.example", [&](context& page) {
    log_messages("page", log);
    page.window().post_message("to myself", "*");
    page.window().post_message("same origin");
  });
  kit.run();
  CHECK(*log
        == lines{"page:to myself@https://a.example",
                 "page:same origin@https://a.example"});
}

TEST_CASE("windows: parent, top and frames form the frame tree; frames end "
          "with their parent",
          "[sem11][context]") {
  testkit kit;
  window_proxy top_w, child, grandchild;
  std::vector<std::string> seen;
  kit.rt().open_window("top", "https://a.example", [&](context& page) {
    top_w = page.window();
    child = page.open_frame("child", "https://b.example", [&](context& c) {
      grandchild = c.open_frame("grandchild", "https://c.example",
                                [&](context&) {});
    });
  });
  kit.run();
  CHECK(top_w.parent() == top_w);
  CHECK(top_w.top() == top_w);
  CHECK(child.parent() == top_w);
  CHECK(grandchild.parent() == child);
  CHECK(grandchild.top() == top_w);
  REQUIRE(top_w.frames().size() == 1);
  CHECK(top_w.frames()[0] == child);
  CHECK(child.frames().at(0).name() == "grandchild");
  kit.inject(top_w.id(), [] { this_context().close(); });
  kit.run();
  CHECK(top_w.closed());
  CHECK(child.closed());
  CHECK(grandchild.closed());
  CHECK(kit.live_contexts() == 0);
  CHECK(kit.live_ports() == 0);
}

TEST_CASE("posting to a window that ended is a counted silent drop that "
          "closes the ports it carried",
          "[sem11][context]") {
  testkit kit;
  auto log = std::make_shared<lines>();
  window_proxy gone;
  kit.rt().open_window("short-lived", "https://b.example", [&](context& w) {
    gone = w.window();
    w.close();
  });
  kit.run();
  REQUIRE(gone.closed());
  kit.rt().open_window("page", "https://a.example", [&](context&) {
    message_channel ch;
    ch.port2().on_close([log](message_event&) { log->push_back("close"); });
    ch.port2().start();
    gone.post_message("hello?", "*", {ch.port1()});
  });
  kit.run();
  CHECK(*log == lines{"close"});
  CHECK(kit.drops()[drop_reason::context_gone] == 1);
}
