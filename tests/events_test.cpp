// Conformance tests for SEMANTICS §9 (messageerror) and §10 (MessageEvent
// fields). Nothing asserts inside a context.

#include <memory>
#include <variant>

#include "support.hpp"

using namespace entangle;
using namespace entangle::test;

// -- §9 messageerror ---------------------------------------------------------------

TEST_CASE("9.1 a message the receiver cannot deserialize fires messageerror "
          "instead, in queue order, with empty fields",
          "[sem9]") {
  harness h{[](runtime_config& c) { c.max_buffer_bytes = 8; }};
  message_event seen;
  message_port receiver;
  h.run([&](context&) {
    message_channel ch;
    receiver = ch.port2();
    ch.port2().on_message([&, ch](message_event& ev) {
      h.log.add("message " + to_string(ev.data));
      if (ev.data == value{"end"})
        close_all({ch.port1(), ch.port2()});
    });
    ch.port2().on_messageerror([&](message_event& ev) {
      seen = ev;
      h.log.add("messageerror");
    });
    auto p = ch.port1();
    array_buffer five{bytes(5)}, other{bytes(5)};
    h.log.set("post", outcome([&] {
                p.post_message(array_buffer{8});             // at the limit
                p.post_message(value::arr({five, other}));   // 10 bytes
                p.post_message(value::arr({five, five}));    // one buffer
                p.post_message("end");
              }));
  });
  CHECK(h.log.get("post") == "ok");
  CHECK(h.log.lines()
        == lines{"message ArrayBuffer(8)", "messageerror",
                 "message [ArrayBuffer(5), ArrayBuffer(5)]",
                 "message \"end\""});
  CHECK(seen.type == "messageerror");
  CHECK(seen.data.is_null());
  CHECK(seen.ports.empty());
  CHECK(seen.origin.empty());
  CHECK(seen.last_event_id.empty());
  CHECK(std::holds_alternative<std::monostate>(seen.source));
  CHECK(seen.target == receiver);
  CHECK_FALSE(seen.error.empty());
  CHECK(h.drops(drop_reason::messageerror) == 1);
  h.require_clean();
}

TEST_CASE("9.1 ports carried by an undeliverable message are closed and "
          "their peers get close",
          "[sem9]") {
  harness h{[](runtime_config& c) { c.max_buffer_bytes = 8; }};
  h.run([&](context&) {
    message_channel ch, x;
    ch.port2().on_messageerror([&, ch](message_event& ev) {
      h.log.add("messageerror ports=" + std::to_string(ev.ports.size()));
      close_all({ch.port1(), ch.port2()});
    });
    ch.port2().start();
    x.port2().on_message([&](message_event&) { h.log.add("x.port2 message"); });
    x.port2().on_close([&, x](message_event&) {
      h.log.add("x.port2 got close");
      x.port2().close();
    });
    ch.port1().post_message(value::arr({array_buffer{16}}), {x.port1()});
    h.log.add("x.port1 detached=" + yn(x.port1().detached()));
  });
  CHECK(h.log.lines()
        == lines{"x.port1 detached=true", "messageerror ports=0",
                 "x.port2 got close"});
  CHECK(h.drops(drop_reason::messageerror) == 1);
  h.require_clean();
}

TEST_CASE("9.1 a worker's undeliverable messages fire messageerror at the "
          "worker global and at the worker object",
          "[sem9]") {
  harness h{[](runtime_config& c) { c.max_buffer_bytes = 8; }};
  auto describe = [](const char* where, const message_event& ev) {
    return std::string{where} + " got " + ev.type + " data="
           + to_string(ev.data) + " no target=" + yn(!ev.target);
  };
  h.run([&](context& page) {
    auto w = page.spawn("w", [&](context& self) {
      self.on_message([&](message_event&) { h.log.add("w got message"); });
      self.on_messageerror([&](message_event& ev) {
        h.log.add(describe("worker global", ev));
        this_context().post_message(array_buffer{16});
      });
    });
    w.on_message([&](message_event&) { h.log.add("page got message"); });
    w.on_messageerror([&](message_event& ev) {
      h.log.add(describe("worker object", ev));
      this_context().close();
    });
    w.post_message(array_buffer{16});
  });
  CHECK(h.log.lines()
        == lines{"worker global got messageerror data=null no target=true",
                 "worker object got messageerror data=null no target=true"});
  CHECK(h.drops(drop_reason::messageerror) == 2);
  h.require_clean();
}

TEST_CASE("9.2 failures at the sender throw and never produce messageerror",
          "[sem9]") {
  harness h;
  h.run([&](context&) {
    message_channel ch;
    ch.port2().on_messageerror([&](message_event&) { h.log.add("messageerror"); });
    ch.port2().on_message([&, ch](message_event& ev) {
      h.log.add("message " + to_string(ev.data));
      close_all({ch.port1(), ch.port2()});
    });
    auto p = ch.port1();
    h.log.add(outcome([&] { p.post_message(host_object{"Promise"}); }));
    h.log.add(outcome([&] { p.post_message(nested(1000)); }));
    p.post_message("end");
  });
  CHECK(h.log.lines()
        == lines{"DataCloneError", "DataCloneError", "message \"end\""});
  CHECK(h.rt->drops().total() == 0);
  h.require_clean();
}

TEST_CASE("9.3 on_messageerror does not start the port; messageerror "
          "listeners fire once it is started",
          "[sem9][sem3]") {
  harness h{[](runtime_config& c) { c.max_buffer_bytes = 8; }};
  h.run([&](context& self) {
    message_channel ch;
    ch.port2().on_messageerror([&](message_event&) { h.log.add("onmessageerror"); });
    ch.port2().add_event_listener("messageerror", [&, ch](message_event&) {
      h.log.add("listener");
      close_all({ch.port1(), ch.port2()});
    });
    ch.port1().post_message(array_buffer{16});
    self.queue_task([&, ch] {
      h.log.add("task: started=" + yn(ch.port2().started()));
      ch.port2().start();
    });
  });
  CHECK(h.log.lines()
        == lines{"task: started=false", "onmessageerror", "listener"});
  h.require_clean();
}

// -- §10 MessageEvent fields ----------------------------------------------------------

TEST_CASE("10 a port message event has type message, empty origin and "
          "last_event_id, no source, an empty ports list and its port as "
          "target",
          "[sem10]") {
  harness h;
  message_event seen;
  message_port receiver;
  h.run([&](context&) {
    message_channel ch;
    receiver = ch.port2();
    ch.port2().on_message([&, ch](message_event& ev) {
      seen = ev;
      close_all({ch.port1(), ch.port2()});
    });
    ch.port1().post_message("payload");
  });
  CHECK(seen.type == "message");
  CHECK(seen.data == value{"payload"});
  CHECK(seen.origin.empty());
  CHECK(seen.last_event_id.empty());
  CHECK(std::holds_alternative<std::monostate>(seen.source));
  CHECK(seen.ports.empty());
  CHECK(seen.target == receiver);
  CHECK(seen.error.empty());
  h.require_clean();
}

TEST_CASE("10 worker and worker-global message events carry the same fields "
          "as port messages",
          "[sem10]") {
  harness h;
  message_event at_worker, at_page;
  h.run([&](context& page) {
    message_channel ch;
    auto w = page.spawn("w", [&](context& self) {
      self.on_message([&](message_event& ev) {
        at_worker = ev;
        for (auto& p : ev.ports)
          p.close();
        this_context().post_message("reply");
      });
    });
    w.on_message([&](message_event& ev) {
      at_page = ev;
      this_context().close();
    });
    w.post_message("hello", {ch.port2()});
  });
  for (auto* ev : {&at_worker, &at_page}) {
    CHECK(ev->type == "message");
    CHECK(ev->origin.empty());
    CHECK(ev->last_event_id.empty());
    CHECK(std::holds_alternative<std::monostate>(ev->source));
    CHECK_FALSE(ev->target);
    CHECK(ev->error.empty());
  }
  CHECK(at_worker.data == value{"hello"});
  CHECK(at_worker.ports.size() == 1);
  CHECK(at_page.data == value{"reply"});
  CHECK(at_page.ports.empty());
  h.require_clean();
}
