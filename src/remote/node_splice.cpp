// Proxy collapse (docs/architecture.md, "Proxy collapse"; Mojo's
// ObserveProxy): a node whose two link ends a1 (to T) and a2 (to B) are
// entangled in-process with each other only relays. It splices T and B
// onto a fresh direct link L3 and drops out:
//
//   prepare  relay -> T, B: your successor is L3 (names, the other node);
//            each registers it (frames on it are buffered) -> ready
//   go       relay -> T, B: send on L3 from now -> splice_last{k} back
//   drain    the relay delivers the old link up to k, then posts a marker
//            behind it; when each end's sink has passed the other's
//            marker, everything relayed is sent: splice_end{last} to both,
//            and the relay erases a1, a2 and the in-process pair
//   swap     T, B deliver the old link up to `last`, then L3 (buffered
//            frames first); a close on the old link frees the relay's
//            tombstone
//
// Only when T, A and B speak wire version 6 (7 for a link that came from a
// swap: its other end holds our prepare until its own swap). A refusal
// is tried again after a backoff, an end busy in another splice when that
// one ends, each relay counting the answers it is owed so that none is
// taken for a later attempt's (link::sp_owed, sp_tries, sp_later). Credit
// in use carries over:
// A relays credit as ever until the endpoints switch, they tell none on
// the old link after, and each takes over A's count of what the other did
// not credit at the swap (node_credit.cpp). An endpoint not connected to
// the other one dials it where the relay says it listens first
// (node_splice_dial.cpp). State: link::sp* (endpoint), link::relay and
// relays_ (relay), successors_ (successor name -> old link name). This
// file has the endpoint's side; the relay's is node_splice_relay.cpp.

#include "remote/node.hpp"

#include <utility>

#include <caf/node_id.hpp>
#include <fmt/format.h>

#include "contexts/world.hpp"
#include "ports/port_scheduler.hpp"

namespace entangle::detail::remote {

bool node_state::splice_capable(const caf::node_id& node) {
  if (node == self_)
    return true; // a loop's other end (node_loop.cpp): this build
  auto i = peers_.find(node);
  return i != peers_.end() && i->second.st == peer::state::up
         && i->second.version >= wire_version_splice_credit;
}

link* node_state::successor_of(const caf::node_id& from, port_name name) {
  auto s = successors_.find(name);
  if (s == successors_.end())
    return nullptr;
  auto i = links_.find(s->second);
  if (i == links_.end() || i->second.sp == link::splice::none
      || i->second.sp == link::splice::dialing || i->second.sp_node != from)
    return nullptr;
  return &i->second;
}

// -- an endpoint --------------------------------------------------------------

void node_state::splice_prepare(const caf::node_id& from, frame& f) {
  auto i = links_.find(f.dst);
  if (i == links_.end() || i->second.node != from || i->second.pending) {
    if (tombstones_.count({from, f.dst}) == 0)
      violation(from, "a splice for a port it was never given");
    return; // closed here: our close tells the relay
  }
  if (f.src == port_name{} || f.peer == port_name{} || f.src == f.peer
      || links_.count(f.src) > 0 || successors_.count(f.src) > 0
      || tombstones_.count({from, f.src}) > 0
      || tombstones_.count({self_, f.src}) > 0) {
    violation(from, "a successor name already in use");
    return;
  }
  auto& l = i->second;
  // text: "<node id>", or "<node id> <host:port>" (where it listens).
  auto named = f.text;
  std::string key;
  if (auto sp = named.rfind(' '); sp != std::string::npos) {
    key = named.substr(sp + 1);
    named.resize(sp);
  }
  caf::node_id other;
  if (caf::to_string(self_) == named) {
    other = self_; // the other endpoint is here too (node_loop.cpp)
  } else {
    for (auto& [node, p] : peers_)
      if (caf::to_string(node) == named) {
        other = node;
        break;
      }
  }
  // Only while the end is open and in no other splice, from a relay whose
  // splice_end carries credit (version 6); to a node we are up with (the
  // relay itself, when it is the other endpoint too: version 8), to this
  // node (a loop: checked at go, loop_pair), or (a dial) one we reach at
  // `key`.
  bool can = w_.cfg.remote_collapse && l.spliceable() && splice_capable(from);
  if (can && other && (other == self_ || splice_reachable(other))) {
    l.sp_local = f.src;
    l.sp_remote = f.peer;
    successors_[f.src] = l.local;
    splice_accept(l, from, other);
    return;
  }
  // (This node as the relay, on a loop: its other endpoint is up with it,
  // or it would not relay; no dial.)
  if (can && from != self_ && !key.empty()
      && splice_dial(from, l, f, named, key))
    return; // answered when the dial ends
  answer_splice(l, from, false);
}

void node_state::answer_splice(const link& l, const caf::node_id& to,
                               bool ok) {
  frame a;
  a.kind = frame_kind::splice_ready;
  a.dst = l.remote;
  a.seq = ok ? 1 : 0;
  send(to, a);
}

void node_state::splice_accept(link& l, const caf::node_id& from,
                               const caf::node_id& other) {
  answer_splice(l, from, true);
  l.sp = link::splice::prepared;
  l.sp_node = other;
  l.sp_next_send = 1;
}

void node_state::splice_go(const caf::node_id& from, frame& f) {
  auto i = links_.find(f.dst);
  if (i == links_.end() || i->second.node != from || i->second.pending) {
    if (tombstones_.count({from, f.dst}) == 0)
      violation(from, "a splice_go for a port it was never given");
    return;
  }
  auto& l = i->second;
  if (l.sp == link::splice::switched || l.sp == link::splice::dialing) {
    violation(from, l.sp == link::splice::switched ? "a second splice_go"
                                                   : "a splice_go before ready");
    return;
  }
  if (l.sp == link::splice::none) {
    // We dropped it meanwhile (the other endpoint's loss, its drop): say
    // so, the relay stops.
    answer_splice(l, from, false);
    return;
  }
  if (l.sp_node == self_ && !loop_pair(l, from)) {
    // A loop only between two ends the same relay gave us, named by it as
    // each other's successor: anything else would let it deliver into a
    // link it was never given. (An honest relay's other end may have
    // dropped its successor already, its splice_drop still on the loop.)
    auto local = l.local;
    answer_splice(l, from, false);
    drop_successor(l, drop_reason::closed, true);
    after_splice(local); // a close or marks deferred meanwhile go now
    return;
  }
  l.sp = link::splice::switched;
  frame s;
  s.kind = frame_kind::splice_last;
  s.dst = l.remote;
  s.seq = l.next_send - 1;
  send(from, s);
}

void node_state::handle_splice(const caf::node_id& from, frame& f) {
  // Splice frames come only from nodes that know them (version 5 on).
  if ((f.kind == frame_kind::splice_prepare
       || f.kind == frame_kind::splice_abort)
      && links_.count(f.dst) == 0) {
    if (auto* l = successor_of(from, f.dst)) {
      // The other endpoint swapped first and relays our successor on
      // already: taken after our swap (in order, with sp_held). One
      // attempt at most can wait here: its answer is ours to give.
      int prepares = 0;
      int aborts = 0;
      for (auto& h : l->sp_held) {
        prepares += h.kind == frame_kind::splice_prepare;
        aborts += h.kind == frame_kind::splice_abort;
      }
      if (f.kind == frame_kind::splice_prepare ? prepares != 0
                                               : prepares != 1 || aborts != 0) {
        violation(from, f.kind == frame_kind::splice_prepare
                          ? "a second splice before our swap"
                          : "a splice_abort for no splice");
        return;
      }
      l->sp_held.push_back(std::move(f));
      return;
    }
  }
  switch (f.kind) {
    case frame_kind::splice_prepare:
      splice_prepare(from, f);
      break;
    case frame_kind::splice_ready:
      splice_ready(from, f);
      break;
    case frame_kind::splice_go:
      splice_go(from, f);
      break;
    case frame_kind::splice_last:
      splice_last(from, f);
      break;
    case frame_kind::splice_end:
      splice_end(from, f);
      break;
    case frame_kind::splice_drop:
      splice_drop(from, f);
      break;
    case frame_kind::splice_abort: {
      auto i = links_.find(f.dst);
      if (i == links_.end() || i->second.node != from) {
        if (tombstones_.count({from, f.dst}) == 0)
          violation(from, "a splice_abort for a port it was never given");
        return;
      }
      auto& l = i->second;
      if (l.sp == link::splice::switched) {
        violation(from, "a splice_abort after go");
        return;
      }
      if (l.sp == link::splice::prepared || l.sp == link::splice::dialing) {
        // Dialing, we had not answered: we do now, so that every prepare
        // gets one answer (the relay waits for it before it tries again).
        if (l.sp == link::splice::dialing)
          answer_splice(l, from, false);
        drop_successor(l, drop_reason::closed, true);
        after_splice(l.local);
      }
      break;
    }
    default:
      break;
  }
}

void node_state::splice_end(const caf::node_id& from, frame& f) {
  auto i = links_.find(f.dst);
  if (i == links_.end() || i->second.node != from || i->second.pending) {
    if (from == self_) {
      // This node relayed and was the endpoint (node_loop.cpp); the end
      // closed meanwhile (its other endpoint was lost), and its close
      // went to a relay end that was already gone: no answer will take
      // its tombstone, so this does.
      tombstones_.erase({from, f.dst});
      return;
    }
    if (tombstones_.count({from, f.dst}) == 0)
      violation(from, "a splice_end for a port it was never given");
    return;
  }
  auto& old = i->second;
  if (old.sp != link::splice::switched || old.got_close
      || f.seq != old.next_recv - 1 || !old.early.empty()) {
    violation(from, fmt::format("a splice_end of {} that does not add up "
                                "(delivered {})",
                                f.seq, old.next_recv - 1));
    return;
  }
  // Everything of the old link is delivered. Our close of it (after the
  // last frame we sent there) frees the relay's tombstone.
  frame c;
  c.kind = frame_kind::close;
  c.dst = old.remote;
  c.seq = old.next_send - 1;
  send(from, c);
  successors_.erase(old.sp_local);
  // Credit goes on where the old link left it (node_credit.cpp).
  rebase_credit(old, f);
  // The successor is no link the new node made here (a splice replaces
  // one link by one): the old node's count drops, the new one's stays.
  unmade(old);
  auto moved = std::move(old);
  links_.erase(i);
  auto local = moved.sp_local;
  auto& l = links_[local] = std::move(moved);
  by_record_[l.rec_key] = local;
  l.local = local;
  l.remote = l.sp_remote;
  l.node = l.sp_node;
  l.next_send = l.sp_next_send;
  l.next_recv = 1;
  l.early = std::move(l.sp_early);
  l.sp_early.clear();
  l.sp = link::splice::none;
  // A new link, a new pair should this node relay it: nothing is owed on
  // it (the relay's answers to us all came before its splice_end).
  l.sp_owed = 0;
  l.sp_tries = 0;
  l.sp_later = false; // a timer armed under the old name finds nothing
  l.swapped = true;
  install_sink(local);
  if (auto* m = relay_partner(l))
    m->sp_tries = 0; // a new pair, should this node relay the two
  ++swaps;
  while (!l.early.empty() && l.early.begin()->first == l.next_recv) {
    auto next = std::move(l.early.begin()->second);
    l.early.erase(l.early.begin());
    deliver(l, std::move(next));
  }
  // What the other endpoint sent on L3 after its own swap, in order.
  auto held = std::move(l.sp_held);
  l.sp_held.clear();
  auto node = l.node;
  for (auto& h : held) {
    if (links_.count(local) == 0)
      break;
    if (h.kind == frame_kind::close)
      handle_close(node, h);
    else if (h.kind == frame_kind::mark)
      handle_mark(node, h);
    else if (h.kind == frame_kind::credit)
      handle_credit(node, h);
    else
      handle_splice(node, h); // a relay's prepare (abort) of L3, held
  }
  finish_if_done(local);
  after_splice(local);
}

void node_state::after_splice(port_name local) {
  auto i = links_.find(local);
  if (i == links_.end())
    return;
  auto& l = i->second;
  if (l.sp_close) {
    // The user's close, deferred: now on the current link.
    l.sp_close = false;
    user_closed(l);
    return;
  }
  on_ready(l); // marks set while splicing
  // Free again: if this node relays it, its relay can try now (in a chain
  // T -> A -> B -> C, B's tries while A splices B's end in).
  consider_splice(local);
}

void node_state::drop_successor(link& l, drop_reason why, bool tell) {
  successors_.erase(l.sp_local);
  auto& sched = current_core()->sched();
  for (auto& [seq, msg] : l.sp_early)
    sched.drop(std::move(msg), why);
  l.sp_early.clear();
  l.sp_held.clear();
  l.sp = link::splice::none;
  auto p = peers_.find(l.sp_node);
  if (l.sp_node != self_
      && (p == peers_.end()
          || (p->second.st != peer::state::up
              && p->second.st != peer::state::reconnecting)))
    return; // lost: nothing to tell, nothing it sends counts
  // It may be sending on L3 already (it switched): tombstoned until its
  // own drop, or its answer to ours, comes.
  frame d;
  d.kind = frame_kind::splice_drop;
  d.dst = l.sp_remote;
  d.src = l.sp_local;
  d.seq = l.sp_next_send - 1;
  send(l.sp_node, d);
  if (tell)
    tombstones_.emplace(l.sp_node, l.sp_local);
}

void node_state::splice_drop(const caf::node_id& from, frame& f) {
  // Only the other endpoint of the same splice (it names our pair: its
  // name is our successor's peer) drops ours; otherwise it is a drop for a
  // name we do not have, answered below. On a loop the sender is this
  // node, and the names are a relay's choice: without the pairing, a
  // relay could close a loop it has left, or leave a tombstone of ours
  // that no answer takes.
  if (auto* l = successor_of(from, f.dst); l && l->sp_remote == f.src) {
    // The other endpoint gave up (it lost the relay, or refused the go):
    // ours goes too, without a tombstone (it sends nothing more on L3).
    bool switched = l->sp == link::splice::switched;
    auto local = l->local;
    drop_successor(*l, drop_reason::node_lost, false);
    if (!switched) {
      after_splice(local); // the relay aborts or closes: we stay
      return;
    }
    // We sent on L3 already: the channel cannot go on. Our close of the
    // old link (the relay answers it, or its tombstone takes it).
    send_close(*l);
    if (!l->got_close)
      tombstones_.emplace(l->node, l->local);
    close_link(local, drop_reason::node_lost);
    return;
  }
  if (auto i = links_.find(f.dst); i != links_.end() && i->second.node == from
                                   && !i->second.pending
                                   && i->second.remote == f.src) {
    // We swapped, it did not (it lost the relay first): a close after the
    // last message it sent on L3.
    frame c;
    c.kind = frame_kind::close;
    c.dst = f.dst;
    c.seq = f.seq;
    handle_close(from, c); // our answering close frees its tombstone
    return;
  }
  if (tombstones_.erase({from, f.dst}) > 0)
    return; // we dropped ours first
  if (!f.resend) {
    // Never registered here (the relay went before our prepare came):
    // answer, so that the sender's tombstone goes.
    frame a;
    a.kind = frame_kind::splice_drop;
    a.dst = f.src;
    a.src = f.dst;
    a.resend = true;
    send(from, a);
  }
}

} // namespace entangle::detail::remote

namespace entangle::detail::remote {

void node_state::splice_lost(const caf::node_id& node) {
  std::vector<port_name> hit;
  for (auto& [local, l] : links_)
    if (l.sp != link::splice::none && l.sp_node == node)
      hit.push_back(local);
  for (auto local : hit) {
    auto i = links_.find(local);
    if (i == links_.end())
      continue;
    auto& l = i->second;
    bool switched = l.sp == link::splice::switched;
    drop_successor(l, drop_reason::node_lost, true); // tells nobody: lost
    if (!switched) {
      after_splice(local); // the relay learns it too and stops
      continue;
    }
    // Our messages since the switch went to the lost node: the channel
    // ends here, and our close of the old link tells the relay.
    send_close(l);
    if (!l.got_close)
      tombstones_.emplace(l.node, l.local);
    close_link(local, drop_reason::node_lost);
  }
}

} // namespace entangle::detail::remote
