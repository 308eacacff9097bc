// Proxy collapse, the relay's side (docs/architecture.md, "Proxy
// collapse"; node_splice.cpp has the overview and the endpoint's side): a
// node whose two link ends are entangled in-process with each other
// prepares both endpoints, sends go once both are ready, posts a marker
// behind each endpoint's last old-link message and, when both markers
// passed, sends both splice_end and drops out. A refusal before go is
// tried again after a backoff ("Trying again"):
//
// Invariants (node-context thread):
// - a relay starts only on two ends that owe it nothing (link::sp_owed:
//   one answer per prepare, one per go), so every answer is the current
//   attempt's; an answer when nothing is owed is a violation;
// - at most one retry is armed per pair (link::sp_later), and only once
//   nothing is owed: when the refusal comes, or else when the last owed
//   answer does; a pair is tried at most max_splice_tries times
//   (link::sp_tries, the larger of its ends'; a swap makes a new pair);
// - a stop after go, or on a close, is never tried again (the channel
//   closes).

#include "remote/node.hpp"

#include <algorithm>
#include <chrono>
#include <random>
#include <utility>

#include <caf/node_id.hpp>
#include <fmt/format.h>

#include "contexts/world.hpp"
#include "ports/port_scheduler.hpp"

namespace entangle::detail::remote {

namespace {

/// Relay attempts per pair of ends that stop short (a refusal, an abort)
/// before it relays for good; the backoff before attempt k is
/// splice_backoff << k, times 1 to 2 (jitter).
constexpr std::uint8_t max_splice_tries = 6;
constexpr std::chrono::milliseconds splice_backoff{20};

} // namespace

// -- the relay ----------------------------------------------------------------

void node_state::consider_splice(port_name local) {
  if (!w_.cfg.remote_collapse)
    return;
  auto i = links_.find(local);
  if (i == links_.end() || i->second.closing() || i->second.relay != 0)
    return;
  auto& l = i->second;
  auto* m = relay_partner(l);
  // Two ends on loops (node_loop.cpp) would make this node relay and both
  // endpoints at once: it relays. One end on a loop is spliced like any
  // other, this node being relay and one endpoint (its frames to itself go
  // on the loop): the loop drops out.
  if (m == nullptr || m->closing() || (l.node == self_ && m->node == self_))
    return;
  // T == B (the port came back to the node that holds its peer): spliced
  // onto a loop there; and an endpoint whose other endpoint is this node
  // is named us as its successor's node: both known from version 8 on.
  auto older = [this, home = m->node == l.node || l.node == self_
                             || m->node == self_](const link& e) {
    if (e.node == self_)
      return false;
    auto p = peers_.find(e.node);
    return p == peers_.end()
           || p->second.version < (home        ? wire_version_splice_home
                                   : e.swapped ? wire_version_splice_hold
                                               : wire_version_splice_credit);
  };
  if (older(l) || older(*m))
    return; // for good: it knows no splice with credit, or no hold
  auto tries = std::max(l.sp_tries, m->sp_tries);
  if (tries >= max_splice_tries)
    return; // refused often enough: we relay
  // An end busy in another splice is considered again when that one ends
  // (after_splice); one that owes an answer to a stopped attempt, when the
  // answer comes (splice_ready). Frames out of order, a peer reconnecting:
  // passing, so try again later.
  if (l.sp != link::splice::none || m->sp != link::splice::none
      || l.sp_owed != 0 || m->sp_owed != 0)
    return;
  if (!l.spliceable() || !m->spliceable() || !splice_capable(l.node)
      || !splice_capable(m->node)) {
    ++l.sp_tries;
    ++m->sp_tries;
    splice_later(l);
    return;
  }
  auto id = next_relay_++;
  auto& r = relays_[id];
  r.end[0] = m->local;
  r.end[1] = l.local;
  m->relay = id;
  l.relay = id;
  // L3's two names: succ[k] is end[k]'s endpoint's.
  port_name succ[2] = {port_name::mint(), port_name::mint()};
  link* ends[2] = {m, &l};
  for (int k = 0; k < 2; ++k) {
    frame f;
    f.kind = frame_kind::splice_prepare;
    f.dst = ends[k]->remote;
    f.src = succ[k];
    f.peer = succ[1 - k];
    f.text = caf::to_string(ends[1 - k]->node);
    // And where it listens, if it told us: an endpoint not connected to
    // it dials it there (node_splice_dial.cpp).
    if (ends[1 - k]->node == self_) {
      std::lock_guard<std::mutex> guard{mu};
      if (!listen_key.empty())
        f.text += " " + listen_key;
    } else if (auto p = peers_.find(ends[1 - k]->node);
               p != peers_.end() && !p->second.key.empty()) {
      f.text += " " + p->second.key;
    }
    ++ends[k]->sp_owed;
    send(ends[k]->node, f);
  }
}

link* node_state::relay_partner(const link& l) {
  auto* other = l.end.object()->record->peer();
  if (other == nullptr)
    return nullptr;
  if (auto r = by_record_.find(other); r != by_record_.end())
    if (auto j = links_.find(r->second);
        j != links_.end() && &j->second != &l && j->second.rec_key == other)
      return &j->second;
  return nullptr;
}

void node_state::splice_later(link& l) {
  // One timer per pair (`sp_later` on the end that armed it): a stopped
  // attempt arms it once, when it was refused and nothing is owed, or when
  // the last owed answer came; anything else waiting would cut the backoff
  // short (and with it the jitter two refusing relays part ways by).
  auto* m = relay_partner(l);
  if (m == nullptr || l.sp_later || m->sp_later || l.sp_owed != 0
      || m->sp_owed != 0)
    return;
  auto tries = std::max(l.sp_tries, m->sp_tries);
  if (tries >= max_splice_tries)
    return;
  auto base = splice_backoff * (1 << tries);
  auto jitter = std::uniform_int_distribution<std::int64_t>{
    0, base.count()}(splice_rng_);
  l.sp_later = true;
  auto self = shared_from_this();
  auto local = l.local;
  current_core()->set_timer(
    [self, local] {
      // Gone or renamed (a swap, which clears the flag): nothing to do.
      if (auto i = self->links_.find(local); i != self->links_.end()) {
        i->second.sp_later = false;
        self->consider_splice(local);
      }
    },
    base + std::chrono::milliseconds{jitter}, false);
}

void node_state::relay_stop(std::uint64_t id, bool abort) {
  auto r = relays_.find(id);
  if (r == relays_.end())
    return;
  link* ends[2] = {nullptr, nullptr};
  for (int k = 0; k < 2; ++k) {
    auto i = links_.find(r->second.end[k]);
    if (i == links_.end())
      continue;
    auto& l = i->second;
    ends[k] = &l;
    l.relay = 0;
    if (abort) {
      frame f;
      f.kind = frame_kind::splice_abort;
      f.dst = l.remote;
      send(l.node, f);
      ++l.sp_tries;
    } else {
      // After go, or on a close: the channel closes instead, never tried
      // again.
      l.sp_tries = max_splice_tries;
    }
  }
  relays_.erase(r);
  // Refused before go: the reason may pass (an endpoint busy in another
  // splice, two relays of a chain refusing each other). If an answer is
  // still owed, its arrival arms the retry.
  if (abort && ends[0] != nullptr)
    splice_later(*ends[0]);
}

void node_state::splice_ready(const caf::node_id& from, frame& f) {
  auto i = links_.find(f.dst);
  if (i == links_.end() || i->second.node != from) {
    if (tombstones_.count({from, f.dst}) == 0)
      violation(from, "a splice answer for a port it was never given");
    return;
  }
  auto& l = i->second;
  if (l.sp_owed == 0) {
    violation(from, "a splice answer for no splice");
    return;
  }
  --l.sp_owed;
  auto r = relays_.find(l.relay);
  if (r == relays_.end()) {
    // An attempt that stopped meanwhile: its last answer frees the pair
    // for the next (after the backoff it earned).
    splice_later(l);
    return;
  }
  auto id = l.relay;
  auto side = r->second.end[0] == l.local ? 0 : 1;
  if (f.seq == 0) {
    // Refused (or, after go, the endpoint had dropped it: it answers the
    // go so): no collapse; after go the other endpoint learns it from its
    // peer's splice_drop and closes.
    relay_stop(id, !r->second.go);
    return;
  }
  if (r->second.ready[side] || r->second.go) {
    violation(from, "a second splice_ready");
    return;
  }
  r->second.ready[side] = true;
  if (!r->second.ready[1 - side])
    return;
  r->second.go = true;
  for (auto& name : r->second.end) {
    auto& e = links_.at(name);
    frame g;
    g.kind = frame_kind::splice_go;
    g.dst = e.remote;
    ++e.sp_owed;
    send(e.node, g);
  }
}

void node_state::splice_last(const caf::node_id& from, frame& f) {
  auto i = links_.find(f.dst);
  if (i == links_.end() || i->second.node != from) {
    if (tombstones_.count({from, f.dst}) == 0)
      violation(from, "a splice_last for a port it was never given");
    return;
  }
  auto& l = i->second;
  auto r = relays_.find(l.relay);
  if (r == relays_.end() || !r->second.go || l.sp_owed == 0) {
    if (r == relays_.end() && l.sp_owed > 0) {
      --l.sp_owed;
      return; // stopped after go (the other endpoint refused the go)
    }
    violation(from, "a splice_last before go");
    return;
  }
  --l.sp_owed;
  // The stream from a node is in order: every user frame it sent on the
  // old link came before this one.
  if (f.seq != l.next_recv - 1 || !l.early.empty() || l.got_close) {
    violation(from, fmt::format("a splice_last of {} (delivered {})", f.seq,
                                l.next_recv - 1));
    return;
  }
  // Behind the last message on this end's queue side: when the other
  // end's sink reaches it, all of them were sent on (relay_marker).
  serialized_message marker;
  marker.splice_marker = true;
  current_core()->post_serialized(*l.end.object(), std::move(marker));
}

void node_state::relay_marker(link& l) {
  auto r = relays_.find(l.relay);
  if (r == relays_.end())
    return; // the splice stopped meanwhile (a close follows)
  auto side = r->second.end[0] == l.local ? 0 : 1;
  r->second.drained[1 - side] = true;
  if (!r->second.drained[side])
    return;
  // Both directions drained: nothing more enters either queue. Each
  // endpoint gets the number of the last frame we sent it, and the credit
  // state of the other's link (taken before either goes); the ends go
  // without a close (the endpoints keep the channel), tombstoned until
  // their close of the old link (sent at their swap) comes.
  frame ends[2] = {splice_end_for(r->second.end[0], r->second.end[1]),
                   splice_end_for(r->second.end[1], r->second.end[0])};
  std::vector<message_port> gone;
  for (int k = 0; k < 2; ++k) {
    auto i = links_.find(r->second.end[k]);
    if (i == links_.end())
      continue; // cannot be: a relay end's close stops the splice
    auto& e = i->second;
    send(e.node, ends[k]);
    tombstones_.emplace(e.node, e.local);
    unmade(e); // its tombstone counts toward the cap instead
    gone.push_back(std::move(e.end));
    by_record_.erase(e.rec_key);
    links_.erase(i);
    --live_links;
  }
  relays_.erase(r);
  ++splices;
  // Erased first: their close sentinels find no link and are ignored.
  auto* core = current_core();
  for (auto& e : gone)
    if (auto& obj = e.object(); obj && !obj->closed)
      core->close_port(*obj, drop_reason::closed);
}

} // namespace entangle::detail::remote
