// Timers of a context (setTimeout / setInterval). A timer is a task of the
// context's own event loop (HTML §8.6): it runs once its due time has come,
// at the first of two moments. A wake-up on CAF's clock (an ordinary
// timeout: ensure_wake) comes for a context that is idle; and every turn of the context ends by
// running the timers already due, so a context kept busy by a stream of
// messages cannot starve them behind a clock thread that a loaded machine
// runs late.
//
// One wake-up per context is pending at a time, for its first due timer,
// not one per arming: an RPC client arms a timeout per call and clears it
// on the answer (with a delayed message per arming, at 50 000 calls a
// second with 30 s timeouts, 1.5 million entries held and 50 000 wake-ups
// a second for nothing; issue #17). A timer armed later than the pending
// wake-up waits for it, an earlier one replaces it; the wake-up, or any turn's end, runs what is
// due and asks for the next one. Both read the same clock, the actor clock,
// which is virtual under the deterministic testkit: there no time passes
// during a turn, so only a 0 ms timer can be due at a turn's end, and every
// other one fires as `advance()` walks virtual time.

#include <vector>

#include <caf/actor_cast.hpp>
#include <caf/actor_clock.hpp>
#include <caf/mailbox_element.hpp>
#include <caf/message_id.hpp>

#include "contexts/context_core.hpp"
#include "contexts/world.hpp"

namespace entangle::detail {

timer_id context_core::set_timer(std::function<void()> fn,
                                 std::chrono::milliseconds delay,
                                 bool repeat) {
  if (closing_ || drain_ || !fn)
    return 0;
  if (delay.count() < 0)
    delay = std::chrono::milliseconds{0};
  auto& r = rare();
  auto id = r.next_timer++;
  auto& t = r.timers.emplace(id, timer{std::move(fn), delay, repeat, {}})
              .first->second;
  ++rt_.pending_timers;
  ++refed_timers_;
  arm(id, t, clock().now() + delay);
  return id;
}

void context_core::set_timer_ref(timer_id id, bool ref) noexcept {
  if (!rare_)
    return;
  auto i = rare_->timers.find(id);
  if (i == rare_->timers.end() || i->second.refed == ref)
    return;
  i->second.refed = ref;
  if (ref)
    ++refed_timers_;
  else
    --refed_timers_;
}

void context_core::arm(timer_id id, timer& t,
                       caf::actor_clock::time_point due) {
  t.due = due;
  rare_->due.emplace(due, id); // rare_ holds `t`
  ensure_wake();
}

void context_core::ensure_wake() {
  auto& r = *rare_;
  if (r.due.empty() || r.due.begin()->first >= r.wake_at)
    return;
  // At exactly the due time (so it finds the timer due). CAF's ordinary
  // timeout of our kind: a context has one at most, each replacing the
  // one before, and CAF cancels it when the actor terminates. The clock
  // holds a strong reference to its actor: a delayed message, which
  // cannot be cancelled, kept an ended context's memory until its due
  // time (a context that cleared a 60 s timeout and closed: 2.6 KB each
  // for a minute; tests/internals/context_lifetime_test.cpp). A timer
  // cleared meanwhile leaves it pending: it finds nothing due and asks
  // for the next one. It names its own time, so that on_timer knows which
  // it is (one shipped just before its replacement still comes).
  auto due = r.due.begin()->first;
  r.wake_at = due;
  clock().set_ordinary_timeout(
    due, this, timer_atom::value,
    static_cast<std::uint64_t>(due.time_since_epoch().count()));
}

void context_core::clear_timer(timer_id id) noexcept {
  if (!rare_)
    return;
  auto i = rare_->timers.find(id);
  if (i == rare_->timers.end())
    return;
  rare_->due.erase({i->second.due, id});
  if (i->second.refed)
    --refed_timers_;
  rare_->timers.erase(i);
  --rt_.pending_timers;
}

void context_core::drop_timers() noexcept {
  if (rare_) {
    rt_.pending_timers -= rare_->timers.size();
    rare_->timers.clear();
    rare_->due.clear();
  }
  refed_timers_ = 0;
}

void context_core::fire_timer(std::unordered_map<timer_id, timer>::iterator i) {
  auto id = i->first;
  auto& t = i->second;
  rare_->due.erase({t.due, id}); // rare_ holds `t`
  const char* kind = t.repeat ? "interval" : "timeout";
  auto period = t.interval;
  auto run = [&](std::function<void()>& fn) {
    guarded([&] {
      // Named in the trace: the slice holds what the callback posts.
      trace_task_scope task{kind, {}, id};
      task.delay(period);
      fn();
    });
  };
  if (t.repeat) {
    // Re-arm first: the callback may clear its own interval.
    auto fn = t.fn;
    arm(id, t, clock().now() + t.interval);
    run(fn);
  } else {
    auto fn = std::move(t.fn);
    if (t.refed)
      --refed_timers_;
    rare_->timers.erase(i);
    --rt_.pending_timers;
    run(fn);
  }
}

void context_core::on_timer(std::uint64_t wake) {
  // The pending wake-up came (an older one, superseded by an earlier
  // timer, may still come: it only runs what is due). end_turn runs the
  // timers due and asks for the next wake-up.
  if (rare_
      && static_cast<std::uint64_t>(rare_->wake_at.time_since_epoch().count())
           == wake)
    rare_->wake_at = caf::actor_clock::time_point::max();
  end_turn();
}

void context_core::run_due_timers() {
  if (!rare_ || rare_->due.empty() || closing_ || drain_)
    return;
  auto now = clock().now();
  if (rare_->due.begin()->first > now) {
    ensure_wake();
    return;
  }
  // The timers due now, in due order (ties in the order they were set:
  // ids grow). Taken first, so one re-armed for 0 ms (an interval) runs
  // once per turn, not for ever.
  std::vector<timer_id> ready;
  for (auto& [due, id] : rare_->due) {
    if (due > now)
      break;
    ready.push_back(id);
  }
  for (auto id : ready) {
    if (closing_)
      return;
    // An earlier callback may have cleared it, or navigated (which drops
    // every timer of the old document).
    auto i = rare_->timers.find(id);
    if (i == rare_->timers.end() || i->second.due > now)
      continue;
    fire_timer(i);
    apply_navigation(); // each timer is a task of its own
  }
  if (!closing_ && !drain_)
    ensure_wake();
}

} // namespace entangle::detail
