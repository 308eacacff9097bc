// What the benchmark reads from entangle's internals: the fixed part of a
// port's and a context's memory, from the internal types themselves
// (printed beside the measured bytes), and the wake-up fallback count.

#include <cstdio>

#include "ports/port_object.hpp"
#include "ports/port_record.hpp"
#include "contexts/context_core.hpp"
#include "contexts/wake_element.hpp"

namespace bench {

void print_sizes() {
  using namespace entangle::detail;
  // Records lock a striped mutex chosen by id (port_record::mu), not one
  // of their own, so no mutex is part of a port's size.
  std::printf("  sizes: port_record %zu B (envelope_queue %zu), port_object"
              " %zu B (event_target %zu), together one port_block %zu B;\n"
              "  both ends of a channel are one port_pair %zu B: one"
              " make_shared allocation per pair (plus its control block and\n"
              "  a malloc header), plus an 8 B slot per port in its"
              " context's port table\n",
              sizeof(port_record), sizeof(envelope_queue), sizeof(port_object),
              sizeof(event_target), sizeof(port_block), sizeof(port_pair));
  // What each queued message costs (docs/performance.md, "The envelope's
  // size"): the value, the message around it, the queue's element.
  std::printf("  sizes: value %zu B, serialized_message %zu B, envelope %zu B"
              " per queued message\n",
              sizeof(entangle::value), sizeof(serialized_message),
              sizeof(envelope));
}

void print_context_sizes() {
  std::printf("  sizes: wake element %zu B (each context's reusable wake-up;"
              " heap: plus a malloc header)\n",
              sizeof(entangle::detail::wake_element));
}

std::uint64_t wake_fallbacks() {
  return entangle::detail::wake_fallbacks();
}

std::uint64_t contexts_destroyed() {
  return entangle::detail::contexts_destroyed();
}

} // namespace bench
