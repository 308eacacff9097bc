// The remote node, connecting (see node.hpp and docs/architecture.md,
// "Across processes"): dialing a node by host and port, the links that
// wait for it, and what a dial's answer does to the peer's state. Split
// from node.cpp, which keeps the link table and the frame handlers.

#include "remote/node.hpp"

#include <chrono>
#include <utility>

#include <caf/actor_cast.hpp>
#include <caf/actor_system.hpp>
#include <caf/send.hpp>
#include <fmt/format.h>

#include "contexts/world.hpp"
#include "entangle/error.hpp"
#include "remote/node_actor.hpp"

namespace entangle::detail::remote {

// -- connecting ---------------------------------------------------------------

void node_state::connect(std::string host, std::uint16_t port,
                         std::string service, std::string url, record_ptr end,
                         caf::actor requester,
                         std::weak_ptr<port_object> requester_port) {
  auto key = fmt::format("{}:{}", host, port);
  auto local = port_name::mint();
  auto remote = port_name::mint();
  auto& d = dialing_[key];
  // Reconnecting counts as up: its frames are numbered and kept, and sent
  // once the connection is back.
  auto pi = d.up ? peers_.find(d.node) : peers_.end();
  bool up = pi != peers_.end()
            && (pi->second.st == peer::state::up
                || pi->second.st == peer::state::reconnecting);
  auto* l = make_link(local, remote, d.node, std::move(end), false);
  l->url = std::move(url);
  l->requester = std::move(requester);
  l->requester_port = std::move(requester_port);
  l->service = std::move(service);
  d.waiting.push_back(local);
  if (up) {
    flush_pending(key);
    return;
  }
  if (d.in_progress)
    return;
  d.in_progress = true;
  auto timeout = w_.cfg.remote_connect_timeout;
  dial_node(shared_from_this(), host, port, timeout,
            [key](node_state& st, const caf::actor& hdl,
                  const std::string& err) { st.dialed(key, hdl, err); });
  auto self = shared_from_this();
  current_core()->set_timer(
    [self, key] { self->dial_timeout(key); },
    std::chrono::duration_cast<std::chrono::milliseconds>(timeout)
      + std::chrono::milliseconds{50},
    false);
}

void node_state::dialed(const std::string& key, const caf::actor& hdl,
                        const std::string& err) {
  auto& d = dialing_[key];
  if (!d.in_progress)
    return; // timed out meanwhile
  d.in_progress = false;
  if (!err.empty() || !hdl) {
    fail_pending(key, "NetworkError",
                 fmt::format("cannot connect to entangle://{}: {}", key,
                             err.empty() ? "nothing published there" : err));
    return;
  }
  if (hdl.node() == actor.node()) {
    fail_pending(key, "NetworkError",
                 fmt::format("entangle://{} is this runtime itself", key));
    return;
  }
  d.node = hdl.node();
  bool fresh = peers_.count(d.node) == 0;
  auto& p = peer_of(d.node, hdl);
  if (p.st == peer::state::lost) { // reconnected: start over (node_down
    p.st = peer::state::hello_sent; // reset its streams)
    p.hdl = hdl;
    fresh = true;
  }
  if (p.key.empty())
    p.key = key;
  switch (p.st) {
    case peer::state::up:
    case peer::state::reconnecting:
      d.up = true;
      flush_pending(key);
      return;
    case peer::state::lost:
    case peer::state::banned:
      fail_pending(key, "NetworkError",
                   fmt::format("entangle://{} was disconnected for "
                               "misbehaving",
                               key));
      return;
    case peer::state::hello_sent:
      d.in_progress = true; // until welcome or the timer
      // Watched from now on: CAF may drop the connection this handle
      // routes over before the peer answers (peer_down dials again).
      watch(p, hdl);
      if (fresh) {
        send(hdl, hello_frame(frame_kind::hello, p));
        resend_hello(d.node, hello_tries());
      } else if (!p.hdl
                 || caf::actor_cast<caf::abstract_actor*>(hdl)
                      != caf::actor_cast<caf::abstract_actor*>(p.hdl)) {
        p.hdl = hdl; // the old handle may be dead: greet on this one
        send(hdl, hello_frame(frame_kind::hello, p));
      }
      return;
  }
}

void node_state::dial_timeout(const std::string& key) {
  auto i = dialing_.find(key);
  if (i == dialing_.end() || i->second.up || !i->second.in_progress)
    return;
  i->second.in_progress = false;
  fail_pending(key, "NetworkError",
               fmt::format("connecting to entangle://{} timed out (not an "
                           "entangle node, or it does not answer)",
                           key));
}

void node_state::flush_pending(const std::string& key) {
  auto& d = dialing_[key];
  auto waiting = std::move(d.waiting);
  d.waiting.clear();
  for (auto local : waiting) {
    auto i = links_.find(local);
    if (i == links_.end() || !i->second.pending)
      continue;
    auto& l = i->second;
    l.pending = false;
    l.node = d.node;
    frame f;
    f.kind = frame_kind::open;
    f.dst = l.remote;
    f.src = l.local;
    f.text = l.service;
    send(l.node, f);
    l.end.start();
  }
}

void node_state::fail_pending(const std::string& key,
                              const std::string& err_name,
                              const std::string& why) {
  auto& d = dialing_[key];
  auto waiting = std::move(d.waiting);
  d.waiting.clear();
  for (auto local : waiting)
    if (auto i = links_.find(local); i != links_.end() && i->second.pending)
      fail_link(i->second, err_name, why);
}

void node_state::learn_key(const std::string& key, const caf::node_id& node) {
  auto& d = dialing_[key];
  if (d.up && d.node == node)
    return;
  d.node = node;
  auto p = peers_.find(node);
  if (p != peers_.end()
      && (p->second.st == peer::state::up
          || p->second.st == peer::state::reconnecting)) {
    d.up = true;
    d.in_progress = false;
    flush_pending(key);
  }
}

} // namespace entangle::detail::remote
