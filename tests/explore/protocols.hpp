#pragma once

// Small protocols with a planted ordering bug, each beside its fixed
// variant, for the schedule exploration tests (tests/explore_test.cpp):
// the buggy one passes the default schedule and fails in some other one
// the threaded runtime can take; the fixed one passes them all.

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "entangle/all.hpp"
#include "entangle/testing/testkit.hpp"

namespace entangle::explore_protocols {

using std::chrono::milliseconds;
using body_fn = std::function<void(testing::testkit&)>;

// -- lost update ---------------------------------------------------------------
//
// A counter server; two clients each read the count and write back one
// more. The second client starts 10 ms after the first, "when the first is
// surely done": a delay orders nothing (a loaded machine may run the first
// client late), so the two read-modify-writes can interleave and one
// update is lost. Fixed: the server increments in one step ("add").

inline void counter_page(context& self, bool fixed, int& count) {
  auto server = self.spawn("server", [&count](context& s) {
    auto open = std::make_shared<int>(2);
    s.on_message([&count, open](message_event& ev) {
      auto port = ev.ports.at(0);
      port.on_message([port, &count](message_event& m) {
        auto op = m.data["op"].as_string();
        if (op == "get") {
          port.post_message(count);
        } else if (op == "set") {
          count = static_cast<int>(m.data["n"].as_number());
        } else { // add
          ++count;
          port.post_message(count);
        }
      });
      port.on_close([open](message_event&) {
        if (--*open == 0)
          this_context().close();
      });
    });
  });
  for (int i = 1; i <= 2; ++i) {
    message_channel ch;
    server.post_message("client", {ch.port2()});
    bool later = i == 2;
    auto client = self.spawn(
      "c" + std::to_string(i), [fixed, later](context& c) {
        c.on_message([fixed, later](message_event& ev) {
          auto port = ev.ports.at(0);
          port.on_message([port, fixed](message_event& m) {
            if (!fixed)
              port.post_message(value::obj(
                {{"op", "set"}, {"n", m.data.as_number() + 1}}));
            port.close();
            this_context().close();
          });
          auto go = [port, fixed] {
            port.post_message(value::obj({{"op", fixed ? "add" : "get"}}));
          };
          if (later)
            this_context().set_timeout(go, milliseconds{10});
          else
            go();
        });
      });
    client.post_message("server", {ch.port1()});
  }
}

inline body_fn lost_update(bool fixed) {
  return [fixed](testing::testkit& kit) {
    int count = 0;
    kit.spawn("page", [&](context& self) { counter_page(self, fixed, count); });
    kit.advance(milliseconds{1000});
    kit.require(count == 2, "both increments counted (count is "
                              + std::to_string(count) + ", not 2)");
    kit.require(kit.live_contexts() == 0, "every context ended");
  };
}

// -- close/post: hand a port, post, close ----------------------------------------
//
// A page hands each worker a port, posts "cancel" on its own end and closes
// itself, all in one task. The buggy worker checks once whether a cancel
// is already queued (receive_message_on_port) and, if not, does its work
// and closes itself: it relies on "the cancel was posted in the same task,
// so it is there", but a worker may run between the two posts. Fixed: it
// listens for the cancel; when its parent ended it still dispatches what
// is queued (the runtime drains it) and then ends.

inline void cancel_page(context& self, bool fixed, int& cancelled) {
  std::vector<message_port> mine;
  for (int i = 1; i <= 2; ++i) {
    auto w = self.spawn("w" + std::to_string(i), [fixed, &cancelled](
                                                     context& me) {
      me.on_message([fixed, &cancelled](message_event& ev) {
        auto port = ev.ports.at(0);
        if (!fixed) {
          auto m = receive_message_on_port(port);
          if (m && m->data == value{"cancel"})
            ++cancelled;
          else
            this_context().close(); // "not cancelled": work, then done
          return;
        }
        port.on_message([&cancelled](message_event& m) {
          if (m.data == value{"cancel"})
            ++cancelled;
        });
      });
    });
    message_channel ch;
    w.post_message("job", {ch.port2()});
    mine.push_back(ch.port1());
  }
  for (auto& p : mine)
    p.post_message("cancel");
  self.close();
}

inline body_fn hand_post_close(bool fixed) {
  return [fixed](testing::testkit& kit) {
    int cancelled = 0;
    kit.spawn("page", [&](context& self) { cancel_page(self, fixed, cancelled); });
    kit.run();
    kit.require(cancelled == 2, "every worker saw its cancel ("
                                  + std::to_string(cancelled) + " of 2)");
    kit.require(kit.live_contexts() == 0 && kit.live_ports() == 0,
                "everything ended");
  };
}

// -- reply/timeout ----------------------------------------------------------------
//
// A client asks a server over a port and gives up after 100 ms. The buggy
// client settles on the timeout but keeps the port open "to log a late
// answer", and settles again when the answer comes: twice, whenever the
// answer and the timer race. Fixed: the timeout closes the port (no late
// answer can come) and the answer clears the timer.

inline void rpc_client(context& self, bool fixed, std::vector<std::string>& settled) {
  message_channel ch;
  auto srv = self.spawn("server", [](context& s) {
    s.on_message([](message_event& ev) {
      auto port = ev.ports.at(0);
      port.on_message([port](message_event& req) {
        port.post_message(req.data.as_number() * 2);
        port.close();
        this_context().close();
      });
    });
  });
  auto port = ch.port1();
  auto timer = std::make_shared<timer_id>(0);
  port.on_message([port, timer, &settled](message_event& ev) {
    this_context().clear_timeout(*timer);
    settled.push_back("answer " + to_string(ev.data));
    port.close();
  });
  *timer = self.set_timeout(
    [port, fixed, &settled] {
      settled.push_back("timed out");
      if (fixed)
        port.close();
    },
    milliseconds{100});
  srv.post_message("hello", {ch.port2()});
  port.post_message(21);
}

inline body_fn reply_timeout(bool fixed) {
  return [fixed](testing::testkit& kit) {
    std::vector<std::string> settled;
    kit.spawn("client", [&](context& self) { rpc_client(self, fixed, settled); });
    kit.advance(milliseconds{1000});
    std::string all;
    for (auto& s : settled)
      all += (all.empty() ? "" : ", ") + s;
    kit.require(settled.size() == 1, "settled exactly once (" + all + ")");
  };
}

// -- parent end ---------------------------------------------------------------------
//
// The protocol of issue 20: a page hands a worker a port, posts "cancel"
// on its end and ends. Buggy, the old shutdown semantics written into the
// protocol: the page says "bye" on the worker's global right after the
// cancel and the worker closes itself on "bye" (as the runtime once closed
// a worker when its parent ended). "bye" and the cancel travel on
// different ports, which are not ordered: with the runtime's default
// batches the worker can take its job and the "bye" in one batch, before
// the cancel's port is even started. Fixed: no "bye"; a worker whose
// parent ended normally finishes what is queued to it, then ends.

inline void bye_page(context& self, bool fixed, int& cancelled) {
  auto w = self.spawn("w1", [&cancelled](context& me) {
    me.on_message([&cancelled](message_event& ev) {
      if (ev.data == value{"bye"}) {
        this_context().close();
        return;
      }
      auto port = ev.ports.at(0);
      port.on_message([&cancelled](message_event& m) {
        if (m.data == value{"cancel"})
          ++cancelled;
      });
    });
  });
  message_channel ch;
  w.post_message("job", {ch.port2()});
  ch.port1().post_message("cancel");
  if (!fixed)
    w.post_message("bye");
  self.close();
}

inline body_fn parent_end(bool fixed) {
  return [fixed](testing::testkit& kit) {
    int cancelled = 0;
    kit.spawn("page", [&](context& self) { bye_page(self, fixed, cancelled); });
    kit.run();
    kit.require(cancelled == 1, "the worker saw the cancel");
    kit.require(kit.live_contexts() == 0, "everything ended");
  };
}

// The same end with a grace period: the buggy page terminates its worker
// 10 ms after posting the cancel ("it has surely seen it by then"); fixed,
// it just ends and the runtime lets the worker finish.

inline void grace_page(context& self, bool fixed, int& cancelled) {
  auto w = self.spawn("w1", [&cancelled](context& me) {
    me.on_message([&cancelled](message_event& ev) {
      auto port = ev.ports.at(0);
      port.on_message([&cancelled](message_event& m) {
        if (m.data == value{"cancel"})
          ++cancelled;
      });
    });
  });
  message_channel ch;
  w.post_message("job", {ch.port2()});
  ch.port1().post_message("cancel");
  if (fixed) {
    self.close();
    return;
  }
  self.set_timeout(
    [w] {
      w.terminate();
      this_context().close();
    },
    milliseconds{10});
}

inline body_fn grace_period(bool fixed) {
  return [fixed](testing::testkit& kit) {
    int cancelled = 0;
    kit.spawn("page", [&](context& self) { grace_page(self, fixed, cancelled); });
    kit.advance(milliseconds{100});
    kit.require(cancelled == 1, "the worker saw the cancel");
    kit.require(kit.live_contexts() == 0, "everything ended");
  };
}

} // namespace entangle::explore_protocols
