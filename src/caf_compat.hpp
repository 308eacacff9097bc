#pragma once

// Every CAF-0.17-specific spelling entangle uses lives here, so that moving
// to CAF 0.18+ (type-ID atoms, `mail()`) touches one file. TODO(caf018).

#include <cstdint>
#include <memory>

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/atom.hpp>

namespace entangle::detail {

struct port_record;

/// "A started port of yours has messages": (atom, record, epoch).
using port_ready_atom = caf::atom_constant<caf::atom("e_ready")>;

/// "Run the next queued task."
using task_atom = caf::atom_constant<caf::atom("e_task")>;

using record_ptr = std::shared_ptr<port_record>;

} // namespace entangle::detail

// Local-only message contents: they never cross a process boundary (ports
// that do will travel as descriptors through the network layer instead).
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(entangle::detail::record_ptr)
