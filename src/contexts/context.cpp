#include "entangle/context.hpp"

#include "contexts/context_core.hpp"
#include "ports/port_object.hpp"
#include "contexts/world.hpp"
#include "entangle/error.hpp"
#include "entangle/value.hpp"

namespace entangle {

context& this_context() {
  auto* ctx = detail::current_core();
  if (ctx == nullptr)
    throw dom_exception(std::string{error_name::invalid_state},
                        "this_context() called outside any context");
  return ctx->facade();
}

context* current_context() noexcept {
  auto* ctx = detail::current_core();
  return ctx ? &ctx->facade() : nullptr;
}

const std::string& context::name() const noexcept {
  return core_->context_name();
}

std::uint64_t context::id() const noexcept {
  return core_->id();
}

const entangle::origin& context::origin() const noexcept {
  return core_->context_origin();
}

worker context::spawn(std::string name, init_function init) {
  return core_->spawn_worker(std::move(name), std::move(init));
}

bool context::has_parent() const noexcept {
  return core_->inside_port() != nullptr;
}

namespace {

/// Sets a handler attribute on an implicit port. Unlike MessagePort's
/// onmessage, the Worker's and the worker global's do not start the port:
/// the worker machinery enables both (HTML §3.3, §12.2).
void set_attribute(const message_port& port, detail::event_kind k,
                   event_handler fn, const char* op) {
  if (!port)
    return;
  auto* p = detail::owned(port.object(), op, false);
  if (p != nullptr && !p->detached.load(std::memory_order_relaxed))
    p->events.set_attribute(k, std::move(fn));
}

/// The implicit port as a message_port handle (null without a parent).
message_port inside(detail::context_core& core) {
  return message_port{core.inside_port()};
}

} // namespace

void context::post_message(value message) const {
  post_message(std::move(message), transfer_list{});
}

void context::post_message(value message, transfer_list transfer) const {
  if (auto p = inside(*core_))
    p.post_message(std::move(message), std::move(transfer));
  else
    core_->sched().count_drop(drop_reason::unentangled);
}

void context::on_message(event_handler fn) const {
  if (core_->is_window()) {
    core_->global_events().set_attribute(detail::event_kind::message,
                                         std::move(fn));
    return;
  }
  set_attribute(inside(*core_), detail::event_kind::message, std::move(fn),
                "context::on_message");
}

void context::on_messageerror(event_handler fn) const {
  if (core_->is_window()) {
    core_->global_events().set_attribute(detail::event_kind::messageerror,
                                         std::move(fn));
    return;
  }
  set_attribute(inside(*core_), detail::event_kind::messageerror,
                std::move(fn), "context::on_messageerror");
}

listener_id context::add_event_listener(std::string_view type,
                                        event_handler fn) const {
  if (core_->is_shared_worker()) {
    if (type != "connect")
      throw type_error("a shared worker global has connect events");
    return core_->global_events().add(detail::event_kind::connect,
                                      std::move(fn));
  }
  if (core_->is_window()) {
    auto k = detail::parse_event_kind(type);
    if (!k || (*k != detail::event_kind::message
               && *k != detail::event_kind::messageerror))
      throw type_error("a window global has message and messageerror events");
    auto id = core_->global_events().add(*k, std::move(fn));
    return id;
  }
  auto p = inside(*core_);
  return p ? p.add_event_listener(type, std::move(fn)) : 0;
}

void context::remove_event_listener(std::string_view type,
                                    listener_id id) const {
  if (core_->is_window()) {
    if (auto k = detail::parse_event_kind(type))
      core_->global_events().remove(*k, id);
    return;
  }
  if (auto p = inside(*core_))
    p.remove_event_listener(type, id);
}

void context::queue_task(std::function<void()> fn) {
  core_->queue_task(std::move(fn));
}

timer_id context::set_timeout(std::function<void()> fn,
                              std::chrono::milliseconds delay) {
  return core_->set_timer(std::move(fn), delay, false);
}

timer_id context::set_interval(std::function<void()> fn,
                               std::chrono::milliseconds interval) {
  return core_->set_timer(std::move(fn), interval, true);
}

void context::unref_timer(timer_id id) {
  core_->set_timer_ref(id, false);
}

void context::ref_timer(timer_id id) {
  core_->set_timer_ref(id, true);
}

void worker::ref() const {
  outside_.ref();
}

void worker::unref() const {
  outside_.unref();
}

bool worker::has_ref() const noexcept {
  return outside_.has_ref();
}

void context::clear_timeout(timer_id id) {
  core_->clear_timer(id);
}

void context::clear_interval(timer_id id) {
  core_->clear_timer(id);
}

shared_worker context::connect_shared_worker(std::string script,
                                             init_function init,
                                             std::string name) {
  core_->explore_point(detail::explore_op::connect);
  return shared_worker{
    core_->connect_shared(std::move(script), std::move(init), std::move(name))};
}

void context::on_connect(event_handler fn) const {
  core_->global_events().set_attribute(detail::event_kind::connect,
                                       std::move(fn));
}

void context::close() {
  core_->close_self();
}

// -- worker ------------------------------------------------------------------

void context::post_message(value message,
                           std::initializer_list<transferable> transfer) const {
  post_message(std::move(message), transfer_list(transfer));
}

void worker::post_message(value message,
                          std::initializer_list<transferable> transfer) const {
  post_message(std::move(message), transfer_list(transfer));
}

void worker::post_message(value message) const {
  post_message(std::move(message), transfer_list{});
}

void worker::post_message(value message, transfer_list transfer) const {
  outside_.post_message(std::move(message), std::move(transfer));
}

void worker::on_message(event_handler fn) const {
  set_attribute(outside_, detail::event_kind::message, std::move(fn),
                "worker::on_message");
}

void worker::on_messageerror(event_handler fn) const {
  set_attribute(outside_, detail::event_kind::messageerror, std::move(fn),
                "worker::on_messageerror");
}

void worker::on_error(event_handler fn) const {
  set_attribute(outside_, detail::event_kind::error, std::move(fn),
                "worker::on_error");
}

listener_id worker::add_event_listener(std::string_view type,
                                       event_handler fn) const {
  return outside_.add_event_listener(type, std::move(fn));
}

void worker::remove_event_listener(std::string_view type,
                                   listener_id id) const {
  outside_.remove_event_listener(type, id);
}

void worker::terminate() const {
  if (!control_)
    return;
  // Like a port, a worker handle is a capability of the context that
  // spawned it; anywhere else it is inert (and says why).
  if (detail::owned(outside_.object(), "worker::terminate", false) == nullptr)
    return;
  auto ctl = std::static_pointer_cast<detail::context_control>(control_);
  detail::current_core()->explore_point(detail::explore_op::terminate);
  // Mark it terminated (and send the kill) before closing the outside port:
  // the close alone would let a fast worker end "normally" first.
  detail::current_core()->rt().terminate(ctl);
  // Empty the outside port's queue and stop listening, so no message event
  // fires on this worker object after terminate() (HTML §12.4).
  outside_.close();
}

std::uint64_t worker::id() const noexcept {
  return control_
           ? std::static_pointer_cast<detail::context_control>(control_)->id
           : 0;
}

} // namespace entangle
