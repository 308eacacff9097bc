// A port that comes home (docs/architecture.md, "Proxy collapse", *Home*):
// T hands y to A's `echo`, which hands it back; T then holds both x and
// y' while A relays between its two links to T. A splices them onto a
// loop at T (wire version 8): A drops out, its kill -9 leaves the channel
// whole, and FIFO, transfer and close hold across the switch. Real child
// processes (tests/remote/test_node.cpp). [remote]

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "entangle/all.hpp"
#include "remote/child.hpp"
#include "remote/child_stats.hpp"
#include "remote/flow_writer.hpp"
#include "remote/journal.hpp"
#include "remote/node.hpp"
#include "remote/raw_peer.hpp"

using namespace entangle;
using namespace std::chrono_literals;
using remote_test::child;
using remote_test::child_stats;
using remote_test::eventually;
using remote_test::flow_writer;
using remote_test::journal;
using remote_test::num;
using remote_test::raw_peer;
using remote_test::server;
namespace wire = entangle::detail::remote;

namespace {

/// One direction of the home channel: what one end posted and read.
struct side {
  std::atomic<int> sent{0};
  std::atomic<int> got{0};
  std::atomic<int> disorder{0};
};

/// T's channel (x, y): y goes to A's echo and comes back as y'. x and y'
/// then post 0, 1, ... to each other, 100 a millisecond each, up to
/// `limit`; once `close` is set and x posted all, x closes. y' answers a
/// message carrying a port with "pong" on that port (a transfer across
/// the loop); x closes once it also read all of y's. Journal lines:
/// "home" (y' arrived), "x got N" / "y got N" at every 5000, "pong",
/// "y closed", "x closed", "out of order".
struct home {
  runtime_config cfg;
  journal j;
  std::shared_ptr<side> xs = std::make_shared<side>(); // x posts, y' reads
  std::shared_ptr<side> ys = std::make_shared<side>(); // y' posts, x reads
  std::shared_ptr<std::atomic<int>> limit =
    std::make_shared<std::atomic<int>>(10000);
  std::shared_ptr<std::atomic<bool>> close =
    std::make_shared<std::atomic<bool>>(false);
  std::shared_ptr<std::atomic<bool>> ping =
    std::make_shared<std::atomic<bool>>(false);
  /// With `onward` (a `duplex` service's URL): y' is not started, and once
  /// `go_on` is set (the test saw the loop) it goes on there with the
  /// report port, its queue (x's numbers so far) with it; the duplex posts
  /// 0, 1, ... back to x. Report lines as the duplex posts them.
  std::shared_ptr<std::atomic<bool>> go_on =
    std::make_shared<std::atomic<bool>>(false);
  std::string onward;

  /// Last: stops before the members its contexts use go.
  std::unique_ptr<runtime> rt;

  static void count(journal& j, side& s, message_event& ev, const char* who) {
    if (ev.data.as_number() != s.got.load())
      ++s.disorder;
    if (++s.got % 5000 == 0)
      j.add(std::string{who} + " got " + std::to_string(s.got.load()));
  }

  explicit home(child& a, std::string onward_url = {})
      : onward(std::move(onward_url)) {
    cfg.remote = true;
    cfg.warnings = false;
    rt = std::make_unique<runtime>(cfg);
    auto echo = a.url("echo");
    rt->spawn("home", [this, echo](context& self) {
      auto c = remote::connect(echo);
      message_channel ch;
      auto x = ch.port1();
      auto back = std::make_shared<message_port>();
      c.on_message([this, c, back](message_event& ev) {
        auto y = ev.ports.at(0);
        c.close(); // A keeps only the two links it relays
        j.add("home");
        *back = y;
        if (!onward.empty())
          return; // not started: what x posts waits in its queue
        y.on_message([this, y](message_event& m) {
          if (!m.ports.empty()) {
            m.ports[0].post_message("pong");
            return;
          }
          count(j, *xs, m, "y");
        });
        y.on_close([this](message_event&) { j.add("y closed"); });
        y.start();
      });
      c.start();
      x.on_message([this](message_event& m) { count(j, *ys, m, "x"); });
      x.on_close([this](message_event&) { j.add("x closed"); });
      x.start();
      c.post_message("home", {ch.port2()});
      auto timer = std::make_shared<timer_id>(0);
      *timer = self.set_interval(
        [this, x, back, timer] {
          for (int i = 0; i < 100 && xs->sent < limit->load(); ++i)
            x.post_message(xs->sent++);
          if (*back && !onward.empty() && go_on->exchange(false)) {
            message_channel report;
            report.port1().on_message(
              [this](message_event& m) { j.add(to_string(m.data)); });
            report.port1().start();
            auto d = remote::connect(onward);
            d.post_message(value::obj({{"n", 10000}}),
                           {*back, report.port2()});
            d.close();
            *back = message_port{};
          }
          if (*back && onward.empty())
            for (int i = 0; i < 100 && ys->sent < limit->load(); ++i)
              back->post_message(ys->sent++);
          if (ping->exchange(false)) {
            message_channel pc;
            pc.port1().on_message([this](message_event& m) {
              if (m.data == value{"pong"})
                j.add("pong");
            });
            pc.port1().start();
            x.post_message("port", {pc.port2()});
          }
          if (close->load() && xs->sent >= limit->load()
              && ys->got >= limit->load()) {
            this_context().clear_interval(*timer);
            x.close();
          }
        },
        1ms);
    });
  }
};

} // namespace

TEST_CASE("collapse home: a port that goes T -> A and back to T, where its "
          "peer is, is spliced onto a loop at T; FIFO both ways across the "
          "switch, a port transferred over the loop, and kill -9 of A does "
          "not break the channel",
          "[remote]") {
  auto a = std::make_unique<child>();
  home h{*a};
  REQUIRE(h.j.wait_line("home"));
  // T was both endpoints: both of its ends swapped onto the loop.
  bool swapped = eventually([&] { return remote::stats(*h.rt).swaps == 2; });
  if (!swapped) {
    auto as = child_stats(*h.rt, *a);
    UNSCOPED_INFO("A splices " << num(as, "splices") << ", T swaps "
                               << remote::stats(*h.rt).swaps);
  }
  REQUIRE(swapped);
  REQUIRE(h.j.wait_line("y got 10000"));
  REQUIRE(h.j.wait_line("x got 10000"));
  auto as = child_stats(*h.rt, *a);
  CHECK(num(as, "splices") == 1);
  CHECK(num(as, "violations") == 0);
  // A relays nothing now: only the stats query's own link is left there.
  CHECK(eventually([&] { return num(child_stats(*h.rt, *a), "links") == 1; }));
  // The loop's two ends are T's only links (once the stats queries' go).
  CHECK(eventually([&] { return remote::stats(*h.rt).links == 2; }));
  a->kill9();
  CHECK(eventually([&] { return remote::stats(*h.rt).nodes_lost == 1; }));
  h.ping->store(true);
  REQUIRE(h.j.wait_line("pong"));
  h.limit->store(20000);
  h.close->store(true);
  REQUIRE(h.j.wait_line("y closed"));
  CHECK(h.xs->got == 20000);
  CHECK(h.xs->disorder == 0);
  REQUIRE(eventually([&] { return h.ys->got == 20000; }));
  CHECK(h.ys->disorder == 0);
  CHECK(eventually([&] { return remote::stats(*h.rt).links == 0; }));
  CHECK(remote::stats(*h.rt).violations == 0);
  CHECK(remote::stats(*h.rt).internal_errors == 0); // the loop added up
  h.rt->stop();
}

namespace {

/// Armed: the next user frame a loop takes gets the number after its own
/// (a gap, as only a bug of the loop could make).
std::atomic<bool> skip_one{false};
void skip_a_number(wire::frame& f) {
  if (skip_one.exchange(false))
    ++f.seq;
}

/// Installs the loop fault hook for one test, and removes it however the
/// test ends.
struct loop_fault {
  loop_fault() {
    wire::loop_frame_hook.store(&skip_a_number);
  }
  ~loop_fault() {
    wire::loop_frame_hook.store(nullptr);
    skip_one.store(false);
  }
};

} // namespace

TEST_CASE("an internal error on a loop (a message out of order, injected) "
          "closes both of its ends and is counted, instead of leaving the "
          "channel waiting for a number that never comes",
          "[remote]") {
  auto a = std::make_unique<child>();
  home h{*a};
  loop_fault fault;
  REQUIRE(h.j.wait_line("home"));
  REQUIRE(eventually([&] { return remote::stats(*h.rt).swaps == 2; }));
  REQUIRE(h.j.wait_line("y got 10000"));
  auto before = h.rt->drops();
  h.limit->store(1000000); // both directions keep posting over the loop
  skip_one.store(true);
  REQUIRE(h.j.wait_line("x closed"));
  REQUIRE(h.j.wait_line("y closed"));
  CHECK(remote::stats(*h.rt).internal_errors == 1);
  CHECK(remote::stats(*h.rt).violations == 0); // nobody banned for our bug
  CHECK(eventually([&] { return remote::stats(*h.rt).links == 0; }));
  // What the other end sent after the gap (taken by the tombstone) and
  // its closing frames were not errors again.
  CHECK(remote::stats(*h.rt).internal_errors == 1);
  // The message with the wrong number, at least, is counted as dropped.
  CHECK(h.rt->drops().since(before)[drop_reason::closed] >= 1);
  // Both readers saw a prefix in order.
  CHECK(h.xs->disorder == 0);
  CHECK(h.ys->disorder == 0);
  h.rt->stop();
}

TEST_CASE("collapse home, then onward: a port that came home to a loop and "
          "goes on to B is spliced with this node as relay and endpoint at "
          "once; its queue goes with it and the loop drops out",
          "[remote]") {
  auto a = std::make_unique<child>();
  child b;
  home h{*a, b.url("duplex")};
  REQUIRE(h.j.wait_line("home"));
  REQUIRE(eventually([&] { return remote::stats(*h.rt).swaps == 2; }));
  // y' leaves the loop's end for B: this node relays the loop's end and
  // the new link to B, and splices x's end straight onto B.
  h.go_on->store(true);
  bool spliced = eventually([&] {
    return remote::stats(*h.rt).splices == 1
           && remote::stats(*h.rt).swaps == 3;
  });
  if (!spliced)
    UNSCOPED_INFO("T splices " << remote::stats(*h.rt).splices << ", swaps "
                               << remote::stats(*h.rt).swaps);
  REQUIRE(spliced);
  // x's link to B and the report port's: the loop is gone.
  CHECK(eventually([&] { return remote::stats(*h.rt).links == 2; }));
  a->kill9();
  h.close->store(true);
  REQUIRE(h.j.wait_line("{count: 10000, ordered: true}"));
  CHECK(h.ys->got == 10000);
  CHECK(h.ys->disorder == 0);
  CHECK(eventually([&] { return remote::stats(*h.rt).links == 0; }));
  CHECK(remote::stats(*h.rt).violations == 0);
  CHECK(remote::stats(*h.rt).internal_errors == 0);
  CHECK(num(child_stats(*h.rt, b), "violations") == 0);
  CHECK(num(child_stats(*h.rt, b), "internal_errors") == 0);
  h.rt->stop();
  CHECK(b.stop() == 0);
}

TEST_CASE("a relay cannot loop an end into a link it did not name: a go "
          "whose successor's peer is no successor of the same relay is "
          "refused, and both links go on untouched; none is a violation",
          "[remote]") {
  server s;
  raw_peer p{s.port};
  auto o1 = p.hello_and_open("echo");
  auto o2 = p.open("echo");
  // "Your successor is on your own node, its peer is o2's end": o2's end
  // is a live link, not a successor this relay named.
  auto self_named = caf::to_string(p.node.node());
  auto succ = wire::port_name::mint();
  p.send(remote_test::splice_prepare(o1.dst, self_named, succ, o2.dst));
  CHECK(p.frame_from_node([&](const wire::frame& w) {
    return w.kind == wire::frame_kind::splice_ready && w.dst == o1.src
           && w.seq == 1;
  }));
  wire::frame go;
  go.kind = wire::frame_kind::splice_go;
  go.dst = o1.dst;
  p.send(go);
  CHECK(p.frame_from_node([&](const wire::frame& w) {
    return w.kind == wire::frame_kind::splice_ready && w.dst == o1.src
           && w.seq == 0;
  }));
  // Each link still echoes on itself, numbered from 1.
  p.send(remote_test::user_frame(o1.dst, 1, value{"one"}));
  CHECK(p.frame_from_node([&](const wire::frame& w) {
    return w.kind == wire::frame_kind::user && w.dst == o1.src && w.seq == 1
           && w.data == value{"one"};
  }));
  p.send(remote_test::user_frame(o2.dst, 1, value{"two"}));
  CHECK(p.frame_from_node([&](const wire::frame& w) {
    return w.kind == wire::frame_kind::user && w.dst == o2.src && w.seq == 1
           && w.data == value{"two"};
  }));
  CHECK(remote::stats(*s.rt).violations == 0);
  CHECK(remote::stats(*s.rt).swaps == 0);
  CHECK(remote::stats(*s.rt).links == 2);
}

TEST_CASE("a relay that made a loop cannot close it after it left: a "
          "splice_drop its later splice puts on the loop names the loop's "
          "end without being its pair, and is answered, not taken as a "
          "close",
          "[remote]") {
  server s;
  raw_peer r{s.port};
  auto o1 = r.hello_and_open("echo");
  auto o2 = r.open("echo");
  auto o3 = r.open("echo");
  auto self_named = caf::to_string(r.node.node());
  auto from_node = [&](wire::frame_kind k, wire::port_name dst,
                       std::uint64_t seq) {
    return r.frame_from_node([&](const wire::frame& w) {
      return w.kind == k && w.dst == dst && w.seq == seq;
    });
  };
  // An honest home splice of o1 and o2: a loop a1 <-> a2 at the node.
  auto a1 = wire::port_name::mint();
  auto a2 = wire::port_name::mint();
  r.send(remote_test::splice_prepare(o1.dst, self_named, a1, a2));
  r.send(remote_test::splice_prepare(o2.dst, self_named, a2, a1));
  REQUIRE(from_node(wire::frame_kind::splice_ready, o1.src, 1));
  REQUIRE(from_node(wire::frame_kind::splice_ready, o2.src, 1));
  for (auto* o : {&o1, &o2}) {
    wire::frame go;
    go.kind = wire::frame_kind::splice_go;
    go.dst = o->dst;
    r.send(go);
  }
  REQUIRE(from_node(wire::frame_kind::splice_last, o1.src, 0));
  REQUIRE(from_node(wire::frame_kind::splice_last, o2.src, 0));
  for (auto* o : {&o1, &o2}) {
    wire::frame end;
    end.kind = wire::frame_kind::splice_end;
    end.dst = o->dst;
    end.seq = 0;
    r.send(end);
  }
  REQUIRE(eventually([&] { return remote::stats(*s.rt).swaps == 2; }));
  // The relay's later splice of o3 names a2 as its peer, then stops: o3's
  // end drops its successor and tells "a2" so, on the loop.
  auto s5 = wire::port_name::mint();
  r.send(remote_test::splice_prepare(o3.dst, self_named, s5, a2));
  REQUIRE(from_node(wire::frame_kind::splice_ready, o3.src, 1));
  wire::frame abort;
  abort.kind = wire::frame_kind::splice_abort;
  abort.dst = o3.dst;
  r.send(abort);
  // o3 still echoes; the loop's two echo ports are open.
  r.send(remote_test::user_frame(o3.dst, 1, value{"three"}));
  CHECK(r.frame_from_node([&](const wire::frame& w) {
    return w.kind == wire::frame_kind::user && w.dst == o3.src
           && w.data == value{"three"};
  }));
  std::this_thread::sleep_for(200ms);
  CHECK(s.served.size() == 0); // no echo port was closed
  CHECK(remote::stats(*s.rt).links == 3);
  CHECK(remote::stats(*s.rt).violations == 0);
}

TEST_CASE("collapse home with credit in use: a writer held back at its "
          "reader's mark goes on across the switch onto the loop, and on "
          "the loop's own credit once A is killed; no QuotaExceededError, "
          "desired_size never over the mark",
          "[remote]") {
  auto a = std::make_unique<child>();
  runtime_config cfg;
  cfg.remote = true;
  cfg.warnings = false;
  journal j;
  auto w = std::make_shared<flow_writer>();
  // The writer's limit paces it (+20 a millisecond, at most 14000) until
  // the switch, so it is still writing, held back at the mark, when the
  // switch comes, however fast the machine; then 15000 with A still
  // there, and the last 5000 only after A's kill, on the loop's own
  // credit.
  w->total = 20000;
  w->limit = 20;
  auto switched = std::make_shared<std::atomic<bool>>(false);
  w->mark = high_water_mark{8};
  w->top = w->mark;
  auto got = std::make_shared<side>();
  auto rt = std::make_unique<runtime>(cfg); // last: stops first
  auto echo = a->url("echo");
  rt->spawn("home", [&j, w, got, echo, switched](context& self) {
    auto c = remote::connect(echo);
    message_channel ch;
    auto x = ch.port1();
    auto y = ch.port2();
    y.set_high_water_mark(w->mark); // travels with y, there and back
    c.on_message([&j, c, got](message_event& ev) {
      auto y2 = ev.ports.at(0);
      c.close();
      y2.on_message([&j, got](message_event& m) {
        home::count(j, *got, m, "y");
      });
      y2.on_close([&j](message_event&) { j.add("y closed"); });
      y2.start();
    });
    c.start();
    c.post_message("home", {y});
    x.on_ready([w](message_event& ev) {
      ++w->readies;
      remote_test::pump(w, ev.target);
    });
    x.start();
    remote_test::pump(w, x);
    self.set_interval(
      [w, x, switched] {
        // A CAS: the test's own store of 15000 after the switch wins.
        if (int l = w->limit.load(); !*switched && l < 14000)
          w->limit.compare_exchange_strong(l, l + 20);
        if (w->idle && w->sent < w->limit)
          remote_test::pump(w, x);
        if (w->sent >= w->total && !w->closed && remote_test::drained(w, x)) {
          w->closed = true;
          x.close();
        }
      },
      1ms);
  });
  REQUIRE(eventually([&] { return remote::stats(*rt).swaps == 2; }, 60s));
  *switched = true;
  w->limit = 15000; // on across the switch, A still there
  REQUIRE(eventually([&] { return w->sent >= 15000; }, 60s));
  a->kill9();
  // A quarter of the stream is still to come: its credit can come only
  // over the loop now.
  CHECK(w->sent == 15000);
  w->limit = 20000;
  REQUIRE(j.wait_line("y got 20000"));
  REQUIRE(j.wait_line("y closed"));
  CHECK(got->disorder == 0);
  CHECK(w->quota_errors == 0);
  CHECK(w->over_mark == 0);
  CHECK(w->readies > 0); // it was held back
  CHECK(eventually([&] { return remote::stats(*rt).links == 0; }));
  CHECK(remote::stats(*rt).violations == 0);
  rt->stop();
}
