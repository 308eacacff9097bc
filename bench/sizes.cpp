// The fixed part of a port's memory, from the internal types themselves
// (printed beside the measured bytes per idle port).

#include <cstdio>

#include "port_object.hpp"
#include "port_record.hpp"

namespace bench {

void print_sizes() {
  using namespace entangle::detail;
  // Records lock a striped mutex chosen by id (port_record::mu), not one
  // of their own, so no mutex is part of a port's size.
  std::printf("  sizes: port_record %zu B (envelope_queue %zu), port_object"
              " %zu B (event_target %zu); each also has a make_shared\n"
              "  control block and a malloc header, plus a 16 B slot in its"
              " context's port table\n",
              sizeof(port_record), sizeof(envelope_queue), sizeof(port_object),
              sizeof(event_target));
}

} // namespace bench
