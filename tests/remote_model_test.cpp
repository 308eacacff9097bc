// The model-based test over several nodes (issue #14; PORT_PROTOCOLS §7):
// NODES runtimes in this one process, each listening on 127.0.0.1 and
// offering an "agent" service, connected over loopback like separate
// processes. Per seed, random channels: a home node makes a channel,
// posts on one end, sends the other end along a random path of nodes
// (each hop a transfer to another node's agent), posts more, sends the
// first end along its own path, whose last holder posts the rest and
// closes it; the last holder of the second end reads. Half the seeds kill
// one random node (runtime::stop: its node actor and contexts go at once,
// the others see node loss) at a random moment.
//
// The reference knows which channels a killed node may take messages
// from: those whose home or either path includes it. For every channel the
// reader must see 0, 1, 2, ... with no gap, duplicate or reordering; for a
// channel the kill could not touch, all of them and then `close`; for one
// it could, a prefix and then `close` (or nothing, if the end itself was
// lost in transit through that node).
//
// Credit between nodes: about half the channels' readers set a message
// high-water mark (1..8) on their port, and the writers post as a
// flow-controlled writer does (while desired_size allows, else waiting
// for `ready`), across nodes or not. Checked: no post throws
// QuotaExceededError, desired_size never exceeds the mark, and a writer
// held back (also after its last post) gets `ready` once the reader
// drains, within 10 s (a channel the kill could touch is exempt). Prints
//   model: seeds=S ops=O nodes=N lost=0 duplicated=0 reordered=0
//          close_violations=0 leaked=0 allowed_lost=K quota_errors=0
//          over_mark=0 no_ready=0 marked=M held_back=H violations=0
//          internal_errors=0
//          splices=P mode=remote
// Environment: ENTANGLE_MODEL_NODES (default 3), ENTANGLE_MODEL_SEEDS
// (default 4), ENTANGLE_MODEL_OPS (default 300), ENTANGLE_MODEL_SEED (run
// only this seed). [remote][model]

#include <catch2/catch.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <future>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "entangle/all.hpp"

using namespace entangle;
using namespace std::chrono_literals;

namespace {

std::size_t env_or(const char* name, std::size_t fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::strtoull(v, nullptr, 10)
                                    : fallback;
}

/// ENTANGLE_MODEL_PRECONNECT=1: connect the nodes one pair at a time
/// before the channels start, so that no two nodes dial each other at the
/// same moment. Kept for diagnosis: without it (the default) the nodes
/// dial each other at once, and CAF drops routes they were using, which
/// the nodes repair (docs/architecture.md, "Delivery between nodes").
bool preconnect() {
  const char* v = std::getenv("ENTANGLE_MODEL_PRECONNECT");
  return v != nullptr && *v != '\0' && *v != '0';
}

/// One channel of a seed: its plan and what its reader saw.
struct chan {
  std::size_t home = 0;
  std::vector<std::size_t> path_a; // the writing end's hops
  std::vector<std::size_t> path_b; // the reading end's hops
  double m1 = 0, m2 = 0, m3 = 0;   // posts at home, home, last holder
  std::size_t mark = 0;            // the reader's message mark (0: none)
  // Seen by the reader (under results::mu):
  double next = 0;
  std::uint64_t duplicated = 0;
  std::uint64_t reordered = 0;
  bool closed = false;
  // Seen by its writers (under results::mu):
  std::uint64_t quota_errors = 0; // a post threw QuotaExceededError
  std::uint64_t over_mark = 0;    // desired_size above the mark
  std::uint64_t no_ready = 0;     // held back, and no ready within 10 s
  std::uint64_t held_back = 0;    // waits for ready (how often it bit)
  double total() const {
    return m1 + m2 + m3;
  }
};

struct results {
  std::mutex mu;
  std::vector<chan> chans;
};

/// The agent of one node: takes a port with the rest of its path and
/// passes it on, or becomes its last holder.
void agent(context& self, std::shared_ptr<results> res,
           std::shared_ptr<std::vector<std::string>> urls);

void pass_on(std::size_t id, const std::string& role,
             std::vector<std::size_t> hops, double off, double m3,
             std::size_t mark, message_port port,
             const std::vector<std::string>& urls) {
  array rest;
  for (std::size_t k = 1; k < hops.size(); ++k)
    rest.push_back(static_cast<double>(hops[k]));
  auto c = remote::connect(urls.at(hops.at(0)));
  c.post_message(value::obj({{"chan", static_cast<double>(id)},
                             {"role", role},
                             {"hops", value{std::move(rest)}},
                             {"off", off},
                             {"m3", m3},
                             {"mark", static_cast<double>(mark)}}),
                 {port});
  c.close();
}

void read_end(std::size_t id, message_port b, std::shared_ptr<results> res,
              std::size_t mark) {
  if (mark > 0)
    b.set_high_water_mark(high_water_mark{mark});
  b.on_message([id, res](message_event& ev) {
    std::lock_guard<std::mutex> guard{res->mu};
    auto& c = res->chans[id];
    auto v = ev.data.as_number();
    if (v < c.next)
      ++c.duplicated;
    else if (v > c.next)
      ++c.reordered; // a gap: never allowed, killed node or not
    c.next = v + 1;
  });
  b.on_close([id, res](message_event&) {
    std::lock_guard<std::mutex> guard{res->mu};
    res->chans[id].closed = true;
  });
  b.start();
}

/// A flow-controlled writer's state (no port in it: the port's handlers
/// hold it, the port comes with each call).
struct writer {
  std::size_t id = 0;
  std::shared_ptr<results> res;
  double next = 0, end = 0;
  std::size_t mark = 0;
  std::function<void(message_port)> then;
  bool done = false;
  bool armed = false;
  timer_id timer = 0;

  void note(std::uint64_t chan::*what) const {
    std::lock_guard<std::mutex> guard{res->mu};
    ++(res->chans[id].*what);
  }
};

/// Posts what is left while desired_size allows (no mark known: freely),
/// then runs `then`; held back (also after the last post), it waits for
/// `ready`, which must come once the reader drains.
void pump(const std::shared_ptr<writer>& w, message_port a) {
  if (w->done)
    return;
  if (w->armed) {
    this_context().clear_timeout(w->timer);
    w->armed = false;
  }
  for (;;) {
    auto ds = a.desired_size();
    if (ds && *ds > static_cast<std::int64_t>(w->mark))
      w->note(&chan::over_mark);
    if (ds && *ds <= 0)
      break;
    if (w->next >= w->end) {
      w->done = true;
      auto then = std::move(w->then);
      then(a);
      return;
    }
    try {
      a.post_message(w->next);
    } catch (const dom_exception&) {
      w->note(&chan::quota_errors);
      w->done = true;
      return;
    }
    w->next += 1;
  }
  w->note(&chan::held_back);
  w->armed = true;
  w->timer = this_context().set_timeout(
    [w] {
      w->armed = false;
      if (!w->done)
        w->note(&chan::no_ready);
      w->done = true;
    },
    10s);
}

/// Posts [off, off + n) on `a` as a flow-controlled writer, then `then`.
void post_flow(std::size_t id, std::shared_ptr<results> res, std::size_t mark,
               message_port a, double off, double n,
               std::function<void(message_port)> then) {
  auto w = std::make_shared<writer>();
  w->id = id;
  w->res = std::move(res);
  w->next = off;
  w->end = off + n;
  w->mark = mark;
  w->then = std::move(then);
  if (mark > 0) {
    a.on_ready([w](message_event& ev) { pump(w, ev.target); });
    // Its peer lost (a node killed): nothing more to wait for.
    a.on_close([w](message_event&) {
      if (w->armed)
        this_context().clear_timeout(w->timer);
      w->armed = false;
      w->done = true;
    });
  }
  pump(w, a);
}

void write_rest(std::size_t id, std::shared_ptr<results> res,
                std::size_t mark, message_port a, double off, double m3) {
  post_flow(id, std::move(res), mark, a, off, m3,
            [](message_port p) { p.close(); });
}

void agent(context& self, std::shared_ptr<results> res,
           std::shared_ptr<std::vector<std::string>> urls) {
  self.on_connect([res, urls](message_event& ev) {
    auto p = ev.ports.at(0);
    p.on_message([res, urls](message_event& m) {
      if (m.ports.size() != 1)
        return;
      auto id = static_cast<std::size_t>(m.data["chan"].as_number());
      auto role = m.data["role"].as_string();
      std::vector<std::size_t> hops;
      auto& h = m.data["hops"].get<array>();
      for (auto& x : h)
        hops.push_back(static_cast<std::size_t>(x.as_number()));
      auto off = m.data["off"].as_number();
      auto m3 = m.data["m3"].as_number();
      auto mark = static_cast<std::size_t>(m.data["mark"].as_number());
      if (!hops.empty())
        pass_on(id, role, hops, off, m3, mark, m.ports[0], *urls);
      else if (role == "b")
        read_end(id, m.ports[0], res, mark);
      else
        write_rest(id, res, mark, m.ports[0], off, m3);
    });
    p.start();
  });
}

struct totals {
  std::uint64_t lost = 0, duplicated = 0, reordered = 0, close_violations = 0,
                leaked = 0, allowed_lost = 0, ops = 0, quota_errors = 0,
                over_mark = 0, no_ready = 0, marked = 0, held_back = 0,
                violations = 0, internal_errors = 0, splices = 0;
};

/// Runs one seed; adds to `t`; returns a description of any violation.
std::string run_seed(std::uint64_t seed, std::size_t nodes, std::size_t ops,
                     totals& t) {
  std::mt19937_64 rng{seed};
  auto pick = [&rng](std::size_t n) {
    return static_cast<std::size_t>(rng() % n);
  };
  auto res = std::make_shared<results>();
  // The plan: channels until the operation budget is spent.
  std::size_t budget = ops;
  while (budget > 0) {
    chan c;
    c.home = pick(nodes);
    // Each hop goes to another node than the one holding the end (a
    // runtime does not connect to itself).
    auto path = [&](std::size_t len) {
      std::vector<std::size_t> hops;
      auto at = c.home;
      for (; len > 0; --len) {
        auto next = (at + 1 + pick(nodes - 1)) % nodes;
        hops.push_back(next);
        at = next;
      }
      return hops;
    };
    c.path_a = path(pick(3));
    c.path_b = path(pick(4));
    c.m1 = static_cast<double>(pick(20));
    c.m2 = static_cast<double>(pick(20));
    c.m3 = static_cast<double>(pick(20));
    auto cost = static_cast<std::size_t>(c.total()) + c.path_a.size()
                + c.path_b.size() + 1;
    budget -= std::min(budget, cost);
    t.ops += cost;
    res->chans.push_back(std::move(c));
  }
  // The readers' marks, from their own generator (the plan above is the
  // one each seed had before marks were added).
  std::mt19937_64 mark_rng{seed ^ 0x6d61726bULL};
  for (auto& c : res->chans)
    c.mark = mark_rng() % 2 == 0 ? 0 : 1 + mark_rng() % 8;
  bool kill = pick(2) == 1;
  std::size_t victim = pick(nodes);
  auto kill_after = std::chrono::microseconds{pick(20000)};

  std::vector<std::unique_ptr<runtime_config>> cfgs;
  std::vector<std::unique_ptr<runtime>> rts;
  auto urls = std::make_shared<std::vector<std::string>>();
  for (std::size_t i = 0; i < nodes; ++i) {
    cfgs.push_back(std::make_unique<runtime_config>());
    cfgs.back()->remote = true;
    cfgs.back()->warnings = std::getenv("ENTANGLE_MODEL_VERBOSE") != nullptr;
    rts.push_back(std::make_unique<runtime>(*cfgs.back()));
    auto id = rts.back()->spawn("agent", [res, urls](context& self) {
      agent(self, res, urls);
    });
    remote::offer(*rts.back(), "agent", id);
    auto port = remote::listen(*rts.back(), 0, "127.0.0.1");
    urls->push_back("entangle://127.0.0.1:" + std::to_string(port)
                    + "/agent");
  }
  if (preconnect()) {
    for (std::size_t i = 0; i < nodes; ++i)
      for (std::size_t j = i + 1; j < nodes; ++j) {
        auto done = std::make_shared<std::promise<void>>();
        auto url = (*urls)[j];
        rts[i]->spawn("pre", [done, url](context&) {
          auto c = remote::connect(url);
          c.post_message("x");
          c.on_close([done](message_event&) {});
          c.close();
          this_context().set_timeout([done] { done->set_value(); }, 50ms);
        });
        done->get_future().wait();
      }
  }
  // Start every channel at its home.
  for (std::size_t id = 0; id < res->chans.size(); ++id) {
    auto plan = res->chans[id]; // a copy: the reader writes the original
    rts[plan.home]->spawn("home", [id, plan, res, urls](context&) {
      message_channel ch;
      auto a = ch.port1();
      auto b = ch.port2();
      for (double k = 0; k < plan.m1; ++k)
        a.post_message(k);
      if (plan.path_b.empty())
        read_end(id, b, res, plan.mark);
      else
        pass_on(id, "b", plan.path_b, 0, 0, plan.mark, b, *urls);
      // The mark may be here already (a reader at home): m2 is posted as
      // a flow-controlled writer does.
      post_flow(id, res, plan.mark, a, plan.m1, plan.m2,
                [id, plan, res, urls](message_port a) {
                  if (plan.path_a.empty())
                    write_rest(id, res, plan.mark, a, plan.m1 + plan.m2,
                               plan.m3);
                  else
                    pass_on(id, "a", plan.path_a, plan.m1 + plan.m2, plan.m3,
                            plan.mark, a, *urls);
                });
    });
  }
  if (kill) {
    std::this_thread::sleep_for(kill_after);
    rts[victim]->stop();
  }
  // Which channels the kill may touch, and whose reading end it may take.
  auto touched = [&](const chan& c) {
    if (!kill)
      return false;
    if (c.home == victim)
      return true;
    for (auto n : c.path_a)
      if (n == victim)
        return true;
    for (auto n : c.path_b)
      if (n == victim)
        return true;
    return false;
  };
  auto may_vanish = [&](const chan& c) {
    if (!kill)
      return false;
    if (c.home == victim)
      return true;
    for (auto n : c.path_b)
      if (n == victim)
        return true;
    return false;
  };
  auto settled = [&] {
    std::lock_guard<std::mutex> guard{res->mu};
    for (auto& c : res->chans)
      if (!c.closed && !may_vanish(c))
        return false;
    return true;
  };
  auto deadline = std::chrono::steady_clock::now() + 20s;
  while (!settled() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(2ms);
  // Ends that may vanish get a moment to close if they did not.
  std::this_thread::sleep_for(kill ? 50ms : 0ms);
  std::string why;
  {
    std::lock_guard<std::mutex> guard{res->mu};
    for (std::size_t id = 0; id < res->chans.size(); ++id) {
      auto& c = res->chans[id];
      t.duplicated += c.duplicated;
      t.reordered += c.reordered;
      t.quota_errors += c.quota_errors;
      t.over_mark += c.over_mark;
      t.marked += c.mark > 0 ? 1 : 0;
      t.held_back += c.held_back;
      if (!touched(c))
        t.no_ready += c.no_ready;
      auto got = c.next;
      if (touched(c)) {
        t.allowed_lost += static_cast<std::uint64_t>(c.total() - got);
        if (!c.closed && !may_vanish(c))
          ++t.close_violations;
      } else {
        if (got != c.total())
          t.lost += static_cast<std::uint64_t>(c.total() - got);
        if (!c.closed)
          ++t.close_violations;
      }
      if ((c.duplicated || c.reordered || (!touched(c) && got != c.total())
           || (!c.closed && !may_vanish(c)) || c.quota_errors
           || c.over_mark || (!touched(c) && c.no_ready))
          && why.empty())
        why = "seed " + std::to_string(seed) + " channel "
              + std::to_string(id) + ": got " + std::to_string(got) + " of "
              + std::to_string(c.total()) + (c.closed ? ", closed" : "")
              + ", mark "
              + std::to_string(c.mark) + ", quota errors "
              + std::to_string(c.quota_errors) + ", over mark "
              + std::to_string(c.over_mark) + ", no ready "
              + std::to_string(c.no_ready)
              + (kill ? ", node " + std::to_string(victim) + " killed" : "");
    }
  }
  for (auto& rt : rts) {
    auto st = remote::stats(*rt);
    t.violations += st.violations;
    t.internal_errors += st.internal_errors;
    t.splices += st.splices;
  }
  for (auto& rt : rts)
    rt->stop();
  for (auto& rt : rts)
    t.leaked += rt->live_ports();
  return why;
}

} // namespace

TEST_CASE("model: random posts, transfers across nodes, closes and node "
          "kills agree with the reference",
          "[remote][model]") {
  auto nodes = std::max<std::size_t>(2, env_or("ENTANGLE_MODEL_NODES", 3));
  auto seeds = env_or("ENTANGLE_MODEL_SEEDS", 4);
  auto ops = env_or("ENTANGLE_MODEL_OPS", 300);
  auto only = std::getenv("ENTANGLE_MODEL_SEED");
  totals t;
  std::vector<std::string> failures;
  auto t0 = std::chrono::steady_clock::now();
  std::uint64_t ran = 0;
  for (std::uint64_t seed = 1; seed <= seeds; ++seed) {
    if (only != nullptr && std::strtoull(only, nullptr, 10) != seed)
      continue;
    ++ran;
    auto why = run_seed(seed, nodes, ops, t);
    if (!why.empty())
      failures.push_back(why);
  }
  auto secs = std::chrono::duration<double>(std::chrono::steady_clock::now()
                                            - t0)
                .count();
  std::printf("model: seeds=%llu ops=%zu nodes=%zu lost=%llu "
              "duplicated=%llu reordered=%llu close_violations=%llu "
              "leaked=%llu allowed_lost=%llu quota_errors=%llu "
              "over_mark=%llu no_ready=%llu marked=%llu held_back=%llu "
              "violations=%llu internal_errors=%llu splices=%llu "
              "mode=remote%s\n",
              static_cast<unsigned long long>(ran), ops, nodes,
              static_cast<unsigned long long>(t.lost),
              static_cast<unsigned long long>(t.duplicated),
              static_cast<unsigned long long>(t.reordered),
              static_cast<unsigned long long>(t.close_violations),
              static_cast<unsigned long long>(t.leaked),
              static_cast<unsigned long long>(t.allowed_lost),
              static_cast<unsigned long long>(t.quota_errors),
              static_cast<unsigned long long>(t.over_mark),
              static_cast<unsigned long long>(t.no_ready),
              static_cast<unsigned long long>(t.marked),
              static_cast<unsigned long long>(t.held_back),
              static_cast<unsigned long long>(t.violations),
              static_cast<unsigned long long>(t.internal_errors),
              static_cast<unsigned long long>(t.splices),
              preconnect() ? " preconnect=1" : "");
  std::printf("model-detail: mode=remote executed=%llu wall=%.1fs\n",
              static_cast<unsigned long long>(t.ops), secs);
  for (auto& f : failures)
    std::printf("model: FAILED %s\n", f.c_str());
  CHECK(t.lost == 0);
  CHECK(t.duplicated == 0);
  CHECK(t.reordered == 0);
  CHECK(t.close_violations == 0);
  CHECK(t.leaked == 0);
  CHECK(t.quota_errors == 0);
  CHECK(t.over_mark == 0);
  CHECK(t.no_ready == 0);
  CHECK(t.violations == 0);
  CHECK(t.internal_errors == 0);
}
