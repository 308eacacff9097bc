// Flow control under explored schedules ([flow][explore]): the ready
// notice races the transfer of the sending end -- the receiver, in its own
// worker, may read (and so send the notice) before, while or after the
// sender's port moves to another context. In every schedule a producer
// that posts while desired_size() > 0 and otherwise waits for ready is
// released exactly once, by whoever owns the sending end then (the notice
// is never lost in the move nor duplicated), and everything arrives once
// and in order.

#include <catch2/catch.hpp>

#include <functional>
#include <memory>
#include <vector>

#include "entangle/all.hpp"
#include "entangle/testing/catch.hpp"
#include "entangle/testing/explore.hpp"

using namespace entangle;
using namespace entangle::testing;

TEST_CASE("flow: a ready notice racing the transfer of the sending end is "
          "dispatched once, by its owner then",
          "[flow][explore]") {
  explore_options opts;
  opts.schedules = 300;
  auto result = explore(opts, [](testkit& kit) {
    auto got = std::make_shared<std::vector<double>>();
    auto readies = std::make_shared<int>(0);
    auto released = std::make_shared<int>(0); // times 3 and 4 were posted
    auto refused = std::make_shared<int>(0);
    // The producer's protocol (WHATWG's): post while desired_size() > 0,
    // else wait for ready. Whoever owns the sending end posts 3 and 4.
    auto release = [released, refused](const message_port& out) {
      if (*released > 0)
        return;
      try {
        out.post_message(3);
        out.post_message(4);
        ++*released;
      } catch (const dom_exception&) {
        ++*refused;
      }
    };
    auto on_ready = [readies, release](const message_port& out) {
      out.on_ready([out, readies, release](message_event&) {
        ++*readies;
        release(out);
      });
      if (out.desired_size().value_or(1) > 0)
        release(out); // room already: no crossing to wait for
    };
    kit.spawn("page", [&kit, got, on_ready](context& self) {
      message_channel ch;
      auto out = ch.port1();
      auto in = ch.port2();
      in.set_high_water_mark({2}); // travels with `in` to the reader
      auto reader = self.spawn("reader", [got](context& me) {
        me.on_message([got](message_event& ev) {
          auto port = ev.ports.at(0);
          port.on_message([got, port](message_event& m) {
            got->push_back(m.data.as_number());
            if (got->size() == 4)
              port.close();
          });
        });
      });
      reader.post_message("read", {in});
      out.post_message(1);
      out.post_message(2); // at the mark: wait for ready
      on_ready(out);
      auto sender = self.spawn("sender", [on_ready](context& me) {
        me.on_message([on_ready](message_event& ev) {
          auto port = ev.ports.at(0);
          on_ready(port);
          port.on_close([](message_event&) { this_context().close(); });
        });
      });
      // A later task moves the sending end: the notice may come first.
      self.queue_task([sender, out]() mutable {
        sender.post_message("send", {out});
      });
      (void) kit;
    });
    kit.run();
    kit.check(*got == std::vector<double>{1, 2, 3, 4},
              "the receiver got 1, 2, 3, 4 once each, in order");
    // At most one notice per crossing, and there are at most two here.
    kit.check(*readies <= 2, "no ready notice was duplicated");
    kit.check(*released == 1, "3 and 4 were released exactly once");
    kit.check(*refused == 0, "nothing was refused");
    kit.check(kit.drops().total() == 0, "nothing was dropped");
  });
  INFO(result.report());
  CHECK(result);
}

TEST_CASE("flow: a slow stream consumer holds its credit; in every schedule "
          "chunks arrive once, in order, and ready wakes the writer only "
          "with room",
          "[flow][explore][stream]") {
  // The reader's loop takes a chunk (a pop that may cross the mark and
  // queue a ready notice) and its consumer holds it until a timer settles
  // its promise (the receiver is full again): that notice is stale and is
  // not fired (the port-level rule, see ingress_flow_test.cpp for a test
  // that sees the raw event), and the stream's ready() waits on.
  explore_options opts;
  opts.schedules = 200;
  auto result = explore(opts, [](testkit& kit) {
    constexpr int total = 12;
    auto got = std::make_shared<std::vector<double>>();
    auto readies = std::make_shared<int>(0);
    auto roomless = std::make_shared<int>(0);
    kit.spawn("page", [got, readies, roomless](context& self) {
      auto s = make_stream({high_water_mark{2}});
      auto reader = self.spawn("reader", [got](context& me) {
        me.on_message([got](message_event& ev) {
          readable_stream<> in{ev.ports.at(0)};
          in.for_each([got](value& v) {
            got->push_back(v.as_number());
            auto done = promise<value>::make();
            this_context().set_timeout([done] { done.resolve(value{}); },
                                       std::chrono::milliseconds{1});
            return done;
          });
        });
      });
      reader.post_message("stream", {s.readable.port()});
      auto w = s.writable;
      auto next = std::make_shared<int>(0);
      auto pump = std::make_shared<std::function<void()>>();
      std::weak_ptr<std::function<void()>> weak = pump;
      *pump = [w, next, weak, readies, roomless] {
        while (*next < total && w.has_room())
          w.write((*next)++);
        if (*next == total) {
          w.close();
          return;
        }
        w.ready().then([w, again = weak.lock(), readies, roomless](value&) {
          ++*readies;
          if (w.desired_size().value_or(1) <= 0)
            ++*roomless;
          (*again)();
        });
      };
      (*pump)();
    });
    kit.advance(std::chrono::milliseconds{200});
    std::vector<double> want(total);
    for (int i = 0; i < total; ++i)
      want[static_cast<std::size_t>(i)] = i;
    kit.check(*got == want, "every chunk arrived once, in order");
    kit.check(*readies > 0, "the writer waited for credit");
    kit.check(*roomless == 0, "every ready found room");
  });
  INFO(result.report());
  CHECK(result);
}
