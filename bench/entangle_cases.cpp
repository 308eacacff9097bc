// The entangle side of every benchmark: contexts talking through ports,
// shaped like the raw-CAF baselines in caf_cases.cpp.

#include "cases.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <thread>

#include <entangle/all.hpp>
#include <entangle/trace_recorder.hpp>

namespace bench {

using namespace entangle;

namespace {

/// The cheapest real observer: counts what it is told. `timed` asks for
/// timestamps (what a recorder needs) or not (tracer::timestamps).
///
/// One counter per thread, each on its own cache line and written by its
/// thread alone (no locked add), as a counting tracer meant for production
/// would, so that the rows time the hooks and not the observer (in the
/// A/B of docs/performance.md, "Tracing cost", the shared counter turned
/// out not to be what the untimed rows paid; "The counting tracer's own
/// add" measures the locked add).
class counting_tracer : public tracer {
public:
  explicit counting_tracer(bool timed)
    : tracer(timed ? timestamps::yes : timestamps::no) {
  }
  void on_post(const trace_post&) override {
    bump(1);
  }
  void on_post_group(const trace_post_group& g) override {
    bump(g.size);
  }
  void on_deliver(const trace_deliver&) override {
    bump(1);
  }
  std::size_t total() const noexcept {
    std::size_t sum = 0;
    for (auto& s : slots_)
      sum += s.n.load(std::memory_order_relaxed);
    return sum;
  }

private:
  static constexpr std::size_t n_slots = 64;
  struct alignas(64) slot {
    std::atomic<std::size_t> n{0};
  };
  void bump(std::size_t k) noexcept {
    // A thread's own slot has one writer: a plain load and store (no
    // locked add) keep the count exact while total() reads it. Slots are
    // handed out per tracer (a runtime's threads, not the process's);
    // threads beyond the first n_slots - 1 share the last one, with an
    // atomic add.
    struct mine {
      std::uint64_t tracer = 0;
      std::size_t slot = 0;
    };
    thread_local mine m;
    if (m.tracer != id_)
      m = {id_, std::min(threads_.fetch_add(1, std::memory_order_relaxed),
                         n_slots - 1)};
    auto& n = slots_[m.slot].n;
    if (m.slot < n_slots - 1)
      n.store(n.load(std::memory_order_relaxed) + k,
              std::memory_order_relaxed);
    else
      n.fetch_add(k, std::memory_order_relaxed);
  }
  static std::uint64_t next_id() noexcept {
    static std::atomic<std::uint64_t> ids{0};
    return ids.fetch_add(1, std::memory_order_relaxed) + 1;
  }
  const std::uint64_t id_ = next_id();
  std::atomic<std::size_t> threads_{0};
  std::array<slot, n_slots> slots_;
};

runtime_config quiet_config(trace_mode traced = trace_mode::off) {
  runtime_config cfg;
  cfg.warnings = false;
  if (traced == trace_mode::recorder)
    cfg.tracer = std::make_shared<trace_recorder>();
  else if (traced != trace_mode::off)
    cfg.tracer = std::make_shared<counting_tracer>(traced
                                                   == trace_mode::timed);
  return cfg;
}

/// A traced case whose tracer heard less than a post and a delivery per
/// message timed nothing worth printing.
void check_traced(const runtime_config& cfg, std::size_t messages) {
  auto* t = dynamic_cast<counting_tracer*>(cfg.tracer.get());
  if (t != nullptr && t->total() < 2 * messages) {
    std::fprintf(stderr, "the tracer heard %zu events for %zu messages\n",
                 t->total(), messages);
    std::abort();
  }
}

/// Posts `m`'s payload back on `port`, transferring its buffer if asked.
void echo(const message_port& port, message_event& m, payload p) {
  if (p == payload::bytes_transferred) {
    auto buf = m.data.get<array_buffer>();
    port.post_message(std::move(m.data), {buf});
  } else {
    port.post_message(std::move(m.data));
  }
}

value make_payload(payload p) {
  switch (p) {
    case payload::number:
      return value{42.0};
    case payload::object:
      return small_object();
    default:
      return value{array_buffer{std::vector<std::uint8_t>(big_payload_bytes, 7)}};
  }
}

struct counter {
  std::size_t count = 0;
  std::int64_t t0 = 0;
};

} // namespace

bool ent_tracing_compiled_in() {
  return tracing_compiled_in();
}

double ent_pingpong(std::size_t n, payload p, trace_mode traced) {
  auto cfg = quiet_config(traced);
  runtime rt{cfg};
  double result = 0;
  std::size_t warm = n / 10 + 1;
  rt.spawn("ping", [&](context& self) {
    message_channel ch;
    auto pong = self.spawn("pong", [p](context& me) {
      me.on_message([p](message_event& ev) {
        auto port = ev.ports.at(0);
        port.on_message([port, p](message_event& m) { echo(port, m, p); });
      });
    });
    pong.post_message("port", {ch.port2()});
    auto port = ch.port1();
    auto st = std::make_shared<counter>();
    port.on_message([port, st, p, n, warm, &result](message_event& m) {
      ++st->count;
      if (st->count == warm)
        st->t0 = now_ns();
      if (st->count == warm + n) {
        result = double(now_ns() - st->t0) / double(n);
        port.close();
        this_context().close();
        return;
      }
      echo(port, m, p);
    });
    auto first = make_payload(p);
    if (p == payload::bytes_transferred) {
      auto buf = first.get<array_buffer>();
      port.post_message(std::move(first), {buf});
    } else {
      port.post_message(std::move(first));
    }
  });
  rt.run();
  check_traced(cfg, 2 * (warm + n));
  return result;
}

double ent_oneway(std::size_t n, trace_mode traced, std::size_t mark) {
  auto cfg = quiet_config(traced);
  runtime rt{cfg};
  std::int64_t t0 = 0;
  std::int64_t t1 = 0;
  rt.spawn("producer", [&](context& self) {
    message_channel ch;
    auto consumer = self.spawn("consumer", [n, mark, &t1](context& me) {
      me.on_message([n, mark, &t1](message_event& ev) {
        auto port = ev.ports.at(0);
        if (mark != 0)
          port.set_high_water_mark({mark});
        auto count = std::make_shared<std::size_t>(0);
        port.on_message([port, count, n, &t1](message_event&) {
          if (++*count == n) {
            t1 = now_ns();
            port.close();
          }
        });
        this_context().post_message("ready");
      });
    });
    consumer.post_message("port", {ch.port2()});
    auto port = ch.port1();
    // The consumer closes its end after the last message: then we are done.
    port.on_close([](message_event&) { this_context().close(); });
    port.start();
    consumer.on_message([port, n, &t0](message_event&) {
      t0 = now_ns();
      for (std::size_t i = 0; i < n; ++i)
        port.post_message(double(i));
    });
  });
  rt.run();
  check_traced(cfg, n);
  return double(t1 - t0) / double(n);
}

namespace {

struct hub {
  std::vector<message_port> ports;
  std::size_t replies = 0;
  std::size_t round = 0;
  std::int64_t t0 = 0;
};

} // namespace

double ent_fan(std::size_t n, std::size_t rounds) {
  auto cfg = quiet_config();
  runtime rt{cfg};
  double result = 0;
  rt.spawn("hub", [&](context& self) {
    auto h = std::make_shared<hub>();
    auto warm = rounds / 10 + 1;
    for (std::size_t i = 0; i < n; ++i) {
      message_channel ch;
      self
        .spawn("leaf", [](context& me) {
          me.on_message([](message_event& ev) {
            auto port = ev.ports.at(0);
            port.on_message([port](message_event& m) {
              port.post_message(std::move(m.data));
            });
          });
        })
        .post_message("port", {ch.port2()});
      h->ports.push_back(ch.port1());
    }
    auto blast = [h] {
      for (auto& p : h->ports)
        p.post_message(double(h->round));
    };
    for (auto& p : h->ports) {
      p.on_message([h, blast, warm, rounds, &result](message_event&) {
        if (++h->replies < h->ports.size())
          return;
        h->replies = 0;
        if (++h->round == warm)
          h->t0 = now_ns();
        if (h->round == warm + rounds) {
          result = double(now_ns() - h->t0) / double(rounds);
          auto ports = std::move(h->ports);
          for (auto& q : ports)
            q.close();
          this_context().close();
          return;
        }
        blast();
      });
    }
    blast();
  });
  rt.run();
  return result;
}

namespace {

struct transfer_state {
  std::size_t done = 0;
  std::int64_t t0 = 0;
  std::vector<double> times;
  message_port keep;
  message_port held;
  message_port else1;
  message_port else2;
};

} // namespace

double ent_transfer(std::size_t queued, std::size_t transfers,
                    bool control) {
  auto cfg = quiet_config();
  runtime rt{cfg};
  std::vector<double> times;
  rt.spawn("sender", [&](context& self) {
    // Per transfer: queue K messages on a fresh channel's port2, then one
    // untimed transfer of an empty port (the K posts evict the transfer
    // path's code and data from the caches; without this warm-up the first
    // transfer after them pays ~20 us of misses whatever port it moves),
    // then time: post port2 -> receiver adopts it and acknowledges. The receiver closes it (dropping what is
    // queued, O(K)) only when told, outside the timed part.
    auto receiver = self.spawn("receiver", [](context& me) {
      auto held = std::make_shared<message_port>();
      me.on_message([held](message_event& ev) {
        if (ev.data.as_string() == "sync") {
          ev.ports.at(0).close();
          this_context().post_message("synced");
        } else if (!ev.ports.empty()) {
          *held = ev.ports.at(0);
          this_context().post_message("ack");
        } else {
          held->close();
          this_context().post_message("closed");
        }
      });
    });
    auto st = std::make_shared<transfer_state>();
    auto next = [st, receiver, queued, control] {
      message_channel ch;
      message_channel elsewhere;
      auto& loaded = control ? elsewhere : ch;
      for (std::size_t k = 0; k < queued; ++k)
        loaded.port1().post_message(double(k));
      st->keep = ch.port1();
      st->else1 = elsewhere.port1();
      st->else2 = elsewhere.port2();
      st->held = ch.port2();
      message_channel warm;
      receiver.post_message("sync", {warm.port2()});
      warm.port1().close();
    };
    receiver.on_message([st, receiver, next, transfers,
                         &times](message_event& ev) {
      auto& what = ev.data.as_string();
      if (what == "synced") {
        st->t0 = now_ns();
        receiver.post_message("port", {st->held});
        st->held = message_port{};
      } else if (what == "ack") {
        st->times.push_back(double(now_ns() - st->t0));
        receiver.post_message("close it");
      } else {
        st->keep.close();
        st->else1.close();
        st->else2.close();
        if (++st->done == transfers) {
          times = st->times;
          this_context().close();
          return;
        }
        next();
      }
    });
    next();
  });
  rt.run();
  return median(times);
}

double ent_idle_port_bytes(std::size_t ports, bool heap) {
  auto cfg = quiet_config();
  runtime rt{cfg};
  double result = 0;
  rt.spawn("holder", [&](context&) {
    std::vector<message_channel> keep;
    keep.reserve(ports / 2);
    auto before = heap ? heap_bytes() : rss_bytes();
    for (std::size_t i = 0; i < ports / 2; ++i)
      keep.emplace_back();
    auto after = heap ? heap_bytes() : rss_bytes();
    // The handle vector was reserved before `before`: not counted.
    result = (double(after) - double(before)) / double(ports);
    this_context().close();
  });
  rt.run();
  return result;
}

double ent_idle_context_bytes(std::size_t contexts, bool heap) {
  auto cfg = quiet_config();
  runtime rt{cfg};
  std::atomic<std::size_t> ready{0};
  auto before = heap ? heap_bytes() : rss_bytes();
  // A window is the idle context: it lives until closed, with no port,
  // task or timer keeping it.
  for (std::size_t i = 0; i < contexts; ++i)
    rt.open_window("w", "https://example.org",
                   [&ready](context&) { ready.fetch_add(1); });
  while (ready.load() < contexts)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  auto after = heap ? heap_bytes() : rss_bytes();
  rt.stop();
  return (double(after) - double(before)) / double(contexts);
}

} // namespace bench
