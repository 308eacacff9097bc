// A small entangle node for the multi-process tests (tests/remote_test.cpp
// starts it as a child process): listens on 127.0.0.1 with port 0, prints
// "listening PORT", offers the services below, and runs until its stdin
// closes (or it is killed).
//
// Services (each client's connection is a port; see remote_test.cpp):
// - echo: posts every message back on the port it came from, with the
//   ports it carried (so they travel back); a typed `point` comes back as
//   a point with label + "!"; a messageerror comes back as
//   {messageerror: why}; the string "close" closes the port.
// - forward: {to: URL} with ports: connects to URL and posts the same
//   message (and its ports) there, then closes that connection; with
//   {to: URL, next: M}, posts M instead (so M = {to: URL2, ...} to another
//   node's forward makes a chain of relays).
// - count: a message carrying [data, report]: reads numbers from `data`,
//   checks each is the next one (0, 1, ...); when `data` closes, posts
//   {count, ordered, node_lost} on `report` and closes it.
// - pump: {n: N} with a port: posts 0..N-1 on it, then closes it.
// - duplex: {n: N} with ports [data, report]: posts 0..N-1 on data, 100
//   every millisecond, while it reads numbers from data and checks each is
//   the next one; when data closes, posts {count, ordered} on report and
//   closes it.
// - flow: {mark, bytes, hold, wiggle} with ports [data, report]: sets
//   data's high-water mark ({mark} messages, {bytes} bytes) and reads
//   numbers from data, checking each is the next one; hold = 1: reads
//   nothing until "go" comes on report; wiggle = 1: doubles the mark and
//   sets it back, every millisecond, while it reads. When data closes,
//   posts {count, ordered} on report and closes it.
// - handover: {to: URL, n: N, mark} with [report]: makes a channel
//   (x, y), sends y with report to URL (a `flow` service: {mark, hold: 1}),
//   posts 0..N-1 on x, and once x knows the reader's mark (its
//   desired_size is set) posts {handed: N} with x back on the port it came
//   from: x arrives with a backlog of N unread at the reader it never
//   counted, and this node relays it.
// - stats: posts this runtime's remote::stats (frames_in, frames_out,
//   splices, swaps, links, violations, internal_errors, nodes_lost, peers,
//   resent, reconnects, credits_sent,
//   credits_received) on the connection, then closes it.
//
// Options are runtime_config's, and --no-collapse (remote_collapse off).

#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <iostream>
#include <memory>
#include <string>
#include <thread>

#include "entangle/all.hpp"
#include "remote_types.hpp"

using namespace entangle;
using remote_types::point;

namespace {

void serve_echo(message_port p) {
  p.on_message([p](message_event& ev) {
    if (auto* s = ev.data.get_if<std::string>(); s && *s == "close") {
      p.close();
      return;
    }
    for (auto& q : ev.ports)
      serve_echo(q); // a port that came back can be echoed on too
    std::vector<transferable> t(ev.ports.begin(), ev.ports.end());
    p.post_message(ev.data, t);
  });
  on_typed<point>(p, [p](point& pt) {
    pt.label += "!";
    post_typed(p, pt);
  });
  p.on_messageerror([p](message_event& ev) {
    p.post_message(value::obj({{"messageerror", ev.error}}));
  });
  p.start();
}

void serve_forward(message_port p) {
  p.on_message([](message_event& ev) {
    auto* o = ev.data.get_if<object>();
    if (o == nullptr || o->count("to") == 0)
      return;
    auto q = remote::connect(o->at("to").as_string());
    std::vector<transferable> t(ev.ports.begin(), ev.ports.end());
    auto next = o->find("next");
    q.post_message(next != o->end() ? next->second : ev.data, t);
    q.close();
  });
  p.start();
}

/// Counts the numbers that arrive on `data`, checking each is the next one
/// (0, 1, ...); when `data` closes, clears `timer` (if given), posts
/// {count, ordered} on `report` and closes it. A listener only: `data` is
/// started by the caller (or by a "go", serve_flow).
void count_and_report(message_port data, message_port report,
                      std::shared_ptr<timer_id> timer = nullptr) {
  auto got = std::make_shared<double>(0);
  auto ordered = std::make_shared<bool>(true);
  data.add_event_listener("message", [got, ordered](message_event& m) {
    if (!m.data.is_number() || m.data.as_number() != *got)
      *ordered = false;
    *got += 1;
  });
  data.on_close([got, ordered, report, timer](message_event&) {
    if (timer)
      this_context().clear_interval(*timer);
    report.post_message(value::obj({{"count", *got}, {"ordered", *ordered}}));
    report.close();
  });
}

void serve_count(message_port p) {
  p.on_message([](message_event& ev) {
    if (ev.ports.size() != 2)
      return;
    auto data = ev.ports[0];
    count_and_report(data, ev.ports[1]);
    data.start();
  });
  p.start();
}

void serve_pump(message_port p) {
  p.on_message([](message_event& ev) {
    auto* o = ev.data.get_if<object>();
    if (o == nullptr || ev.ports.size() != 1)
      return;
    auto n = o->at("n").as_number();
    auto q = ev.ports[0];
    for (double i = 0; i < n; ++i)
      q.post_message(i);
    q.close();
  });
  p.start();
}

void serve_duplex(message_port p) {
  p.on_message([](message_event& ev) {
    auto* o = ev.data.get_if<object>();
    if (o == nullptr || ev.ports.size() != 2)
      return;
    auto n = o->at("n").as_number();
    auto data = ev.ports[0];
    auto report = ev.ports[1];
    auto sent = std::make_shared<double>(0);
    auto timer = std::make_shared<timer_id>(0);
    *timer = this_context().set_interval(
      [data, sent, n, timer] {
        for (int i = 0; i < 100 && *sent < n; ++i)
          data.post_message((*sent)++);
        if (*sent >= n)
          this_context().clear_interval(*timer);
      },
      std::chrono::milliseconds{1});
    count_and_report(data, report, timer);
    data.start();
  });
  p.start();
}

void serve_flow(message_port p) {
  p.on_message([](message_event& ev) {
    auto* o = ev.data.get_if<object>();
    if (o == nullptr || ev.ports.size() != 2)
      return;
    auto size = [o](const char* k) {
      return static_cast<std::size_t>(o->at(k).as_number());
    };
    auto data = ev.ports[0];
    auto report = ev.ports[1];
    high_water_mark mark{size("mark"), size("bytes")};
    data.set_high_water_mark(mark);
    auto timer = std::make_shared<timer_id>(0);
    if (size("wiggle") != 0) {
      auto twice = std::make_shared<bool>(false);
      *timer = this_context().set_interval(
        [data, mark, twice] {
          *twice = !*twice;
          auto m = mark;
          if (*twice) {
            m.messages *= 2;
            m.bytes *= 2;
          }
          data.set_high_water_mark(m);
        },
        std::chrono::milliseconds{1});
    }
    count_and_report(data, report, timer);
    report.on_message([data](message_event& m) {
      if (auto* s = m.data.get_if<std::string>(); s && *s == "go")
        data.start();
    });
    if (size("hold") == 0)
      data.start();
  });
  p.start();
}

void serve_handover(message_port p) {
  p.on_message([p](message_event& ev) {
    auto* o = ev.data.get_if<object>();
    if (o == nullptr || ev.ports.size() != 1)
      return;
    auto n = o->at("n").as_number();
    message_channel ch;
    auto x = ch.port1();
    auto q = remote::connect(o->at("to").as_string());
    q.post_message(value::obj({{"mark", o->at("mark")},
                               {"bytes", 0},
                               {"hold", 1},
                               {"wiggle", 0}}),
                   {ch.port2(), ev.ports[0]});
    q.close();
    for (double i = 0; i < n; ++i)
      x.post_message(i);
    auto timer = std::make_shared<timer_id>(0);
    *timer = this_context().set_interval(
      [p, x, n, timer] {
        if (!x.desired_size())
          return; // the reader's mark has not come back yet
        this_context().clear_interval(*timer);
        p.post_message(value::obj({{"handed", n}}), {x});
      },
      std::chrono::milliseconds{1});
  });
  p.start();
}

runtime* the_runtime = nullptr;

void serve_stats(message_port p) {
  auto s = remote::stats(*the_runtime);
  auto num = [](std::uint64_t x) { return value{static_cast<double>(x)}; };
  p.post_message(value::obj({{"frames_in", num(s.frames_in)},
                             {"frames_out", num(s.frames_out)},
                             {"splices", num(s.splices)},
                             {"swaps", num(s.swaps)},
                             {"links", num(s.links)},
                             {"violations", num(s.violations)},
                             {"internal_errors", num(s.internal_errors)},
                             {"nodes_lost", num(s.nodes_lost)},
                             {"peers", num(s.peers)},
                             {"resent", num(s.resent)},
                             {"reconnects", num(s.reconnects)},
                             {"credits_sent", num(s.credits_sent)},
                             {"credits_received", num(s.credits_received)}}));
  p.close();
}

std::uint64_t service(runtime& rt, const std::string& name,
                      void (*serve)(message_port)) {
  auto id = rt.spawn(name, [serve](context& self) {
    self.on_connect([serve](message_event& ev) { serve(ev.ports.at(0)); });
  });
  remote::offer(rt, name, id);
  return id;
}

} // namespace

int main(int argc, char** argv) {
  runtime_config cfg;
  cfg.remote = true;
  cfg.warnings = false;
  cfg.add_message_type<point>("remote_types::point");
  // --no-collapse: runtime_config::remote_collapse off (a CAF 0.17 switch
  // can be turned on on the command line, not off; a config file can).
  caf::actor_system_config::string_list args;
  for (int i = 1; i < argc; ++i)
    if (std::strcmp(argv[i], "--no-collapse") == 0)
      cfg.remote_collapse = false;
    else
      args.emplace_back(argv[i]);
  if (auto err = cfg.parse(args)) {
    std::cerr << "bad options: " << cfg.render(err) << "\n";
    return 2;
  }
  runtime rt{cfg};
  the_runtime = &rt;
  service(rt, "echo", serve_echo);
  service(rt, "duplex", serve_duplex);
  service(rt, "stats", serve_stats);
  service(rt, "forward", serve_forward);
  service(rt, "count", serve_count);
  service(rt, "pump", serve_pump);
  service(rt, "flow", serve_flow);
  service(rt, "handover", serve_handover);
  auto port = remote::listen(rt, 0, "127.0.0.1");
  std::printf("listening %u\n", static_cast<unsigned>(port));
  std::fflush(stdout);
  // Until the parent closes our stdin (or kills us).
  char buf[64];
  while (::read(0, buf, sizeof buf) > 0)
    ; // nop
  rt.stop();
  return 0;
}
