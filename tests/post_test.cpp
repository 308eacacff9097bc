// Conformance tests for SEMANTICS §4 (MessagePort.postMessage): the IDL
// forms, the post steps, doomed posts, closed sources, the delivery target
// and no re-entrancy. Nothing asserts inside a context.

#include <memory>
#include <type_traits>
#include <variant>

#include "support.hpp"

using namespace entangle;
using namespace entangle::test;

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
  h.require_clean();
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
  h.require_clean();
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
  h.require_clean();
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
  h.require_clean();
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
  h.require_clean();
}

TEST_CASE("4.2 a long transfer list keeps its order, and a duplicate far "
          "down it is a DataCloneError naming its index that transfers "
          "nothing",
          "[sem4][sem10]") {
  // Past the short lists a scan serves: the transfer list is indexed by
  // a hash from its 17th item (src/base/list_index.hpp).
  static constexpr std::size_t n = 300;
  harness h;
  h.run([&](context&) {
    message_channel ch;
    std::vector<message_channel> chs(n);
    auto got = std::make_shared<std::size_t>(0);
    for (std::size_t i = 0; i < n; ++i) {
      auto p = chs[i].port1();
      p.on_message([&h, p, i, got, ch](message_event& ev) {
        if (data_of(ev) != std::to_string(i))
          h.log.add("port " + std::to_string(i) + " got " + data_of(ev));
        p.close();
        if (++*got == n)
          close_all({ch.port1(), ch.port2()});
      });
    }
    ch.port2().on_message([&](message_event& ev) {
      h.log.add("ports " + std::to_string(ev.ports.size()));
      for (std::size_t i = 0; i < ev.ports.size(); ++i) {
        ev.ports[i].post_message(std::to_string(i));
        ev.ports[i].close();
      }
    });
    std::vector<transferable> list;
    for (auto& c : chs)
      list.emplace_back(c.port2());
    std::vector<array_buffer> bufs;
    for (std::size_t i = 0; i < 40; ++i)
      bufs.emplace_back(std::vector<std::uint8_t>{1, 2, 3});
    auto rejected = [&](std::vector<transferable> bad) {
      try {
        ch.port1().post_message(1, structured_serialize_options{bad});
        return std::string{"no error"};
      } catch (const dom_exception& e) {
        return e.name() + ": " + e.message();
      }
    };
    auto dup_port = list;
    dup_port.emplace_back(chs[3].port2());
    h.log.add(rejected(dup_port));
    std::vector<transferable> dup_buf;
    for (auto& b : bufs)
      dup_buf.emplace_back(b);
    dup_buf.emplace_back(bufs[7]);
    h.log.add(rejected(dup_buf));
    std::size_t intact = 0;
    for (auto& c : chs)
      intact += c.port2().detached() ? 0 : 1;
    for (auto& b : bufs)
      intact += b.byte_length() == 3 ? 1 : 0;
    h.log.add("intact " + std::to_string(intact));
    ch.port1().post_message("ports", structured_serialize_options{list});
  });
  CHECK(h.log.lines()
        == lines{"DataCloneError: transfer list item 300 is a duplicate "
                 "MessagePort",
                 "DataCloneError: transfer list item 40 is a duplicate "
                 "ArrayBuffer",
                 "intact 340", "ports 300"});
  h.require_clean();
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
  h.require_clean();
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
  h.require_clean();
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
  h.require_clean();
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
  h.require_clean();
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
  h.require_clean();
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
  h.require_clean();
}

TEST_CASE("4.4 posting to a port whose peer closed is silently dropped and "
          "counted",
          "[sem4]") {
  harness h;
  CHECK(post_after_close(h, false) == lines{"ok", "survivor got close"});
  CHECK(h.drops(drop_reason::closed) == 1);
  CHECK(h.rt->drops().total() == 1);
  h.require_clean();
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
  h.require_clean();
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
  h.require_clean();
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
  h.require_clean();
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
  h.require_clean();
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
  h.require_clean();
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
  h.require_clean();
}
