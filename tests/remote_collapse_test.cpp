// Proxy collapse (docs/architecture.md, "Proxy collapse"): a port that
// moves here (T) -> A -> B while both sides post is spliced onto a direct
// link T <-> B, A drops out, and the channel keeps FIFO both ways and its
// close. Real child processes (tests/remote/test_node.cpp). [remote]

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "entangle/all.hpp"
#include "remote/child.hpp"
#include "remote/child_stats.hpp"
#include "remote/flow_writer.hpp"
#include "remote/journal.hpp"
#include "remote/remote_types.hpp"

using namespace entangle;
using namespace std::chrono_literals;
using remote_test::child;
using remote_test::child_stats;
using remote_test::num;
using remote_test::journal;
using remote_test::eventually;
using remote_test::drained;
using remote_test::pump;

namespace {

/// Connects `rt` to `b` (a round trip on its echo), so that T and B know
/// each other before a splice.
void meet(runtime& rt, journal& j, const child& b) {
  auto echo = b.url("echo");
  rt.spawn("hello-b", [&j, echo](context&) {
    auto p = remote::connect(echo);
    p.on_message([&j, p](message_event&) {
      j.add("b up");
      p.close();
    });
    p.start();
    p.post_message("hi");
  });
  REQUIRE(j.wait_line("b up"));
}

/// T (this runtime, listening) with a channel (x, y): y goes to A's
/// `forward` and on to B's `duplex`, which posts 10000 numbers on it while
/// T posts on x. T posts up to `limit` (raised by the test), then closes x
/// once `close` is set. With `meet_b`, T is connected to B before (a round
/// trip on B's echo); without, T and B never talked, and each endpoint
/// dials the other where A says it listens (node_splice_dial.cpp).
struct scenario {
  runtime_config cfg;
  journal j;
  std::shared_ptr<std::atomic<int>> limit =
    std::make_shared<std::atomic<int>>(10000);
  std::shared_ptr<std::atomic<bool>> close =
    std::make_shared<std::atomic<bool>>(false);
  std::shared_ptr<std::atomic<int>> got = std::make_shared<std::atomic<int>>(0);
  /// Last: it stops (its contexts use the members above) before they go,
  /// also when a failed REQUIRE leaves early.
  std::unique_ptr<runtime> rt;

  /// With `via`, the route is T -> A -> via -> B: two relays, each of
  /// which tries to splice while the other may be splicing too.
  explicit scenario(child& a, child& b, bool meet_b = true,
                    child* via = nullptr) {
    cfg.remote = true;
    cfg.warnings = false;
    rt = std::make_unique<runtime>(cfg);
    remote::listen(*rt, 0, "127.0.0.1");
    if (meet_b)
      meet(*rt, j, b);
    auto fwd = a.url("forward");
    auto order = value::obj({{"to", b.url("duplex")}, {"n", 10000}});
    if (via != nullptr)
      order = value::obj({{"to", via->url("forward")}, {"next", order}});
    rt->spawn("client", [this, fwd, order](context& self) {
      auto c = remote::connect(fwd);
      message_channel data;
      message_channel report;
      auto x = data.port1();
      report.port1().on_message(
        [this](message_event& ev) { j.add(to_string(ev.data)); });
      report.port1().on_close([this](message_event&) {
        j.add("report closed");
      });
      report.port1().start();
      c.post_message(order, {data.port2(), report.port2()});
      c.close();
      x.on_message([this](message_event& ev) {
        if (ev.data.as_number() != got->load())
          j.add("out of order");
        if (++*got == 10000)
          j.add("got 10000");
      });
      x.on_close([this](message_event&) { j.add("x closed"); });
      x.start();
      auto sent = std::make_shared<int>(0);
      auto timer = std::make_shared<timer_id>(0);
      *timer = self.set_interval(
        [this, x, sent, timer] {
          for (int i = 0; i < 100 && *sent < limit->load(); ++i)
            x.post_message((*sent)++);
          if (*sent >= limit->load() && close->load()) {
            this_context().clear_interval(*timer);
            x.close();
          }
        },
        1ms);
    });
  }

  /// Once the relays are gone: T posts up to 20000 and closes x; the other
  /// endpoint read all 20000 in order, T its 10000; no link is left here
  /// and nothing here was a violation.
  void finish_direct() {
    limit->store(20000);
    close->store(true);
    REQUIRE(j.wait_line("{count: 20000, ordered: true}"));
    auto lines = j.snapshot();
    CHECK(std::count(lines.begin(), lines.end(), "out of order") == 0);
    CHECK(got->load() == 10000);
    CHECK(eventually([&] { return remote::stats(*rt).links == 0; }));
    CHECK(remote::stats(*rt).violations == 0);
  }
};

/// A flow-controlled stream x -> y with y relayed T -> A -> B, the reader
/// at B (tests/remote/test_node.cpp's `flow`) with `mark`: T's writer posts
/// 0, 1, ... up to `limit` only while desired_size and desired_bytes are
/// above 0, and otherwise waits for `ready` -- nothing else wakes it, so a
/// lost ready stalls the stream. After `total` it closes x once its view
/// shows the reader drained (`drained`): a view left too high stalls it.
/// Counted: posts refused (QuotaExceededError), desired above the largest
/// mark the reader sets (`top`), ready events. T is connected to B before.
struct flow_scenario {
  using writer = remote_test::flow_writer;
  runtime_config cfg;
  journal j;
  std::shared_ptr<writer> w = std::make_shared<writer>();
  /// Last: stops before the members its contexts use go.
  std::unique_ptr<runtime> rt;

  /// `mark`: the reader's; `hold`: it reads nothing until `w->go`;
  /// `wiggle`: it doubles its mark and sets it back every millisecond.
  flow_scenario(child& a, child& b, high_water_mark mark, bool hold,
                bool wiggle, int total, int limit) {
    w->total = total;
    w->limit = limit;
    w->mark = mark;
    w->top = mark;
    if (wiggle) {
      w->top.messages *= 2;
      w->top.bytes *= 2;
    }
    cfg.remote = true;
    cfg.warnings = false;
    rt = std::make_unique<runtime>(cfg);
    remote::listen(*rt, 0, "127.0.0.1");
    meet(*rt, j, b);
    auto fwd = a.url("forward");
    auto to = b.url("flow");
    auto num = [](std::size_t n) { return value{static_cast<double>(n)}; };
    auto order = value::obj({{"to", to},
                             {"mark", num(mark.messages)},
                             {"bytes", num(mark.bytes)},
                             {"hold", num(hold ? 1 : 0)},
                             {"wiggle", num(wiggle ? 1 : 0)}});
    rt->spawn("client", [this, fwd, order, mark](context& self) {
      auto c = remote::connect(fwd);
      message_channel data;
      message_channel report;
      auto x = data.port1();
      auto y = data.port2();
      auto r = report.port1();
      r.on_message([this](message_event& ev) { j.add(to_string(ev.data)); });
      r.start();
      // The mark travels with y: x is flow-controlled from its first post.
      y.set_high_water_mark(mark);
      c.post_message(order, {y, report.port2()});
      c.close();
      auto wr = w;
      x.on_ready([wr](message_event& ev) {
        ++wr->readies;
        pump(wr, ev.target);
      });
      x.start();
      pump(wr, x);
      // Raising `limit` or setting `go` is the test thread's: looked at
      // here (only an idle writer is resumed so; a held back one waits
      // for its ready).
      auto told = std::make_shared<bool>(false);
      self.set_interval(
        [wr, x, r, told] {
          if (wr->idle && wr->sent < wr->limit)
            pump(wr, x);
          if (wr->sent >= wr->total && !wr->closed && drained(wr, x)) {
            wr->closed = true;
            x.close();
          }
          if (wr->go && !*told) {
            *told = true;
            r.post_message("go");
          }
        },
        1ms);
    });
  }
};

} // namespace

namespace {

/// The splice of both relayed ports, FIFO both ways across it, A idle
/// after it, and kill -9 of A unnoticed by the channel.
void spliced_and_a_killed(bool meet_b) {
  auto a = std::make_unique<child>();
  child b;
  scenario s{*a, b, meet_b};
  // The data and the report ports were both relayed: two splices at A,
  // and T swapped both links.
  bool swapped =
    eventually([&] { return remote::stats(*s.rt).swaps == 2; });
  if (!swapped) {
    auto as = child_stats(*s.rt, *a);
    UNSCOPED_INFO("A splices " << num(as, "splices") << ", T swaps "
                               << remote::stats(*s.rt).swaps
                               << ", T reconnects "
                               << remote::stats(*s.rt).reconnects);
  }
  REQUIRE(swapped);
  REQUIRE(s.j.wait_line("got 10000"));
  // A loaded relay acks late, so T and B may still resend old frames to
  // it (duplicates, dropped there) for a while: wait until A is quiet.
  auto before = child_stats(*s.rt, *a);
  for (int k = 0; k < 30; ++k) {
    std::this_thread::sleep_for(1s);
    auto now = child_stats(*s.rt, *a);
    bool quiet = num(now, "frames_in") - num(before, "frames_in") < 50
                 && num(now, "frames_out") - num(before, "frames_out") < 50;
    before = now;
    if (quiet)
      break;
  }
  CHECK(num(before, "splices") == 2);
  CHECK(num(before, "links") == 1); // only the stats query's own link
  // 5000 more from T: none of them passes A.
  s.limit->store(15000);
  std::this_thread::sleep_for(500ms);
  auto after = child_stats(*s.rt, *a);
  // Should A count more, whether they were resends (lost acks) says.
  INFO("A resent " << num(after, "resent") << ", reconnects "
                   << num(after, "reconnects") << "; T resent "
                   << remote::stats(*s.rt).resent << ", reconnects "
                   << remote::stats(*s.rt).reconnects);
  CHECK(num(after, "frames_in") - num(before, "frames_in") < 50);
  CHECK(num(after, "frames_out") - num(before, "frames_out") < 50);
  // A goes; the channel does not notice.
  a->kill9();
  s.finish_direct();
  auto bs = child_stats(*s.rt, b);
  CHECK(num(bs, "swaps") == 2);
  CHECK(num(bs, "violations") == 0);
  s.rt->stop();
  CHECK(b.stop() == 0);
}

} // namespace

TEST_CASE("collapse: a port relayed T -> A -> B is spliced onto T <-> B; "
          "FIFO both ways across the switch, A relays nothing after, and "
          "kill -9 of A does not break the channel",
          "[remote]") {
  spliced_and_a_killed(true);
}

TEST_CASE("collapse without a prior connection: T and B, which never "
          "talked, dial each other where A says they listen, check the "
          "node there is the one A named, and splice as if connected",
          "[remote]") {
  spliced_and_a_killed(false);
}

namespace {

/// The connections the chain's forwards make (A to B, B to C), made and
/// checked first: a loaded machine (ASan, tests in parallel) may refuse a
/// dial, which fails that connect and closes the ports posted on it --
/// not what the chain test is about.
void warm_chain(child& a, child& b, child& c) {
  runtime_config cfg;
  cfg.remote = true;
  cfg.warnings = false;
  runtime rt{cfg};
  auto peers = [&](child& x) { return num(child_stats(rt, x), "peers"); };
  // This runtime is a peer of each from the first query on.
  auto before_a = peers(a);
  auto hop = [&](const value& order, child& x, double want) {
    for (int k = 0; k < 10 && peers(x) < want; ++k) {
      auto fwd = a.url("forward");
      rt.spawn("warm", [fwd, order](context&) {
        auto p = remote::connect(fwd);
        p.post_message(order);
        p.close();
      });
      eventually([&] { return peers(x) >= want; }, 3s);
    }
    REQUIRE(peers(x) >= want);
  };
  // A dials B; then A's forward has B's forward dial C.
  hop(value::obj({{"to", b.url("echo")}}), a, before_a + 1);
  auto before_b = peers(b); // A counts already
  hop(value::obj({{"to", b.url("forward")},
                  {"next", value::obj({{"to", c.url("echo")}})}}),
      b, before_b + 1);
  rt.stop();
}

/// A's and B's splices of a chain T -> A -> B -> C: whichever relay
/// starts first takes the other's end as its endpoint, and the other one
/// splices once that end is free (which order happens is not forced),
/// until both relays dropped out: T <-> C direct, kill -9
/// of A and B unnoticed by the channel.
void chain_collapses(bool meet_c) {
  auto a = std::make_unique<child>();
  auto b = std::make_unique<child>();
  child c;
  warm_chain(*a, *b, c);
  scenario s{*a, c, meet_c, b.get()};
  // Two ports (data, report), each relayed by A and by B: one splice of
  // each relay per port, in whichever order they happen.
  auto relays_done = [&] {
    auto as = child_stats(*s.rt, *a);
    auto bs = child_stats(*s.rt, *b);
    return num(as, "splices") == 2 && num(bs, "splices") == 2;
  };
  bool done = eventually(relays_done, 60s);
  if (!done) {
    auto as = child_stats(*s.rt, *a);
    auto bs = child_stats(*s.rt, *b);
    auto ts = remote::stats(*s.rt);
    std::string journal;
    for (auto& line : s.j.snapshot())
      journal += line + "; ";
    UNSCOPED_INFO("A splices " << num(as, "splices") << ", links "
                               << num(as, "links") << ", lost "
                               << num(as, "nodes_lost") << "; B splices "
                               << num(bs, "splices") << ", links "
                               << num(bs, "links") << ", lost "
                               << num(bs, "nodes_lost") << "; T swaps "
                               << ts.swaps << ", links " << ts.links
                               << ", lost " << ts.nodes_lost
                               << ", violations " << ts.violations
                               << "; T saw: " << journal);
  }
  REQUIRE(done);
  REQUIRE(s.j.wait_line("got 10000"));
  // Only the stats query's own link is left at either relay.
  CHECK(eventually([&] { return num(child_stats(*s.rt, *a), "links") == 1; }));
  CHECK(eventually([&] { return num(child_stats(*s.rt, *b), "links") == 1; }));
  // And both endpoints took their last splice_end (a relay counts its
  // splice when it sends them). Per port, T swaps in A's splice and, when
  // A spliced first (B swapping as its endpoint), in B's; C in B's and,
  // when B spliced first (A swapping as its endpoint), in A's.
  auto a_swaps = num(child_stats(*s.rt, *a), "swaps");
  auto b_swaps = num(child_stats(*s.rt, *b), "swaps");
  CHECK(a_swaps + b_swaps == 2);
  CHECK(eventually(
    [&] { return num(child_stats(*s.rt, c), "swaps") == 2 + a_swaps; }));
  CHECK(eventually(
    [&] { return remote::stats(*s.rt).swaps == 2 + std::size_t(b_swaps); }));
  a->kill9();
  b->kill9();
  s.finish_direct();
  CHECK(num(child_stats(*s.rt, c), "violations") == 0);
  s.rt->stop();
  CHECK(c.stop() == 0);
}

} // namespace

TEST_CASE("collapse along a chain: a port relayed T -> A -> B -> C ends on "
          "a direct T <-> C link, each relay splicing once its end is free "
          "of the other's splice; kill -9 of A and B does not break the "
          "channel",
          "[remote]") {
  auto meet_c = GENERATE(true, false);
  CAPTURE(meet_c);
  chain_collapses(meet_c);
}

TEST_CASE("collapse off (runtime_config::remote_collapse at A): A keeps "
          "relaying",
          "[remote]") {
  child a{{"--no-collapse"}};
  child b;
  scenario s{a, b};
  REQUIRE(s.j.wait_line("got 10000"));
  s.close->store(true);
  REQUIRE(s.j.wait_line("{count: 10000, ordered: true}"));
  auto as = child_stats(*s.rt, a);
  CHECK(num(as, "splices") == 0);
  // Both directions' 10000 messages went through A.
  CHECK(num(as, "frames_in") > 20000);
  CHECK(remote::stats(*s.rt).swaps == 0);
  CHECK(eventually([&] { return remote::stats(*s.rt).links == 0; }));
  s.rt->stop();
  CHECK(a.stop() == 0);
  CHECK(b.stop() == 0);
}

TEST_CASE("collapse: kill -9 of B while the port is spliced gives T the "
          "prefix, then close, counted as node loss; no link is left",
          "[remote]") {
  auto a = std::make_unique<child>();
  auto b = std::make_unique<child>();
  scenario s{*a, *b};
  // T posts 20000 (not without end: while a splice drains, what B sends
  // directly waits at T behind everything A still relays to B, and a
  // sanitizer build relays slower than T posts).
  s.limit->store(20000);
  // Somewhere in the splice, or just after it.
  REQUIRE(eventually([&] { return s.got->load() >= 2000; }, 60s));
  b->kill9();
  REQUIRE(s.j.wait_line("x closed"));
  auto lines = s.j.snapshot();
  CHECK(std::count(lines.begin(), lines.end(), "out of order") == 0);
  CHECK(eventually([&] { return remote::stats(*s.rt).nodes_lost == 1; }));
  CHECK(eventually([&] { return remote::stats(*s.rt).links == 0; }));
  CHECK(remote::stats(*s.rt).violations == 0);
  auto as = child_stats(*s.rt, *a);
  CHECK(num(as, "violations") == 0);
  // Only the stats query's own link is left.
  CHECK(eventually([&] { return num(child_stats(*s.rt, *a), "links") == 1; }));
  s.rt->stop();
  CHECK(a->stop() == 0);
}

TEST_CASE("collapse: kill -9 of A while the splice may be under way gives "
          "either a spliced channel or the prefix and close; no link is "
          "left",
          "[remote]") {
  auto a = std::make_unique<child>();
  auto b = std::make_unique<child>();
  scenario s{*a, *b};
  s.limit->store(20000);
  REQUIRE(eventually([&] { return s.got->load() >= 100; }, 60s));
  a->kill9();
  std::this_thread::sleep_for(500ms);
  s.close->store(true);
  s.limit->store(0); // close at once: `sent` has passed it
  // Spliced already: B reads all T sent, in order, then our close, and
  // reports. Not yet: x closes with A (node loss), B's data port too. The
  // report port has a splice of its own: if A took it (prefix, close),
  // B's report is lost with it.
  auto ended = [](const std::vector<std::string>& v) {
    for (auto& l : v)
      if (l == "x closed" || l == "report closed")
        return true;
    return false;
  };
  auto lines = s.j.wait(ended, 60s);
  REQUIRE(ended(lines));
  CHECK(std::count(lines.begin(), lines.end(), "out of order") == 0);
  for (auto& l : lines)
    if (l.rfind("{count:", 0) == 0)
      CHECK(l.find("ordered: true") != std::string::npos);
  CHECK(eventually([&] { return remote::stats(*s.rt).links == 0; }));
  CHECK(remote::stats(*s.rt).violations == 0);
  auto bs = child_stats(*s.rt, *b);
  CHECK(num(bs, "violations") == 0);
  CHECK(eventually([&] { return num(child_stats(*s.rt, *b), "links") == 1; }));
  s.rt->stop();
  CHECK(b->stop() == 0);
}

namespace {

/// Both of T's links (data, report) swapped at T and at B.
void wait_swapped(flow_scenario& s, child& b) {
  REQUIRE(eventually([&] { return remote::stats(*s.rt).swaps == 2; }, 60s));
  REQUIRE(eventually([&] { return num(child_stats(*s.rt, b), "swaps") == 2; },
                     60s));
}

/// After the stream: FIFO, nothing lost, no QuotaExceededError, desired
/// never above the mark; no violation anywhere; A spliced both links.
void check_stream(flow_scenario& s, child& a, child& b, int total) {
  auto report = "{count: " + std::to_string(total) + ", ordered: true}";
  REQUIRE(s.j.wait_line(report, 120s));
  CHECK(s.w->quota_errors == 0);
  CHECK(s.w->over_mark == 0);
  CHECK(num(child_stats(*s.rt, a), "splices") == 2);
  CHECK(remote::stats(*s.rt).violations == 0);
  CHECK(num(child_stats(*s.rt, a), "violations") == 0);
  CHECK(num(child_stats(*s.rt, b), "violations") == 0);
  CHECK(eventually([&] { return remote::stats(*s.rt).links == 0; }));
}

} // namespace

TEST_CASE("collapse with credit in use: a writer held back at the reader's "
          "mark is spliced onto T <-> B, and the credit for what it sent "
          "through A comes on the direct link",
          "[remote][flow]") {
  child a;
  child b;
  auto mark = GENERATE(high_water_mark{8}, high_water_mark{0, 64});
  CAPTURE(mark.messages, mark.bytes);
  flow_scenario s{a, b, mark, true, false, 2000, 2000};
  wait_swapped(s, b);
  // Held back all along: a mark's worth sent (numbers count 8 bytes), no
  // credit yet.
  CHECK(s.w->sent == 8);
  CHECK(s.w->readies == 0);
  auto a0 = child_stats(*s.rt, a);
  auto b0 = child_stats(*s.rt, b);
  auto t0 = remote::stats(*s.rt).credits_received;
  s.w->go = true;
  check_stream(s, a, b, 2000);
  CHECK(s.w->readies > 0);
  // Nothing passed A since the swap (the stats queries' own frames
  // aside): the credit came from B directly.
  auto a1 = child_stats(*s.rt, a);
  CHECK(num(a1, "frames_in") - num(a0, "frames_in") < 50);
  CHECK(num(a1, "frames_out") - num(a0, "frames_out") < 50);
  CHECK(remote::stats(*s.rt).credits_received > t0 + 100);
  CHECK(num(child_stats(*s.rt, b), "credits_sent")
        > num(b0, "credits_sent") + 100);
}

TEST_CASE("collapse with credit in use: a stream spliced while it flows "
          "keeps FIFO and its credit (message mark, byte mark, a mark the "
          "reader changes all the time)",
          "[remote][flow]") {
  child a;
  child b;
  auto [mark, wiggle] = GENERATE(std::make_pair(high_water_mark{8}, false),
                                 std::make_pair(high_water_mark{0, 64}, false),
                                 std::make_pair(high_water_mark{4}, true));
  CAPTURE(mark.messages, mark.bytes, wiggle);
  flow_scenario s{a, b, mark, false, wiggle, 20000, 20000};
  wait_swapped(s, b);
  // Spliced mid-stream, credit in use both before and after.
  auto at_swap = s.w->sent.load();
  CHECK(at_swap > 0);
  CHECK(s.w->readies > 0);
  auto a0 = child_stats(*s.rt, a);
  auto t0 = remote::stats(*s.rt).credits_received;
  CHECK(at_swap < 20000);
  check_stream(s, a, b, 20000);
  auto a1 = child_stats(*s.rt, a);
  CHECK(num(a1, "frames_in") - num(a0, "frames_in") < 50);
  CHECK(num(a1, "frames_out") - num(a0, "frames_out") < 50);
  if (s.w->sent - at_swap > 1000)
    CHECK(remote::stats(*s.rt).credits_received > t0);
}

TEST_CASE("collapse with credit in use: a port that arrives with a backlog "
          "it never counted keeps its view at the swap (no rise under a "
          "writer), and B's first credit goes to that backlog",
          "[remote][flow]") {
  child a;
  child b;
  runtime_config cfg;
  cfg.remote = true;
  cfg.warnings = false;
  runtime rt{cfg};
  remote::listen(rt, 0, "127.0.0.1");
  journal j;
  // desired_size at T: when x came, after T's two posts, after both
  // swaps, after B read everything (INT64_MIN: not seen).
  struct seen {
    std::atomic<std::int64_t> arrived{INT64_MIN}, posted{INT64_MIN},
      swapped{INT64_MIN}, drained{INT64_MIN};
  };
  auto ds = std::make_shared<seen>();
  auto to = b.url("flow");
  auto handover = a.url("handover");
  rt.spawn("client", [&j, &rt, ds, to, handover](context&) {
    // A makes (x, y), sends y to B's reader (mark 8, reading nothing
    // until "go"), posts 0..9 on x and hands x here: B holds 10 unread
    // that x's view here never counted, and A relays x until it splices.
    auto c = remote::connect(handover);
    message_channel report;
    auto r = report.port1();
    r.on_message([&j](message_event& ev) { j.add(to_string(ev.data)); });
    r.start();
    c.post_message(value::obj({{"to", to}, {"n", 10}, {"mark", 8}}),
                   {report.port2()});
    c.on_message([&j, &rt, ds, r, c](message_event& ev) {
      if (ev.ports.size() != 1)
        return;
      c.close();
      auto x = ev.ports[0];
      auto get = [x] { return x.desired_size().value_or(INT64_MIN); };
      ds->arrived = get();
      x.post_message(10);
      x.post_message(11);
      ds->posted = get();
      auto timer = std::make_shared<timer_id>(0);
      *timer = this_context().set_interval(
        [&rt, ds, r, x, get, timer] {
          if (ds->swapped == INT64_MIN) {
            if (remote::stats(rt).swaps < 2)
              return;
            ds->swapped = get();
            r.post_message("go");
          }
          if (get() != 8)
            return; // B's credit for all 12 not here yet
          ds->drained = get();
          this_context().clear_interval(*timer);
          x.close();
        },
        1ms);
    });
    c.start();
  });
  REQUIRE(j.wait_line("{count: 12, ordered: true}", 60s));
  INFO("desired_size at T: arrived " << ds->arrived << ", posted "
                                      << ds->posted << ", swapped "
                                      << ds->swapped);
  // The mark came with x; its view starts at what it was told (0).
  CHECK(ds->arrived == 8);
  CHECK(ds->posted == 6);
  // A counted 12 unread at the swap; T's view stays at its own 2 and the
  // 10 it never counted take B's first credit (before the fix the view
  // jumped to 12: a writer that had just read 6 met QuotaExceededError).
  CHECK(ds->swapped == 6);
  CHECK(ds->drained == 8);
  CHECK(num(child_stats(rt, a), "splices") == 2);
  CHECK(remote::stats(rt).violations == 0);
  CHECK(num(child_stats(rt, a), "violations") == 0);
  CHECK(num(child_stats(rt, b), "violations") == 0);
  CHECK(eventually([&] { return remote::stats(rt).links == 0; }));
}
