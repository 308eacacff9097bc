#pragma once

// Every CAF-0.17-specific spelling entangle uses lives here, so that moving
// to CAF 0.18+ (type-ID atoms, `mail()`) touches one file. TODO(caf018).

#include <cstdint>
#include <functional>
#include <memory>

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/atom.hpp>

namespace entangle::detail {

struct port_record;
class port_object;
class serialized_message;
class broadcast_object;
struct broadcast_delivery;
struct window_delivery;

/// "A started port of yours has messages": (atom, epoch). The epoch is
/// unique per adoption (port_scheduler::adopt), so it names the port object
/// without a reference: a wake-up sitting in a dead context's mailbox keeps
/// nothing alive, and the message has builtin types only (no weak_ptr
/// traffic, no type_info comparison when CAF matches it).
using port_ready_atom = caf::atom_constant<caf::atom("e_ready")>;

/// "One more message for one of your never-shipped ports" (HTML §1.3).
using unshipped_atom = caf::atom_constant<caf::atom("e_unship")>;

/// "The peer of your unstarted port closed": (atom, epoch), for ports whose
/// owner watches them (a shared worker's connections, HTML §12.6).
using peer_closed_atom = caf::atom_constant<caf::atom("e_pclose")>;

/// "Run the next queued task."
using task_atom = caf::atom_constant<caf::atom("e_task")>;

/// The kind of a context's timer wake-up: CAF's ordinary timeout (a
/// `timeout_msg` of this type, its id the wake-up's due time; see
/// context_core::ensure_wake).
using timer_atom = caf::atom_constant<caf::atom("e_timer")>;

/// Worker -> parent: "my init ran, enable my outside port" (worker id).
using worker_ready_atom = caf::atom_constant<caf::atom("e_wready")>;

/// Worker -> parent: "an exception ended me" (worker id, name, what(),
/// whether runtime_config::on_error took it).
using worker_error_atom = caf::atom_constant<caf::atom("e_werror")>;

/// A BroadcastChannel delivery: (atom, destination object, payload).
using broadcast_atom = caf::atom_constant<caf::atom("e_bcast")>;

/// A window.post_message delivery: (atom, delivery).
using window_msg_atom = caf::atom_constant<caf::atom("e_window")>;

/// A shared worker client connects: (atom, message carrying the port).
using connect_atom = caf::atom_constant<caf::atom("e_connect")>;
using connect_msg_ptr = std::shared_ptr<serialized_message>;

/// A thread outside every context connects (runtime::connect): (atom,
/// message carrying the context's end of the new channel).
using ingress_atom = caf::atom_constant<caf::atom("e_ingress")>;

/// "Your document is destroyed": a frame whose parent ended or navigated.
using unload_atom = caf::atom_constant<caf::atom("e_unload")>;

/// "Finish what is queued, then end" (runtime::shutdown), and the mark
/// in the mailbox behind which nothing new is accepted while draining.
using drain_atom = caf::atom_constant<caf::atom("e_drain")>;
using drain_fence_atom = caf::atom_constant<caf::atom("e_dfence")>;

/// A window asks another window to navigate: (atom, the navigation).
using navigate_atom = caf::atom_constant<caf::atom("e_navig")>;
struct navigation_request;
using navigation_ptr = std::shared_ptr<navigation_request>;

/// runtime::why_alive asks a context what keeps it alive: (atom, probe).
using why_atom = caf::atom_constant<caf::atom("e_why")>;
struct liveness_probe;
using liveness_probe_ptr = std::shared_ptr<liveness_probe>;

/// Testkit fault injection: (atom, code to run inside the context).
using inject_atom = caf::atom_constant<caf::atom("e_inject")>;
using injected_fn = std::function<void()>;

using record_ptr = std::shared_ptr<port_record>;
using port_ptr = std::shared_ptr<port_object>;
using weak_broadcast_ptr = std::weak_ptr<broadcast_object>;
using broadcast_delivery_ptr = std::shared_ptr<broadcast_delivery>;
using window_delivery_ptr = std::shared_ptr<window_delivery>;

} // namespace entangle::detail

// Local-only message contents: they never cross a process boundary (ports
// that do will travel as descriptors through the network layer instead).
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(entangle::detail::injected_fn)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(entangle::detail::weak_broadcast_ptr)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(entangle::detail::broadcast_delivery_ptr)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(entangle::detail::window_delivery_ptr)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(entangle::detail::connect_msg_ptr)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(entangle::detail::liveness_probe_ptr)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(entangle::detail::navigation_ptr)
