// What a context tells the world about itself: an exception that ended it
// (the runtime's error hook, the creator's error event, or stderr) and
// what keeps it alive (runtime::why_alive).

#include <cstdio>

#include <caf/send.hpp>
#include <fmt/format.h>

#include "contexts/context_core.hpp"
#include "contexts/world.hpp"

namespace entangle::detail {

void context_core::print_uncaught(const char* kind, const std::string& name,
                                  std::uint64_t context_id,
                                  const std::string& what) const {
  if (!rt_.cfg.warnings)
    return;
  auto line = fmt::format("entangle: uncaught exception in {} '{}' (#{}): {}\n",
                          kind, name, context_id, what);
  std::fputs(line.c_str(), stderr);
}

void context_core::report_failure() {
  // Every failure reaches the runtime's hook; printing is for what nobody
  // handled: the hook, or for a worker the creator's error listener (the
  // creator decides when the error event arrives, see on_worker_error).
  bool handled = false;
  if (rt_.cfg.on_error) {
    handled = true;
    try {
      rt_.cfg.on_error(context_error{id(), control_->name, rare().what});
    } catch (...) {
      // nop: a hook that throws must not hide the failure it reports
    }
  }
  // The creator learns of an exception before the implicit port closes.
  if (auto parent = caf::actor_cast<caf::actor>(control_->parent)) {
    caf::anon_send(parent, worker_error_atom::value, id(), control_->name,
                   rare().what, handled);
    return;
  }
  if (!handled)
    print_uncaught(control_->is_window ? "window" : "context", control_->name,
                   id(), rare().what);
}

void context_core::report_exception(const std::string& what) {
  reporting_ = true;
  bool handled = false;
  if (rt_.cfg.on_error) {
    handled = true;
    try {
      rt_.cfg.on_error(context_error{id(), control_->name, what, false});
    } catch (...) {
      // nop, as in report_failure
    }
  }
  // HTML "report an exception": an ErrorEvent at the global first; a
  // listener that cancels it handles it.
  message_event ev;
  ev.type = "error";
  ev.data = what;
  ev.error = what;
  if (!global_events_.empty(event_kind::error))
    guarded([&] { fire_global(event_kind::error, ev); });
  reporting_ = false;
  if (ev.default_prevented)
    return;
  // Not cancelled: a dedicated worker's creator gets it at the worker
  // object (which prints it unless it listens), anyone else prints it.
  if (auto parent = caf::actor_cast<caf::actor>(control_->parent)) {
    caf::anon_send(parent, worker_error_atom::value, id(), control_->name,
                   what, handled);
    return;
  }
  if (!handled)
    print_uncaught(control_->is_window ? "window" : "context", control_->name,
                   id(), what);
}

namespace {

std::string plural(std::size_t n, const char* one, const char* many) {
  return fmt::format("{} {}", n, n == 1 ? one : many);
}

} // namespace

context_liveness context_core::describe() const {
  context_liveness out;
  out.id = id();
  out.name = control_->name;
  out.kind = is_shared_worker()               ? "shared worker"
             : control_->is_window            ? (control_->parent_window.lock()
                                                   ? "frame"
                                                   : "window")
             : control_->parent               ? "worker"
                                              : "context";
  auto& why = out.reasons;
  if (closing_)
    why.push_back("closing: ends after the current task");
  if (drain_)
    why.push_back(fmt::format("finishing what was queued before it stopped "
                              "accepting work ({} left)",
                              drain_->left));
  if (control_->is_window)
    why.push_back("a window: lives until it closes itself or is terminated");
  std::size_t listed = 0;
  constexpr std::size_t max_listed = 8;
  std::size_t more = 0;
  auto add = [&](std::string line) {
    if (listed++ < max_listed)
      why.push_back(std::move(line));
    else
      ++more;
  };
  for (auto& obj : ports_.snapshot()) {
    if (!obj->record)
      continue;
    auto label = fmt::format("p{}", obj->record->id);
    auto held = queued(*obj);
    std::string worker;
    if (auto wid = worker_of(*obj))
      worker = fmt::format("#{}", wid);
    if (obj->counted) {
      if (!worker.empty())
        add(fmt::format("worker {} is running (its implicit port {} keeps "
                        "this context; worker.unref() lets it go)",
                        worker, label));
      else if (obj.get() == inside_.get())
        add(fmt::format("its creator is alive (implicit port {})", label));
      else
        add(fmt::format("port {} is started and waits for messages ({} "
                        "queued; close it, or unref() it)",
                        label, held));
    } else if (!obj->started.load(std::memory_order_relaxed) && held > 0) {
      add(fmt::format("port {} holds {} but was never started: call start() "
                      "or set on_message (add_event_listener does not start "
                      "it)",
                      label, plural(held, "message", "messages")));
    }
  }
  if (more > 0)
    why.push_back(fmt::format("... and {} more ports", more));
  if (open_broadcasts_ > 0)
    why.push_back(plural(open_broadcasts_, "open BroadcastChannel with a "
                                           "handler",
                         "open BroadcastChannels with a handler"));
  if (!tasks_.empty())
    why.push_back(plural(tasks_.size(), "queued task", "queued tasks"));
  if (refed_timers_ > 0)
    why.push_back(plural(refed_timers_, "pending timer (unref_timer() lets "
                                        "it go)",
                         "pending timers (unref_timer() lets them go)"));
  if (is_shared_worker()) {
    std::lock_guard<std::mutex> guard{rt_.mu};
    if (control_->shared->pending_connects > 0)
      why.push_back(plural(control_->shared->pending_connects, "client connect on "
                                                       "its way",
                           "client connects on their way"));
  }
  if (why.empty())
    why.push_back("nothing: it ends at the end of its current turn");
  return out;
}

} // namespace entangle::detail
