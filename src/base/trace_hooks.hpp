#pragma once

// The tracing hooks of the hot paths (port_scheduler, context_core).
//
// With tracing compiled in (meson -Dtracing=true, the default) each hook
// costs one predictable branch on a null `tracer*` when no tracer is set;
// everything else is behind that branch, in cold out-of-line code. With
// -Dtracing=false, ENTANGLE_TRACING is 0 and the hooks, the message trace
// id and the tracer pointer are compiled out entirely (so a benchmark can
// compare "compiled in but off" with "compiled out").

#ifndef ENTANGLE_TRACING
#  error "ENTANGLE_TRACING must be defined by the build (meson option tracing)"
#endif

// The event types exist either way (the public header declares them, and
// port_scheduler's post is written once for both modes).
#include <cstdint>
#include <string>

#include "entangle/trace.hpp"

#if ENTANGLE_TRACING

/// Runs `stmt` with `t` bound to the tracer `expr`, if one is set.
#  define ENTANGLE_TRACE(expr, t, stmt)                                       \
    do {                                                                       \
      if (::entangle::tracer* t = (expr); __builtin_expect(t != nullptr, 0)) { \
        stmt;                                                                  \
      }                                                                        \
    } while (false)

namespace entangle::detail {

/// The id of the context running on this thread, 0 outside any context.
std::uint64_t trace_current_context() noexcept;

/// Reports a delivery that is not at a port (window.postMessage,
/// BroadcastChannel) when it goes out of scope. Off the port hot path, so
/// a branch at each end is fine.
class trace_deliver_scope {
public:
  trace_deliver_scope(entangle::tracer* t, std::uint64_t message,
                      std::uint64_t context) noexcept
    : t_(t) {
    if (t_ != nullptr) {
      ev_.message = message;
      ev_.context = context;
      ev_.type = "message";
      ev_.begin = t_->now();
    }
  }
  ~trace_deliver_scope() {
    if (t_ != nullptr) {
      ev_.end = t_->now();
      t_->on_deliver(ev_);
    }
  }
  trace_deliver_scope(const trace_deliver_scope&) = delete;
  trace_deliver_scope& operator=(const trace_deliver_scope&) = delete;

  void type(std::string_view t) noexcept {
    ev_.type = t;
  }

private:
  entangle::tracer* t_;
  trace_deliver ev_;
};

/// The tracer of the running context's runtime, null outside any context
/// or when none is set.
entangle::tracer* current_tracer() noexcept;

/// Reports a named task (a timer firing, a step of an RPC call) of the
/// running context when it goes out of scope: whatever runs in between
/// nests inside its slice. Off the port hot path.
class trace_task_scope {
public:
  trace_task_scope(std::string_view kind, std::string_view name,
                   std::uint64_t id) noexcept
    : t_(current_tracer()) {
    if (t_ != nullptr) {
      ev_.context = trace_current_context();
      ev_.kind = kind;
      ev_.name = name;
      ev_.id = id;
      ev_.begin = t_->now();
    }
  }
  ~trace_task_scope() {
    if (t_ != nullptr) {
      ev_.end = t_->now();
      ev_.detail = detail_;
      t_->on_task(ev_);
    }
  }
  trace_task_scope(const trace_task_scope&) = delete;
  trace_task_scope& operator=(const trace_task_scope&) = delete;

  /// Whether a tracer listens (skip building a detail text if not).
  explicit operator bool() const noexcept {
    return t_ != nullptr;
  }
  void detail(std::string text) {
    if (t_ != nullptr)
      detail_ = std::move(text);
  }
  void delay(std::chrono::milliseconds d) noexcept {
    ev_.delay = d;
  }

private:
  entangle::tracer* t_;
  trace_task ev_;
  std::string detail_;
};

} // namespace entangle::detail

#else

#  define ENTANGLE_TRACE(expr, t, stmt)                                       \
    do {                                                                       \
    } while (false)

namespace entangle::detail {

/// Compiled out: the same interface, doing nothing.
class trace_task_scope {
public:
  trace_task_scope(std::string_view, std::string_view, std::uint64_t) noexcept {
    // nop
  }
  explicit operator bool() const noexcept {
    return false;
  }
  void detail(const std::string&) noexcept {
    // nop
  }
  void delay(std::chrono::milliseconds) noexcept {
    // nop
  }
};

} // namespace entangle::detail

#endif
