// context_core's BroadcastChannel members (HTML §14): joining, posting
// (serialize once, one delivery token per destination), delivery (closed
// checked at delivery, a fresh clone each), closing, liveness.

#include <caf/send.hpp>

#include "contexts/broadcast.hpp"
#include "contexts/context_core.hpp"
#include "entangle/error.hpp"
#include "entangle/message_event.hpp"
#include "contexts/world.hpp"
#include "clone/structured_clone.hpp"

namespace entangle::detail {

std::shared_ptr<broadcast_object>
context_core::join_broadcast(std::string name) {
  auto obj = std::make_shared<broadcast_object>(
    this, id(), control_->sched, std::move(name), control_->origin.key(),
    rt_.broadcasts.next_seq());
  rt_.broadcasts.add(obj, caf::actor_cast<caf::actor>(this));
  rare().bcs.emplace(obj->seq, obj);
  return obj;
}

void context_core::post_broadcast(broadcast_object& obj, const value& message) {
  // HTML §14.3, in order: eligibility, closed, serialize, destinations.
  if (closing_) {
    // Not eligible: nothing is thrown or serialized, but what would have
    // been delivered is counted (nothing is lost silently).
    if (auto n = rt_.broadcasts.destinations(obj).size(); n > 0)
      sched_->count_drop(drop_reason::ineligible, n);
    return;
  }
  if (obj.closed.load(std::memory_order_relaxed))
    throw dom_exception(std::string{error_name::invalid_state},
                        "post_message on a closed broadcast_channel");
  auto msg = serialize(message, {}, nullptr);
  auto payload = std::make_shared<const broadcast_payload>(broadcast_payload{
    std::move(msg.data), msg.buffer_bytes, control_->origin.serialize()});
  for (auto& dest : rt_.broadcasts.destinations(obj)) {
    auto delivery = std::make_shared<broadcast_delivery>(payload,
                                                         control_->sched);
    ENTANGLE_TRACE(sched_->tracer, t, {
      auto target = dest.obj.lock();
      delivery->trace_id = sched_->trace_other_post(
        target ? target->ctx_id : 0, payload->data.type_name(), 0);
    });
    caf::anon_send(dest.owner, broadcast_atom::value, dest.obj,
                   std::move(delivery));
  }
}

void context_core::on_broadcast(const weak_broadcast_ptr& weak,
                                const broadcast_delivery_ptr& delivery) {
  delivery->settled = true;
  auto& payload = delivery->payload;
  auto obj = weak.lock();
  if (!obj || obj->closed.load(std::memory_order_relaxed) || refusing()) {
    // Checked at delivery (HTML §14.4): closed since the post.
    sched_->count_drop(drop_reason::closed);
    end_turn();
    return;
  }
  message_event ev;
  ev.origin = payload->origin;
  auto k = event_kind::message;
  if (auto err = check_receivable_bytes(payload->buffer_bytes)) {
    sched_->count_drop(drop_reason::messageerror);
    ev.type = "messageerror";
    ev.data = null;
    ev.error = std::move(*err);
    k = event_kind::messageerror;
  } else {
    // Each destination deserializes a fresh copy (its own buffers).
    ev.data = rebuild_copy(payload->data);
  }
  guarded([&] {
#if ENTANGLE_TRACING
    trace_deliver_scope traced{sched_->tracer, delivery->trace_id, id()};
    if (k == event_kind::messageerror)
      traced.type("messageerror");
#endif
    if (rt_.on_dispatch)
      rt_.on_dispatch(*this, nullptr, ev);
    obj->events.dispatch(k, ev);
  });
  end_turn();
}

void context_core::close_broadcast(broadcast_object& obj) {
  if (obj.closed.exchange(true))
    return;
  rt_.broadcasts.remove(obj);
  if (obj.counted) {
    obj.counted = false;
    --open_broadcasts_;
  }
  obj.events.clear();
  if (rare_)
    rare_->bcs.erase(obj.seq);
}

void context_core::count_broadcast(broadcast_object& obj) {
  if (!obj.counted && !obj.closed.load(std::memory_order_relaxed)
      && !(obj.events.empty(event_kind::message)
           && obj.events.empty(event_kind::messageerror))) {
    obj.counted = true;
    ++open_broadcasts_;
  }
}

} // namespace entangle::detail
