#include "testing/explorer.hpp"

#include <algorithm>
#include <chrono>

#include <caf/send.hpp>

#include "base/caf_compat.hpp"
#include "contexts/context_core.hpp"
#include "ports/port_object.hpp"

namespace entangle::testing::internal {

namespace {

using detail::explore_op;

/// A value in a step, short ("cancel", 42, {...}).
std::string brief(const value& v) {
  auto s = to_string(v);
  if (s.size() > 40)
    s = s.substr(0, 37) + "...";
  return s;
}

} // namespace

explorer::explorer(detail::world& w, schedule s)
  : world_(w), schedule_(std::move(s)) {
  start_ = world_.coordinator->clock().current_time;
  limit_ = start_;
  if (schedule_.is_random()) {
    rng_ = schedule_.seed();
    // Each seed draws its own temperament first: how often turns are
    // interrupted (never, rarely, often, very often) and how often the top
    // level leaves the oldest ready context (always, half, a quarter).
    static constexpr std::uint32_t preempt[] = {0, 2, 4, 8};
    static constexpr std::uint32_t wander[] = {16, 8, 4};
    preempt16_ = preempt[below(4)];
    wander16_ = wander[below(3)];
  }
}

std::uint64_t explorer::next_random() noexcept {
  std::uint64_t z = (rng_ += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

std::uint32_t explorer::below(std::uint64_t n) noexcept {
  // Plain integer arithmetic, so every platform maps the same draw to the
  // same choice (std::uniform_int_distribution is implementation-defined);
  // the modulo bias is below 2^-32 for the small n used here.
  return static_cast<std::uint32_t>(next_random() % n);
}

bool explorer::visible(explore_op op, const detail::port_object* port) const {
  switch (op) {
    case explore_op::post:
    case explore_op::close:
    case explore_op::start:
    case explore_op::receive:
      // A never-shipped port has both ends here: nobody else can tell
      // when this context touches it. (Single-threaded: the record's
      // fields may be read without its lock.)
      if (port == nullptr || !port->record || !port->record->shipped)
        return false;
      return op != explore_op::start
             || !port->started.load(std::memory_order_relaxed);
    default:
      return true;
  }
}

std::vector<explorer::option> explorer::options(bool nested) {
  std::vector<option> out;
  if (nested)
    out.push_back(option{option::proceed});
  // Faults at contexts that ended meanwhile have nothing left to hit.
  {
    std::lock_guard<std::mutex> guard{world_.mu};
    faults_.erase(std::remove_if(faults_.begin(), faults_.end(),
                                 [&](const fault& f) {
                                   return world_.live.count(f.context) == 0;
                                 }),
                  faults_.end());
  }
  for (std::size_t i = 0; i < faults_.size(); ++i)
    out.push_back(option{option::land, i});
  // Ready contexts, oldest-ready first: the order CAF's own queue would
  // give, minus its dependence on the order in which one turn happened to
  // wake several contexts (ties go by id, i.e. spawn order).
  ++scan_;
  struct ready {
    std::uint64_t since;
    std::uint64_t key;
    caf::resumable* job;
  };
  std::vector<ready> rs;
  std::unordered_map<std::uint64_t, std::uint64_t> since;
  for (auto* job : world_.coordinator->jobs) {
    auto* core = dynamic_cast<detail::context_core*>(job);
    // Only contexts run on this coordinator; anything else (a CAF utility
    // actor) sorts last.
    auto key = core != nullptr ? core->id() : ~std::uint64_t{0};
    auto i = since_.find(key);
    auto s = i == since_.end() ? scan_ : i->second;
    since.emplace(key, s);
    rs.push_back(ready{s, key, job});
    if (describing_ && core != nullptr)
      names_.emplace(key, core->context_name());
  }
  since_.swap(since);
  std::sort(rs.begin(), rs.end(), [](const ready& a, const ready& b) {
    return a.since != b.since ? a.since < b.since : a.key < b.key;
  });
  for (auto& r : rs)
    out.push_back(option{option::run, 0, r.job, r.key});
  // Timers: CAF's clock delivers wake-ups in due order, each at or after
  // its due time, possibly late (while time moves on).
  auto& clock = world_.coordinator->clock();
  auto& timers = clock.schedule();
  if (!timers.empty() && timers.begin()->first <= clock.current_time)
    out.push_back(option{option::deliver});
  if (auto later = timers.upper_bound(clock.current_time);
      later != timers.end() && later->first <= limit_)
    out.push_back(option{option::advance});
  return out;
}

std::uint32_t explorer::decide(std::size_t n, bool nested) {
  auto at = decisions_.size();
  if (at >= max_decisions_) {
    exhausted_ = true;
    return 0;
  }
  std::uint32_t c = 0;
  if (schedule_.is_random()) {
    if (nested)
      c = below(16) < preempt16_ ? 1 + below(n - 1) : 0;
    else
      c = below(16) < wander16_ ? below(n) : 0;
  } else {
    auto& cs = schedule_.explicit_choices();
    while (next_choice_ < cs.size() && cs[next_choice_].at < at)
      ++next_choice_;
    if (next_choice_ < cs.size() && cs[next_choice_].at == at
        && cs[next_choice_].option < n)
      c = cs[next_choice_].option;
  }
  decisions_.push_back(decision{c, static_cast<std::uint32_t>(n)});
  return c;
}

void explorer::land(const fault& f) {
  caf::actor hdl;
  {
    std::lock_guard<std::mutex> guard{world_.mu};
    auto i = world_.live.find(f.context);
    if (i == world_.live.end())
      return;
    hdl = i->second->actor();
  }
  if (!f.crash) {
    world_.terminate(f.context);
    return;
  }
  if (!hdl)
    return;
  // As if one of its handlers threw: urgent, so its next turn is the one.
  auto what = f.what;
  caf::anon_send<caf::message_priority::high>(
    hdl, detail::inject_atom::value,
    detail::injected_fn{[what] { throw std::runtime_error(what); }});
}

void explorer::perform(const option& o) {
  auto& coord = *world_.coordinator;
  switch (o.kind) {
    case option::proceed:
      break;
    case option::land: {
      auto f = faults_[o.fault];
      faults_.erase(faults_.begin() + static_cast<std::ptrdiff_t>(o.fault));
      land(f);
      break;
    }
    case option::run: {
      auto& jobs = coord.jobs;
      auto i = std::find(jobs.begin(), jobs.end(), o.job);
      if (i == jobs.end())
        break; // cannot happen: listed just now, nothing ran since
      std::rotate(jobs.begin(), i, i + 1);
      coord.try_run_once();
      break;
    }
    case option::deliver:
      coord.trigger_timeout();
      break;
    case option::advance: {
      auto& clock = coord.clock();
      clock.current_time
        = clock.schedule().upper_bound(clock.current_time)->first;
      break;
    }
  }
}

bool explorer::step(time_point limit) {
  if (exhausted_)
    return false;
  limit_ = limit;
  auto opts = options(false);
  if (opts.empty())
    return false;
  std::uint32_t c = 0;
  if (opts.size() > 1) {
    c = decide(opts.size(), false);
    if (exhausted_)
      return false;
    if (describing_ && c != 0) {
      note n;
      n.at = decisions_.size() - 1;
      n.chosen = describe(opts[c]);
      n.fallback = describe(opts[0]);
      notes_.push_back(std::move(n));
    }
  }
  perform(opts[c]);
  return true;
}

void explorer::point(detail::context_core& self, explore_op op,
                     const detail::port_object* port, const value* data) {
  if (!active_ || exhausted_ || depth_ >= max_depth || !visible(op, port))
    return;
  ++depth_;
  for (int k = 0; k < per_point && !exhausted_; ++k) {
    auto opts = options(true);
    if (opts.size() < 2)
      break;
    auto c = decide(opts.size(), true);
    if (c == 0)
      break;
    if (describing_) {
      note n;
      n.at = decisions_.size() - 1;
      n.nested = true;
      n.self = self.id();
      names_.emplace(n.self, self.context_name());
      n.op = op;
      n.port = ref(self, port);
      if (data != nullptr && !data->is_undefined())
        n.data = brief(*data);
      n.chosen = describe(opts[c]);
      n.fallback = describe(opts[0]);
      notes_.push_back(std::move(n));
    }
    perform(opts[c]);
  }
  --depth_;
}

} // namespace entangle::testing::internal
