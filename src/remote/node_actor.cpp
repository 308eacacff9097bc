// The network-facing actor of a runtime (node_actor.hpp).

#include "remote/node_actor.hpp"

#include <chrono>
#include <functional>
#include <set>

#include <caf/actor_cast.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/io/middleman.hpp>
#include <caf/monitorable_actor.hpp>
#include <caf/send.hpp>
#include <fmt/format.h>

#include "base/caf_compat.hpp"
#include "contexts/world.hpp"
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
      if (!src) {
        // CAF lost its sender on the way (or an anonymous send): the
        // node context looks for the peer its echo names.
        st->in_ctx([st, bytes] { st->on_senderless(bytes); });
        return;
      }
      if (src->node() == self->node()) {
        st->unattributed_frame("a local sender");
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

namespace {

/// How long a dial waits before it asks again after an answer that says
/// nothing about the node (is_dead, or a connection CAF dropped during the
/// handshake).
constexpr std::chrono::milliseconds retry_pause{20};

/// True if `hdl` is a proxy CAF has already killed. The middleman answers a
/// connect to a host and port it connected before from its cache, and drops
/// that entry only when its own down_msg for the proxy comes; a redial made
/// right after a dropped connection can get back the very proxy whose death
/// started it. Sends to it go nowhere, and, monitored already, it brings no
/// new down_msg: the route is lost in our direction only.
bool is_dead(const caf::actor& hdl) {
  auto* m = dynamic_cast<caf::monitorable_actor*>(
    caf::actor_cast<caf::abstract_actor*>(hdl));
  return m != nullptr && static_cast<bool>(m->fail_state());
}

void dial_until(caf::event_based_actor* self, std::weak_ptr<node_state> weak,
                std::string host, std::uint16_t port,
                std::chrono::steady_clock::time_point deadline,
                dial_result then) {
  auto report = [weak, then](caf::actor hdl, std::string err) {
    if (auto st = weak.lock())
      st->in_ctx([st, then, hdl, err] { then(*st, hdl, err); });
  };
  auto left = deadline - std::chrono::steady_clock::now();
  if (left <= caf::timespan{0}) {
    report({}, "no usable answer within the connect timeout");
    return;
  }
  auto again = [self, weak, host, port, deadline, then] {
    self->delayed_send(self, retry_pause, actor_fn_atom::value,
                       actor_fn{[weak, host, port, deadline,
                                 then](caf::event_based_actor* s) {
                         dial_until(s, weak, host, port, deadline, then);
                       }});
  };
  auto mm = self->home_system().middleman().actor_handle();
  self
    ->request(mm, std::chrono::duration_cast<caf::timespan>(left),
              caf::connect_atom::value, host, port)
    .then(
      [again, report](const caf::node_id&, caf::strong_actor_ptr& ptr,
                      const std::set<std::string>&) {
        auto hdl = caf::actor_cast<caf::actor>(ptr);
        if (hdl && is_dead(hdl)) {
          // The cache's answer, not the node's: ask again once the
          // middleman has seen the proxy die (and connects anew).
          again();
          return;
        }
        report(hdl, hdl ? "" : "nothing published there");
      },
      [self, deadline, again, report](caf::error& err) {
        // Two nodes that dial each other at once: CAF may close one of
        // the two connections before its handshake is done. The node is
        // there (the other connection is its): ask again. Likewise a
        // handshake CAF gave up on after its connection timeout (its
        // heartbeat rule): the node answered the connect, only slowly
        // (seen under ASan with the CPU saturated: both first dials of
        // remote-pipeline failed in 1 s); our connect timeout decides.
        if ((err == caf::sec::disconnect_during_handshake
             || err == caf::sec::connection_timeout)
            && std::chrono::steady_clock::now() + retry_pause < deadline) {
          again();
          return;
        }
        report({}, self->home_system().render(err));
      });
}

} // namespace

void dial_node(const std::shared_ptr<node_state>& st, const std::string& host,
               std::uint16_t port, caf::timespan timeout, dial_result then) {
  std::weak_ptr<node_state> weak = st;
  auto deadline = std::chrono::steady_clock::now()
                  + std::chrono::duration_cast<
                    std::chrono::steady_clock::duration>(timeout);
  run_in(st->actor, [weak, host, port, deadline,
                     then](caf::event_based_actor* self) {
    dial_until(self, weak, host, port, deadline, then);
  });
}

void watch_node(const caf::actor& node_actor, const caf::actor& peer) {
  run_in(node_actor,
         [peer](caf::event_based_actor* self) { self->monitor(peer); });
}

} // namespace entangle::detail::remote
