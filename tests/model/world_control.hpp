#pragma once

// The model-based test's control messages: the root, the relay and the workers. Out-of-line members of `world`, included
// at the end of world.hpp.

#include <string>
#include <utility>
#include <vector>

#include "world.hpp"

namespace entangle::model {

inline void world::post_to_parent(value v, transfer_list t) {
  {
    std::lock_guard<std::mutex> g{mu_};
    ++ctl_posted;
  }
  this_context().post_message(std::move(v), std::move(t));
}

inline void world::post_to_worker(int c, value v, transfer_list t) {
  worker w;
  {
    std::lock_guard<std::mutex> g{mu_};
    ++ctl_posted;
    w = ctx_[c].handle;
  }
  w.post_message(std::move(v), std::move(t));
}

inline void world::spawn_worker(int idx) {
  auto w = this_context().spawn(
    "w" + std::to_string(idx), [this, idx](context& self) {
      self.on_message([this, idx](message_event& ev) {
        on_worker_message(idx, ev);
      });
    });
  {
    std::lock_guard<std::mutex> g{mu_};
    auto& r = ctx_[idx];
    r.exists = true;
    r.alive = true;
    r.id = w.id();
    r.handle = w;
  }
  w.on_message([this, idx](message_event& ev) { on_root_message(idx, ev); });
}

/// Threads mode: the root runs the operations one after the other.
inline void world::root_next() {
  while (next_op_ < ops_.size()) {
    auto k = next_op_++;
    int target = executor_of(ops_[k]);
    if (target < 0) {
      std::lock_guard<std::mutex> g{mu_};
      ++skipped;
      continue;
    }
    if (target == 0) {
      exec(0, k);
      this_context().queue_task([this] { root_next(); });
      return;
    }
    {
      std::lock_guard<std::mutex> g{mu_};
      waiting_for_ = static_cast<std::int64_t>(k);
    }
    post_to_worker(target, value::obj({{"cmd", static_cast<double>(k)}}),
                   {});
    return; // the acknowledgement calls root_next again
  }
  begin_finish();
}

/// A message at the root from worker `from`.
inline void world::on_root_message(int from, message_event& ev) {
  try {
    {
      std::lock_guard<std::mutex> g{mu_};
      ++ctl_delivered;
    }
    auto& d = ev.data;
    if (field(d, "ack")) {
      root_next();
    } else if (auto* f = field(d, "fwd")) {
      relay(static_cast<int>(num(f)), ev);
    } else if (field(d, "finished")) {
      {
        std::lock_guard<std::mutex> g{mu_};
        --acks_pending_;
      }
      maybe_drained(0);
    } else if (field(d, "drained")) {
      shutdown_root();
    } else {
      problem(&tally::other, "root: unknown message from ctx"
                               + std::to_string(from) + ": " + to_string(d));
    }
  } catch (const std::exception& e) {
    problem(&tally::other, std::string{"root handler threw: "} + e.what());
  }
}

/// Ports a worker sent to the root for context `dest`.
inline void world::relay(int dest, message_event& ev) {
  auto pl = carried(ev);
  if (dest == 0) {
    adopt(0, pl, ev.ports);
    return;
  }
  {
    std::lock_guard<std::mutex> g{mu_};
    for (std::size_t i = 0; i < pl.size(); ++i)
      ch_[pl[i].first][pl[i].second].stale.emplace_back(0, ev.ports[i]);
  }
  transfer_list t(ev.ports.begin(), ev.ports.end());
  auto v = value::obj({{"recv", 1}, {"pl", *field(ev.data, "pl")}});
  post_to_worker(dest, std::move(v), std::move(t));
}

/// A message at worker `me` from the root.
inline void world::on_worker_message(int me, message_event& ev) {
  try {
    {
      std::lock_guard<std::mutex> g{mu_};
      ++ctl_delivered;
    }
    auto& d = ev.data;
    if (auto* c = field(d, "cmd")) {
      auto k = static_cast<std::size_t>(num(c));
      auto kind = ops_[k].kind;
      // `end` and `crash` acknowledge themselves before ending us.
      bool ends = (kind == op_kind::crash || kind == op_kind::end_ctx)
                  && executor_of(ops_[k]) == me;
      try {
        exec(me, k);
      } catch (const model_crash&) {
        throw;
      } catch (const std::exception& e) {
        problem(&tally::other, to_string(ops_[k]) + " threw: " + e.what());
      }
      if (!ends)
        post_to_parent(value::obj({{"ack", 1}}), {});
    } else if (field(d, "recv")) {
      adopt(me, carried(ev), ev.ports);
    } else if (field(d, "finish")) {
      finish_local(me);
      post_to_parent(value::obj({{"finished", 1}}), {});
    } else {
      problem(&tally::other, "worker: unknown message " + to_string(d));
    }
  } catch (const model_crash&) {
    throw;
  } catch (const std::exception& e) {
    problem(&tally::other, "ctx" + std::to_string(me) + " handler threw: "
                             + e.what());
  }
}

/// The ends a message says it carries (its "pl" list), checked against
/// the ports it actually carries.
inline std::vector<std::pair<int, int>> world::carried(const message_event& ev) {
  std::vector<std::pair<int, int>> out;
  if (auto* pl = field(ev.data, "pl"))
    if (auto* a = pl->get_if<array>())
      for (auto& x : *a)
        out.emplace_back(static_cast<int>(x[std::size_t{0}].as_number()),
                         static_cast<int>(x[std::size_t{1}].as_number()));
  if (out.size() != ev.ports.size()) {
    problem(&tally::lost, "a message carried "
                            + std::to_string(ev.ports.size())
                            + " ports instead of "
                            + std::to_string(out.size()));
    out.resize(std::min(out.size(), ev.ports.size()));
  }
  return out;
}

/// Context `me` received the ports `pl` (as `ports`).
inline void world::adopt(int me, const std::vector<std::pair<int, int>>& pl,
           const std::vector<message_port>& ports) {
  bool finishing = false;
  {
    std::lock_guard<std::mutex> g{mu_};
    finishing = ctx_[me].finishing;
    for (std::size_t i = 0; i < pl.size(); ++i) {
      auto [c, e] = pl[i];
      auto& r = ch_[c][e];
      if (r.loc != -1 || r.closed)
        live_tally.add(&tally::duplicated, 1,
                       end_name(c, e) + " arrived at ctx" + std::to_string(me)
                         + " although it is "
                         + (r.closed ? "closed" : "owned"));
      r.loc = me;
      r.h = ports[i];
      r.started = false;
    }
  }
  for (std::size_t i = 0; i < pl.size(); ++i) {
    listen(me, pl[i].first, pl[i].second, ports[i]);
    if (finishing)
      finish_port(me, pl[i].first, pl[i].second);
  }
}

} // namespace entangle::model
