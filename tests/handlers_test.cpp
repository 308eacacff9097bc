// Listeners that change their own port while they run (SEMANTICS §3.3 for
// the onmessage attribute, the DOM's snapshot rule for listeners, §8.4 for
// close). The captured strings are long enough to live on the heap: if a
// running closure were destroyed under itself (as replacing a handler from
// inside it once did), the ASan run reports the use after free.

#include <string>

#include "support.hpp"

using namespace entangle;
using namespace entangle::test;

namespace {

const std::string tag(64, 'x');

} // namespace

TEST_CASE("3.3 a handler that replaces on_message from inside itself keeps "
          "running, and the next message goes to the new handler",
          "[sem3][handlers]") {
  harness h;
  h.run([&](context&) {
    message_channel ch;
    auto p2 = ch.port2();
    std::string mine = tag + "-first";
    p2.on_message([&, p2, mine](message_event& ev) {
      p2.on_message([&, p2](message_event& m) {
        h.log.add("second " + to_string(m.data));
        close_all({p2});
      });
      // Still running the first closure: its captures must be intact.
      h.log.add("first " + to_string(ev.data) + " " + mine.substr(64));
    });
    ch.port1().post_message("a");
    ch.port1().post_message("b");
    ch.port1().close();
  });
  CHECK(h.log.lines() == lines{"first \"a\" -first", "second \"b\""});
  h.require_clean();
}

TEST_CASE("3.3 a handler that clears on_message from inside itself finishes, "
          "and later messages find no handler",
          "[sem3][handlers]") {
  harness h;
  h.run([&](context& self) {
    message_channel ch;
    auto p2 = ch.port2();
    std::string mine = tag + "-only";
    p2.on_message([&, p2, mine](message_event& ev) {
      p2.on_message(event_handler{}); // clears it; the queue stays started
      h.log.add("only " + to_string(ev.data) + " " + mine.substr(64));
    });
    ch.port1().post_message("a");
    ch.port1().post_message("b");
    self.set_timeout([p2, p1 = ch.port1()] { close_all({p1, p2}); },
                     std::chrono::milliseconds{20});
  });
  CHECK(h.log.lines() == lines{"only \"a\" -only"});
  h.require_clean();
}

TEST_CASE("listeners removed during dispatch do not run for that event, "
          "added ones do not either, and the running one finishes",
          "[handlers]") {
  harness h;
  h.run([&](context&) {
    message_channel ch;
    auto p2 = ch.port2();
    auto second = std::make_shared<listener_id>(0);
    std::string mine = tag + "-one";
    p2.add_event_listener("message", [&, p2, second,
                                      mine](message_event& ev) {
      // Removes itself and the next listener, adds a third.
      p2.remove_event_listener("message", 1);
      p2.remove_event_listener("message", *second);
      p2.add_event_listener("message", [&, p2](message_event& m) {
        h.log.add("three " + to_string(m.data));
        close_all({p2});
      });
      h.log.add("one " + to_string(ev.data) + " " + mine.substr(64));
    });
    *second = p2.add_event_listener("message", [&](message_event& ev) {
      h.log.add("two " + to_string(ev.data));
    });
    p2.start();
    ch.port1().post_message("a");
    ch.port1().post_message("b");
    ch.port1().close();
  });
  CHECK(h.log.lines() == lines{"one \"a\" -one", "three \"b\""});
  h.require_clean();
}

TEST_CASE("8.4 closing the port from inside its handler drops its listeners "
          "but not the running one",
          "[sem8][handlers]") {
  harness h;
  h.run([&](context&) {
    message_channel ch;
    auto p2 = ch.port2();
    std::string mine = tag + "-closer";
    p2.on_message([&, p2, mine](message_event& ev) {
      p2.close(); // forgets the port: every listener is released
      h.log.add("closed at " + to_string(ev.data) + " " + mine.substr(64));
    });
    ch.port1().on_close([&, p1 = ch.port1()](message_event&) {
      h.log.add("peer got close");
      p1.close();
    });
    ch.port1().start(); // a close event waits for start(), like a message
    ch.port1().post_message("a");
    ch.port1().post_message("b");
  });
  CHECK(h.log.lines() == lines{"closed at \"a\" -closer", "peer got close"});
  CHECK(h.drops(drop_reason::closed) == 1);
  h.require_clean();
}
