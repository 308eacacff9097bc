// The fixed part of a port's memory, from the internal types themselves
// (printed beside the measured bytes per idle port).

#include <cstdio>

#include "port_object.hpp"
#include "port_record.hpp"

namespace bench {

void print_sizes() {
  using namespace entangle::detail;
  std::printf("  sizes: port_record %zu B (std::mutex %zu, envelope_queue %zu),"
              " port_object %zu B (event_target %zu); each also has a\n"
              "  shared_ptr control block and a malloc header, plus a node"
              " in its context's port map\n",
              sizeof(port_record), sizeof(std::mutex), sizeof(envelope_queue),
              sizeof(port_object), sizeof(event_target));
}

} // namespace bench
