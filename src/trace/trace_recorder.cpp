#include "entangle/trace_recorder.hpp"

#include <algorithm>
#include <atomic>
#include <fstream>
#include <stdexcept>
#include <utility>

#include <fmt/format.h>

#include "trace/trace_recorder_state.hpp"

namespace entangle {

std::string trace_recorder::state::label(std::uint64_t ctx) const {
  auto i = contexts.find(ctx);
  if (i == contexts.end())
    return ctx == 0 ? std::string{"runtime"} : fmt::format("#{}", ctx);
  return fmt::format("{} #{}", i->second.name, ctx);
}

namespace {

std::atomic<std::uint64_t> next_recorder_uid{1};

/// The lane this thread last used, and whose it is.
struct lane_cache {
  std::uint64_t recorder = 0;
  trace_recorder::state::lane* lane = nullptr;
};
// initial-exec as elsewhere in the library (linked, not dlopen()ed): no
// __tls_get_addr call per event.
[[gnu::tls_model("initial-exec")]] thread_local lane_cache tl_lane;

/// Lane slots are taken up to this many at a time (one atomic per chunk),
/// and never more than 1/64 of what is left: a context moves between CAF's
/// threads, so a lane may end with part of its chunk unused; near the cap
/// the chunks shrink to one slot, so a small cap is filled exactly.
constexpr std::size_t lane_chunk = 256;

} // namespace

trace_recorder::state::state(trace_limits l)
  : limits(l), t0(trace_clock::now()), uid(next_recorder_uid++) {
  // nop
}

std::size_t trace_recorder::state::take_budget(std::size_t want) noexcept {
  auto cur = reserved.load(std::memory_order_relaxed);
  while (cur < limits.max_events) {
    auto n = std::min(want, limits.max_events - cur);
    if (reserved.compare_exchange_weak(cur, cur + n,
                                       std::memory_order_relaxed))
      return n;
  }
  return 0;
}

void trace_recorder::state::lane::add(state& st, const event& e) {
  if (budget == 0) {
    auto left = st.limits.max_events
                - std::min(st.limits.max_events,
                           st.reserved.load(std::memory_order_relaxed));
    budget = st.take_budget(std::clamp<std::size_t>(left / 64, 1, lane_chunk));
  }
  if (budget > 0) {
    events.push_back(e); // may throw: the slot is then not used
    --budget;
  } else {
    if (cut == 0 || e.ts < first_cut)
      first_cut = e.ts;
    ++cut;
  }
}

trace_recorder::state::lane& trace_recorder::state::my_lane() {
  auto& c = tl_lane;
  if (c.recorder == uid)
    return *c.lane;
  std::lock_guard<std::mutex> guard{mu};
  auto& l = lanes[std::this_thread::get_id()];
  if (!l)
    l = std::make_unique<lane>();
  c.recorder = uid;
  c.lane = l.get();
  return *l;
}

void trace_recorder::state::gather() {
  for (auto& [tid, l] : lanes) {
    std::lock_guard<std::mutex> guard{l->mu};
    events.insert(events.end(), l->events.begin(), l->events.end());
    l->events.clear();
    totals.posts += std::exchange(l->posts, 0);
    totals.deliveries += std::exchange(l->deliveries, 0);
    if (l->cut > 0) {
      if (totals.events_dropped == 0 || l->first_cut < first_cut)
        first_cut = l->first_cut;
      totals.events_dropped += std::exchange(l->cut, 0);
    }
  }
}

void trace_recorder::lost() noexcept {
  std::lock_guard<std::mutex> guard{st_->mu};
  ++st_->totals.events_dropped;
}

trace_recorder::trace_recorder(trace_limits limits)
  : st_(std::make_unique<state>(limits)) {
  // nop
}

trace_recorder::~trace_recorder() = default;

void trace_recorder::title(std::string t) {
  std::lock_guard<std::mutex> guard{st_->mu};
  st_->title = std::move(t);
}

void trace_recorder::on_post(const trace_post& ev) {
  // A group of one (a post is an instant: its `end` is its `begin`).
  trace_post_item item{ev.message, ev.type, ev.begin};
  trace_post_group g;
  g.context = ev.context;
  g.port = ev.port;
  g.target_port = ev.target_port;
  g.target_context = ev.target_context;
  g.queued = ev.queued;
  g.first_depth = ev.queue_depth;
  g.items = &item;
  g.size = 1;
  record_posts(g, ev.ports);
}

void trace_recorder::on_post_group(const trace_post_group& g) {
  record_posts(g, 0); // a staged post carries no port
}

void trace_recorder::record_posts(const trace_post_group& g,
                                  std::size_t ports) noexcept {
  std::size_t i = 0;
  try {
    auto& lane = st_->my_lane();
    std::lock_guard<std::mutex> guard{lane.mu}; // once for the group
    for (; i < g.size; ++i) {
      auto& item = g.items[i];
      state::event e{state::kind::post};
      e.sub = g.queued ? 1 : 0;
      e.depth = static_cast<std::uint32_t>(g.queued ? g.first_depth + i : 0);
      e.ports = static_cast<std::uint32_t>(ports);
      e.ctx = g.context;
      e.port = g.port;
      e.other = g.target_port;
      e.other_ctx = g.target_context;
      e.message = item.message;
      e.type = item.type;
      e.ts = st_->ns(item.at);
      e.dur = 0;
      ++lane.posts;
      lane.add(*st_, e);
    }
  } catch (...) {
    lost(); // out of memory: the event is counted, not kept
    for (++i; i < g.size; ++i) { // the rest on their own
      auto one = g;
      one.items = g.items + i;
      one.size = 1;
      one.first_depth = g.first_depth + i;
      record_posts(one, ports);
    }
  }
}

void trace_recorder::on_deliver(const trace_deliver& ev) {
  try {
    state::event e{state::kind::deliver};
    e.sub = ev.type == "close" ? 2 : ev.type == "messageerror" ? 1 : 0;
    e.depth = static_cast<std::uint32_t>(ev.queue_depth);
    e.ctx = ev.context;
    e.port = ev.port;
    e.message = ev.message;
    e.ts = st_->ns(ev.begin);
    e.dur = st_->ns(ev.end) - e.ts;
    auto& lane = st_->my_lane();
    std::lock_guard<std::mutex> guard{lane.mu};
    ++lane.deliveries;
    lane.add(*st_, e);
  } catch (...) {
    lost(); // out of memory: the event is counted, not kept
  }
}

void trace_recorder::on_transfer(const trace_port& ev) {
  try {
    state::event e{state::kind::transfer};
    e.ctx = ev.context;
    e.port = ev.port;
    std::lock_guard<std::mutex> guard{st_->mu};
    e.ts = st_->ns(ev.at);
    ++st_->totals.transfers;
    if (auto* p = st_->port(ev.port))
      ++p->transfers;
    st_->add(e);
  } catch (...) {
    lost(); // out of memory: the event is counted, not kept
  }
}

void trace_recorder::on_adopt(const trace_port& ev) {
  try {
    std::lock_guard<std::mutex> guard{st_->mu};
    if (auto* p = st_->port(ev.port)) {
      // A port bouncing through a long relay must not grow without bound:
      // keep the first owners and the latest.
      if (p->owners.size() >= 64)
        p->owners.pop_back();
      p->owners.push_back(ev.context);
    }
  } catch (...) {
    lost(); // out of memory: the event is counted, not kept
  }
}

void trace_recorder::on_entangle(const trace_port& ev) {
  try {
    std::lock_guard<std::mutex> guard{st_->mu};
    ++st_->totals.channels;
    auto* a = st_->port(ev.port);
    auto* b = a ? st_->port(ev.peer) : nullptr;
    if (a == nullptr || b == nullptr)
      return;
    a->peer = ev.peer;
    b->peer = ev.port;
    st_->channels.push_back(state::channel{ev.port, ev.peer, ev.implicit});
  } catch (...) {
    lost(); // out of memory: the event is counted, not kept
  }
}

void trace_recorder::on_close(const trace_close& ev) {
  try {
    state::event e{state::kind::close};
    e.sub = static_cast<std::uint8_t>(ev.reason);
    e.ctx = ev.context;
    e.port = ev.port;
    e.other = ev.dropped;
    std::lock_guard<std::mutex> guard{st_->mu};
    e.ts = st_->ns(ev.at);
    ++st_->totals.closes;
    if (auto i = st_->ports.find(ev.port); i != st_->ports.end())
      i->second.closed = true;
    st_->add(e);
  } catch (...) {
    lost(); // out of memory: the event is counted, not kept
  }
}

void trace_recorder::on_drop(const trace_drop& ev) {
  try {
    state::event e{state::kind::drop};
    e.sub = static_cast<std::uint8_t>(ev.reason);
    e.ctx = ev.context;
    e.other = ev.count;
    std::lock_guard<std::mutex> guard{st_->mu};
    e.ts = st_->ns(ev.at);
    st_->totals.drops += ev.count;
    st_->add(e);
  } catch (...) {
    lost(); // out of memory: the event is counted, not kept
  }
}

void trace_recorder::on_context_start(const trace_context& ev) {
  try {
    std::lock_guard<std::mutex> guard{st_->mu};
    auto& c = st_->contexts[ev.context];
    c.name = std::string{ev.name};
    c.kind = std::string{ev.kind};
    c.creator = ev.creator;
    c.start = st_->ns(ev.at);
    ++st_->totals.contexts;
  } catch (...) {
    lost(); // out of memory: the event is counted, not kept
  }
}

void trace_recorder::on_context_end(const trace_context& ev) {
  try {
    std::lock_guard<std::mutex> guard{st_->mu};
    auto& c = st_->contexts[ev.context];
    if (c.name.empty())
      c.name = std::string{ev.name};
    c.end = st_->ns(ev.at);
    c.how = std::string{ev.how};
    bool crashed = ev.how == "exception";
    if (crashed) {
      c.what = std::string{ev.what};
      ++st_->totals.crashes;
    }
    if (crashed || ev.how == "terminated") {
      // On the time line too: the sequence diagram notes it in order.
      state::event e{state::kind::ended};
      e.sub = crashed ? 1 : 2;
      e.ctx = ev.context;
      e.ts = c.end;
      st_->add(e);
    }
  } catch (...) {
    lost(); // out of memory: the event is counted, not kept
  }
}

void trace_recorder::on_task(const trace_task& ev) {
  try {
    state::event e{state::kind::task};
    e.ctx = ev.context;
    e.other = ev.id;
    e.other_ctx = static_cast<std::uint64_t>(
      std::max<std::int64_t>(ev.delay.count(), 0));
    auto name = ev.name.empty() ? std::string{ev.kind}
                                : fmt::format("{} {}", ev.kind, ev.name);
    std::lock_guard<std::mutex> guard{st_->mu};
    e.ts = st_->ns(ev.begin);
    e.dur = st_->ns(ev.end) - e.ts;
    e.type = st_->intern(std::move(name));
    e.detail = st_->intern(std::string{ev.detail});
    ++st_->totals.tasks;
    st_->add(e);
  } catch (...) {
    lost(); // out of memory: the event is counted, not kept
  }
}

trace_totals trace_recorder::totals() const {
  std::lock_guard<std::mutex> guard{st_->mu};
  st_->gather();
  auto t = st_->totals;
  t.events_kept = st_->events.size();
  return t;
}

namespace {

template <class F>
void write_file(const std::string& path, const char* what, F&& write) {
  std::ofstream out{path, std::ios::binary | std::ios::trunc};
  if (!out)
    throw std::runtime_error(
      fmt::format("cannot open {} for writing ({})", path, what));
  write(out);
  out.flush();
  if (!out)
    throw std::runtime_error(fmt::format("cannot write {} ({})", path, what));
}

} // namespace

void trace_recorder::write_chrome_json(const std::string& path) const {
  write_file(path, "Chrome trace",
             [this](std::ostream& out) { write_chrome_json(out); });
}

void trace_recorder::write_dot(const std::string& path) const {
  write_file(path, "Graphviz DOT",
             [this](std::ostream& out) { write_dot(out); });
}

void trace_recorder::write_mermaid(const std::string& path) const {
  write_file(path, "Mermaid sequence",
             [this](std::ostream& out) { write_mermaid(out); });
}

} // namespace entangle
