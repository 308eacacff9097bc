#include "entangle/broadcast_channel.hpp"

#include <algorithm>

#include <caf/send.hpp>
#include <fmt/format.h>

#include "contexts/broadcast.hpp"
#include "contexts/context_core.hpp"
#include "entangle/error.hpp"
#include "entangle/value.hpp"
#include "contexts/world.hpp"
#include "clone/structured_clone.hpp"

namespace entangle {

namespace detail {

broadcast_delivery::~broadcast_delivery() {
  if (!settled)
    sched->count_drop(drop_reason::context_gone);
}

void broadcast_registry::add(const std::shared_ptr<broadcast_object>& obj,
                             caf::actor owner) {
  std::lock_guard<std::mutex> guard{mu_};
  groups_[{obj->origin_key, obj->name}].emplace(
    obj->seq, entry{obj, std::move(owner)});
}

void broadcast_registry::remove(const broadcast_object& obj) {
  std::lock_guard<std::mutex> guard{mu_};
  auto i = groups_.find({obj.origin_key, obj.name});
  if (i == groups_.end())
    return;
  i->second.erase(obj.seq);
  if (i->second.empty())
    groups_.erase(i);
}

std::vector<broadcast_registry::entry>
broadcast_registry::destinations(const broadcast_object& sender) {
  std::vector<entry> out;
  {
    std::lock_guard<std::mutex> guard{mu_};
    auto i = groups_.find({sender.origin_key, sender.name});
    if (i == groups_.end())
      return out;
    out.reserve(i->second.size());
    for (auto& [seq, e] : i->second) // creation order
      if (seq != sender.seq)
        out.push_back(e);
  }
  return out;
}

namespace {

/// The object if the running context owns it; otherwise inert (and says
/// why). @throws type_error for a null handle.
broadcast_object* owned_broadcast(const std::shared_ptr<broadcast_object>& obj,
                        const char* op) {
  if (!obj)
    throw type_error(fmt::format("{} on a null broadcast_channel", op));
  auto* cur = current_core();
  if (cur != nullptr && cur->id() == obj->ctx_id)
    return obj.get();
  obj->sched->warn(cur != nullptr ? std::string_view{cur->context_name()}
                                  : std::string_view{"no context"},
                   fmt::format("{} ignored: this broadcast_channel belongs to "
                               "another context",
                               op));
  return nullptr;
}

} // namespace

} // namespace detail

using detail::broadcast_object;

broadcast_channel::broadcast_channel(std::string name) {
  auto* ctx = detail::current_core();
  if (ctx == nullptr)
    throw dom_exception(std::string{error_name::invalid_state},
                        "broadcast_channel must be created by code running "
                        "in a context");
  obj_ = ctx->join_broadcast(std::move(name));
}

const std::string& broadcast_channel::name() const {
  if (!obj_)
    throw type_error("name() on a null broadcast_channel");
  return obj_->name;
}

void broadcast_channel::post_message(value message) const {
  auto* b = detail::owned_broadcast(obj_, "broadcast_channel::post_message");
  if (b != nullptr) {
    b->ctx->explore_point(detail::explore_op::broadcast, nullptr, &message);
    b->ctx->post_broadcast(*b, message);
  }
}

void broadcast_channel::close() const {
  if (!obj_)
    return;
  if (auto* b = detail::owned_broadcast(obj_, "broadcast_channel::close"))
    b->ctx->close_broadcast(*b);
}

bool broadcast_channel::closed() const noexcept {
  return obj_ && obj_->closed.load(std::memory_order_relaxed);
}

namespace {

void set(const std::shared_ptr<broadcast_object>& obj, detail::event_kind k,
         event_handler fn, const char* op) {
  auto* b = detail::owned_broadcast(obj, op);
  if (b == nullptr || b->closed.load(std::memory_order_relaxed))
    return;
  b->events.set_attribute(k, std::move(fn));
  b->ctx->count_broadcast(*b);
}

detail::event_kind broadcast_kind(std::string_view type) {
  auto k = detail::parse_event_kind(type);
  if (!k || (*k != detail::event_kind::message
             && *k != detail::event_kind::messageerror))
    throw type_error(fmt::format("unknown event type '{}' for a "
                                 "broadcast_channel (message, messageerror)",
                                 type));
  return *k;
}

} // namespace

void broadcast_channel::on_message(event_handler fn) const {
  set(obj_, detail::event_kind::message, std::move(fn),
      "broadcast_channel::on_message");
}

void broadcast_channel::on_messageerror(event_handler fn) const {
  set(obj_, detail::event_kind::messageerror, std::move(fn),
      "broadcast_channel::on_messageerror");
}

listener_id broadcast_channel::add_event_listener(std::string_view type,
                                                  event_handler fn) const {
  auto k = broadcast_kind(type);
  auto* b = detail::owned_broadcast(obj_, "broadcast_channel::add_event_listener");
  if (b == nullptr || b->closed.load(std::memory_order_relaxed))
    return 0;
  auto id = b->events.add(k, std::move(fn));
  b->ctx->count_broadcast(*b);
  return id;
}

void broadcast_channel::remove_event_listener(std::string_view type,
                                              listener_id id) const {
  auto k = broadcast_kind(type);
  if (auto* b = detail::owned_broadcast(obj_, "broadcast_channel::remove_event_listener"))
    b->events.remove(k, id);
}

} // namespace entangle
