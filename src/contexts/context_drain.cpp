// A context that finishes what is queued, then ends (HTML's closing flag,
// "tasks already on the queue are unaffected"): the end of a dedicated
// worker whose parent ended normally, and runtime::shutdown. See
// context_core::begin_draining; docs/architecture.md "Orderly shutdown".

#include "contexts/context_core.hpp"

#include "contexts/world.hpp"

namespace entangle::detail {

void context_core::begin_draining() {
  if (drain_ || closing_)
    return;
  drain_ = std::make_unique<drain_state>();
  // What is queued now may still run; nothing new is accepted.
  for (auto& obj : ports_.snapshot())
    if (obj->record && obj->started.load(std::memory_order_relaxed))
      allow_queued(*obj);
  drain_->tasks = tasks_.size();
  drain_->left += drain_->tasks;
  drop_timers();
  // Everything in the mailbox ahead of this mark was queued before the
  // drain began (window messages, broadcasts, connects, wake-ups).
  eq_impl(caf::make_message_id(), nullptr, context(),
          drain_fence_atom::value);
}

void context_core::on_drain_fence() {
  if (drain_)
    drain_->fence_seen = true;
  end_turn();
}

bool context_core::refusing() const noexcept {
  return closing_ || (drain_ && drain_->fence_seen);
}

std::size_t context_core::allowance(const port_object& port) const noexcept {
  if (!drain_)
    return static_cast<std::size_t>(-1);
  auto i = drain_->quota.find(&port);
  return i == drain_->quota.end() ? 0 : i->second;
}

void context_core::dispatched_from(const port_object& port,
                                   std::size_t n) noexcept {
  if (!drain_)
    return;
  auto i = drain_->quota.find(&port);
  if (i == drain_->quota.end())
    return;
  n = std::min(n, i->second);
  i->second -= n;
  drain_->left -= n;
  if (i->second == 0)
    drain_->quota.erase(i);
}

void context_core::allow_queued(const port_object& port) {
  auto n = queued(port);
  if (n == 0)
    return;
  auto& q = drain_->quota[&port];
  drain_->left += n - q;
  q = n;
}

void context_core::forget_allowance(const port_object& port) noexcept {
  if (!drain_)
    return;
  if (auto i = drain_->quota.find(&port); i != drain_->quota.end()) {
    drain_->left -= i->second;
    drain_->quota.erase(i);
  }
}

} // namespace entangle::detail
