// The remote node, connecting (see node.hpp and docs/architecture.md,
// "Across processes"): dialing a node by host and port, the links that
// wait for it, what a dial's answer does to the peer's state, and the
// listener's answer to a connect (open, refuse) and a connect's failure.
// Split from node.cpp, which keeps the link table and the frame handlers.

#include "remote/node.hpp"

#include <chrono>
#include <utility>

#include <caf/actor_cast.hpp>
#include <caf/actor_system.hpp>
#include <caf/send.hpp>
#include <fmt/format.h>

#include "contexts/world.hpp"
#include "entangle/error.hpp"
#include "entangle/message_event.hpp"
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
  arm_dial_timeout(key, timeout);
}

void node_state::arm_dial_timeout(const std::string& key,
                                  std::chrono::nanoseconds timeout) {
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
    if (d.waiting.empty() && splice_redial(key))
      return; // node_splice_dial.cpp
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
  if (d.waiting.empty() && !d.splicing.empty()
      && !splice_dial_may_greet(key, hdl.node())) {
    // Only splices wait, and none named this node: no hello goes there
    // (node_splice_dial.cpp); they are refused.
    fail_pending(key, "NetworkError", "not the node named");
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
  splice_dial_ended(key, false); // node_splice_dial.cpp
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
  splice_dial_ended(key, true);
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

// -- the answer to a connect: open, refuse, failure ----------------------------

void node_state::handle_open(const caf::node_id& from, frame& f) {
  if (links_.count(f.dst) > 0) {
    violation(from, "open with a name already in use");
    return;
  }
  if (!admit_links(from, 1)) // a link, or a tombstone if refused
    return;
  std::uint64_t id = 0;
  {
    std::lock_guard<std::mutex> guard{mu};
    if (auto i = services.find(f.text); i != services.end())
      id = i->second;
  }
  caf::actor target;
  if (id != 0) {
    std::lock_guard<std::mutex> guard{w_.mu};
    if (auto i = w_.live.find(id); i != w_.live.end())
      target = i->second->actor();
  }
  if (!target) {
    frame r;
    r.kind = frame_kind::refuse;
    r.dst = f.src;
    r.text = fmt::format("no service '{}' here", f.text);
    send(from, r);
    // The dialer does not wait for an answer: what its user posted follows
    // the open (and its close, if it closed). Dropped like frames for an
    // end we closed, not taken for misbehaviour (a stopping runtime, whose
    // contexts end before its node, refuses every open).
    tombstones_.emplace(from, f.dst);
    return;
  }
  auto [mine, theirs] = w_.sched->make_pair(true);
  make_link(f.dst, f.src, from, std::move(mine), true)->theirs = true;
  ++peers_[from].made;
  auto carrier = std::make_shared<serialized_message>();
  carrier->ports.push_back(std::move(theirs));
  carrier->fate = drop_reason::context_gone; // closes it if undelivered
  caf::anon_send(target, ingress_atom::value, std::move(carrier));
}

void node_state::handle_refuse(const caf::node_id& from, frame& f) {
  auto i = links_.find(f.dst);
  if (i == links_.end() || i->second.node != from || i->second.next_recv != 1
      || i->second.got_close) {
    if (tombstones_.erase({from, f.dst}) > 0)
      return;
    violation(from, "refuse for a port it was never given");
    return;
  }
  auto& l = i->second;
  // The refuser keeps a tombstone for the frames that followed the open:
  // our close (after the last of them) lets it go.
  send_close(l);
  fail_link(l, "NotFoundError", fmt::format("{}: {}", l.url, f.text));
}

void node_state::fail_link(link& l, const std::string& err_name,
                           const std::string& why) {
  auto text = fmt::format("{}: {}", err_name, why);
  if (w_.cfg.warnings)
    fmt::print(stderr, "entangle: remote: {}\n", text);
  if (l.requester) {
    caf::anon_send(
      l.requester, inject_atom::value,
      injected_fn{[weak = l.requester_port, text, err_name] {
        auto obj = weak.lock();
        if (!obj || obj->detached || obj->closed)
          return; // transferred on: its close says enough
        message_event ev;
        ev.type = "error";
        ev.error = text;
        ev.data = value{error_value{err_name, text}};
        ev.target = message_port{obj};
        obj->events.dispatch(event_kind::error, ev);
      }});
  }
  close_link(l.local, drop_reason::node_lost);
}

} // namespace entangle::detail::remote
