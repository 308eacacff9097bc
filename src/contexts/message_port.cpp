#include "entangle/message_port.hpp"

#include <fmt/format.h>

#include "contexts/context_core.hpp"
#include "entangle/error.hpp"
#include "entangle/message_event.hpp"
#include "entangle/transfer.hpp"
#include "entangle/value.hpp"

namespace entangle {

namespace detail {

context_core* owner_core(const std::shared_ptr<port_object>& obj,
                         const char* op, bool is_post) {
  if (!obj)
    throw type_error(fmt::format("{} on a null message_port", op));
  auto* cur = current_core();
  if (cur != nullptr && cur->id() == obj->ctx_id)
    return cur;
  if (is_post)
    obj->sched->count_drop(drop_reason::foreign_context);
  auto what = fmt::format(
    "{} ignored: this message_port belongs to another context (a port is a "
    "capability of the context that owns it; transfer it instead)",
    op);
  obj->sched->warn(cur != nullptr ? std::string_view{cur->context_name()}
                                  : std::string_view{"no context"},
                   what);
  return nullptr;
}

port_object* owned(const std::shared_ptr<port_object>& obj, const char* op,
                   bool is_post) {
  return owner_core(obj, op, is_post) != nullptr ? obj.get() : nullptr;
}

} // namespace detail

using detail::owned;

void message_port::post_message(value message) const {
  if (auto* home = detail::owner_core(obj_, "post_message", true))
    home->post_owned(*obj_, std::move(message));
}

void message_port::post_message(value message,
                                std::vector<transferable> transfer) const {
  if (auto* home = detail::owner_core(obj_, "post_message", true)) {
    if (transfer.empty())
      home->post_owned(*obj_, std::move(message));
    else
      home->post(*obj_, message, transfer);
  }
}

void message_port::post_message(
  value message, std::initializer_list<transferable> transfer) const {
  post_message(std::move(message), std::vector<transferable>(transfer));
}

void message_port::post_message(
  value message, const structured_serialize_options& options) const {
  if (auto* home = detail::owner_core(obj_, "post_message", true))
    home->post(*obj_, message, options.transfer);
}

void message_port::start() const {
  if (auto* home = detail::owner_core(obj_, "start", false)) {
    home->explore_point(detail::explore_op::start, obj_.get());
    home->start_port(*obj_);
  }
}

void message_port::close() const {
  if (!obj_)
    return;
  if (auto* home = detail::owner_core(obj_, "close", false)) {
    auto* p = obj_.get();
    if (p->detached.load(std::memory_order_relaxed)
        && !p->closed.load(std::memory_order_relaxed))
      home->warn_inert(*p, "close", "nothing happens (its new owner may "
                                    "close it)");
    home->explore_point(detail::explore_op::close, p);
    home->close_port(*p, drop_reason::closed);
  }
}

namespace {

void set_handler(const std::shared_ptr<detail::port_object>& obj,
                 detail::event_kind k, event_handler fn, const char* op) {
  auto* p = owned(obj, op, false);
  if (p == nullptr || p->detached.load(std::memory_order_relaxed))
    return;
  p->events.set_attribute(k, std::move(fn));
}

detail::event_kind kind_of(std::string_view type) {
  auto k = detail::parse_event_kind(type);
  if (!k)
    throw type_error(fmt::format(
      "unknown event type '{}' (expected message, messageerror, close, "
      "ready or error)",
      type));
  return *k;
}

} // namespace

void message_port::on_message(event_handler fn) const {
  set_handler(obj_, detail::event_kind::message, std::move(fn), "on_message");
  // Setting onmessage starts the port, even to null (HTML §3.3).
  start();
}

void message_port::on_messageerror(event_handler fn) const {
  set_handler(obj_, detail::event_kind::messageerror, std::move(fn),
              "on_messageerror");
}

void message_port::on_close(event_handler fn) const {
  set_handler(obj_, detail::event_kind::close, std::move(fn), "on_close");
}

void message_port::on_ready(event_handler fn) const {
  set_handler(obj_, detail::event_kind::ready, std::move(fn), "on_ready");
  start(); // the notice is dispatched like a message
}

listener_id message_port::add_event_listener(std::string_view type,
                                             event_handler fn) const {
  auto k = kind_of(type);
  auto* p = owned(obj_, "add_event_listener", false);
  if (p == nullptr || p->detached.load(std::memory_order_relaxed))
    return 0;
  return p->events.add(k, std::move(fn));
}

void message_port::remove_event_listener(std::string_view type,
                                         listener_id id) const {
  auto k = kind_of(type);
  if (auto* p = owned(obj_, "remove_event_listener", false))
    p->events.remove(k, id);
}

void message_port::set_high_water_mark(const high_water_mark& mark) const {
  if (auto* p = owned(obj_, "set_high_water_mark", false); p && p->record)
    p->sched->set_marks(*p->record, mark);
}

high_water_mark message_port::water_mark() const {
  if (auto* p = owned(obj_, "water_mark", false); p && p->record)
    return p->sched->marks(*p->record);
  return {0, 0, 2};
}

namespace {

detail::port_scheduler::credit
credit_of(const std::shared_ptr<detail::port_object>& obj, const char* op) {
  if (auto* p = owned(obj, op, false); p && p->record)
    return p->sched->credit_of(*p->record);
  return {};
}

} // namespace

std::optional<std::int64_t> message_port::desired_size() const {
  return credit_of(obj_, "desired_size").messages;
}

std::optional<std::int64_t> message_port::desired_bytes() const {
  return credit_of(obj_, "desired_bytes").bytes;
}

bool message_port::backpressure() const {
  return credit_of(obj_, "backpressure").exhausted();
}

bool message_port::detached() const noexcept {
  return obj_ && obj_->detached.load(std::memory_order_relaxed);
}

bool message_port::closed() const noexcept {
  return obj_ && obj_->closed.load(std::memory_order_relaxed);
}

bool message_port::started() const noexcept {
  return obj_ && obj_->started.load(std::memory_order_relaxed);
}

void message_port::ref() const {
  if (auto* home = detail::owner_core(obj_, "ref", false); home && obj_->record)
    home->set_ref(*obj_, true);
}

void message_port::unref() const {
  if (auto* home = detail::owner_core(obj_, "unref", false); home && obj_->record)
    home->set_ref(*obj_, false);
}

bool message_port::has_ref() const noexcept {
  return obj_ && !obj_->unrefed;
}

std::optional<message_event> receive_message_on_port(const message_port& port) {
  auto* home =
    detail::owner_core(port.object(), "receive_message_on_port", false);
  if (home == nullptr)
    return std::nullopt;
  home->explore_point(detail::explore_op::receive, port.object().get());
  return home->receive_now(port.object());
}

} // namespace entangle
