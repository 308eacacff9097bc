#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <future>
#include <memory>
#include <mutex>

#include <caf/actor_addr.hpp>

#include "entangle/message_port.hpp"
#include "entangle/outside_port.hpp"

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
/// Invariants: `port` is touched only on the gateway's thread. `inbox`
/// holds messages no waiter claimed; a waiter exists only while `inbox` is
/// empty. Once `ended`, nothing is added; `closed()` is `ended` with an
/// empty inbox.
struct outside_state {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<outside_message> inbox;
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
};

/// runtime::connect: a new channel between a thread outside every context
/// and context `context_id` (which gets a `connect` event carrying its
/// end). An unknown or ended context gives a port that is already closed.
outside_port connect_outside(world& w, std::uint64_t context_id);

/// The gateway ended (the runtime stops): every outside port is closed.
void close_outside_ports(world& w);

} // namespace entangle::detail
