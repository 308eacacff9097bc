#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <future>
#include <memory>
#include <mutex>

#include <caf/actor_addr.hpp>

#include "entangle/flow_control.hpp"
#include "entangle/message_port.hpp"
#include "entangle/outside_port.hpp"
#include "ports/port_record.hpp"

namespace entangle::detail {

struct world;

/// The state of one outside port (include/entangle/outside_port.hpp),
/// shared by its handles and by the gateway context that owns its end.
///
/// The end itself is a port object of the runtime's gateway context (a
/// hidden context_core that lives until the runtime stops, world::gateway),
/// started as soon as it is adopted: its handler moves each message here,
/// where threads outside every context take it. Everything the outside
/// does to the port is a closure run in the gateway (the port is a
/// capability of that context), so posts from one thread keep their order.
///
/// Flow control: an outside post is admitted on the posting thread against
/// the flow state of `peer` (the context's end, whose receiver sets the
/// marks), counting the posts admitted here that the gateway has not queued
/// yet (`in_flight`): they are unread data the receiver cannot see yet, so a
/// flood of asynchronous posts cannot pass the hard limit before they land.
///
/// Invariants: `port` is touched only on the gateway's thread. `inbox`
/// holds messages no waiter claimed; a waiter exists only while `inbox` is
/// empty. Once `ended`, nothing is added; `closed()` is `ended` with an
/// empty inbox. `in_flight`/`in_flight_bytes` count the closures posted to
/// the gateway and not yet run (under `mu`); the peer's unread count plus
/// them never passes its hard limit (admission adds them under `mu`). The
/// gateway counts a post as queued before it stops counting it in flight,
/// so for a moment it counts twice: the safe direction.
///
/// The inbox counts against the outside end's high-water mark (set by the
/// outside thread, `outside_port::set_high_water_mark`, or the runtime's
/// default): a message the gateway puts in the inbox is held unread
/// (port_scheduler::hold) until an outside thread takes it, which acks it
/// in the gateway. So the context posting here sees the outside reader's
/// pace, not the gateway's. `held` says whether an entry was counted (not
/// without a flow state), so exactly the counted ones are acked.
struct outside_state {
  struct entry {
    outside_message m;
    std::uint32_t bytes = 0;
    bool held = false;
  };
  std::mutex mu;
  std::condition_variable cv;
  std::deque<entry> inbox;
  std::deque<std::promise<outside_message>> waiters;
  /// No message will come any more (closed here, transferred, the peer
  /// closed, or the gateway ended).
  bool ended = false;
  /// Transferred away: every operation is inert.
  bool detached = false;
  /// Weak: a handle must not keep the runtime's actors alive.
  caf::actor_addr gateway;
  std::size_t max_depth = 256;
  /// The gateway's port object (gateway thread only).
  message_port port;
  /// The receiving record of the other end, set once before the handle is
  /// shared (weak: a handle must not keep a record, counted as live, alive).
  std::weak_ptr<port_record> peer;
  /// The outside end's marks (a copy for the outside threads; the gateway
  /// sets them on its port).
  high_water_mark mark;
  /// Admitted outside posts not yet queued by the gateway (see above).
  std::size_t in_flight = 0;
  std::size_t in_flight_bytes = 0;
};

/// runtime::connect: a new channel between a thread outside every context
/// and context `context_id` (which gets a `connect` event carrying its
/// end). An unknown or ended context gives a port that is already closed.
outside_port connect_outside(world& w, std::uint64_t context_id);

/// The gateway ended (the runtime stops): every outside port is closed.
void close_outside_ports(world& w);

} // namespace entangle::detail
