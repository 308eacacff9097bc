// Flow control on ports ([flow]): the receiver's high-water mark, the
// sender's credit (desired_size, backpressure), the ready event exactly
// once per crossing, the hard limit (QuotaExceededError, nothing changed),
// and marks and counts travelling with either end of a channel, also while
// it is in flight (docs/architecture.md, "Flow control").

#include <limits>

#include "support.hpp"

#include "entangle/testing/catch.hpp"

using namespace entangle;
using namespace entangle::test;
using entangle::testing::testkit;

namespace {

std::string credit(const message_port& p) {
  auto d = p.desired_size();
  return d ? std::to_string(*d) : std::string{"none"};
}

std::size_t count_of(const testkit& kit, const std::string& type) {
  std::size_t n = 0;
  for (auto& d : kit.deliveries())
    n += d.type == type;
  return n;
}

} // namespace

TEST_CASE("flow: the sender sees the receiver's mark minus what is unread",
          "[flow]") {
  testkit kit;
  std::vector<std::string> seen;
  message_port in;
  kit.spawn("page", [&](context&) {
    message_channel ch;
    auto out = ch.port1();
    in = ch.port2();
    seen.push_back(credit(out)); // no mark yet
    in.set_high_water_mark({3});
    seen.push_back(credit(out));
    seen.push_back(yn(out.backpressure()));
    out.post_message(1);
    out.post_message(2);
    seen.push_back(credit(out));
    out.post_message(3);
    seen.push_back(credit(out));
    seen.push_back(yn(out.backpressure()));
    // The mark is soft: up to twice it (the default hard factor) is taken.
    for (int i = 4; i <= 6; ++i)
      out.post_message(i);
    seen.push_back(credit(out));
    seen.push_back(outcome([&] { out.post_message(7); }));
    seen.push_back(std::to_string(in.water_mark().messages));
    in.set_high_water_mark({}); // lifted: no credit to report
    seen.push_back(credit(out));
  });
  kit.run();
  CHECK(seen
        == lines{"none", "3", "false", "1", "0", "true", "-3",
                 "QuotaExceededError", "3", "none"});
  // The page ended after its init (nothing started): the refused post was
  // never queued, so exactly the six admitted ones are dropped with it.
  CHECK(kit.drops()[drop_reason::context_gone] == 6);
  CHECK(kit.drops().total() == 6);
}

TEST_CASE("flow: ready fires once per crossing of the mark, in order",
          "[flow]") {
  testkit kit;
  message_port out, in;
  std::vector<std::string> log;
  auto page = kit.spawn("page", [&](context&) {
    message_channel ch;
    out = ch.port1();
    in = ch.port2();
    in.set_high_water_mark({2});
    out.on_ready([&](message_event& ev) {
      log.push_back(ev.type + " credit=" + credit(out));
    });
    out.post_message(1);
    out.post_message(2); // at the mark: the next drop below is a crossing
    in.on_message([&](message_event& m) { log.push_back(label(m)); });
  });
  kit.run();
  // Taking 1 is the crossing; the notice is queued behind 2 (these ports
  // were never shipped: one task source in posting order).
  CHECK(log == lines{"1", "2", "ready credit=2"});
  CHECK(count_of(kit, "ready") == 1);
  // Filling it again makes a second crossing, hence a second ready.
  kit.clear_deliveries();
  log.clear();
  kit.inject(page, [&] {
    for (int i = 3; i <= 5; ++i)
      out.post_message(i);
  });
  kit.run();
  CHECK(log == lines{"3", "4", "5", "ready credit=2"});
  CHECK(count_of(kit, "ready") == 1);
  // Below the mark all along: no crossing, no ready.
  kit.clear_deliveries();
  kit.inject(page, [&] { out.post_message(6); });
  kit.run();
  CHECK(count_of(kit, "ready") == 0);
  CHECK(kit.drops().total() == 0);
}

TEST_CASE("flow: crossings fold into a ready notice that is still queued",
          "[flow]") {
  testkit kit;
  message_port out, in;
  std::size_t readies = 0;
  std::uint64_t page = kit.spawn("page", [&](context&) {
    message_channel ch;
    out = ch.port1(); // not started: notices wait in its queue
    in = ch.port2();
    in.set_high_water_mark({1});
    in.on_message([](message_event&) {});
    out.post_message(1); // full; taken: crossing 1
  });
  kit.run();
  kit.inject(page, [&] { out.post_message(2); }); // full again; crossing 2
  kit.run();
  CHECK(kit.queued(out) == 1); // one notice for both crossings
  kit.inject(page, [&] {
    out.on_ready([&](message_event&) { ++readies; });
  });
  kit.run();
  CHECK(readies == 1);
  CHECK(kit.queued(out) == 0);
}

TEST_CASE("flow: past the hard limit a post throws QuotaExceededError and "
          "changes nothing",
          "[flow]") {
  harness h;
  h.run([&h](context&) {
    message_channel ch, carried;
    auto out = ch.port1();
    auto in = ch.port2();
    in.set_high_water_mark({1, 0, 1}); // hard limit = the mark
    out.post_message("first");
    array_buffer buf{std::size_t{16}};
    h.log.add(outcome([&] {
      out.post_message(value::arr({buf, carried.port1()}),
                       {buf, carried.port1()});
    }));
    // Nothing was shipped or detached: both still work here.
    h.log.add("buffer " + std::to_string(buf.byte_length()));
    h.log.add("port " + state(carried.port1()));
    carried.port1().post_message("still mine");
    h.log.add(label(*receive_message_on_port(carried.port2())));
    // An empty queue takes any one message.
    h.log.add(label(*receive_message_on_port(in)));
    h.log.add(outcome([&] { out.post_message("second"); }));
    close_all({out, in, carried.port1(), carried.port2()});
  });
  CHECK(h.log.lines()
        == lines{"QuotaExceededError", "buffer 16",
                 "port started=false detached=false closed=false",
                 "still mine", "first", "ok"});
  CHECK(h.drops(drop_reason::closed) == 1); // "second", dropped by close
  h.require_clean();
}

TEST_CASE("flow: the hard limit follows every change of the marks, "
          "saturates, and the error names the limit it hit",
          "[flow]") {
  harness h;
  h.run([&h](context&) {
    message_channel ch;
    auto out = ch.port1();
    auto in = ch.port2();
    auto refusal = [&](const value& v) -> std::string {
      try {
        out.post_message(v);
        return "ok";
      } catch (const dom_exception& e) {
        return e.name() + ": " + e.message();
      }
    };
    in.set_high_water_mark({2, 0, 3}); // hard limit 6 messages
    for (int i = 0; i < 6; ++i)
      out.post_message(i);
    h.log.add(refusal(6));
    in.set_high_water_mark({4, 0, 3}); // raised: 12
    h.log.add(refusal(6));
    in.set_high_water_mark({1, 0, 2}); // lowered below what is unread: 2
    h.log.add(refusal(7));
    // A mark whose product with the factor does not fit: the limit
    // saturates (the wrapped product, 2^64 + 4, would be 4, and refuse).
    constexpr auto huge = std::numeric_limits<std::size_t>::max() / 4 + 2;
    in.set_high_water_mark({huge, 0, 4});
    h.log.add(refusal(7));
    // A byte limit beside a message mark: the refusal names bytes.
    in.set_high_water_mark({100, 10, 1});
    h.log.add(refusal(std::string(20, 'x')));
    close_all({out, in});
  });
  CHECK(h.log.lines()
        == lines{"QuotaExceededError: post_message: the receiving port holds "
                 "6 unread messages and its hard limit is 6 (3 x its "
                 "high-water mark); wait for this port's ready event, or "
                 "post while desired_size() > 0",
                 "ok",
                 "QuotaExceededError: post_message: the receiving port holds "
                 "7 unread messages and its hard limit is 2 (2 x its "
                 "high-water mark); wait for this port's ready event, or "
                 "post while desired_size() > 0",
                 "ok",
                 "QuotaExceededError: post_message: the receiving port holds "
                 "0 unread bytes and its hard limit is 10 (1 x its "
                 "high-water mark); wait for this port's ready event, or "
                 "post while desired_size() > 0"});
  CHECK(h.drops(drop_reason::closed) == 8);
  h.require_clean();
}

TEST_CASE("flow: a byte mark counts message sizes; an empty queue takes a "
          "large message",
          "[flow]") {
  harness h;
  h.run([&h](context&) {
    message_channel ch;
    auto out = ch.port1();
    auto in = ch.port2();
    in.set_high_water_mark({0, 100}); // 100 bytes, hard limit 200
    std::string sixty(60, 'x');
    h.log.add(std::to_string(message_size(sixty)));
    out.post_message(sixty);
    h.log.add(std::to_string(*out.desired_bytes()));
    h.log.add(out.desired_size() ? "messages" : "no message mark");
    out.post_message(sixty);
    h.log.add(std::to_string(*out.desired_bytes()) + " "
              + yn(out.backpressure()));
    h.log.add(outcome([&] { out.post_message(std::string(100, 'y')); }));
    receive_message_on_port(in);
    receive_message_on_port(in);
    h.log.add(outcome([&] { out.post_message(std::string(1000, 'z')); }));
    h.log.add(std::to_string(*out.desired_bytes()));
    close_all({out, in});
  });
  CHECK(h.log.lines()
        == lines{"60", "40", "no message mark", "-20 true",
                 "QuotaExceededError", "ok", "-900"});
  h.require_clean();
}

TEST_CASE("flow: message_size counts strings, buffers, keys and items",
          "[flow]") {
  CHECK(message_size(value{1.0}) == 8);
  CHECK(message_size(value{"abc"}) == 3);
  CHECK(message_size(value::arr({1, "ab"})) == 8 + 8 + 2);
  CHECK(message_size(value::obj({{"key", true}})) == 8 + 3 + 8);
  CHECK(message_size(value{array_buffer{std::size_t{1000}}}) == 1000);
  CHECK(message_size(value{error_value{"TypeError", "bad"}}) == 12);
}

TEST_CASE("flow: message_size counts what the clone copies: a view's whole "
          "buffer, each graph node once, cycles included",
          "[flow]") {
  array_buffer big{std::size_t{1} << 20};
  // A view copies its whole buffer, however small its window.
  CHECK(message_size(value{typed_array{element_kind::uint8, big, 0, 16}})
        == 8 + (std::size_t{1} << 20));
  CHECK(message_size(value{data_view{big, 0, 4}}) == 8 + (std::size_t{1} << 20));
  // Graph kinds count their contents (before, 8 whatever they held).
  shared_object o;
  o.set("blob", value{std::string(1000, 'x')});
  CHECK(message_size(value{o}) == 8 + 4 + 1000);
  value_map m;
  m.set(value{"k"}, value{std::string(500, 'y')});
  CHECK(message_size(value{m}) == 8 + 1 + 500);
  value_set st;
  st.add(value{std::string(300, 'z')});
  CHECK(message_size(value{st}) == 8 + 300);
  shared_array a;
  a.push(value{std::string(200, 'w')});
  CHECK(message_size(value{a}) == 8 + 8 + 200);
  // A node reached twice counts once; a cycle ends.
  o.set("self", value{o});
  CHECK(message_size(value::arr({value{o}, value{o}}))
        == 8 + (8 + 4 + 1000 + 4 + 8) + 8);
}

TEST_CASE("flow: the runtime-wide default mark applies to every new port, "
          "and is an entangle option",
          "[flow]") {
  runtime_config parsed;
  REQUIRE(!parsed.port_high_water_mark.enabled());
  REQUIRE(!parsed.parse(caf::actor_system_config::string_list{
    "--entangle.port-high-water-mark=7",
    "--entangle.port-high-water-bytes=4096",
    "--entangle.port-hard-limit-factor=3"}));
  CHECK(parsed.port_high_water_mark == high_water_mark{7, 4096, 3});

  harness h{[](runtime_config& c) { c.port_high_water_mark = {4}; }};
  h.run([&h](context& self) {
    message_channel ch;
    h.log.add(credit(ch.port1()) + " " + credit(ch.port2()));
    auto w = self.spawn("w", [](context&) {}); // its implicit ports too
    h.log.add(std::to_string(ch.port2().water_mark().messages));
    close_all({ch.port1(), ch.port2()});
    w.terminate();
  });
  CHECK(h.log.lines() == lines{"4 4", "4"});
}

TEST_CASE("flow: the mark and the unread count travel with the receiving "
          "port",
          "[flow]") {
  harness h;
  h.run([&h](context& self) {
    message_channel ch;
    auto out = ch.port1();
    auto in = ch.port2();
    in.set_high_water_mark({4});
    for (int i = 0; i < 5; ++i)
      out.post_message(i);
    h.log.add("before " + credit(out));
    auto w = self.spawn("w", [&h](context& me) {
      me.on_message([&h](message_event& ev) {
        auto port = ev.ports.at(0);
        h.log.add("mark in w " + std::to_string(port.water_mark().messages));
        port.on_message([&h, port](message_event& m) {
          if (m.data == value{9})
            port.close();
        });
      });
    });
    w.post_message("in", {in});
    h.log.add("in flight " + credit(out));
    out.on_ready([&h, out](message_event&) {
      h.log.add("ready " + credit(out));
      out.post_message(9);
    });
    out.on_close([](message_event&) { this_context().close(); });
  });
  auto got = h.log.lines();
  REQUIRE(got.size() == 4);
  CHECK(got[0] == "before -1");
  // The worker runs on its own thread: it may adopt and drain the port
  // before the parent logs its credit right after the post. Until it does,
  // the count travels with the port (-1: still 5 unread against a mark of
  // 4); the order of those two lines is the threads'.
  auto in_flight = got[1].rfind("in flight ", 0) == 0 ? 1 : 2;
  auto in_w = 3 - in_flight;
  CHECK(got[static_cast<std::size_t>(in_w)] == "mark in w 4");
  REQUIRE(got[static_cast<std::size_t>(in_flight)].rfind("in flight ", 0) == 0);
  if (in_flight == 1)
    CHECK(got[1] == "in flight -1");
  // The worker drained at least one batch before the notice was handled.
  CHECK(got[3].rfind("ready ", 0) == 0);
  CHECK(std::stoi(got[3].substr(6)) > 0);
  h.require_clean();
}

TEST_CASE("flow: the ready notice goes to whoever owns the sender, also "
          "when it crossed while the sender was in flight",
          "[flow]") {
  testkit kit;
  message_port out, in, carrier_in;
  std::vector<std::string> log;
  auto page = kit.spawn("page", [&](context& self) {
    self.set_timeout([] {}, std::chrono::hours{1}); // keeps it alive
    message_channel ch, carrier;
    out = ch.port1();
    in = ch.port2();
    carrier_in = carrier.port2(); // not started: what it carries waits
    in.set_high_water_mark({2});
    out.post_message(1);
    out.post_message(2);
    carrier.port1().post_message("sender", {out}); // `out` is in flight
  });
  kit.run();
  REQUIRE(out.detached());
  kit.inject(page, [&] {
    in.on_message([&](message_event& m) { log.push_back(label(m)); });
  });
  kit.run(); // drained: the crossing happens while `out` is in flight
  kit.inject(page, [&] {
    this_context()
      .spawn("w",
             [&](context& self) {
               self.on_message([&](message_event& ev) {
                 auto carried = ev.ports.at(0);
                 carried.on_message([&](message_event& m) {
                   auto sender = m.ports.at(0);
                   sender.on_ready([&, sender](message_event&) {
                     log.push_back("ready in w, credit " + credit(sender));
                   });
                 });
               });
             })
      .post_message("carrier", {carrier_in});
  });
  kit.run();
  CHECK(log == lines{"1", "2", "ready in w, credit 2"});
  CHECK(count_of(kit, "ready") == 1);
}

TEST_CASE("flow: a ready notice given back with a batch folds with a newer "
          "crossing (one ready, not two)",
          "[flow]") {
  // `a`'s batch is [m1, ready, m2]. m1's handler makes a second crossing
  // (the notice of the first was taken with the batch, not dispatched),
  // then transfers `a`: the batch's rest is given back. The sink must see
  // one ready for the two crossings, as if the batch had never been taken.
  testkit kit{[](runtime_config& c) { c.dispatch_batch = 64; }}; // batches
  std::vector<std::string> log;
  kit.spawn("page", [&](context& self) {
    message_channel ch;
    auto w = self.spawn("w", [&](context& me) {
      me.on_message([&](message_event& ev) {
        auto a = ev.ports.at(0);
        auto b = ev.ports.at(1);
        b.set_high_water_mark({1});
        b.post_message("m1");
        a.post_message("to b");     // b full
        receive_message_on_port(b); // crossing 1: a notice queued on a
        b.post_message("m2");
        a.on_ready([&](message_event&) { log.push_back("ready in w"); });
        a.on_message([&, a, b](message_event& m) {
          log.push_back("w: " + label(m));
          if (label(m) != "m1")
            return;
          a.post_message("again");    // b full again
          receive_message_on_port(b); // crossing 2, notice 1 in the batch
          auto sink = this_context().spawn("sink", [&](context& s) {
            s.on_message([&](message_event& e) {
              auto p = e.ports.at(0);
              p.on_ready([&](message_event&) { log.push_back("ready"); });
              p.on_message([&](message_event& x) {
                log.push_back("sink: " + label(x));
              });
            });
          });
          sink.post_message("a", {a});
        });
      });
    });
    w.post_message("ports", {ch.port1(), ch.port2()});
  });
  kit.run();
  CHECK(log == lines{"w: m1", "ready", "sink: m2"});
}

TEST_CASE("flow: both ends moving with messages queued keep order and "
          "credit",
          "[flow]") {
  constexpr int total = 2000;
  harness h;
  auto got = std::make_shared<std::vector<int>>();
  auto max_unread = std::make_shared<std::int64_t>(0);
  h.run([&h, got, max_unread](context& self) {
    message_channel ch;
    auto out = ch.port1();
    auto in = ch.port2();
    in.set_high_water_mark({16});
    int next = 0;
    while (out.desired_size().value_or(0) > 0)
      out.post_message(next++);
    // The reader: drains in order, closes after the last.
    auto reader = self.spawn("reader", [got](context& me) {
      me.on_message([got](message_event& ev) {
        auto port = ev.ports.at(0);
        port.on_message([got, port](message_event& m) {
          got->push_back(static_cast<int>(m.data.as_number()));
          if (got->back() == total - 1) {
            port.close();
            this_context().close();
          }
        });
      });
    });
    // The writer: posts only while there is credit, resumes on ready.
    auto writer = self.spawn("writer", [next, max_unread](context& me) {
      me.on_message([next, max_unread](message_event& ev) mutable {
        auto port = ev.ports.at(0);
        auto pump = [port, next, max_unread]() mutable {
          while (next < total && port.desired_size().value_or(0) > 0)
            port.post_message(next++);
          *max_unread
            = std::max(*max_unread, 16 - port.desired_size().value_or(16));
        };
        pump();
        port.on_ready([pump](message_event&) mutable { pump(); });
        port.on_close([](message_event&) { this_context().close(); });
      });
    });
    reader.post_message("in", {in});   // both ends move at once,
    writer.post_message("out", {out}); // with 16 messages queued
  });
  REQUIRE(got->size() == static_cast<std::size_t>(total));
  for (int i = 0; i < total; ++i)
    REQUIRE((*got)[static_cast<std::size_t>(i)] == i);
  CHECK(*max_unread <= 16);
  h.require_clean();
}

TEST_CASE("flow: a flood with a limit stays within the hard limit",
          "[flow]") {
  constexpr int total = 5000;
  testkit kit;
  message_port out, in;
  std::size_t refused = 0;
  std::size_t max_queued = 0;
  std::vector<int> got;
  auto page = kit.spawn("page", [&](context&) {
    message_channel ch;
    out = ch.port1();
    in = ch.port2();
    in.set_high_water_mark({50});
    in.on_message([&](message_event& m) {
      got.push_back(static_cast<int>(m.data.as_number()));
    });
  });
  kit.run();
  // The producer ignores backpressure; the consumer runs one event now
  // and then: the queue never holds more than the hard limit (100).
  for (int i = 0; i < total; ++i) {
    kit.inject(page, [&, i] {
      try {
        out.post_message(i);
      } catch (const dom_exception& e) {
        CHECK(e.name() == "QuotaExceededError");
        ++refused;
      }
    });
    max_queued = std::max(max_queued, kit.queued(in));
    if (i % 3 == 0)
      kit.step();
  }
  kit.run();
  CHECK(max_queued <= 100);
  CHECK(got.size() + refused == static_cast<std::size_t>(total));
  CHECK(refused > 0);
  CHECK(std::is_sorted(got.begin(), got.end()));
  CHECK(kit.drops().total() == 0);
}

TEST_CASE("flow: receive_message_on_port passes a ready notice to its "
          "event",
          "[flow]") {
  testkit kit;
  message_port a, b;
  std::vector<std::string> log;
  kit.spawn("page", [&](context&) {
    message_channel ch;
    a = ch.port1();
    b = ch.port2();
    b.set_high_water_mark({1});
    a.add_event_listener("ready", [&](message_event&) {
      log.push_back("ready");
    });
    a.post_message("to b"); // b full
    receive_message_on_port(b); // crossing: a notice queued on a
    b.post_message("to a");
    a.start();
    auto m = receive_message_on_port(a); // passes the notice, takes the
    log.push_back(m ? label(*m) : "none"); // message behind it
  });
  kit.run();
  CHECK(log == lines{"to a", "ready"});
}

TEST_CASE("flow: lifting or raising the mark while full sends ready; a "
          "closed peer reports no credit",
          "[flow]") {
  harness h;
  h.run([&h](context&) {
    message_channel ch;
    auto out = ch.port1();
    auto in = ch.port2();
    in.set_high_water_mark({1});
    out.post_message(1);
    out.on_ready([&h, out, in](message_event&) {
      h.log.add("ready");
      in.close();
    });
    out.on_close([&h, out](message_event&) {
      h.log.add("close, credit " + credit(out));
      h.log.add(outcome([&] { out.post_message(2); })); // dropped: closed
      out.close();
    });
    in.set_high_water_mark({5});
  });
  CHECK(h.log.lines() == lines{"ready", "close, credit none", "ok"});
  CHECK(h.drops(drop_reason::closed) == 2); // 1 queued at close, then 2
  h.require_clean();
}

namespace entangle::detail {
/// Posts handed over by the post stage in this process (src/ports/
/// post_stage.hpp; exported for tests and the benchmark).
std::uint64_t staged_posts() noexcept;
} // namespace entangle::detail

namespace {

/// The deepest queue any queued post found (trace_post::queue_depth):
/// what the receiver's port held unread at worst.
struct depth_tracer : tracer {
  depth_tracer() : tracer(timestamps::no) {
  }
  void on_post(const trace_post& ev) override {
    if (!ev.queued)
      return;
    auto m = max_depth.load();
    while (ev.queue_depth > m && !max_depth.compare_exchange_weak(m, ev.queue_depth)) {
    }
  }
  std::atomic<std::size_t> max_depth{0};
};

} // namespace

TEST_CASE("flow: a writer that posts while desired_size() > 0 never meets "
          "QuotaExceededError while its posts wait in groups (post stage), "
          "the receiver never holds more than the mark, and every message "
          "arrives in order",
          "[flow][post_stage]") {
  constexpr int n = 20000;
  for (std::size_t batch : {64, 5, 1}) {
    for (std::size_t mark : {10, 300}) {
      INFO("post_batch " << batch << ", mark " << mark);
      // Traced, to see the queue's depth (traced posts are staged too).
      auto depths = std::make_shared<depth_tracer>();
      auto staged_before = entangle::detail::staged_posts();
      harness h{[batch, depths](runtime_config& c) {
        c.post_batch = batch;
        c.tracer = depths;
      }};
      h.run([&h, mark](context& page) {
        message_channel ch;
        auto in = ch.port2();
        in.set_high_water_mark({mark, 0, 1}); // hard limit = the mark
        auto writer = page.spawn("writer", [&h](context& self) {
          self.on_message([&h](message_event& ev) {
            auto out = ev.ports.at(0);
            auto next = std::make_shared<int>(0);
            // Posts while there is credit, in one turn; the ready event
            // goes on. The staged posts count against the credit.
            auto pump = [&h, out, next]() mutable {
              try {
                while (*next < n && out.desired_size().value_or(1) > 0)
                  out.post_message((*next)++);
              } catch (const dom_exception& e) {
                h.log.set("refused", std::string{e.name()} + " at "
                                       + std::to_string(*next));
                *next = n;
              }
              if (*next == n) {
                out.close();
                this_context().close();
              }
            };
            out.on_ready([pump](message_event&) mutable { pump(); });
            pump();
          });
        });
        auto got = std::make_shared<int>(0);
        in.on_message([&h, got](message_event& ev) {
          if (static_cast<int>(ev.data.as_number()) != *got
              && h.log.get("mismatch") == "<unset>")
            h.log.set("mismatch", "at " + std::to_string(*got));
          ++*got;
        });
        in.on_close([&h, got](message_event&) {
          h.log.set("received", std::to_string(*got));
          this_context().close();
        });
        writer.post_message("go", {ch.port1()});
      });
      CHECK(h.log.get("refused") == "<unset>");
      CHECK(h.log.get("mismatch") == "<unset>");
      CHECK(h.log.get("received") == std::to_string(n));
      CHECK(depths->max_depth.load() <= mark); // hard limit = the mark
      // Posts did wait in groups (none with groups of 1).
      auto staged = entangle::detail::staged_posts() - staged_before;
      if (batch > 1)
        CHECK(staged > 0);
      else
        CHECK(staged == 0);
      CHECK(h.rt->drops().total() == 0);
      h.require_clean();
    }
  }
}

TEST_CASE("flow: a post refused by the byte limit while the unread bytes "
          "are below the mark gets a ready after the receiver's next read",
          "[flow]") {
  harness h;
  h.run([&h](context&) {
    message_channel ch;
    auto out = ch.port1();
    auto in = ch.port2();
    in.set_high_water_mark({0, 100}); // 100 bytes, hard limit 200
    out.post_message(std::string(40, 'a'));
    // 40 + 170 > 200: refused, though 40 is below the mark (no crossing
    // would ever send a ready for it).
    h.log.add(outcome([&] { out.post_message(std::string(170, 'b')); }));
    h.log.add("backpressure " + yn(out.backpressure()));
    out.on_ready([&h, out](message_event&) {
      h.log.add("ready");
      h.log.add(outcome([&] { out.post_message(std::string(170, 'b')); }));
    });
    in.on_message([&h, out, in](message_event& m) {
      auto n = m.data.as_string().size();
      h.log.add("got " + std::to_string(n));
      if (n == 170)
        close_all({out, in});
    });
  });
  CHECK(h.log.lines()
        == lines{"QuotaExceededError", "backpressure false", "got 40",
                 "ready", "ok", "got 170"});
  h.require_clean();
}
