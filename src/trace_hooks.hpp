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

#if ENTANGLE_TRACING

#  include <cstdint>

#  include "entangle/trace.hpp"

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

} // namespace entangle::detail

#else

#  define ENTANGLE_TRACE(expr, t, stmt)                                       \
    do {                                                                       \
    } while (false)

#endif
