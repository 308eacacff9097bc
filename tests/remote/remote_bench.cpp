// Cross-process cost on loopback (docs/performance.md, "Across
// processes"): entangle ports between two processes next to raw CAF remote
// actors between two processes, in the same run.
//
//   remote_bench [ROUNDS [MESSAGES]]   (ENTANGLE_TEST_NODE: the test node)
//   remote_bench --caf-echo            (the raw CAF peer, started by itself)
//
// Round trip: ROUNDS sequential request/answer pairs (a number posted on a
// port to the test node's echo service, the echo awaited before the next;
// raw CAF: request/receive of an int with a scoped actor). One way:
// MESSAGES numbers posted on a port carried to the test node's count
// service, timed until its report comes back (raw CAF: MESSAGES sends to a
// counting actor, then one request that it answers once it has them all).
// Home loop: ROUNDS round trips between two contexts of this process on a
// channel whose second port went to the test node and came back (a loop
// here), next to a plain channel.

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <memory>
#include <string>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/io/middleman.hpp>
#include <caf/scoped_actor.hpp>

#include "child.hpp"
#include "entangle/all.hpp"

using namespace entangle;
using clk = std::chrono::steady_clock;

namespace {

using count_atom = caf::atom_constant<caf::atom("count")>;

caf::behavior caf_peer(caf::event_based_actor*) {
  auto n = std::make_shared<std::int64_t>(0);
  return {
    [](std::int64_t x) { return x; },
    [n](count_atom, std::int64_t) { ++*n; },
    [n](count_atom) { return *n; },
  };
}

int caf_echo_main() {
  caf::actor_system_config cfg;
  cfg.load<caf::io::middleman>();
  caf::actor_system sys{cfg};
  auto peer = sys.spawn(caf_peer);
  auto port = sys.middleman().publish(peer, 0, "127.0.0.1");
  if (!port)
    return 1;
  std::printf("listening %u\n", static_cast<unsigned>(*port));
  std::fflush(stdout);
  char buf[64];
  while (::read(0, buf, sizeof buf) > 0)
    ; // nop
  caf::anon_send_exit(peer, caf::exit_reason::kill);
  return 0;
}

double us_since(clk::time_point t0) {
  return std::chrono::duration<double, std::micro>(clk::now() - t0).count();
}

/// A runtime with remoting on and warnings off (a bench prints figures).
runtime_config remote_config() {
  runtime_config cfg;
  cfg.remote = true;
  cfg.warnings = false;
  return cfg;
}

struct figures {
  double rtt_us = 0;
  double oneway_per_s = 0;
};

figures bench_entangle(int rounds, int messages) {
  remote_test::child node;
  auto cfg = remote_config();
  runtime rt{cfg};
  std::promise<figures> done;
  auto echo = node.url("echo");
  auto count = node.url("count");
  rt.spawn("bench", [&done, echo, count, rounds, messages](context&) {
    auto p = remote::connect(echo);
    auto f = std::make_shared<figures>();
    auto left = std::make_shared<int>(rounds);
    auto t0 = std::make_shared<clk::time_point>();
    p.on_message([=, &done](message_event&) {
      if (--*left > 0) {
        p.post_message(*left);
        return;
      }
      f->rtt_us = us_since(*t0) / rounds;
      p.close();
      // One way: numbers on a port carried to the count service.
      auto c = remote::connect(count);
      message_channel data;
      message_channel report;
      auto t1 = clk::now();
      report.port1().on_message([=, &done](message_event&) {
        f->oneway_per_s = messages / (us_since(t1) / 1e6);
        done.set_value(*f);
      });
      report.port1().start();
      c.post_message("go", {data.port2(), report.port2()});
      for (int i = 0; i < messages; ++i)
        data.port1().post_message(i);
      data.port1().close();
      c.close();
    });
    p.start();
    // Warm-up: the connection is made by the first round trip.
    *t0 = clk::now();
    p.post_message(*left);
  });
  auto fut = done.get_future();
  auto r = fut.wait_for(std::chrono::seconds{120}) == std::future_status::ready
             ? fut.get()
             : figures{};
  // Frames resent are a loss repaired (docs/architecture.md, "Delivery
  // between nodes"): on loopback there should be none.
  auto st = remote::stats(rt);
  std::printf("entangle frames: out %llu, in %llu, resent %llu, "
              "reconnects %llu\n",
              static_cast<unsigned long long>(st.frames_out),
              static_cast<unsigned long long>(st.frames_in),
              static_cast<unsigned long long>(st.resent),
              static_cast<unsigned long long>(st.reconnects));
  rt.stop();
  return r;
}

/// Round trips between two contexts of this process on a channel (x, y):
/// with `home`, y went to the test node's echo and came back, and the
/// node spliced its two links onto a loop here (docs/architecture.md,
/// "Proxy collapse", *Home*): what the loop's in-process hop costs next
/// to a plain channel, in the same run. 0 if the loop did not form.
double bench_local(int rounds, bool home) {
  remote_test::child node;
  auto cfg = remote_config();
  runtime rt{cfg};
  std::promise<double> done;
  auto echo = node.url("echo");
  rt.spawn("bench", [&done, &rt, echo, rounds, home](context& self) {
    auto peer = self.spawn("peer", [](context& me) {
      me.on_message([](message_event& ev) {
        auto y = ev.ports.at(0);
        y.on_message([y](message_event& m) { y.post_message(m.data); });
      });
    });
    message_channel ch;
    auto x = ch.port1();
    auto left = std::make_shared<int>(rounds);
    auto t0 = std::make_shared<clk::time_point>();
    x.on_message([=, &done](message_event&) {
      if (--*left > 0) {
        x.post_message(*left);
        return;
      }
      done.set_value(us_since(*t0) / rounds);
      x.close();
    });
    auto go = [=](message_port y) {
      peer.post_message("y", {y});
      *t0 = clk::now();
      x.post_message(*left);
    };
    if (!home) {
      go(ch.port2());
      return;
    }
    auto c = remote::connect(echo);
    c.on_message([=, &rt](message_event& ev) {
      auto y = ev.ports.at(0);
      c.close();
      // Both of this node's ends on the loop: then time it.
      auto timer = std::make_shared<timer_id>(0);
      *timer = this_context().set_interval(
        [=, &rt] {
          if (remote::stats(rt).swaps < 2)
            return;
          this_context().clear_interval(*timer);
          go(y);
        },
        std::chrono::milliseconds{1});
    });
    c.start();
    c.post_message("home", {ch.port2()});
  });
  auto fut = done.get_future();
  auto r = fut.wait_for(std::chrono::seconds{60}) == std::future_status::ready
             ? fut.get()
             : 0.0;
  rt.stop();
  return r;
}

figures bench_caf(const char* self_exe, int rounds, int messages) {
  remote_test::child peer{self_exe, {"--caf-echo"}};
  caf::actor_system_config cfg;
  cfg.load<caf::io::middleman>();
  caf::actor_system sys{cfg};
  auto hdl = sys.middleman().remote_actor("127.0.0.1", peer.port());
  figures f;
  if (!hdl)
    return f;
  caf::scoped_actor self{sys};
  auto ask = [&](std::int64_t x) {
    std::int64_t got = -1;
    self->request(*hdl, std::chrono::seconds{10}, x)
      .receive([&](std::int64_t y) { got = y; }, [](caf::error&) {});
    return got;
  };
  ask(0); // warm-up
  auto t0 = clk::now();
  for (int i = 0; i < rounds; ++i)
    ask(i);
  f.rtt_us = us_since(t0) / rounds;
  auto t1 = clk::now();
  for (int i = 0; i < messages; ++i)
    self->send(*hdl, count_atom::value, std::int64_t{i});
  std::int64_t n = 0;
  self->request(*hdl, std::chrono::seconds{60}, count_atom::value)
    .receive([&](std::int64_t x) { n = x; }, [](caf::error&) {});
  if (n == messages)
    f.oneway_per_s = messages / (us_since(t1) / 1e6);
  return f;
}

} // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::string{argv[1]} == "--caf-echo")
    return caf_echo_main();
  int rounds = argc > 1 ? std::atoi(argv[1]) : 2000;
  int messages = argc > 2 ? std::atoi(argv[2]) : 50000;
  auto e = bench_entangle(rounds, messages);
  auto c = bench_caf("/proc/self/exe", rounds, messages);
  std::printf("cross-process on loopback, %d round trips, %d one-way "
              "messages\n",
              rounds, messages);
  std::printf("%-26s %12s %16s\n", "", "round trip", "one way");
  std::printf("%-26s %9.1f us %12.0f msg/s\n", "entangle ports", e.rtt_us,
              e.oneway_per_s);
  std::printf("%-26s %9.1f us %12.0f msg/s\n", "raw CAF remote actors",
              c.rtt_us, c.oneway_per_s);
  std::printf("REMOTE_RTT_RATIO=%.2f\n",
              c.rtt_us > 0 ? e.rtt_us / c.rtt_us : 0.0);
  std::printf("REMOTE_ONEWAY_RATIO=%.2f\n",
              c.oneway_per_s > 0 ? e.oneway_per_s / c.oneway_per_s : 0.0);
  auto local = bench_local(rounds, false);
  auto loop = bench_local(rounds, true);
  std::printf("in one process, %d round trips between two contexts\n",
              rounds);
  std::printf("%-26s %9.1f us\n", "a channel", local);
  std::printf("%-26s %9.1f us\n", "a channel home on a loop", loop);
  std::printf("HOME_LOOP_RTT_RATIO=%.2f\n", local > 0 ? loop / local : 0.0);
  return e.rtt_us > 0 && c.rtt_us > 0 && loop > 0 ? 0 : 1;
}
