#include "entangle/trace.hpp"

#include "base/trace_hooks.hpp"

namespace entangle {

tracer::~tracer() = default;

bool tracing_compiled_in() noexcept {
  return ENTANGLE_TRACING != 0;
}

} // namespace entangle
