#include "entangle/abort.hpp"

#include <exception>

#include <map>
#include <optional>
#include <utility>

#include <fmt/format.h>

#include "entangle/context.hpp"
#include "entangle/error.hpp"

namespace entangle {

namespace detail {

/// Invariants: `reason` is set once; `listeners` is empty once aborted
/// (they ran). Touched only by the owning context's thread.
///
/// Listeners by id, which is registration order: one signal may guard
/// thousands of pending calls (an RPC client's), each removing its listener
/// when it settles, so removal is O(log L), not a vector's O(L) erase.
struct abort_state {
  std::optional<error_value> reason;
  std::map<listener_id, std::function<void(const error_value&)>> listeners;
  listener_id next = 1;

  void abort(error_value why) {
    if (reason)
      return;
    reason = std::move(why);
    auto ls = std::move(listeners);
    listeners.clear();
    // Like the DOM, one listener that throws does not keep the others from
    // running (what they abort would hang); the first exception is
    // rethrown afterwards, so it is reported where any handler's would be.
    std::exception_ptr first;
    for (auto& [id, fn] : ls) {
      try {
        fn(*reason);
      } catch (...) {
        if (!first)
          first = std::current_exception();
      }
    }
    if (first)
      std::rethrow_exception(first);
  }
};

} // namespace detail

abort_signal abort_signal::aborted_with(error_value reason) {
  auto st = std::make_shared<detail::abort_state>();
  st->reason = std::move(reason);
  return abort_signal{std::move(st)};
}

abort_signal abort_signal::timeout(std::chrono::milliseconds delay) {
  auto st = std::make_shared<detail::abort_state>();
  auto& ctx = this_context();
  std::weak_ptr<detail::abort_state> weak = st;
  auto id = ctx.set_timeout(
    [weak, delay] {
      if (auto s = weak.lock())
        s->abort(error_value{
          std::string{error_name::timeout},
          fmt::format("the operation timed out after {} ms", delay.count())});
    },
    delay);
  ctx.unref_timer(id);
  return abort_signal{std::move(st)};
}

bool abort_signal::aborted() const noexcept {
  return st_ && st_->reason.has_value();
}

const error_value* abort_signal::reason() const noexcept {
  return st_ && st_->reason ? &*st_->reason : nullptr;
}

listener_id
abort_signal::on_abort(std::function<void(const error_value&)> fn) const {
  if (!st_ || st_->reason)
    return 0;
  auto id = st_->next++;
  st_->listeners.emplace(id, std::move(fn));
  return id;
}

void abort_signal::remove_listener(listener_id id) const noexcept {
  if (!st_)
    return;
  st_->listeners.erase(id);
}

void abort_signal::throw_if_aborted() const {
  if (auto* r = reason())
    throw dom_exception(r->name, r->message);
}

abort_controller::abort_controller()
  : signal_(std::make_shared<detail::abort_state>()) {
  // nop
}

void abort_controller::abort(error_value reason) const {
  // Through a copy: a listener may drop the last other reference.
  auto keep = signal_.st_;
  keep->abort(std::move(reason));
}

} // namespace entangle
