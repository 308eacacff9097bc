// The network-facing actor of a runtime (node_actor.hpp).

#include "remote/node_actor.hpp"

#include <functional>
#include <set>

#include <caf/actor_cast.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/io/middleman.hpp>
#include <caf/send.hpp>

#include "base/caf_compat.hpp"
#include "remote/node.hpp"

namespace entangle::detail::remote {

namespace {

/// A closure run by the node actor with itself as argument.
using actor_fn = std::function<void(caf::event_based_actor*)>;
using actor_fn_atom = caf::atom_constant<caf::atom("e_nodefn")>;

} // namespace

} // namespace entangle::detail::remote

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(entangle::detail::remote::actor_fn)

namespace entangle::detail::remote {

namespace {

caf::behavior node_actor(caf::event_based_actor* self,
                         std::weak_ptr<node_state> weak) {
  // A peer's unexpected message (another CAF type, an anonymous send) is
  // dropped, never answered.
  self->set_default_handler(caf::drop);
  self->set_down_handler([weak](caf::scheduled_actor*, caf::down_msg& dm) {
    auto st = weak.lock();
    if (!st)
      return;
    auto who = dm.source;
    auto why = caf::to_string(dm.reason);
    // A proxy CAF kills because it dropped the connection it routed over
    // (two nodes that dialed each other at once): the node may be alive.
    bool unreachable =
      dm.reason == caf::make_error(caf::exit_reason::remote_link_unreachable);
    st->in_ctx([st, who, unreachable, why] {
      st->peer_down(who, unreachable, why);
    });
  });
  return {
    [self, weak](frame_atom, const std::string& bytes) {
      auto st = weak.lock();
      if (!st)
        return;
      auto& src = self->current_sender();
      if (!src || src->node() == self->node()) {
        ++st->violations; // anonymous or local: not a peer's frame
        return;
      }
      ++st->frames_in;
      auto from = caf::actor_cast<caf::actor>(src);
      st->in_ctx([st, from, bytes] { st->on_frame(from, bytes); });
    },
    [self](actor_fn_atom, const actor_fn& fn) { fn(self); },
  };
}

void run_in(const caf::actor& node_actor, actor_fn fn) {
  caf::anon_send(node_actor, actor_fn_atom::value, std::move(fn));
}

} // namespace

caf::actor spawn_node_actor(caf::actor_system& sys,
                            const std::shared_ptr<node_state>& st) {
  return sys.spawn(node_actor, std::weak_ptr<node_state>{st});
}

void dial_node(const std::shared_ptr<node_state>& st, const std::string& host,
               std::uint16_t port, caf::timespan timeout, dial_result then) {
  std::weak_ptr<node_state> weak = st;
  run_in(st->actor, [weak, host, port, timeout,
                     then](caf::event_based_actor* self) {
    auto report = [weak, then](caf::actor hdl, std::string err) {
      if (auto st = weak.lock())
        st->in_ctx([st, then, hdl, err] { then(*st, hdl, err); });
    };
    auto mm = self->home_system().middleman().actor_handle();
    self->request(mm, timeout, caf::connect_atom::value, host, port)
      .then(
        [report](const caf::node_id&, caf::strong_actor_ptr& ptr,
                 const std::set<std::string>&) {
          auto hdl = caf::actor_cast<caf::actor>(ptr);
          report(hdl, hdl ? "" : "nothing published there");
        },
        [self, report](caf::error& err) {
          report({}, self->home_system().render(err));
        });
  });
}

void watch_node(const caf::actor& node_actor, const caf::actor& peer) {
  run_in(node_actor,
         [peer](caf::event_based_actor* self) { self->monitor(peer); });
}

} // namespace entangle::detail::remote
