// Conformance tests for SEMANTICS §1 (object model), §2 (MessageChannel) and
// §3 (port message queue enabling). Posting (§4) is in post_test.cpp, values
// (§5) in values_test.cpp, messageerror and event fields (§9, §10) in
// events_test.cpp. Nothing asserts inside a context: contexts record into
// the journal and the test body asserts after the run.

#include <algorithm>
#include <memory>
#include <type_traits>
#include <variant>

#include "support.hpp"

using namespace entangle;
using namespace entangle::test;

// -- §1 object model and state ----------------------------------------------

TEST_CASE("1.1 a new channel's ports are entangled with each other, both ways",
          "[sem1]") {
  harness h;
  h.run([&](context&) {
    message_channel ch;
    ch.port2().on_message([&, ch](message_event& ev) {
      h.log.add("port2 got " + data_of(ev));
      ch.port2().post_message("pong");
    });
    ch.port1().on_message([&, ch](message_event& ev) {
      h.log.add("port1 got " + data_of(ev));
      close_all({ch.port1(), ch.port2()});
    });
    ch.port1().post_message("ping");
  });
  CHECK(h.log.lines() == lines{"port2 got ping", "port1 got pong"});
  h.require_clean();
}

TEST_CASE("1.1 a new port is disabled, attached and empty; once enabled it "
          "stays enabled",
          "[sem1]") {
  harness h;
  h.run([&](context&) {
    message_channel ch;
    auto p2 = ch.port2();
    h.log.add("fresh port1 " + state(ch.port1()));
    h.log.add("fresh port2 " + state(p2));
    p2.add_event_listener("message", [&, ch](message_event& ev) {
      h.log.add("got " + data_of(ev));
      close_all({ch.port1(), ch.port2()});
      h.log.add("closed port2 " + state(ch.port2()));
    });
    p2.start();
    h.log.add("started port2 " + state(p2));
    p2.start();
    h.log.add("restarted port2 " + state(p2));
    ch.port1().post_message("first");
  });
  CHECK(h.log.lines()
        == lines{"fresh port1 started=false detached=false closed=false",
                 "fresh port2 started=false detached=false closed=false",
                 "started port2 started=true detached=false closed=false",
                 "restarted port2 started=true detached=false closed=false",
                 "got first",
                 "closed port2 started=true detached=true closed=true"});
  h.require_clean();
}

TEST_CASE("1.1 message events target the receiving port; a worker's implicit "
          "ports have no port target",
          "[sem1][sem10]") {
  harness h;
  h.run([&](context& page) {
    message_channel ch;
    ch.port2().on_message([&, ch](message_event& ev) {
      h.log.set("port", yn(ev.target == ch.port2()));
      close_all({ch.port1(), ch.port2()});
    });
    ch.port1().post_message("x");
    auto w = page.spawn("w", [&](context& self) {
      self.on_message([&](message_event& ev) {
        h.log.set("worker global", yn(!ev.target));
        this_context().post_message("back");
      });
    });
    w.on_message([&](message_event& ev) {
      h.log.set("worker object", yn(!ev.target));
      this_context().close();
    });
    w.post_message("hi");
  });
  CHECK(h.log.get("port") == "true");
  CHECK(h.log.get("worker global") == "true");
  CHECK(h.log.get("worker object") == "true");
  h.require_clean();
}

TEST_CASE("1.2 a port's events run on the context that owns it, and other "
          "contexts cannot use it",
          "[sem1]") {
  harness h;
  h.run([&](context& page) {
    message_channel ch;
    auto w = page.spawn("w", [&, ch](context& self) {
      self.on_message([&, ch](message_event& ev) {
        auto port = ev.ports.at(0);
        port.on_message([&, ch, port](message_event& m) {
          h.log.add("w port got " + data_of(m) + " in "
                    + this_context().name());
          if (m.data == value{"x"}) {
            ch.port1().post_message("forged"); // main's port: inert here
            port.post_message("y");
          } else {
            port.close();
            this_context().close();
          }
        });
      });
    });
    ch.port1().on_message([&, ch](message_event& m) {
      h.log.add("main port got " + data_of(m) + " in "
                + this_context().name());
      ch.port1().post_message("bye");
    });
    w.post_message("take", {ch.port2()});
    ch.port1().post_message("x");
  });
  CHECK(h.log.lines()
        == lines{"w port got x in w", "main port got y in main",
                 "w port got bye in w"});
  CHECK(h.drops(drop_reason::foreign_context) == 1);
  h.require_clean();
}

/// Posts 9 messages over 3 never-shipped channels of one context, in an
/// interleaved order, enabling the receivers before or after the posts.
lines global_order(bool start_first) {
  harness h;
  h.run([&](context&) {
    std::vector<message_channel> chs(3);
    auto count = std::make_shared<int>(0);
    auto start_all = [&] {
      for (int i = 2; i >= 0; --i) // reverse order: must not matter
        chs[i].port2().on_message([&, i, chs, count](message_event& ev) {
          h.log.add(std::to_string(i) + ":" + data_of(ev));
          if (++*count == 9)
            for (auto& c : chs)
              close_all({c.port1(), c.port2()});
        });
    };
    if (start_first)
      start_all();
    const int order[] = {0, 1, 0, 2, 2, 1, 0, 2, 1};
    for (int k = 0; k < 9; ++k)
      chs[order[k]].port1().post_message(std::to_string(k));
    if (!start_first)
      start_all(); // all enabled before the event loop looks
  });
  h.require_clean();
  return h.log.lines();
}

const lines posting_order{"0:0", "1:1", "0:2", "2:3", "2:4",
                          "1:5", "0:6", "2:7", "1:8"};

TEST_CASE("1.3 never-shipped ports of one context deliver in global posting "
          "order",
          "[sem1]") {
  CHECK(global_order(true) == posting_order);
}

TEST_CASE("1.3 never-shipped ports enabled after the posts still deliver in "
          "global posting order",
          "[sem1]") {
  CHECK(global_order(false) == posting_order);
}

TEST_CASE("1.3 a shipped port still delivers one sender's messages in FIFO "
          "order",
          "[sem1]") {
  constexpr int total = 300; // several dispatch batches
  harness h;
  h.run([&](context& page) {
    message_channel ch;
    auto w = page.spawn("w", [&](context& self) {
      self.on_message([&](message_event& ev) {
        auto port = ev.ports.at(0);
        auto next = std::make_shared<int>(0);
        port.on_message([&, port, next](message_event& m) {
          if (m.data != value{*next})
            h.log.add("out of order at " + std::to_string(*next));
          if (++*next == total) {
            h.log.add("all in order");
            port.close();
            this_context().close();
          }
        });
      });
    });
    for (int i = 0; i < total / 2; ++i)
      ch.port1().post_message(i);
    w.post_message("take", {ch.port2()});
    for (int i = total / 2; i < total; ++i)
      ch.port1().post_message(i);
  });
  CHECK(h.log.lines() == lines{"all in order"});
  h.require_clean();
}

TEST_CASE("1.4 a port whose twin was shipped stays usable and transferable; "
          "only detached ports are not",
          "[sem1]") {
  harness h;
  h.run([&](context& page) {
    message_channel ch;
    auto w = page.spawn("w", [&](context& self) {
      auto first = std::make_shared<message_port>();
      self.on_message([&, first](message_event& ev) {
        auto port = ev.ports.at(0);
        if (ev.data == value{"first"}) {
          *first = port;
          port.on_message([&, first](message_event& m) {
            h.log.add("w got " + data_of(m));
            if (m.data == value{"from second"}) {
              first->close();
              this_context().close();
            }
          });
        } else {
          port.post_message("from second");
          port.close();
        }
      });
    });
    w.post_message("first", {ch.port2()});
    h.log.set("twin detached", yn(ch.port1().detached()));
    ch.port1().post_message("from the shipped twin");
    h.log.set("transfer twin", outcome([&] {
                w.post_message("second", {ch.port1()});
              }));
    h.log.set("transfer detached", outcome([&] {
                w.post_message("again", {ch.port2()});
              }));
  });
  CHECK(h.log.get("twin detached") == "false");
  CHECK(h.log.get("transfer twin") == "ok");
  CHECK(h.log.get("transfer detached") == "DataCloneError");
  CHECK(h.log.lines()
        == lines{"w got from the shipped twin", "w got from second"});
  h.require_clean();
}

TEST_CASE("1.5 a default message_port is a null handle, and using it is a "
          "TypeError",
          "[sem1]") {
  message_port p;
  CHECK_FALSE(p);
  CHECK(p == message_port{});
  CHECK_THROWS_AS(p.post_message(1), type_error);
  CHECK_THROWS_AS(p.start(), type_error);
  CHECK_THROWS_AS(p.on_message([](message_event&) {}), type_error);
  CHECK_NOTHROW(p.close());
  CHECK_FALSE(p.started());
  CHECK_FALSE(p.detached());
  harness h;
  h.run([&](context&) {
    message_port null_port;
    h.log.add(outcome([&] { null_port.post_message("x"); }));
    h.log.add(outcome([&] { null_port.start(); }));
  });
  CHECK(h.log.lines() == lines{"type_error:TypeError", "type_error:TypeError"});
  h.require_clean();
}

// -- §2 MessageChannel ---------------------------------------------------------

TEST_CASE("2.1 constructing a message_channel outside any context throws "
          "InvalidStateError",
          "[sem2]") {
  auto construct = [] {
    return outcome([] { message_channel ch; });
  };
  REQUIRE(current_context() == nullptr);
  CHECK(construct() == "InvalidStateError");
  harness h; // a running runtime does not make the test thread a context
  CHECK(construct() == "InvalidStateError");
}

TEST_CASE("2.1 port1() and port2() always return the same two distinct, "
          "entangled, disabled ports",
          "[sem2]") {
  static_assert(std::is_same_v<decltype(std::declval<message_channel&>()
                                           .port1()),
                               const message_port&>,
                "port1 is a read-only attribute");
  harness h;
  h.run([&](context&) {
    message_channel ch, other;
    const message_channel copy = ch;
    h.log.set("stable", yn(ch.port1() == ch.port1() && ch.port2() == ch.port2()
                           && &ch.port1() == &ch.port1()));
    h.log.set("distinct", yn(ch.port1() && ch.port2()
                             && ch.port1() != ch.port2()));
    h.log.set("copy", yn(copy.port1() == ch.port1()
                         && copy.port2() == ch.port2()));
    h.log.set("other", yn(other.port1() != ch.port1()
                          && other.port1() != ch.port2()
                          && other.port2() != ch.port1()
                          && other.port2() != ch.port2()));
    h.log.set("disabled", yn(!ch.port1().started() && !ch.port2().started()));
    ch.port2().on_message([&, ch](message_event& ev) {
      h.log.add("port2 got " + data_of(ev));
      close_all({ch.port1(), ch.port2()});
    });
    copy.port1().post_message("via the copy");
    close_all({other.port1(), other.port2()});
  });
  for (auto key : {"stable", "distinct", "copy", "other", "disabled"}) {
    INFO(key);
    CHECK(h.log.get(key) == "true");
  }
  CHECK(h.log.lines() == lines{"port2 got via the copy"});
  h.require_clean();
}

TEST_CASE("2.2 a channel constructed in a worker's handler belongs to that "
          "worker",
          "[sem2]") {
  harness h;
  h.run([&](context& page) {
    auto w = page.spawn("w", [&](context& self) {
      self.on_message([&](message_event&) {
        message_channel ch;
        ch.port1().on_message([&, ch](message_event& m) {
          h.log.add("w got " + data_of(m) + " in " + this_context().name());
          ch.port1().close();
          this_context().close();
        });
        h.log.add("transfer from w: " + outcome([&] {
                    this_context().post_message("port", {ch.port2()});
                  }));
      });
    });
    w.on_message([&](message_event& ev) {
      h.log.add("main got " + data_of(ev));
      ev.ports.at(0).post_message("hi");
    });
    w.post_message("make a channel");
  });
  // w logs its post's outcome after the post returns, so main may log
  // first (two threads); "hi" reaches w only after both.
  auto got = h.log.lines();
  REQUIRE(got.size() == 3);
  lines first{"transfer from w: ok", "main got port"};
  CHECK(std::is_permutation(got.begin(), got.begin() + 2, first.begin()));
  CHECK(got[2] == "w got hi in w");
  h.require_clean();
}

TEST_CASE("2.3 a received port is re-entangled without a close event, and the "
          "old handle is inert",
          "[sem2]") {
  harness h;
  h.run([&](context& page) {
    message_channel ch;
    auto w = page.spawn("w", [&](context& self) {
      self.on_message([&](message_event& ev) {
        auto port = ev.ports.at(0);
        port.on_close([&, port](message_event&) {
          h.log.add("w port got close");
          port.close();
          this_context().close();
        });
        port.on_message([&](message_event& m) {
          h.log.add("w port got " + data_of(m));
        });
        port.post_message("hello");
      });
    });
    ch.port1().on_close([&](message_event&) { h.log.add("port1 got close"); });
    ch.port1().on_message([&, ch](message_event& m) {
      h.log.add("port1 got " + data_of(m));
      ch.port1().close();
    });
    w.post_message("take", {ch.port2()});
    h.log.set("old port2", state(ch.port2()));
    ch.port2().post_message("through the old handle");
  });
  CHECK(h.log.lines() == lines{"port1 got hello", "w port got close"});
  CHECK(h.log.get("old port2") == "started=false detached=true closed=false");
  CHECK(h.drops(drop_reason::detached) == 1);
  h.require_clean();
}

// -- §3 port message queue enabling --------------------------------------------

TEST_CASE("3.1 messages to a port that was never started are held in order "
          "and not dispatched",
          "[sem3]") {
  harness h;
  h.run([&](context& self) {
    message_channel ch;
    ch.port2().add_event_listener("message", [&, ch](message_event& ev) {
      h.log.add(data_of(ev));
      if (ev.data == value{"c"})
        close_all({ch.port1(), ch.port2()});
    });
    for (auto s : {"a", "b", "c"})
      ch.port1().post_message(s);
    self.queue_task([&, ch] {
      h.log.add("task: started=" + yn(ch.port2().started()));
      ch.port2().start();
    });
  });
  CHECK(h.log.lines() == lines{"task: started=false", "a", "b", "c"});
  h.require_clean();
}

TEST_CASE("3.2 start() dispatches held messages later, once each and in "
          "order; starting again does nothing",
          "[sem3]") {
  harness h;
  h.run([&](context&) {
    message_channel ch;
    ch.port2().add_event_listener("message", [&, ch](message_event& ev) {
      h.log.add("begin " + data_of(ev));
      ch.port2().start();
      h.log.add("end " + data_of(ev));
      if (ev.data == value{"b"})
        close_all({ch.port1(), ch.port2()});
    });
    ch.port1().post_message("a");
    ch.port1().post_message("b");
    ch.port2().start();
    ch.port2().start();
    h.log.add("after start");
  });
  CHECK(h.log.lines()
        == lines{"after start", "begin a", "end a", "begin b", "end b"});
  h.require_clean();
}

TEST_CASE("3.3 setting on_message starts the queue; add_event_listener does "
          "not",
          "[sem3]") {
  harness h;
  h.run([&](context& self) {
    message_channel ch;
    ch.port2().add_event_listener("message", [&](message_event& ev) {
      h.log.add("listener " + data_of(ev));
    });
    ch.port1().post_message("a");
    self.queue_task([&, ch] {
      h.log.add("task: started=" + yn(ch.port2().started()));
      ch.port2().on_message([&, ch](message_event& ev) {
        h.log.add("onmessage " + data_of(ev));
        close_all({ch.port1(), ch.port2()});
      });
      h.log.add("task: started=" + yn(ch.port2().started()));
    });
  });
  CHECK(h.log.lines()
        == lines{"task: started=false", "task: started=true", "listener a",
                 "onmessage a"});
  h.require_clean();
}

TEST_CASE("3.3 setting on_message to an empty handler still starts the queue",
          "[sem3]") {
  harness h;
  h.run([&](context&) {
    message_channel ch;
    ch.port2().add_event_listener("message", [&, ch](message_event& ev) {
      h.log.add("listener " + data_of(ev));
      close_all({ch.port1(), ch.port2()});
    });
    ch.port2().on_message(event_handler{});
    h.log.add("started=" + yn(ch.port2().started()));
    ch.port1().post_message("a");
  });
  CHECK(h.log.lines() == lines{"started=true", "listener a"});
  h.require_clean();
}

TEST_CASE("3.3 on_messageerror and on_close do not start the queue", "[sem3]") {
  harness h;
  h.run([&](context& self) {
    message_channel ch;
    ch.port2().on_messageerror([&](message_event&) { h.log.add("error"); });
    ch.port2().on_close([&](message_event&) { h.log.add("close"); });
    ch.port2().add_event_listener("message", [&, ch](message_event& ev) {
      h.log.add("listener " + data_of(ev));
      close_all({ch.port1(), ch.port2()});
    });
    ch.port1().post_message("a");
    self.queue_task([&, ch] {
      h.log.add("task: started=" + yn(ch.port2().started()));
      ch.port2().start();
    });
  });
  CHECK(h.log.lines() == lines{"task: started=false", "listener a"});
  h.require_clean();
}

TEST_CASE("3.3 clearing on_message later does not disable the queue",
          "[sem3]") {
  harness h;
  h.run([&](context&) {
    message_channel ch;
    ch.port2().add_event_listener("message", [&, ch](message_event& ev) {
      h.log.add("listener " + data_of(ev));
      if (ev.data == value{"b"})
        close_all({ch.port1(), ch.port2()});
    });
    ch.port2().on_message([&, ch](message_event& ev) {
      h.log.add("onmessage " + data_of(ev));
      ch.port2().on_message(nullptr);
      ch.port1().post_message("b");
    });
    ch.port1().post_message("a");
  });
  CHECK(h.log.lines()
        == lines{"listener a", "onmessage a", "listener b"});
  h.require_clean();
}

TEST_CASE("3.4 a received port starts disabled even if the sender had started "
          "it",
          "[sem3]") {
  harness h;
  h.run([&](context& page) {
    message_channel ch;
    auto w = page.spawn("w", [&](context& self) {
      auto held = std::make_shared<message_port>();
      self.on_message([&, held](message_event& ev) {
        if (ev.data == value{"take"}) {
          *held = ev.ports.at(0);
          h.log.add("received: started=" + yn(held->started()));
          held->add_event_listener("message", [&, held](message_event& m) {
            h.log.add("port got " + data_of(m));
            if (m.data == value{"m2"}) {
              held->close();
              this_context().close();
            }
          });
          this_context().post_message("go");
        } else {
          h.log.add("check");
          held->start();
        }
      });
    });
    w.on_message([&, ch, w](message_event&) {
      ch.port1().post_message("m2");
      w.post_message("check");
    });
    ch.port2().start();
    ch.port1().post_message("m1");
    w.post_message("take", {ch.port2()});
  });
  CHECK(h.log.lines()
        == lines{"received: started=false", "check", "port got m1",
                 "port got m2"});
  h.require_clean();
}
