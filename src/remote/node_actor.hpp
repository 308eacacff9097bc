#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/atom.hpp>
#include <caf/timespan.hpp>

namespace entangle::detail::remote {

class node_state;

/// The only message one node sends another: (frame_atom, bytes), bytes
/// being one frame of codec.hpp. Builtin CAF types only.
using frame_atom = caf::atom_constant<caf::atom("e_frame")>;

/// Spawns the network-facing actor of `st`'s runtime. It is the actor
/// that listen() publishes and the sender of every frame, so a peer tells
/// nodes apart by CAF sender; it hands each frame from a remote sender to
/// the node context, monitors peers (a down_msg means node loss) and runs
/// the middleman's asynchronous connects. Local requests reach it as
/// closures (a type that no peer can send: it does not deserialize).
caf::actor spawn_node_actor(caf::actor_system& sys,
                            const std::shared_ptr<node_state>& st);

/// What a dial reached: the published actor, or null with an error text.
/// Runs in the node context.
using dial_result =
  std::function<void(node_state&, const caf::actor&, const std::string&)>;

/// Asks the middleman (from the node actor) to connect to host:port; the
/// outcome reaches `then` in the node context, within `timeout`. An answer
/// that says nothing about the node (a handle CAF had already killed, from
/// the middleman's cache; a connection CAF closed during its handshake) is
/// not the outcome: the dial is made again 20 ms later.
void dial_node(const std::shared_ptr<node_state>& st, const std::string& host,
               std::uint16_t port, caf::timespan timeout, dial_result then);

/// Makes the node actor monitor `peer` (its down_msg is node loss).
void watch_node(const caf::actor& node_actor, const caf::actor& peer);

} // namespace entangle::detail::remote
