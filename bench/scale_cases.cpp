// How cost grows with the size of the world (issue #17): per-message cost
// against the number of started ports in the receiving context, nesting
// ports in transit, a million live channels, a hundred thousand live
// contexts, with raw-CAF baselines where one exists.

#include "cases.hpp"

#include <algorithm>
#include <cstdio>
#include <atomic>
#include <future>
#include <thread>
#include <memory>
#include <mutex>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>

#include <entangle/all.hpp>

namespace bench {

using namespace entangle;

namespace {

runtime_config quiet() {
  runtime_config cfg;
  cfg.warnings = false;
  return cfg;
}

struct tally {
  std::size_t got = 0;
  std::int64_t t0 = 0;
};

} // namespace

double ent_ports_scale(std::size_t k, std::size_t m, bool shipped) {
  // m hops of a ping-pong over one channel, in a context that owns k
  // started ports (the measured one among them): ns per hop. Never-shipped:
  // both ends in one context (HTML §1.3's combined order); shipped: the
  // receiver got all k ports from its parent, which plays the other end.
  auto cfg = quiet();
  runtime rt{cfg};
  double result = 0;
  auto t = std::make_shared<tally>();
  auto idle = [](message_event&) {};
  // Bounces a number until it reaches m, then reports (on the last hop).
  auto bounce = [t, m, &result](const message_port& self) {
    return [t, m, &result, self](message_event& ev) {
      auto n = ev.data.as_number();
      if (n == 0)
        t->t0 = now_ns();
      if (n + 1 < double(m)) {
        self.post_message(n + 1);
        return;
      }
      result = double(now_ns() - t->t0) / double(m - 1);
      self.close(); // the other side gets close (see below)
      if (!this_context().has_parent())
        this_context().close();
    };
  };
  if (!shipped) {
    rt.spawn("ctx", [&, k](context&) {
      std::vector<message_channel> chs(k);
      chs[0].port1().on_message(bounce(chs[0].port1()));
      chs[0].port2().on_message(bounce(chs[0].port2()));
      for (auto* p : {&chs[0].port1(), &chs[0].port2()})
        p->on_close([](message_event&) { this_context().close(); });
      for (std::size_t i = 1; i < k; ++i)
        chs[i].port2().on_message(idle);
      chs[0].port1().post_message(0.0);
    });
  } else {
    rt.spawn("parent", [&, k](context& self) {
      auto child = self.spawn("receiver", [bounce, idle](context& me) {
        me.on_message([bounce, idle](message_event& ev) {
          ev.ports[0].on_message(bounce(ev.ports[0]));
          for (std::size_t i = 1; i < ev.ports.size(); ++i)
            ev.ports[i].on_message(idle);
        });
      });
      std::vector<message_channel> chs(k);
      transfer_list ends;
      for (auto& ch : chs)
        ends.push_back(ch.port2());
      child.post_message("ports", std::move(ends));
      auto mine = chs[0].port1();
      mine.on_message(bounce(mine));
      mine.post_message(0.0);
      // The round is over when either side closed its end: then this
      // context ends, and with it the worker and every port.
      mine.on_close([](message_event&) { this_context().close(); });
    });
  }
  rt.run();
  return result;
}

double ent_unshipped_busy(std::size_t k, std::size_t m) {
  // k never-shipped ports each hold m/k messages: every dispatch picks the
  // oldest head among k (a heap: O(log k)). ns per message.
  auto cfg = quiet();
  runtime rt{cfg};
  double result = 0;
  auto t = std::make_shared<tally>();
  auto per = std::max<std::size_t>(1, m / k);
  auto total = per * k;
  rt.spawn("ctx", [&, k, per, total](context&) {
    std::vector<message_channel> chs(k);
    for (auto& ch : chs)
      ch.port2().on_message([t, total, &result](message_event&) {
        if (++t->got == total) {
          result = double(now_ns() - t->t0) / double(total);
          this_context().close();
        }
      });
    for (std::size_t r = 0; r < per; ++r)
      for (auto& ch : chs)
        ch.port1().post_message(double(r));
    t->t0 = now_ns();
  });
  rt.run();
  return result;
}

double ent_nest(std::size_t n, bool top_down) {
  auto cfg = quiet();
  runtime rt{cfg};
  double result = 0;
  rt.spawn("ctx", [&, n, top_down](context&) {
    std::vector<message_channel> chs(n);
    auto t0 = now_ns();
    for (std::size_t k = 1; k < n; ++k) {
      // Top-down: port2 of channel k goes into the queue of port2 of
      // channel k-1, which is already nested in k-2's... (each post
      // targets the deepest port in transit). Bottom-up: the reverse.
      auto i = top_down ? k : n - k;
      chs[i - 1].port1().post_message(double(i), {chs[i].port2()});
    }
    result = double(now_ns() - t0) / double(n - 1);
    this_context().close(); // closing the outermost closes the nest
  });
  rt.run();
  return result;
}

double ent_worker_churn(std::size_t w, std::size_t m) {
  auto cfg = quiet();
  runtime rt{cfg};
  double result = 0;
  rt.spawn("ctx", [&, w, m](context& self) {
    std::vector<worker> workers;
    workers.reserve(w);
    for (std::size_t i = 0; i < w; ++i)
      workers.push_back(self.spawn("w", [](context&) {}));
    auto t0 = now_ns();
    for (std::size_t i = 0; i < m; ++i) {
      message_channel ch;
      ch.port1().close();
      ch.port2().close();
    }
    result = double(now_ns() - t0) / double(m);
    this_context().close(); // its workers' implicit ports close with it
  });
  rt.run();
  return result;
}

void print_worker_churn(const sizes& s) {
  std::printf("\n== scale: a channel made and closed (both ends) by a "
              "context with W workers (ns/channel, %zu channels, median of "
              "%d)\n%-10s %16s\n",
              s.scale_churn, s.scale_reps, "W", "ns/channel");
  double churn_first = 0, churn_last = 0;
  for (auto w : s.scale_workers) {
    std::vector<double> xs;
    for (int i = 0; i < s.scale_reps; ++i)
      xs.push_back(ent_worker_churn(w, s.scale_churn));
    auto m = median(xs);
    if (churn_first == 0)
      churn_first = m;
    churn_last = m;
    std::printf("%-10zu %16.1f\n", w, m);
    std::printf("RESULT scale_workers_%zu churn_ns=%.3f\n", w, m);
    std::fflush(stdout);
  }
  std::printf("RESULT scale_workers_churn ratio=%.4f\n",
              churn_last / churn_first);
}

timers_figures ent_timer_churn(std::size_t n) {
  auto cfg = quiet();
  runtime rt{cfg};
  timers_figures out;
  std::int64_t ended = 0;
  rt.spawn("ctx", [&, n](context& self) {
    auto before = rss_bytes();
    auto t0 = now_ns();
    for (std::size_t i = 0; i < n; ++i)
      self.clear_timeout(self.set_timeout([] {}, std::chrono::seconds(30)));
    out.ns = double(now_ns() - t0) / double(n);
    out.bytes = (double(rss_bytes()) - double(before)) / double(n);
    ended = now_ns();
    self.close();
  });
  rt.run();
  out.stop_ms = double(now_ns() - ended) / 1e6;
  return out;
}

namespace {

/// `n` workers spawned by a context that lives on, each ending at once
/// (after setting and clearing a 30 s timeout if `timed`): returns the heap
/// in use per worker once all have ended and CAF let go of them, against
/// before; `ns` gets the time per worker until then.
double ended_bytes(std::size_t n, bool timed, double* ns) {
  auto cfg = quiet();
  runtime rt{cfg};
  double out = -1;
  rt.spawn("service", [&, n, timed](context& self) {
    auto destroyed0 = contexts_destroyed();
    auto before = double(heap_bytes());
    auto t0 = now_ns();
    for (std::size_t i = 0; i < n; ++i)
      self.spawn("job", [timed](context& me) {
        if (timed)
          me.clear_timeout(me.set_timeout([] {}, std::chrono::seconds(30)));
        me.close();
      });
    // Polled every ms (up to 20 s) until every job's actor is destroyed
    // and this context has closed its end of every job's channel (the
    // close events and the let-go tasks run between the polls), or until
    // it is clear that some are held.
    auto polls = std::make_shared<int>(0);
    self.set_interval(
      [&rt, &out, n, timed, ns, destroyed0, before, t0, polls] {
        bool all = contexts_destroyed() - destroyed0 >= n
                   && rt.live_ports() == 0;
        if (!all && ++*polls < 20000)
          return;
        if (ns != nullptr)
          *ns = double(now_ns() - t0) / double(n);
        out = (double(heap_bytes()) - before) / double(n);
        this_context().close();
      },
      std::chrono::milliseconds(1));
  });
  rt.run();
  return out;
}

} // namespace

ended_figures ent_ended_workers(std::size_t n) {
  ended_figures f;
  f.plain_bytes = ended_bytes(n, false, &f.ns);
  f.timed_bytes = ended_bytes(n, true, nullptr);
  return f;
}

channels_figures ent_channels(std::size_t n) {
  auto cfg = quiet();
  runtime rt{cfg};
  channels_figures out;
  rt.spawn("ctx", [&, n](context&) {
    std::vector<message_channel> chs;
    chs.reserve(n);
    auto before = rss_bytes();
    auto t0 = now_ns();
    for (std::size_t i = 0; i < n; ++i)
      chs.emplace_back();
    auto t1 = now_ns();
    out.bytes_per_port = (double(rss_bytes()) - double(before)) / double(2 * n);
    out.create_ns = double(t1 - t0) / double(n);
    for (auto& ch : chs) {
      ch.port1().close();
      ch.port2().close();
    }
    out.close_ns = double(now_ns() - t1) / double(n);
  });
  rt.run();
  return out;
}

contexts_figures ent_contexts(std::size_t n) {
  // A chain of n dedicated workers, each spawned by the one before (their
  // implicit ports keep them alive); a round sends a message down the
  // chain and back up: 2n hops through every context.
  auto cfg = quiet();
  runtime rt{cfg};
  contexts_figures out;
  auto spawned = std::make_shared<std::atomic<bool>>(false);
  auto go = std::make_shared<std::atomic<bool>>(false);
  std::promise<double> round;
  struct link {
    static void init(context& self, std::size_t left,
                     std::shared_ptr<std::atomic<bool>> spawned) {
      if (left == 0) {
        spawned->store(true);
        self.on_message([](message_event& ev) { // the bottom: back up
          this_context().post_message(std::move(ev.data));
        });
        return;
      }
      auto next = std::make_shared<worker>(self.spawn(
        "w", [left, spawned](context& c) { init(c, left - 1, spawned); }));
      next->on_message([](message_event& ev) { // from below: pass it up
        this_context().post_message(std::move(ev.data));
      });
      self.on_message([next](message_event& ev) { // from above: down
        next->post_message(std::move(ev.data));
      });
    }
  };
  auto before = rss_bytes();
  auto t0 = now_ns();
  rt.spawn("top", [&, n](context& self) {
    auto first = std::make_shared<worker>(self.spawn(
      "w", [n, spawned](context& c) { link::init(c, n - 1, spawned); }));
    auto start = std::make_shared<std::int64_t>(0);
    first->on_message([&round, start, first](message_event&) {
      round.set_value(double(now_ns() - *start));
      first->terminate(); // the chain ends from the top down
      this_context().close();
    });
    // Starts the round when the main thread says so (polled on a timer:
    // the context must not block its event loop).
    struct poll {
      static void again(std::shared_ptr<std::atomic<bool>> go,
                        std::shared_ptr<std::int64_t> start,
                        std::shared_ptr<worker> w) {
        if (!go->load()) {
          this_context().set_timeout([go, start, w] { again(go, start, w); },
                                     std::chrono::milliseconds(1));
          return;
        }
        *start = now_ns();
        w->post_message(1.0);
      }
    };
    poll::again(go, start, first);
  });
  while (!spawned->load())
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  out.spawn_ns = double(now_ns() - t0) / double(n);
  out.bytes_per_context = (double(rss_bytes()) - double(before)) / double(n);
  go->store(true);
  out.round_ns = round.get_future().get() / double(2 * n);
  rt.run();
  return out;
}

namespace {

using hop_atom = caf::atom_constant<caf::atom("hop")>;
using go_atom = caf::atom_constant<caf::atom("go")>;

struct chain_state {
  caf::actor_addr next; // weak both ways: `all` owns the links (flat, so
  caf::actor_addr prev; // their destruction cannot recurse down the chain)
};

struct chain_links {
  std::mutex mu;
  std::vector<caf::actor> all;
};

caf::behavior chain_link(caf::stateful_actor<chain_state>* self,
                         caf::actor_addr prev, std::size_t left,
                         std::shared_ptr<std::promise<void>> spawned,
                         std::shared_ptr<chain_links> links) {
  self->state.prev = std::move(prev);
  if (left == 0) {
    spawned->set_value();
  } else {
    auto next = self->spawn(chain_link, self->address(), left - 1, spawned,
                            links);
    self->state.next = next.address();
    std::lock_guard<std::mutex> guard{links->mu};
    links->all.push_back(std::move(next));
  }
  return {
    [self](hop_atom, bool down) {
      auto& st = self->state;
      auto to = caf::actor_cast<caf::actor>(down && st.next ? st.next
                                                            : st.prev);
      self->send(to, hop_atom::value, down && st.next);
    },
  };
}

} // namespace

contexts_figures caf_contexts(std::size_t n) {
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  contexts_figures out;
  auto spawned = std::make_shared<std::promise<void>>();
  auto ready = spawned->get_future();
  auto links = std::make_shared<chain_links>();
  std::promise<double> round;
  auto before = rss_bytes();
  auto t0 = now_ns();
  // The top spawns the chain (the last link answers to its `prev`, so the
  // first link's is the top) and starts a round on `go`.
  auto top = sys.spawn([&round, n, spawned, links](caf::event_based_actor* self)
                         -> caf::behavior {
    auto first = self->spawn(chain_link, self->address(), n - 1, spawned,
                             links);
    {
      std::lock_guard<std::mutex> guard{links->mu};
      links->all.push_back(first);
    }
    auto start = std::make_shared<std::int64_t>(0);
    return {
      [self, first, start](go_atom) {
        *start = now_ns();
        self->send(first, hop_atom::value, true);
      },
      [self, start, &round](hop_atom, bool) {
        round.set_value(double(now_ns() - *start));
        self->quit();
      },
    };
  });
  ready.wait();
  out.spawn_ns = double(now_ns() - t0) / double(n);
  out.bytes_per_context = (double(rss_bytes()) - double(before)) / double(n);
  caf::anon_send(top, go_atom::value);
  out.round_ns = round.get_future().get() / double(2 * n);
  std::lock_guard<std::mutex> guard{links->mu};
  for (auto& a : links->all)
    caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
  links->all.clear();
  return out;
}

} // namespace bench
