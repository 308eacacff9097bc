// Conformance tests for SEMANTICS §1 (object model), §2 (MessageChannel),
// §3 (port message queue enabling), §4 (MessagePort.postMessage) and §10
// (MessageEvent fields). Values (§5) and messageerror (§9) live in
// values_test.cpp. Nothing asserts inside a context: contexts record into
// the journal (or into test-scope variables only they write) and the test
// body asserts after the run.

#include <memory>
#include <type_traits>
#include <variant>

#include "support.hpp"

using namespace entangle;
using namespace entangle::test;

namespace {

/// Runs `f` and returns "ok", the DOMException name, or "type_error:<name>".
template <class F>
std::string outcome(F&& f) {
  try {
    f();
    return "ok";
  } catch (const type_error& e) {
    return "type_error:" + e.name();
  } catch (const dom_exception& e) {
    return e.name();
  }
}

std::string yn(bool b) {
  return b ? "true" : "false";
}

std::string data_of(const message_event& ev) {
  return ev.data.is_string() ? ev.data.as_string() : to_string(ev.data);
}

std::string state(const message_port& p) {
  return "started=" + yn(p.started()) + " detached=" + yn(p.detached())
         + " closed=" + yn(p.closed());
}

void close_all(std::initializer_list<message_port> ports) {
  for (auto& p : ports)
    p.close();
}

/// No context ended by an exception and no port record leaked.
void require_clean(const harness& h) {
  h.require_clean_exits();
  CHECK(h.rt->live_ports() == 0);
}

} // namespace

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
  require_clean(h);
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
  require_clean(h);
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
  require_clean(h);
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
  require_clean(h);
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
  require_clean(h);
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
  require_clean(h);
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
  require_clean(h);
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
  require_clean(h);
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
  require_clean(h);
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
  CHECK(h.log.lines()
        == lines{"transfer from w: ok", "main got port", "w got hi in w"});
  require_clean(h);
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
  require_clean(h);
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
  require_clean(h);
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
  require_clean(h);
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
  require_clean(h);
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
  require_clean(h);
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
  require_clean(h);
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
  require_clean(h);
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
  require_clean(h);
}

TEST_CASE("4.1 a null port in the transfer list is a TypeError in every "
          "post_message form, and posts nothing",
          "[sem4]") {
  harness h;
  h.run([&](context& page) {
    message_channel ch, x;
    ch.port2().on_message([&, ch](message_event& ev) {
      h.log.add("got " + data_of(ev));
      close_all({ch.port1(), ch.port2()});
    });
    auto p = ch.port1();
    h.log.add(outcome([&] { p.post_message(1, {message_port{}}); }));
    h.log.add(outcome([&] {
      p.post_message(1, structured_serialize_options{{message_port{}}});
    }));
    h.log.add(outcome([&] { p.post_message(1, {x.port1(), message_port{}}); }));
    h.log.add("x.port1 " + state(x.port1()));
    auto w = page.spawn("w", [&](context& self) {
      h.log.set("worker global",
                outcome([&] { self.post_message(1, {message_port{}}); }));
      this_context().close();
    });
    h.log.set("worker object",
              outcome([&] { w.post_message(1, {message_port{}}); }));
    p.post_message("end");
  });
  CHECK(h.log.lines()
        == lines{"type_error:TypeError", "type_error:TypeError",
                 "type_error:TypeError",
                 "x.port1 started=false detached=false closed=false",
                 "got end"});
  CHECK(h.log.get("worker global") == "type_error:TypeError");
  CHECK(h.log.get("worker object") == "type_error:TypeError");
  require_clean(h);
}

TEST_CASE("4.1 a null transfer item is a TypeError even after an item that "
          "would be a DataCloneError",
          "[sem4]") {
  // WebIDL converts the whole sequence before the post steps run.
  harness h;
  h.run([&](context&) {
    message_channel ch, x;
    auto p = ch.port1();
    h.log.add(outcome([&] {
      p.post_message(1, {x.port1(), x.port1(), message_port{}});
    }));
    h.log.add(outcome([&] { p.post_message(1, {p, message_port{}}); }));
  });
  CHECK(h.log.lines() == lines{"type_error:TypeError", "type_error:TypeError"});
  require_clean(h);
}

TEST_CASE("4.1 the one-argument, transfer-list and options forms all post; an "
          "empty transfer list transfers nothing",
          "[sem4]") {
  static_assert(std::is_void_v<decltype(message_port{}.post_message(1))>);
  harness h;
  h.run([&](context&) {
    message_channel ch, x, y;
    auto count = std::make_shared<int>(0);
    ch.port2().on_message([&, ch, count](message_event& ev) {
      h.log.add(data_of(ev) + " ports=" + std::to_string(ev.ports.size()));
      for (auto& p : ev.ports)
        p.close();
      if (++*count == 5)
        close_all({ch.port1(), ch.port2()});
    });
    auto p = ch.port1();
    p.post_message("plain");
    p.post_message("empty list", transfer_list{});
    p.post_message("empty options", structured_serialize_options{});
    p.post_message("list", {x.port1()});
    p.post_message("options", structured_serialize_options{{y.port1()}});
  });
  CHECK(h.log.lines()
        == lines{"plain ports=0", "empty list ports=0", "empty options ports=0",
                 "list ports=1", "options ports=1"});
  require_clean(h);
}

TEST_CASE("4.2 the source port in its own transfer list throws DataCloneError "
          "and transfers nothing",
          "[sem4]") {
  harness h;
  h.run([&](context&) {
    message_channel ch, x;
    ch.port2().on_message([&, ch](message_event& ev) {
      h.log.add("got " + data_of(ev));
      close_all({ch.port1(), ch.port2()});
    });
    auto p = ch.port1();
    array_buffer b{std::vector<std::uint8_t>{1, 2}};
    h.log.add(outcome([&] { p.post_message(1, {p}); }));
    h.log.add(outcome([&] {
      p.post_message(1, structured_serialize_options{{x.port1(), b, p}});
    }));
    h.log.add("x.port1 " + state(x.port1()) + " b="
              + std::to_string(b.byte_length()));
    p.post_message("end");
  });
  CHECK(h.log.lines()
        == lines{"DataCloneError", "DataCloneError",
                 "x.port1 started=false detached=false closed=false b=2",
                 "got end"});
  require_clean(h);
}

TEST_CASE("4.2 event.ports lists the transferred ports in transfer-list order",
          "[sem4][sem10]") {
  harness h;
  h.run([&](context&) {
    message_channel ch, a, b, c;
    ch.port2().on_message([&, ch](message_event& ev) {
      h.log.set("count", std::to_string(ev.ports.size()));
      for (std::size_t i = 0; i < ev.ports.size(); ++i)
        ev.ports[i].post_message(static_cast<double>(i));
      close_all({ch.port1(), ch.port2()});
    });
    for (auto [name, port] : {std::pair{"a", a.port1()}, std::pair{"b", b.port1()},
                              std::pair{"c", c.port1()}})
      port.on_message([&, name = std::string{name}, port](message_event& ev) {
        h.log.set(name, data_of(ev));
        port.close();
      });
    ch.port1().post_message("ports", {b.port2(), c.port2(), a.port2()});
  });
  CHECK(h.log.get("count") == "3");
  CHECK(h.log.get("b") == "0");
  CHECK(h.log.get("c") == "1");
  CHECK(h.log.get("a") == "2");
  require_clean(h);
}

TEST_CASE("4.3 posting the peer port through its own channel does not throw, "
          "drops the message and closes the channel",
          "[sem4]") {
  harness h;
  h.run([&](context&) {
    message_channel ch;
    ch.port2().on_message([&](message_event& ev) {
      h.log.add("port2 got " + data_of(ev));
    });
    ch.port1().on_message([&](message_event& ev) {
      h.log.add("port1 got " + data_of(ev));
    });
    ch.port1().on_close([&, ch](message_event&) {
      h.log.add("port1 got close");
      ch.port1().close();
    });
    h.log.add(outcome([&] { ch.port1().post_message("x", {ch.port2()}); }));
    h.log.add("port2 " + state(ch.port2()));
  });
  CHECK(h.log.lines()
        == lines{"ok", "port2 started=true detached=true closed=false",
                 "port1 got close"});
  CHECK(h.drops(drop_reason::doomed) == 1);
  CHECK(h.rt->drops().total() == 1);
  require_clean(h);
}

TEST_CASE("4.3 a doomed post that fails to serialize throws and leaves the "
          "channel intact",
          "[sem4]") {
  harness h;
  h.run([&](context&) {
    message_channel ch;
    ch.port2().on_message([&, ch](message_event& ev) {
      h.log.add("port2 got " + data_of(ev));
      close_all({ch.port1(), ch.port2()});
    });
    h.log.add(outcome([&] {
      ch.port1().post_message(host_object{"function"}, {ch.port2()});
    }));
    h.log.add("port2 " + state(ch.port2()));
    ch.port1().post_message("still entangled");
  });
  CHECK(h.log.lines()
        == lines{"DataCloneError",
                 "port2 started=true detached=false closed=false",
                 "port2 got still entangled"});
  CHECK(h.rt->drops().total() == 0);
  require_clean(h);
}

TEST_CASE("4.3 a doomed post still performs its other transfers: buffers "
          "detach and carried ports close",
          "[sem4]") {
  harness h;
  h.run([&](context&) {
    message_channel ch, x;
    array_buffer b{std::vector<std::uint8_t>{1, 2, 3}};
    ch.port1().on_close([&, ch](message_event&) {
      h.log.set("port1", "close");
      ch.port1().close();
    });
    x.port2().on_close([&, x](message_event&) {
      h.log.set("x.port2", "close");
      x.port2().close();
    });
    ch.port1().start();
    x.port2().start();
    h.log.set("post", outcome([&] {
                ch.port1().post_message(
                  value::arr({b}),
                  structured_serialize_options{{x.port1(), ch.port2(), b}});
              }));
    h.log.set("b", yn(b.detached()) + " " + std::to_string(b.byte_length()));
    h.log.set("x.port1", state(x.port1()));
  });
  CHECK(h.log.get("post") == "ok");
  CHECK(h.log.get("b") == "true 0");
  CHECK(h.log.get("x.port1") == "started=false detached=true closed=false");
  CHECK(h.log.get("port1") == "close");
  CHECK(h.log.get("x.port2") == "close");
  CHECK(h.drops(drop_reason::doomed) == 1);
  require_clean(h);
}

TEST_CASE("4.3 after a doomed post the surviving port drops what it posts",
          "[sem4]") {
  harness h;
  h.run([&](context&) {
    message_channel ch;
    ch.port2().on_message([&](message_event& ev) {
      h.log.add("port2 got " + data_of(ev));
    });
    ch.port1().post_message("doomed", {ch.port2()});
    h.log.add(outcome([&] { ch.port1().post_message("after"); }));
  });
  CHECK(h.log.lines() == lines{"ok"});
  CHECK(h.rt->drops().total() == 2);
  require_clean(h);
}

TEST_CASE("4.3 a post after a doomed post is counted as unentangled, not "
          "doomed",
          "[sem4]") {
  harness h;
  h.run([&](context&) {
    message_channel ch;
    ch.port1().post_message("doomed", {ch.port2()});
    ch.port1().post_message("after");
  });
  CHECK(h.drops(drop_reason::doomed) == 1);
  CHECK(h.drops(drop_reason::unentangled) == 1);
  require_clean(h);
}

/// Closes the source or the target end of a channel, then posts from
/// port1; the end left open logs what reaches it and closes on close.
lines post_after_close(harness& h, bool close_source) {
  h.run([&](context&) {
    message_channel ch;
    auto survivor = close_source ? ch.port2() : ch.port1();
    survivor.on_message([&](message_event& ev) {
      h.log.add("got " + data_of(ev));
    });
    survivor.on_close([&, survivor](message_event&) {
      h.log.add("survivor got close");
      survivor.close();
    });
    (close_source ? ch.port1() : ch.port2()).close();
    h.log.add(outcome([&] { ch.port1().post_message("x"); }));
  });
  return h.log.lines();
}

TEST_CASE("4.4 posting from a closed port is silently dropped and counted",
          "[sem4]") {
  harness h;
  CHECK(post_after_close(h, true) == lines{"ok", "survivor got close"});
  CHECK(h.drops(drop_reason::closed) == 1);
  CHECK(h.rt->drops().total() == 1);
  require_clean(h);
}

TEST_CASE("4.4 posting to a port whose peer closed is silently dropped and "
          "counted",
          "[sem4]") {
  harness h;
  CHECK(post_after_close(h, false) == lines{"ok", "survivor got close"});
  CHECK(h.drops(drop_reason::closed) == 1);
  CHECK(h.rt->drops().total() == 1);
  require_clean(h);
}

TEST_CASE("4.4 a closed port still throws serialization errors", "[sem4]") {
  harness h;
  h.run([&](context&) {
    message_channel ch, peer_closed;
    auto p = ch.port1();
    p.close();
    auto q = peer_closed.port1();
    peer_closed.port2().close();
    for (auto& port : {p, q}) {
      h.log.add(outcome([&] { port.post_message(host_object{"function"}); }));
      h.log.add(outcome([&] { port.post_message(1, {port}); }));
      h.log.add(outcome([&] { port.post_message(1, {message_port{}}); }));
      h.log.add(outcome([&] { port.post_message(ch.port2()); }));
    }
  });
  CHECK(h.log.lines()
        == lines{"DataCloneError", "DataCloneError", "type_error:TypeError",
                 "DataCloneError", "DataCloneError", "DataCloneError",
                 "type_error:TypeError", "DataCloneError"});
  CHECK(h.rt->drops().total() == 0);
  require_clean(h);
}

TEST_CASE("4.4 transfers still take effect when posting on a closed port",
          "[sem4]") {
  harness h;
  h.run([&](context&) {
    message_channel ch, x;
    array_buffer b{std::vector<std::uint8_t>{1, 2}};
    x.port2().on_close([&, x](message_event&) {
      h.log.set("x.port2", "close");
      x.port2().close();
    });
    x.port2().start();
    ch.port1().close();
    h.log.set("post", outcome([&] {
                ch.port1().post_message(value::arr({b}), {x.port1(), b});
              }));
    h.log.set("b", yn(b.detached()));
    h.log.set("x.port1", state(x.port1()));
  });
  CHECK(h.log.get("post") == "ok");
  CHECK(h.log.get("b") == "true");
  CHECK(h.log.get("x.port1") == "started=false detached=true closed=false");
  CHECK(h.log.get("x.port2") == "close");
  CHECK(h.drops(drop_reason::closed) == 1);
  require_clean(h);
}

TEST_CASE("4.5 a message fires at the other port, never at the source",
          "[sem4]") {
  harness h;
  h.run([&](context&) {
    message_channel ch;
    auto log_at = [&](const char* name, message_port self) {
      self.on_message([&, name, self, ch](message_event& ev) {
        h.log.add(std::string{name} + " got " + data_of(ev) + " target="
                  + (ev.target == ch.port1()   ? "port1"
                     : ev.target == ch.port2() ? "port2"
                                               : "other"));
        if (ev.data == value{"x"})
          self.post_message("y");
        else
          close_all({ch.port1(), ch.port2()});
      });
    };
    log_at("port1", ch.port1());
    log_at("port2", ch.port2());
    ch.port1().post_message("x");
  });
  CHECK(h.log.lines()
        == lines{"port2 got x target=port2", "port1 got y target=port1"});
  require_clean(h);
}

TEST_CASE("4.6 posting from a handler queues a new task: the handler and the "
          "poster finish first",
          "[sem4]") {
  harness h;
  h.run([&](context&) {
    message_channel ch;
    ch.port2().on_message([&, ch](message_event& ev) {
      h.log.add("begin " + data_of(ev));
      ch.port2().post_message("b");
      h.log.add("end " + data_of(ev));
    });
    ch.port1().on_message([&, ch](message_event& ev) {
      h.log.add("port1 got " + data_of(ev));
      close_all({ch.port1(), ch.port2()});
    });
    ch.port1().post_message("a");
    h.log.add("posted a");
  });
  CHECK(h.log.lines()
        == lines{"posted a", "begin a", "end a", "port1 got b"});
  require_clean(h);
}

TEST_CASE("4.6 an endless ping-pong inside one context does not starve its "
          "queued tasks",
          "[sem4]") {
  harness h;
  long rounds = 0, rounds_at_task = -1; // written by the context only
  h.run([&](context&) {
    message_channel ch;
    auto stop = std::make_shared<bool>(false);
    for (auto port : {ch.port1(), ch.port2()})
      port.on_message([&, ch, port, stop](message_event& ev) {
        if (*stop)
          return close_all({ch.port1(), ch.port2()});
        if (++rounds == 1000)
          this_context().queue_task([&, stop] {
            rounds_at_task = rounds;
            *stop = true;
          });
        port.post_message(ev.data);
      });
    for (int ball = 0; ball < 16; ++ball)
      ch.port1().post_message(ball);
  });
  CHECK(rounds_at_task >= 1000); // -1: the task never ran
  require_clean(h);
}

TEST_CASE("4.6 an endless ping-pong between two contexts starves neither "
          "context's tasks",
          "[sem4]") {
  harness h;
  h.run([&](context& page) {
    message_channel ch;
    auto w = page.spawn("w", [&](context& self) {
      self.on_message([&](message_event& ev) {
        auto port = ev.ports.at(0);
        auto rounds = std::make_shared<long>(0);
        port.on_close([&, port](message_event&) {
          port.close();
          this_context().close();
        });
        port.on_message([&, port, rounds](message_event& m) {
          if (++*rounds == 1000)
            this_context().queue_task([&, port, rounds] {
              h.log.set("w task", std::to_string(*rounds));
              port.post_message("w task ran");
            });
          port.post_message(m.data);
        });
      });
    });
    auto rounds = std::make_shared<long>(0);
    auto done = std::make_shared<int>(0);
    ch.port1().on_message([&, ch, rounds, done](message_event& m) {
      if (m.data.is_string() || *done == 2) {
        if (m.data.is_string() && ++*done == 2)
          ch.port1().close();
        return;
      }
      if (++*rounds == 1000)
        this_context().queue_task([&, rounds, done, ch] {
          h.log.set("main task", std::to_string(*rounds));
          if (++*done == 2)
            ch.port1().close();
        });
      ch.port1().post_message(m.data);
    });
    w.post_message("take", {ch.port2()});
    for (int ball = 0; ball < 16; ++ball)
      ch.port1().post_message(ball);
  });
  // Both tasks ran although each side's ping-pong never paused.
  CHECK(std::stol(h.log.get("main task")) >= 1000); // throws if unset
  CHECK(std::stol(h.log.get("w task")) >= 1000);
  require_clean(h);
}
