#include "support.hpp"

using namespace entangle;
using namespace entangle::test;

TEST_CASE("a message crosses a channel inside one context", "[smoke]") {
  harness h;
  h.run([&](context&) {
    message_channel ch;
    ch.port2().on_message([&, ch](message_event& ev) {
      h.log.add(str(ev));
      ch.port1().close();
      ch.port2().close();
    });
    ch.port1().post_message("hello");
  });
  CHECK(h.log.lines() == lines{"message:\"hello\""});
  h.require_clean_exits();
  CHECK(h.rt->live_ports() == 0);
}

TEST_CASE("a port transferred to a worker carries a conversation",
          "[smoke]") {
  harness h;
  h.run([&](context& page) {
    message_channel ch;
    auto frame = page.spawn("frame", [&](context& self) {
      self.on_message([&](message_event& ev) {
        h.log.add("frame got " + str(ev));
        auto port = ev.ports.at(0);
        port.on_message([&, port](message_event& m) {
          h.log.add("frame got " + str(m));
          port.post_message("pong");
        });
        port.post_message("ready");
      });
    });
    ch.port1().on_message([&, ch](message_event& ev) {
      h.log.add("page got " + str(ev));
      if (ev.data == value{"ready"}) {
        ch.port1().post_message("ping");
      } else {
        ch.port1().close();
        this_context().close();
      }
    });
    frame.post_message("init", {ch.port2()});
  });
  CHECK(h.log.lines()
        == lines{"frame got message:\"init\"", "page got message:\"ready\"",
                 "frame got message:\"ping\"", "page got message:\"pong\""});
  h.require_clean_exits();
  CHECK(h.rt->live_contexts() == 0);
  CHECK(h.rt->live_ports() == 0);
}
