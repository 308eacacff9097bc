// SEMANTICS §13.3/§13.4 for ports in transit: a port posted into a queue
// that it (transitively) holds itself forms a cycle of ports in transit,
// each inside a message queued on the other. Nothing can ever deliver such
// a message, so the cycle is "both sides unreachable": entangle collects it
// at the post that would close it (drop_reason::unreachable), and collection
// disentangles, so the live peers get their close events.
//
// Context code never asserts (Catch2 is not thread-safe): it records into
// h.log, and the test body checks after the run.

#include <memory>
#include <string>

#include "support.hpp"

using namespace entangle;
using namespace entangle::test;

namespace {

/// Logs "<name> got close" on `p`'s close event and starts it; calls
/// `then` after the `n`-th such close among all ports sharing `count`.
void expect_close(journal& log, message_port p, std::string name,
                  std::shared_ptr<int> count, int n) {
  p.on_close([&log, name, count, n](message_event&) {
    log.add(name + " got close");
    if (++*count == n)
      this_context().close();
  });
  p.start();
}

} // namespace

TEST_CASE("13.3 a two-port cycle in transit is collected where it forms: "
          "dropped as unreachable, and both peers get close",
          "[sem13][cycle]") {
  harness h;
  h.run([&](context&) {
    message_channel a, b;
    auto closes = std::make_shared<int>(0);
    expect_close(h.log, a.port1(), "a.port1", closes, 2);
    expect_close(h.log, b.port1(), "b.port1", closes, 2);
    // b.port2 waits in a.port2's queue; then a.port2 would wait in
    // b.port2's queue: each inside the other, forever.
    a.port1().post_message("carries b.port2", {b.port2()});
    b.port1().post_message("carries a.port2", {a.port2()});
  });
  CHECK(sorted(h.log.lines()) == lines{"a.port1 got close", "b.port1 got close"});
  // The closing post, and the message it strands (queued on a.port2).
  CHECK(h.drops(drop_reason::unreachable) == 2);
  CHECK(h.rt->drops().total() == 2);
  h.require_clean();
}

TEST_CASE("13.3 a three-port cycle closed from another context is collected, "
          "and every live peer on either side gets close",
          "[sem13][cycle][context]") {
  harness h;
  h.run([&](context& page) {
    message_channel a, b, c;
    auto closes = std::make_shared<int>(0);
    expect_close(h.log, a.port1(), "a.port1", closes, 2);
    expect_close(h.log, b.port1(), "b.port1", closes, 2);
    a.port1().post_message("carries b.port2", {b.port2()}); // in a.port2
    b.port1().post_message("carries c.port2", {c.port2()}); // in b.port2
    auto w = page.spawn("w", [&](context& self) {
      self.on_message([&](message_event& ev) {
        auto c1 = ev.ports.at(0);
        auto a2 = ev.ports.at(1);
        c1.on_close([&](message_event&) {
          h.log.add("w: c.port1 got close");
          this_context().close();
        });
        c1.start();
        // a.port2 -> c.port2 (in b.port2, in a.port2): a cycle of three.
        c1.post_message("carries a.port2", {a2});
      });
    });
    w.post_message("take", {c.port1(), a.port2()});
  });
  CHECK(sorted(h.log.lines())
        == lines{"a.port1 got close", "b.port1 got close",
                 "w: c.port1 got close"});
  CHECK(h.drops(drop_reason::unreachable) == 3);
  CHECK(h.rt->drops().total() == 3);
  h.require_clean();
}

TEST_CASE("13.3 a chain of queues that ends at an owned port is not a cycle: "
          "everything is delivered when the owner drains it",
          "[sem13][cycle][context]") {
  harness h;
  h.run([&](context& page) {
    message_channel a, b, x;
    // b.port2 waits in a.port2's queue; a.port2 is owned (unstarted), so a
    // port posted into b.port2 is reachable through a.port2's owner.
    a.port1().post_message("carries b.port2", {b.port2()});
    b.port1().post_message("carries x.port2", {x.port2()});
    x.port1().post_message("through x");
    auto w = page.spawn("w", [&](context& self) {
      self.on_message([&](message_event& ev) {
        auto a2 = ev.ports.at(0);
        a2.on_message([&](message_event& m1) {
          h.log.add("w got " + label(m1));
          auto b2 = m1.ports.at(0);
          b2.on_message([&](message_event& m2) {
            h.log.add("w got " + label(m2));
            auto x2 = m2.ports.at(0);
            x2.on_message([&](message_event& m3) {
              h.log.add("w got " + label(m3));
              this_context().close();
            });
          });
        });
      });
    });
    w.post_message("take", {a.port2()});
    close_all({a.port1(), b.port1(), x.port1()});
  });
  CHECK(h.log.lines()
        == lines{"w got carries b.port2", "w got carries x.port2",
                 "w got through x"});
  CHECK(h.drops(drop_reason::unreachable) == 0);
  h.require_clean();
}

TEST_CASE("13.3 two contexts racing to close the same cycle from both sides: "
          "exactly one post is collected, every time",
          "[sem13][cycle][context]") {
  // X posts b.port2 into a.port2's queue while Y, on another thread, posts
  // a.port2 into b.port2's queue. Whichever comes second would close the
  // cycle; the scheduler orders the two walks, so in every round exactly
  // one post is dropped (with the message it strands), and no round leaves
  // a cycle behind (which would leak its two records).
  static constexpr int rounds = 50;
  harness h;
  h.run([&](context& page) {
    auto racer = [](std::string name) {
      return [name](context& self) {
        self.on_message([name](message_event& ev) {
          auto via = ev.ports.at(0);
          via.post_message(name, {ev.ports.at(1)});
          this_context().post_message("posted");
          this_context().close();
        });
      };
    };
    auto posted = std::make_shared<int>(0);
    for (int i = 0; i < rounds; ++i) {
      message_channel a, b;
      for (auto name : {"x", "y"}) {
        auto w = page.spawn(name, racer(name));
        w.on_message([&h, posted](message_event&) {
          if (++*posted == 2 * rounds) {
            h.log.add("all posted");
            this_context().close();
          }
        });
        if (std::string{name} == "x")
          w.post_message("go", {a.port1(), b.port2()});
        else
          w.post_message("go", {b.port1(), a.port2()});
      }
    }
  });
  CHECK(h.log.lines() == lines{"all posted"});
  CHECK(h.drops(drop_reason::unreachable) == 2 * rounds);
  CHECK(h.rt->drops().total() == 2 * rounds);
  h.require_clean();
}
