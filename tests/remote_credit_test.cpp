// Flow control across processes (docs/guide.md, "Flow control" and
// "Across processes"): a receiving port's mark reaches the sender on
// another node, whose desired_size, ready and QuotaExceededError follow
// the receiver's reads through credit frames. Runtimes in this one process
// stand for nodes, connected over loopback. [remote][flow]

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "entangle/all.hpp"
#include "remote/journal.hpp"

using namespace entangle;
using namespace std::chrono_literals;
using remote_test::journal;

namespace {

struct node {
  runtime_config cfg;
  std::unique_ptr<runtime> rt;
  std::string base;

  node() {
    cfg.remote = true;
    cfg.warnings = false;
    rt = std::make_unique<runtime>(cfg);
  }

  /// Listens (once) and returns the URL of service `name`.
  std::string url(const std::string& name) {
    if (base.empty())
      base = "entangle://127.0.0.1:"
             + std::to_string(remote::listen(*rt, 0, "127.0.0.1")) + "/";
    return base + name;
  }
};

std::string fmt_lines(const std::vector<std::string>& v) {
  std::string s;
  for (auto& x : v)
    s += x + "\n";
  return s;
}

std::string str(const std::optional<std::int64_t>& x) {
  return x ? std::to_string(*x) : "none";
}

/// Runs `then` on the running context once `cond` holds, checking every
/// `every` (what it waits for comes from another node with no event).
template <class Cond, class Then>
void when(Cond cond, Then then, std::chrono::milliseconds every = 5ms) {
  auto t = std::make_shared<timer_id>(0);
  *t = this_context().set_interval(
    [cond, then, t]() mutable {
      if (!cond())
        return;
      this_context().clear_interval(*t);
      then();
    },
    every);
}

/// On `p`'s ready: logs "ready", then "desired back to 4" once all of the
/// credit came (it is batched: the rest may still be on its way).
void log_ready(message_port p, journal& log) {
  p.on_ready([p, &log](message_event&) {
    log.add("ready");
    when([p] { return p.desired_size() == std::optional<std::int64_t>{4}; },
         [&log] { log.add("desired back to 4"); });
  });
}

/// Once `p` knows its receiver's mark: logs it, then posts 0, 1, ... until
/// the hard limit refuses one ("refused after <n>: <error>"), logging each
/// post with `each`.
void post_to_limit(message_port p, journal& log, bool each) {
  when([p] { return p.desired_size().has_value(); },
       [p, &log, each] {
         log.add("mark " + str(p.desired_size()));
         for (int i = 0;; ++i) {
           try {
             p.post_message(i);
           } catch (const dom_exception& e) {
             log.add("refused after " + std::to_string(i) + ": " + e.name());
             break;
           }
           if (each)
             log.add("posted " + std::to_string(i) + ", desired "
                     + str(p.desired_size()));
         }
       });
}

/// Logs "read <n>" for each message on `q`, which starts only once `go`
/// is set (polled every 5 ms; add_event_listener, since on_message would
/// start the port at once). On `q`'s context.
void read_once_go(message_port q, std::shared_ptr<std::atomic<bool>> go,
                  journal& log) {
  q.add_event_listener("message", [&log](message_event& m) {
    log.add("read " + to_string(m.data));
  });
  when([go] { return go->load(); }, [q] { q.start(); });
}

/// A service that sets mark {4} on each connection and reads nothing until
/// `go` is set (polled by a timer), then reads everything, logging
/// "read <n>" for each message.
std::uint64_t slow_reader(runtime& rt, std::shared_ptr<std::atomic<bool>> go,
                          journal& log, high_water_mark mark = {4}) {
  return rt.spawn("slow", [go, &log, mark](context&) {
    this_context().on_connect([go, &log, mark](message_event& ev) {
      auto q = ev.ports.at(0);
      q.set_high_water_mark(mark);
      read_once_go(q, go, log);
    });
  });
}

/// A producer context on `rt`: connects to `url`, waits until the
/// receiver's mark shows (desired_size), then posts until the hard limit
/// refuses a post, logging what it sees; on `ready`, logs it, and then
/// when its credit is back to the whole mark (4).
void producer(runtime& rt, const std::string& url, journal& log) {
  rt.spawn("producer", [url, &log](context&) {
    auto p = remote::connect(url);
    log_ready(p, log);
    p.on_close([p, &log](message_event&) {
      log.add("closed, desired " + str(p.desired_size()));
    });
    p.start();
    post_to_limit(p, log, true);
  });
}

/// Checks that nothing was read and no ready came by `seen`, then lets
/// the reader go: it reads all 8, the sender gets ready and then its whole
/// credit back.
void read_then_ready(journal& log, const std::vector<std::string>& seen,
                     std::atomic<bool>& go) {
  CHECK(std::none_of(seen.begin(), seen.end(), [](const std::string& s) {
    return s.rfind("ready", 0) == 0 || s.rfind("read ", 0) == 0;
  }));
  go.store(true);
  REQUIRE(log.wait_line("read 7"));
  REQUIRE(log.wait_line("ready"));
  REQUIRE(log.wait_line("desired back to 4"));
}

} // namespace

TEST_CASE("a sender on another node sees the receiver's mark: desired_size "
          "drops, QuotaExceededError at the hard limit, ready once it reads",
          "[remote][flow]") {
  journal log; // outlives the runtimes (their ports' close events)
  node a, b;
  auto go = std::make_shared<std::atomic<bool>>(false);
  auto id = slow_reader(*b.rt, go, log);
  remote::offer(*b.rt, "slow", id);
  producer(*a.rt, b.url("slow"), log);
  REQUIRE(log.wait_line("refused after 8: QuotaExceededError"));
  auto seen = log.snapshot();
  // The sender's view: mark 4, one less per post, the hard limit 2 x 4.
  std::vector<std::string> expect{"mark 4"};
  for (int i = 0; i < 8; ++i)
    expect.push_back("posted " + std::to_string(i) + ", desired "
                     + std::to_string(3 - i));
  expect.push_back("refused after 8: QuotaExceededError");
  CHECK(seen == expect);
  // Nothing was read: no ready yet.
  std::this_thread::sleep_for(200ms);
  INFO(fmt_lines(log.snapshot()));
  CHECK(log.snapshot().size() == expect.size());
  go->store(true);
  REQUIRE(log.wait_line("read 7"));
  // All 8 read and credited: ready, and the sender's view back to the
  // whole mark.
  REQUIRE(log.wait_line("ready"));
  REQUIRE(log.wait_line("desired back to 4"));
  auto st = remote::stats(*b.rt);
  CHECK(st.credits_sent >= 1);
  CHECK(st.credits_sent <= 4); // batched: not one per message
  CHECK(remote::stats(*a.rt).credits_received == st.credits_sent);
  CHECK(st.violations == 0);
  CHECK(remote::stats(*a.rt).violations == 0);
}

TEST_CASE("the receiver's node is lost while the sender waits for credit: "
          "the sender's port closes, no ready, no room left to see",
          "[remote][flow]") {
  journal log; // outlives the runtimes (their ports' close events)
  node a;
  auto b = std::make_unique<node>();
  auto go = std::make_shared<std::atomic<bool>>(false);
  auto id = slow_reader(*b->rt, go, log);
  remote::offer(*b->rt, "slow", id);
  producer(*a.rt, b->url("slow"), log);
  REQUIRE(log.wait_line("refused after 8: QuotaExceededError"));
  b->rt->stop();
  b.reset();
  REQUIRE(log.wait_line("closed, desired none"));
  auto seen = log.snapshot();
  CHECK(std::none_of(seen.begin(), seen.end(), [](const std::string& s) {
    return s == "ready";
  }));
  CHECK(remote::stats(*a.rt).nodes_lost == 1);
  CHECK(remote::stats(*a.rt).links == 0);
}

TEST_CASE("a flood that waits for ready stays within the receiver's hard "
          "limit across nodes, and every message arrives in order",
          "[remote][flow]") {
  constexpr int total = 5000;
  constexpr int mark = 32;
  node a, b;
  // sent - read, seen by the reader: messages posted and not yet read,
  // wherever they are (A's end, the wire, B's queue).
  auto sent = std::make_shared<std::atomic<int>>(0);
  auto read = std::make_shared<std::atomic<int>>(0);
  auto most = std::make_shared<std::atomic<int>>(0);
  auto bad = std::make_shared<std::atomic<bool>>(false);
  auto refused = std::make_shared<std::atomic<int>>(0);
  auto readies = std::make_shared<std::atomic<int>>(0);
  auto id = b.rt->spawn("reader", [=](context&) {
    this_context().on_connect([=](message_event& ev) {
      auto q = ev.ports.at(0);
      q.set_high_water_mark({mark});
      q.on_message([=](message_event& m) {
        if (m.data != value{static_cast<double>(read->load())})
          bad->store(true);
        auto in_flight = sent->load() - read->load();
        if (in_flight > most->load())
          most->store(in_flight);
        read->fetch_add(1);
        // A slow reader: a little work per message.
        std::this_thread::sleep_for(std::chrono::microseconds{50});
      });
      q.start();
    });
  });
  remote::offer(*b.rt, "reader", id);
  auto url = b.url("reader");
  a.rt->spawn("flood", [=](context&) {
    auto p = remote::connect(url);
    auto pump = [p, sent, refused] {
      // Posts while the receiver has room (what a well-behaved sender
      // does): backpressure() is its view of the receiver's marks.
      while (sent->load() < total && !p.backpressure()) {
        try {
          p.post_message(sent->load());
        } catch (const dom_exception&) {
          refused->fetch_add(1);
          return;
        }
        sent->fetch_add(1);
      }
    };
    p.on_ready([pump, readies](message_event&) {
      readies->fetch_add(1);
      pump();
    });
    p.start();
    // Start once the mark came (or after 10 s: without it, a flood).
    auto t = std::make_shared<timer_id>(0);
    auto waited = std::make_shared<int>(0);
    *t = this_context().set_interval(
      [p, t, waited, pump] {
        if (!p.desired_size() && ++*waited < 1000)
          return;
        this_context().clear_interval(*t);
        pump();
      },
      10ms);
  });
  auto deadline = std::chrono::steady_clock::now() + 120s;
  while (read->load() < total && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(10ms);
  CHECK(read->load() == total);
  CHECK_FALSE(bad->load());
  CHECK(refused->load() == 0);
  CHECK(readies->load() > 0);
  // Bounded: the hard limit (2 x mark) plus one batch the reader took
  // (runtime_config::dispatch_batch) while its credit was on its way.
  CHECK(most->load() <= 2 * mark + static_cast<int>(b.cfg.dispatch_batch));
  auto st = remote::stats(*b.rt);
  CHECK(st.credits_sent > 0);
  CHECK(st.credits_sent < total / 4); // batched
}

TEST_CASE("a receiving port's mark follows it to another node; the sender "
          "sees it through the relay",
          "[remote][flow]") {
  // A's producer talks to B's "pass", which sets mark {4} on its port and
  // hands that port on to C's slow reader: the mark moves with it.
  journal log; // outlives the runtimes (their ports' close events)
  node a, b, c;
  auto go = std::make_shared<std::atomic<bool>>(false);
  auto cid = c.rt->spawn("slow", [go, &log](context&) {
    this_context().on_connect([go, &log](message_event& ev) {
      auto in = ev.ports.at(0);
      in.on_message([go, &log](message_event& m) {
        auto q = m.ports.at(0);
        log.add("mark at C " + std::to_string(q.water_mark().messages));
        read_once_go(q, go, log);
      });
      in.start();
    });
  });
  remote::offer(*c.rt, "slow", cid);
  auto to_c = c.url("slow");
  auto bid = b.rt->spawn("pass", [to_c](context&) {
    this_context().on_connect([to_c](message_event& ev) {
      auto q = ev.ports.at(0);
      q.set_high_water_mark({4});
      auto out = remote::connect(to_c);
      out.post_message(value{"take"}, {q});
    });
  });
  remote::offer(*b.rt, "pass", bid);
  producer(*a.rt, b.url("pass"), log);
  REQUIRE(log.wait_line("mark at C 4"));
  REQUIRE(log.wait_line("refused after 8: QuotaExceededError"));
  std::this_thread::sleep_for(200ms);
  auto seen = log.snapshot();
  CHECK(std::count(seen.begin(), seen.end(), "mark 4") == 1);
  CHECK(std::find(seen.begin(), seen.end(), "posted 7, desired -4")
        != seen.end());
  read_then_ready(log, seen, *go);
  for (auto* n : {&a, &b, &c})
    CHECK(remote::stats(*n->rt).violations == 0);
}

TEST_CASE("a sending port moved to another node keeps the receiver's mark: "
          "the new sender sees it, is refused at the hard limit, gets ready",
          "[remote][flow]") {
  // A connects to B's slow reader (mark {4}) and hands its end to C's
  // "produce" service, which posts until refused: A relays.
  journal log; // outlives the runtimes (their ports' close events)
  node a, b, c;
  auto go = std::make_shared<std::atomic<bool>>(false);
  auto id = slow_reader(*b.rt, go, log);
  remote::offer(*b.rt, "slow", id);
  auto cid = c.rt->spawn("produce", [&log](context&) {
    this_context().on_connect([&log](message_event& ev) {
      auto in = ev.ports.at(0);
      in.on_message([&log](message_event& m) {
        auto p = m.ports.at(0);
        log_ready(p, log);
        p.start();
        post_to_limit(p, log, false);
      });
      in.start();
    });
  });
  remote::offer(*c.rt, "produce", cid);
  auto to_b = b.url("slow");
  auto to_c = c.url("produce");
  a.rt->spawn("handover", [to_b, to_c](context&) {
    auto p = remote::connect(to_b);
    auto out = remote::connect(to_c);
    out.post_message(value{"yours"}, {p});
  });
  REQUIRE(log.wait_line("refused after 8: QuotaExceededError"));
  std::this_thread::sleep_for(200ms);
  auto seen = log.snapshot();
  INFO(fmt_lines(seen));
  CHECK(std::count(seen.begin(), seen.end(), "mark 4") == 1);
  read_then_ready(log, seen, *go);
  for (auto* n : {&a, &b, &c})
    CHECK(remote::stats(*n->rt).violations == 0);
}
