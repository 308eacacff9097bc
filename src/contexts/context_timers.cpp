// Timers of a context (setTimeout / setInterval) on CAF's clock: each
// arming is a delayed CAF message to the context itself, so the testkit
// walks them in virtual time like any other message.

#include <caf/actor_cast.hpp>

#include "contexts/context_core.hpp"
#include "contexts/world.hpp"

namespace entangle::detail {

timer_id context_core::set_timer(std::function<void()> fn,
                                 std::chrono::milliseconds delay,
                                 bool repeat) {
  if (closing_ || !fn)
    return 0;
  if (delay.count() < 0)
    delay = std::chrono::milliseconds{0};
  auto id = next_timer_++;
  timers_.emplace(id, timer{std::move(fn), delay, repeat});
  ++rt_.pending_timers;
  delayed_send(caf::actor_cast<caf::actor>(this), delay, timer_atom::value,
               id);
  return id;
}

void context_core::clear_timer(timer_id id) noexcept {
  if (timers_.erase(id) > 0)
    --rt_.pending_timers;
}

void context_core::on_timer(timer_id id) {
  auto i = timers_.find(id);
  if (i == timers_.end() || closing_) {
    end_turn();
    return;
  }
  const char* kind = i->second.repeat ? "interval" : "timeout";
  auto period = i->second.interval;
  auto run = [&](std::function<void()>& fn) {
    guarded([&] {
      // Named in the trace: the slice holds what the callback posts.
      trace_task_scope task{kind, {}, id};
      task.delay(period);
      fn();
    });
  };
  if (i->second.repeat) {
    // Re-arm first: the callback may clear its own interval.
    auto fn = i->second.fn;
    delayed_send(caf::actor_cast<caf::actor>(this), period, timer_atom::value,
                 id);
    run(fn);
  } else {
    auto fn = std::move(i->second.fn);
    timers_.erase(i);
    --rt_.pending_timers;
    run(fn);
  }
  end_turn();
}

} // namespace entangle::detail
