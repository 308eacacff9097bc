// Proxy collapse (docs/architecture.md, "Proxy collapse"): a port that
// moves here (T) -> A -> B while both sides post is spliced onto a direct
// link T <-> B, A drops out, and the channel keeps FIFO both ways and its
// close. Real child processes (tests/remote/test_node.cpp). [remote]

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "entangle/all.hpp"
#include "remote/child.hpp"
#include "remote/journal.hpp"
#include "remote/remote_types.hpp"

using namespace entangle;
using namespace std::chrono_literals;
using remote_test::child;
using remote_test::journal;
using remote_test::eventually;

namespace {

/// A child's remote::stats, through its `stats` service.
object child_stats(runtime& rt, const child& c) {
  journal j;
  auto url = c.url("stats");
  auto out = std::make_shared<object>();
  rt.spawn("stats", [&j, url, out](context&) {
    auto p = remote::connect(url);
    p.on_message([&j, out](message_event& ev) {
      if (auto* o = ev.data.get_if<object>())
        *out = *o;
      j.add("stats");
    });
    p.start();
  });
  REQUIRE(j.wait_line("stats"));
  return *out;
}

double num(const object& o, const char* key) {
  return o.at(key).as_number();
}

/// T (this runtime, listening) with a channel (x, y): y goes to A's
/// `forward` and on to B's `duplex`, which posts 10000 numbers on it while
/// T posts on x. T posts up to `limit` (raised by the test), then closes x
/// once `close` is set. With `meet_b`, T is connected to B before (a round
/// trip on B's echo); without, T and B never talked, and each endpoint
/// dials the other where A says it listens (node_splice_dial.cpp).
struct scenario {
  runtime_config cfg;
  std::unique_ptr<runtime> rt;
  journal j;
  std::shared_ptr<std::atomic<int>> limit =
    std::make_shared<std::atomic<int>>(10000);
  std::shared_ptr<std::atomic<bool>> close =
    std::make_shared<std::atomic<bool>>(false);
  std::shared_ptr<std::atomic<int>> got = std::make_shared<std::atomic<int>>(0);

  explicit scenario(child& a, child& b, bool meet_b = true) {
    cfg.remote = true;
    cfg.warnings = false;
    rt = std::make_unique<runtime>(cfg);
    remote::listen(*rt, 0, "127.0.0.1");
    auto echo = b.url("echo");
    if (meet_b) {
      rt->spawn("hello-b", [this, echo](context&) {
        auto p = remote::connect(echo);
        p.on_message([this, p](message_event&) {
          j.add("b up");
          p.close();
        });
        p.start();
        p.post_message("hi");
      });
      REQUIRE(j.wait_line("b up"));
    }
    auto fwd = a.url("forward");
    auto duplex = b.url("duplex");
    rt->spawn("client", [this, fwd, duplex](context& self) {
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
      c.post_message(value::obj({{"to", duplex}, {"n", 10000}}),
                     {data.port2(), report.port2()});
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
  s.limit->store(20000);
  s.close->store(true);
  REQUIRE(s.j.wait_line("{count: 20000, ordered: true}"));
  auto lines = s.j.snapshot();
  CHECK(std::count(lines.begin(), lines.end(), "out of order") == 0);
  CHECK(s.got->load() == 10000);
  CHECK(eventually([&] { return remote::stats(*s.rt).links == 0; }));
  CHECK(remote::stats(*s.rt).violations == 0);
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
