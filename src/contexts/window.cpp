#include "entangle/window.hpp"

#include <caf/send.hpp>

#include "contexts/context_core.hpp"
#include "entangle/error.hpp"
#include "entangle/value.hpp"
#include "contexts/world.hpp"
#include "clone/structured_clone.hpp"
#include "contexts/window_message.hpp"

namespace entangle {

namespace {

[[noreturn]] void invalid_state(const char* what) {
  throw dom_exception(std::string{error_name::invalid_state}, what);
}

} // namespace

// -- window_proxy -------------------------------------------------------------

void window_proxy::post_message(value message) const {
  post_message(std::move(message), window_post_message_options{});
}

void window_proxy::post_message(value message,
                                std::string_view target_origin) const {
  post_message(std::move(message),
               window_post_message_options{std::string{target_origin}, {}});
}

void window_proxy::post_message(value message, std::string_view target_origin,
                                transfer_list transfer) const {
  post_message(std::move(message),
               window_post_message_options{std::string{target_origin},
                                           std::move(transfer)});
}

void window_proxy::post_message(
  value message, const window_post_message_options& options) const {
  if (!ctl_)
    throw type_error("post_message on a null window_proxy");
  auto* cur = detail::current_core();
  if (cur == nullptr)
    invalid_state("window_proxy::post_message must be called from code "
                  "running in a context (its origin is the message's)");
  // HTML §11.2, in order: target origin (SyntaxError before serializing),
  // serialize with transfer, then queue a task for the target window.
  std::optional<origin> target;
  if (options.target_origin == "/")
    target = cur->context_origin();
  else if (options.target_origin != "*")
    target = origin::parse(options.target_origin);
  if (ctl_->sched != cur->rt().sched)
    for (auto& item : options.transfer)
      if (item.port() != nullptr)
        throw dom_exception(
          std::string{error_name::data_clone}, // nothing changed yet
          "a MessagePort cannot be transferred to a window of another "
          "runtime (ports live in one runtime's scheduler)");
  auto msg = cur->serialize(message, options.transfer, nullptr);
  std::shared_ptr<detail::context_control> source;
  if (cur->is_window())
    source = cur->control();
  // Drops at delivery count in the target's runtime.
  auto delivery = std::make_shared<detail::window_delivery>(
    std::move(msg), std::move(target), cur->context_origin().serialize(),
    std::move(source), ctl_->document.load(), ctl_->sched);
  ENTANGLE_TRACE(cur->sched().tracer, t,
                 delivery->msg.trace_id = cur->sched().trace_other_post(
                   ctl_->id, delivery->msg.data.type_name(),
                   delivery->msg.ports.size()));
  cur->explore_point(detail::explore_op::post_window, nullptr,
                     &delivery->msg.data);
  // A window that ended takes nothing: the unsettled delivery counts itself
  // as a context_gone drop and closes the ports it carries.
  if (auto hdl = ctl_->actor())
    caf::anon_send(hdl, detail::window_msg_atom::value, std::move(delivery));
}

void window_proxy::navigate(std::string_view url, init_function init) const {
  if (!ctl_)
    throw type_error("navigate on a null window_proxy");
  auto* cur = detail::current_core();
  if (cur == nullptr || !cur->is_window())
    invalid_state("window_proxy::navigate must be called from a window");
  auto org = origin::parse(url); // SyntaxError before anything happens
  if (cur->control() == ctl_) {
    cur->navigate(std::move(org), std::move(init));
    return;
  }
  cur->explore_point(detail::explore_op::navigate);
  // A window that ended takes nothing (HTML: a discarded navigable).
  if (auto hdl = ctl_->actor())
    caf::anon_send(hdl, detail::navigate_atom::value,
                   std::make_shared<detail::navigation_request>(
                     detail::navigation_request{std::move(org),
                                                std::move(init)}));
}

window_proxy window_proxy::parent() const {
  if (!ctl_)
    return {};
  auto p = ctl_->parent_window.lock();
  return p ? window_proxy{std::move(p)} : *this;
}

window_proxy window_proxy::top() const {
  auto w = *this;
  for (auto p = w.parent(); p && p != w; p = w.parent())
    w = p;
  return w;
}

std::vector<window_proxy> window_proxy::frames() const {
  std::vector<window_proxy> out;
  if (!ctl_)
    return out;
  std::vector<std::shared_ptr<detail::context_control>> live;
  {
    std::lock_guard<std::mutex> guard{ctl_->mu()};
    if (ctl_->frames)
      for (auto& f : *ctl_->frames)
        if (auto c = f.lock())
          live.push_back(std::move(c));
  }
  for (auto& c : live)
    if (!window_proxy{c}.closed())
      out.emplace_back(std::move(c));
  return out;
}

const std::string& window_proxy::name() const {
  if (!ctl_)
    throw type_error("name() on a null window_proxy");
  return ctl_->name;
}

std::uint64_t window_proxy::id() const noexcept {
  return ctl_ ? ctl_->id : 0;
}

bool window_proxy::closed() const {
  return !ctl_ || ctl_->ended.load();
}

// -- the window members of context ------------------------------------------

bool context::is_window() const noexcept {
  return core_->is_window();
}

window_proxy context::window() const {
  return core_->is_window() ? window_proxy{core_->control()} : window_proxy{};
}

window_proxy context::open_frame(std::string name, std::string_view origin_url,
                                 init_function init) {
  if (!core_->is_window())
    invalid_state("open_frame: only a window can open frames");
  auto org = origin::parse(origin_url);
  return window_proxy{
    core_->open_frame(std::move(name), std::move(org), std::move(init))};
}

void context::navigate(std::string_view origin_url, init_function init) {
  if (!core_->is_window())
    invalid_state("navigate: only a window can navigate");
  core_->navigate(origin::parse(origin_url), std::move(init));
}

} // namespace entangle
