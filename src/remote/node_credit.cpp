// Credit between nodes (docs/architecture.md, "Credit between nodes"):
// the receiving node tells the sending node its user port's marks (`mark`)
// and how many messages that port consumed (`credit`); the sending node's
// link end mirrors the receiver, so the sender's desired_size, ready and
// QuotaExceededError work as within one process. State: flow_state's
// `mirror` and `report` flags, and the credit fields of `link`.

#include "remote/node.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "contexts/world.hpp"
#include "ports/port_scheduler.hpp"

namespace entangle::detail::remote {

namespace {

/// Marks as told over the wire: all "no mark" values are one.
bool same_marks(const high_water_mark& x, const high_water_mark& y) {
  if (!x.enabled() && !y.enabled())
    return true;
  return x == y;
}

} // namespace

void node_state::on_ready(link& l) {
  // Nothing goes out before `open` (the peer does not know the link yet;
  // a pending end is not started, so this does not happen) or after our
  // close (the peer may have forgotten the link: a frame for it would be
  // a violation there).
  if (l.pending || l.sent_close || !l.end.object())
    return;
  auto& end = l.end.object()->record;
  if (!end || !end->peer())
    return;
  auto v = port_scheduler::view_of(*end->peer());
  // What the user's port consumed of ours: delivered minus still unread.
  // Unread may include messages queued there before this link existed
  // (a carried port's backlog); they come first, so the difference is
  // exact once they are read and too low (the safe side) before.
  auto delivered = l.recv_base + l.next_recv - 1;
  auto consumed = delivered - std::min<std::uint64_t>(delivered, v.count);
  consumed = std::max(consumed, l.credited);
  if (!same_marks(v.marks, l.told_marks)) {
    frame f;
    f.kind = frame_kind::mark;
    f.dst = l.remote;
    f.marks = v.marks;
    f.seq = consumed;
    send(l.node, f);
    l.told_marks = v.marks;
    l.credited = consumed;
    return;
  }
  if (!v.marks.enabled() || consumed == l.credited)
    return;
  // Batched: under a message mark only, credit goes out once half a mark
  // was consumed since the last. Enough for the sender: once everything
  // is consumed, what it was not told is below half a mark, so its view
  // is below the mark and it got its ready. A byte mark (whose sizes only
  // the sender knows) gets credit on every read batch.
  std::uint64_t step = 1;
  if (v.marks.bytes == 0)
    step = std::max<std::uint64_t>(1, v.marks.messages / 2);
  if (consumed - l.credited < step)
    return;
  frame f;
  f.kind = frame_kind::credit;
  f.dst = l.remote;
  f.seq = consumed;
  ++credits_out; // before: its effect at the peer comes after
  send(l.node, f);
  l.credited = consumed;
}

link* node_state::credit_link(const caf::node_id& from, const frame& f) {
  auto i = links_.find(f.dst);
  if (i == links_.end() || i->second.node != from || i->second.pending) {
    if (auto* l = successor_of(from, f.dst)) {
      // The other endpoint swapped first: replayed after our swap.
      if (from != self_ && l->sp_held.size() >= 1024) // a loop: ours
        violation(from, "too many frames on a successor link");
      else
        l->sp_held.push_back(f);
      return nullptr;
    }
    if (tombstones_.count({from, f.dst}) == 0)
      violation(from, f.kind == frame_kind::mark
                        ? "a mark for a port it was never given"
                        : "credit for a port it was never given");
    return nullptr; // else: sent before it saw our close
  }
  // A relay end takes credit as ever while it splices: the endpoints stop
  // sending it on the old link when they switch, and take over what it
  // counts at the swap (splice_end_for, rebase_credit).
  return &i->second;
}

void node_state::take_credit(link& l, std::uint64_t consumed) {
  auto n = consumed - l.consumed;
  l.consumed = consumed;
  auto skip = std::min(n, l.uncounted); // never in the view (rebase_credit)
  l.uncounted -= skip;
  n -= skip;
  if (n == 0)
    return;
  std::uint64_t bytes = 0;
  auto k = std::min(n, l.unsized);
  l.unsized -= k;
  for (auto rest = n - k; rest > 0 && !l.sizes.empty(); --rest) {
    bytes += l.sizes.front();
    l.sizes.pop_front();
  }
  if (auto& obj = l.end.object(); obj && obj->record)
    w_.sched->credit_remote(*obj->record, n, bytes);
}

void node_state::handle_mark(const caf::node_id& from, frame& f) {
  auto* l = credit_link(from, f);
  if (l == nullptr)
    return;
  auto sent = l->send_base + l->next_send - 1;
  if (f.seq > sent || f.seq < l->consumed) {
    violation(from, fmt::format("a mark that counts {} messages consumed "
                                "(sent {}, credited {})",
                                f.seq, sent, l->consumed));
    return;
  }
  auto& obj = l->end.object();
  if (!obj || !obj->record)
    return;
  if (!f.marks.enabled()) {
    l->mirror = false;
    l->consumed = f.seq;
    l->unsized = 0;
    l->uncounted = 0;
    l->sizes.clear();
    w_.sched->set_mirror(*obj->record, f.marks, 0);
    return;
  }
  if (l->mirror) {
    take_credit(*l, f.seq);
    w_.sched->set_mirror(*obj->record, f.marks, 0);
    return;
  }
  // Mirroring starts: what was sent and not consumed counts (0 bytes each:
  // their sizes were not measured without a mark), with what went on the
  // successor already if we switched.
  l->mirror = true;
  l->consumed = f.seq;
  l->uncounted = 0;
  l->unsized = sent - f.seq;
  if (l->sp == link::splice::switched)
    l->unsized += l->sp_next_send - 1;
  l->sizes.clear();
  w_.sched->set_mirror(*obj->record, f.marks, l->unsized);
}

void node_state::handle_credit(const caf::node_id& from, frame& f) {
  auto* l = credit_link(from, f);
  if (l == nullptr)
    return;
  auto sent = l->send_base + l->next_send - 1;
  if (!l->mirror) {
    violation(from, "credit without a mark");
    return;
  }
  if (f.seq > sent || f.seq < l->consumed) {
    violation(from, fmt::format("credit for {} messages consumed (sent {}, "
                                "credited {})",
                                f.seq, sent, l->consumed));
    return;
  }
  ++credits_in; // before its effect (a ready event, desired_size)
  take_credit(*l, f.seq);
}

void node_state::user_left(link& l, std::uint32_t bytes, bool sent) {
  if (!l.mirror)
    return;
  if (sent) {
    l.sizes.push_back(bytes);
  } else if (auto& obj = l.end.object(); obj && obj->record) {
    w_.sched->credit_remote(*obj->record, 1, bytes); // never to be read
  }
}

carried_flow node_state::carried_marks(port_record& rec) {
  carried_flow cf;
  cf.recv = port_scheduler::view_of(rec).marks;
  // In transit, so nobody closes it meanwhile: its link may be read.
  if (auto* p = rec.peer())
    cf.send = port_scheduler::view_of(*p).marks;
  return cf;
}

void node_state::carried_out(link& l, const carried_flow& cf) {
  // The peer's new end mirrors the peer of the carried port (cf.send came
  // with it): told. This end now mirrors the carried port itself, whose
  // marks and unread messages went to the new port there.
  l.told_marks = cf.send;
  if (!cf.recv.enabled())
    return;
  l.mirror = true;
  if (auto& obj = l.end.object(); obj && obj->record)
    w_.sched->set_mirror(*obj->record, cf.recv, 0);
}

void node_state::carried_in(link& l, port_record& user,
                            const carried_flow& cf) {
  // The sender's end mirrors these marks already: told.
  l.told_marks = cf.recv;
  if (cf.recv.enabled())
    w_.sched->set_marks(user, cf.recv);
  if (!cf.send.enabled())
    return;
  l.mirror = true;
  if (auto& obj = l.end.object(); obj && obj->record)
    w_.sched->set_mirror(*obj->record, cf.send, 0);
}

// -- across a splice (docs/architecture.md, "Proxy collapse") -----------------
//
// Relay A (ends a1 to T, a2 to B) drops out while credit is in use. Each
// endpoint stops telling credit on the old link when it switches (its
// splice_last follows the last it told), so when A finishes it has taken
// every credit each endpoint will ever give on the old link: for the
// direction T -> B, a2 counts D2 - C2 messages sent to B and not credited
// (D2 = sent on L2, C2 = B's last credit there), and B counts the same
// D2 - C2 delivered and not credited. A tells T that number (and the marks
// it mirrors, B's) in T's splice_end; T's view of B becomes those D2 - C2
// messages plus what it sent on L3 and nothing else -- A's own credit to
// T on L1, batched and one hop behind, is superseded. Both ends then count
// L3's credit from the same origin: B's delivered = recv_base (D2 - C2) +
// L3 delivered, T's sent = send_base (D2 - C2) + L3 sent. B's consumed is
// delivered minus its port's unread, which includes the old link's unread,
// so it is too low (the safe side) until those are read, and exact after.

frame node_state::splice_end_for(port_name to, port_name other) {
  frame f;
  f.kind = frame_kind::splice_end;
  if (auto i = links_.find(to); i != links_.end()) {
    f.dst = i->second.remote;
    f.seq = i->second.next_send - 1;
  }
  auto j = links_.find(other);
  if (j == links_.end())
    return f; // cannot be: a relay end's close stops the splice
  auto& o = j->second;
  // The marks `o` mirrors are the other endpoint's as it last told them
  // (none when it told none or lifted them: then `o` does not mirror).
  if (auto& obj = o.end.object(); o.mirror && obj && obj->record)
    f.marks = port_scheduler::view_of(*obj->record).marks;
  f.unread = o.send_base + o.next_send - 1 - o.consumed;
  return f;
}

void node_state::rebase_credit(link& l, const frame& end) {
  // Toward the peer: delivered on the old link and not credited come first.
  l.recv_base = l.recv_base + l.next_recv - 1 - l.credited;
  l.credited = 0;
  // From it: the relay's count of our messages it did not credit, then
  // those we sent on the successor already (`l3`), all unread.
  auto l3 = l.sp_next_send - 1;
  l.send_base = end.unread;
  l.consumed = 0;
  l.uncounted = 0;
  auto& obj = l.end.object();
  if (!obj || !obj->record)
    return;
  if (!end.marks.enabled()) {
    if (l.mirror)
      w_.sched->set_mirror(*obj->record, high_water_mark{}, 0);
    l.mirror = false;
    l.unsized = 0;
    l.sizes.clear();
    return;
  }
  // The sizes we know, front to back: the old link's outstanding, then
  // l3's. Keep the last `unread` of the old part: the relay's count can be
  // lower than ours (its credit to us lagged: the view falls, a crossing
  // queues ready) or higher (messages the relay or an earlier holder sent
  // B before ours, unread there, which this port never counted).
  auto want = end.unread + l3;
  if (!l.mirror) {
    // No mark was known here (desired_size was null): counted from now
    // on, as when mirroring starts (handle_mark); sizes not known count 0.
    l.unsized = want;
    l.sizes.clear();
  } else {
    std::uint64_t have = l.unsized + l.sizes.size();
    auto old = have - std::min(have, l3);
    auto drop = old - std::min(old, end.unread);
    auto k = std::min(drop, l.unsized);
    l.unsized -= k;
    for (drop -= k; drop > 0 && !l.sizes.empty(); --drop)
      l.sizes.pop_front();
    // Higher: a writer may have just read desired_size on its own thread
    // and be posting; a view that rose under it would refuse that post
    // (QuotaExceededError) although the writer kept to the mark. The view
    // stays; the excess, the oldest unread, takes the first credits.
    have = l.unsized + l.sizes.size();
    l.uncounted = want - std::min(want, have);
  }
  l.mirror = true;
  std::uint64_t bytes = 0;
  for (auto b : l.sizes)
    bytes += b;
  w_.sched->rebase_mirror(*obj->record, end.marks,
                          l.unsized + l.sizes.size(), bytes);
}

} // namespace entangle::detail::remote
