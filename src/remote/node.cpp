// The remote node: the link table and the protocol (see node.hpp and
// docs/architecture.md, "Across processes").

#include "remote/node.hpp"

#include <new>

#include <utility>

#include <caf/actor_cast.hpp>
#include <caf/actor_system.hpp>
#include <caf/send.hpp>
#include <fmt/format.h>

#include "base/list_index.hpp"
#include "clone/structured_clone.hpp"
#include "contexts/world.hpp"
#include "entangle/error.hpp"
#include "entangle/message_event.hpp"
#include "remote/node_actor.hpp"

namespace entangle::detail::remote {

namespace {

/// How far ahead of the next expected number a frame may be: more is a
/// violation. Frames between two nodes are taken in the order sent (the
/// per-node stream of node_frames.cpp), so any early frame is already
/// unusual; this bound and the reorder buffer's caps (admit_early) keep a
/// misbehaving peer from growing the buffer without limit.
constexpr std::uint64_t max_reorder_window = std::uint64_t{1} << 16;
/// A successor link's frames are all buffered until the swap (the relay's
/// drain is short; a peer past this misbehaves).
constexpr std::uint64_t max_successor_frames = std::uint64_t{1} << 20;

std::string node_str(const caf::node_id& n) {
  return caf::to_string(n);
}

} // namespace

std::shared_ptr<node_state> node_state::of(world& w) {
  std::lock_guard<std::mutex> guard{w.mu};
  if (w.remote)
    return std::static_pointer_cast<node_state>(w.remote);
  if (!w.cfg.remote)
    throw dom_exception(std::string{error_name::invalid_state},
                        "remote: this runtime has no network layer; set "
                        "runtime_config::remote (option entangle.remote) "
                        "before making it");
  if (w.cfg.deterministic)
    throw dom_exception(std::string{error_name::invalid_state},
                        "remote: not available in deterministic mode");
  if (w.stopping)
    throw dom_exception(std::string{error_name::invalid_state},
                        "remote: the runtime stops");
  auto st = std::make_shared<node_state>(w);
  auto ctl = std::make_shared<context_control>();
  ctl->name = "remote";
  ctl->id = next_context_id();
  ctl->sched = w.sched;
  ctl->service = true;
  auto hdl = w.system.spawn<context_core>(w, ctl, init_function{},
                                          record_ptr{});
  ctl->set_actor(hdl);
  w.remote_ctl = std::move(ctl);
  st->ctx = hdl;
  st->actor = spawn_node_actor(w.system, st);
  w.remote_stop = [a = st->actor] {
    caf::anon_send_exit(a, caf::exit_reason::kill);
  };
  w.remote = st;
  return st;
}

node_state::node_state(world& w) : w_(w), self_(w.system.node()) {
}

void node_state::in_ctx(std::function<void()> fn) {
  auto self = shared_from_this();
  caf::anon_send(ctx, inject_atom::value,
                 injected_fn{[self, fn = std::move(fn)] {
                   try {
                     fn();
                   } catch (const std::exception& e) {
                     // A bug here must not end the node context (every
                     // link would close): report it.
                     self->internal_error(e.what());
                   }
                 }});
}

// -- links ------------------------------------------------------------------

link* node_state::make_link(port_name local, port_name remote,
                            const caf::node_id& node, record_ptr rec,
                            bool start) {
  auto* core = current_core();
  auto& l = links_[local];
  l.local = local;
  l.remote = remote;
  l.node = node;
  l.end = core->adopt_port(std::move(rec));
  l.rec_key = l.end.object()->record.get();
  by_record_[l.rec_key] = local;
  install_sink(local);
  // The user's port behind this end reports its marks and reads here
  // (credit for the sending node, node_credit.cpp).
  w_.sched->watch_reads(l.end.object()->record);
  if (start)
    l.end.start();
  else
    l.pending = true;
  ++live_links;
  return &l;
}

void node_state::install_sink(port_name local) {
  auto& l = links_.at(local);
  current_core()->set_sink(*l.end.object(), [this, local](envelope&& e) {
    on_local(local, std::move(e));
  });
}

void node_state::send(const caf::actor& to, const frame& f) {
  ++frames_out;
  caf::send_as(actor, to, frame_atom::value, encode(f));
}

void node_state::on_local(port_name local, envelope&& e) {
  auto& sched = current_core()->sched();
  auto i = links_.find(local);
  if (i == links_.end()) {
    if (!e.sentinel())
      sched.drop(std::move(e.msg), drop_reason::closed);
    return;
  }
  auto& l = i->second;
  if (!e.sentinel() && e.msg.splice_marker) {
    relay_marker(l); // node_splice.cpp
    return;
  }
  if (e.is_ready) {
    // The user's port behind this end changed its marks or read: a mark
    // or credit frame for the sending node (node_credit.cpp). None on the
    // old link once switched (the relay's count must be final when it
    // finishes): told on the successor after the swap (after_splice).
    if (l.sp != link::splice::switched)
      on_ready(l);
    return;
  }
  if (e.is_close && l.sp != link::splice::none) {
    // No close may race the switch: sent once the splice ended, on the
    // link that is current then.
    l.sp_close = true;
    return;
  }
  if (e.is_close) {
    user_closed(l);
    return;
  }
  if (l.sent_close) {
    sched.drop(std::move(e.msg), drop_reason::closed);
    return;
  }
  auto& msg = e.msg;
  // Switched (a splice): user frames go on the successor link already.
  bool succ = l.sp == link::splice::switched;
  if ((succ ? l.sp_node : l.node) == self_) {
    // Both ends here (a port that came home): no encoding, no network.
    loop_out(l, succ, std::move(msg), e.bytes);
    return;
  }
  if (msg.typed && !msg.typed->undeliverable.empty()) {
    // A stand-in that came from another node: it goes on as one.
    cannot_cross(l, std::move(e), msg.typed->undeliverable);
    return;
  }
  frame f;
  f.kind = frame_kind::user;
  f.dst = succ ? l.sp_remote : l.remote;
  f.seq = succ ? l.sp_next_send : l.next_send;
  if (msg.typed) {
    f.typed = true;
    f.typed_name = msg.typed->name;
    f.typed_bytes = msg.typed->bytes;
  } else {
    f.data = msg.data;
  }
  for (std::size_t k = 0; k < msg.ports.size(); ++k) {
    f.ports.emplace_back(port_name::mint(), port_name::mint());
    f.port_flow.push_back(carried_marks(*msg.ports[k]));
  }
  auto node = succ ? l.sp_node : l.node;
  try {
    send(node, f);
  } catch (const std::exception& ex) {
    cannot_cross(l, std::move(e), ex.what());
    return;
  }
  ++(succ ? l.sp_next_send : l.next_send);
  user_left(l, e.bytes, true);
  // Each carried port becomes the local end of a new link to the same
  // node; what is queued on it (and what its peer posts meanwhile) follows
  // on that link, behind this frame (its sink runs in a later turn).
  for (std::size_t k = 0; k < msg.ports.size(); ++k)
    carried_out(*make_link(f.ports[k].first, f.ports[k].second, node,
                           std::move(msg.ports[k]), true),
                f.port_flow[k]);
  msg.ports.clear();
  // A carried port that was itself entangled with a link end (it came from
  // another node): this node relays; try to splice it out (node_splice.cpp).
  for (auto& names : f.ports)
    consider_splice(names.first);
}

void node_state::deliver(link& l, serialized_message&& msg) {
  ++l.next_recv;
  current_core()->post_serialized(*l.end.object(), std::move(msg));
}

void node_state::finish_if_done(port_name local) {
  auto i = links_.find(local);
  if (i == links_.end())
    return;
  auto& l = i->second;
  if (l.got_close && l.next_recv > l.last_recv)
    close_link(local, drop_reason::closed);
}

void node_state::close_link(port_name local, drop_reason why) {
  auto i = links_.find(local);
  if (i == links_.end())
    return;
  // A splice it takes part in ends with it (node_splice.cpp).
  if (i->second.relay != 0)
    relay_stop(i->second.relay, false);
  if (i->second.sp != link::splice::none)
    drop_successor(i->second, why, true);
  auto l = std::move(i->second);
  links_.erase(i);
  by_record_.erase(l.rec_key);
  --live_links;
  unmade(l);
  auto* core = current_core();
  auto& sched = core->sched();
  for (auto& [seq, msg] : l.early)
    sched.drop(std::move(msg), why);
  l.early.clear();
  if (auto& obj = l.end.object(); obj && !obj->closed)
    core->close_port(*obj, why);
}

void node_state::user_closed(link& l) {
  // Tell the peer the number of the last message, so its close comes
  // after that one; tombstoned until its answer.
  if (!l.sent_close && !l.pending) {
    send_close(l);
    if (!l.got_close)
      tombstones_.emplace(l.node, l.local);
  }
  close_link(l.local, drop_reason::closed);
}

void node_state::unmade(link& l) {
  if (auto p = peers_.find(l.node); l.theirs && p != peers_.end())
    --p->second.made;
  l.theirs = false;
}

// -- frames from peers --------------------------------------------------------

std::optional<frame> node_state::decode_frame(const std::string& bytes,
                                              std::string& why) const {
  try {
    return decode(bytes, 2 * w_.cfg.max_clone_depth + 16, why);
  } catch (const std::bad_alloc&) {
    why = "it does not fit in memory"; // the peer's doing: ban it
    return std::nullopt;
  }
}

void node_state::on_frame(const caf::actor& from, const std::string& bytes,
                          std::optional<frame>* decoded) {
  auto node = from.node();
  auto pi = peers_.find(node);
  if (pi != peers_.end() && pi->second.st == peer::state::banned)
    return; // disconnected: nothing it sends is looked at
  if (pi != peers_.end() && pi->second.st == peer::state::lost
      && !from_lost(pi->second, from, bytes))
    return;
  std::string why;
  std::optional<frame> f;
  if (decoded != nullptr)
    f = std::move(*decoded);
  else
    f = decode_frame(bytes, why);
  if (!f) {
    violation(node, "undecodable frame: " + why);
    return;
  }
  switch (f->kind) {
    case frame_kind::hello: {
      auto& p = peer_of(node, from);
      if (!on_greeting(node, p, *f))
        return;
      greeted(node, p, *f, from);
      // Welcome first: what learning its address flushes (open, user)
      // must reach it after it knows we are up.
      send(from, hello_frame(frame_kind::welcome, p));
      if (!f->text.empty())
        learn_key(f->text, node);
      return;
    }
    case frame_kind::welcome: {
      if (pi == peers_.end()) {
        violation(node, "unexpected welcome");
        return;
      }
      auto& p = pi->second;
      if (p.st == peer::state::lost && f->echo != p.session) {
        ++stale; // a welcome of before we lost it
        return;
      }
      if (!on_greeting(node, p, *f))
        return;
      greeted(node, p, *f, from);
      if (!f->text.empty())
        learn_key(f->text, node);
      for (auto& [key, d] : dialing_)
        if (d.node == node && !d.up) {
          d.up = true;
          d.in_progress = false;
          flush_pending(key);
        }
      return;
    }
    default:
      break;
  }
  if (pi == peers_.end()) {
    violation(node, "a frame before hello");
    return;
  }
  auto& p = pi->second;
  if ((p.st != peer::state::up && p.st != peer::state::reconnecting)
      || f->echo != p.session) {
    // Of a session that ended (in flight when one side lost the other), or
    // before our greeting was answered: the sender sends it again once
    // the greetings agree, so it is dropped, not taken for misbehaviour.
    ++stale;
    return;
  }
  use_handle(p, from);
  if (!on_ack(node, p, f->ack))
    return;
  if (f->kind == frame_kind::ack) {
    if (f->resend && p.st == peer::state::up)
      resend_asked(p, f->ack);
    return;
  }
  if (!take_seq(node, p, *f))
    return; // a duplicate, or after a gap (it comes again)
  switch (f->kind) {
    case frame_kind::open:
      handle_open(node, *f);
      break;
    case frame_kind::refuse:
      handle_refuse(node, *f);
      break;
    case frame_kind::user:
      handle_user(node, *f);
      break;
    case frame_kind::close:
      handle_close(node, *f);
      break;
    case frame_kind::mark:
      handle_mark(node, *f);
      break;
    case frame_kind::credit:
      handle_credit(node, *f);
      break;
    default:
      handle_splice(node, *f); // node_splice.cpp
      break;
  }
}

void node_state::send_close(link& l) {
  if (l.sent_close)
    return;
  frame c;
  c.kind = frame_kind::close;
  c.dst = l.remote;
  c.seq = l.next_send - 1;
  send(l.node, c);
  l.sent_close = true;
}

void node_state::handle_user(const caf::node_id& from, frame& f) {
  auto& sched = current_core()->sched();
  auto i = links_.find(f.dst);
  // A frame on the successor of a link being spliced: taken (its carried
  // ports materialize) and buffered until the swap (node_splice.cpp).
  link* succ = nullptr;
  if (i == links_.end() || i->second.node != from || i->second.pending)
    succ = successor_of(from, f.dst);
  if (succ == nullptr
      && (i == links_.end() || i->second.node != from
          || i->second.pending)) {
    if (tombstones_.count({from, f.dst}) > 0) {
      // Posted before the peer saw our close: dropped, and the ports it
      // carried are closed at their sender (they never materialized).
      if (!admit_links(from, f.ports.size()))
        return;
      sched.count_drop(drop_reason::closed);
      for (auto& [theirs, mine] : f.ports) {
        // Its sender may already be forwarding on that link: drop those
        // frames too, until its answer to this close comes.
        tombstones_.emplace(from, mine);
        frame c;
        c.kind = frame_kind::close;
        c.dst = theirs;
        c.seq = 0;
        send(from, c);
      }
      return;
    }
    violation(from, "a message for a port it was never given");
    return;
  }
  auto& l = succ != nullptr ? *succ : i->second;
  auto next_recv = succ != nullptr ? 1 : l.next_recv;
  auto& early = succ != nullptr ? l.sp_early : l.early;
  if (f.seq < next_recv || early.count(f.seq) > 0
      || f.seq - next_recv
           >= (succ != nullptr ? max_successor_frames : max_reorder_window)
      || (succ == nullptr && l.got_close && f.seq > l.last_recv)) {
    violation(from, fmt::format("wrong sequence number {} (expected {})",
                                f.seq, next_recv));
    return;
  }
  // (A successor's frames are all buffered until the swap, bounded by
  // max_successor_frames above.)
  if ((succ == nullptr && f.seq != l.next_recv && !admit_early(from, l, f))
      || !admit_links(from, f.ports.size()))
    return;
  // Linear in the frame's ports: the peer chooses how many (up to
  // remote_max_links), and a scan of the names before each was quadratic.
  list_index<port_name, port_name_hash> carried;
  for (auto& [theirs, mine] : f.ports) {
    if (links_.count(mine) > 0 || !carried.insert(mine)) {
      violation(from, "a carried port with a name already in use");
      return;
    }
  }
  if (f.typed && f.typed_name.empty()) {
    violation(from, "a typed message without a type name");
    return;
  }
  if (!f.typed && f.needs_rebuild)
    if (auto err = check_form(f.data, f.ports.size())) {
      violation(from, "undecodable payload: " + *err);
      return;
    }
  // Accepted: the carried ports materialize now (not when read), so frames
  // that follow on their links find them.
  serialized_message msg;
  if (f.unencodable) {
    msg.typed = stand_in(f.text); // messageerror in its place
  } else if (f.typed) {
    msg.typed = std::make_unique<typed_payload>();
    msg.typed->name = std::move(f.typed_name);
    msg.typed->bytes = std::move(f.typed_bytes);
  } else {
    msg.data = std::move(f.data);
    msg.needs_rebuild = f.needs_rebuild;
    msg.buffer_bytes = f.buffer_bytes;
  }
  // Where the frame goes: its link, or the old link of its successor.
  auto local = succ != nullptr ? succ->local : f.dst;
  for (std::size_t k = 0; k < f.ports.size(); ++k) {
    auto [theirs, mine] = f.ports[k];
    auto [a, b] = w_.sched->make_pair(true);
    auto* nl = make_link(mine, theirs, from, std::move(a), true);
    nl->theirs = true;
    ++peers_[from].made;
    if (k < f.port_flow.size())
      carried_in(*nl, *b, f.port_flow[k]);
    msg.ports.push_back(std::move(b));
  }
  auto& lk = links_.at(local); // make_link may have rehashed
  if (succ != nullptr) {
    lk.sp_early.emplace(f.seq, std::move(msg));
    return;
  }
  if (f.seq != lk.next_recv) {
    lk.early.emplace(f.seq, std::move(msg));
    lk.early_bytes += f.wire_size;
    return;
  }
  deliver(lk, std::move(msg));
  while (!lk.early.empty() && lk.early.begin()->first == lk.next_recv) {
    auto next = std::move(lk.early.begin()->second);
    lk.early.erase(lk.early.begin());
    deliver(lk, std::move(next));
  }
  if (lk.early.empty())
    lk.early_bytes = 0;
  finish_if_done(local);
}

void node_state::handle_close(const caf::node_id& from, frame& f) {
  auto i = links_.find(f.dst);
  if (i == links_.end() || i->second.node != from || i->second.pending) {
    if (tombstones_.erase({from, f.dst}) > 0)
      return; // both ends closed: the link is gone on both sides
    if (auto* l = successor_of(from, f.dst)) {
      // The other endpoint swapped first: replayed after our swap.
      // (A loop's are this node's own: no cap.)
      if (from != self_
          && l->sp_held.size() >= w_.cfg.remote_max_early_frames)
        violation(from, "too many frames on a successor link");
      else
        l->sp_held.push_back(f);
      return;
    }
    violation(from, "a close for a port it was never given");
    return;
  }
  auto& l = i->second;
  if (l.got_close || f.seq + 1 < l.next_recv
      || (!l.early.empty() && l.early.rbegin()->first > f.seq)) {
    violation(from, "a close that contradicts the messages sent");
    return;
  }
  l.got_close = true;
  l.last_recv = f.seq;
  send_close(l);
  finish_if_done(f.dst);
}

// -- node loss ------------------------------------------------------------------

void node_state::node_down(const caf::node_id& node, const std::string& why) {
  auto pi = peers_.find(node);
  if (pi == peers_.end())
    return;
  bool banned = pi->second.st == peer::state::banned;
  if (pi->second.st == peer::state::lost)
    return;
  if (!banned) {
    if (pi->second.st == peer::state::up
        || pi->second.st == peer::state::reconnecting)
      --peers_up;
    // Kept as lost: frames it sent before it went are ignored, not taken
    // for a misbehaving stranger's. Its streams end; if it comes back, a
    // new session of ours tells it to start over too.
    auto& p = pi->second;
    p.st = peer::state::lost;
    reset_streams(p);
    if (why != "it started over" && p.hdl)
      send(p.hdl, hello_frame(frame_kind::hello, p)); // tell it (if alive)
  } else if (why != "protocol violation") {
    return; // already handled when it was banned
  }
  ++nodes_lost;
  if (w_.cfg.warnings && !banned)
    fmt::print(stderr, "entangle: remote: lost node {} ({})\n",
               node_str(node), why);
  for (auto& [key, d] : dialing_)
    if (d.node == node) {
      d.up = false;
      d.node = caf::node_id{};
    }
  std::vector<port_name> gone;
  for (auto& [local, l] : links_)
    if (l.node == node)
      gone.push_back(local);
  for (auto local : gone) {
    auto i = links_.find(local);
    if (i == links_.end())
      continue;
    if (i->second.pending)
      fail_link(i->second, "NetworkError", "the node was lost");
    else
      close_link(local, drop_reason::node_lost);
  }
  splice_lost(node);
  tombstones_.erase_node(node);
}

} // namespace entangle::detail::remote
