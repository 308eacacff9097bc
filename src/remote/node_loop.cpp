// A link whose two ends are on this node (docs/architecture.md, "Proxy
// collapse", *Home*): a port that went T -> A and came back to T, where its
// peer is, leaves A relaying between two links to T. A splices them like
// any other pair (wire version 8), naming T as the other endpoint of each:
// T's two ends then take each other as successor, and the link they swap
// to has this node at both ends. Its frames go through `loop_` instead of
// the network: each end is a link like any other (sequence numbers,
// reorder buffer, credit, close, the splice's buffers and hold), only its
// "wire" is this queue, drained in a later turn of the node context (a
// user message alone on it: at once, from the sink). So A
// drops out, A's death no longer touches the channel, and what stays is one
// in-process hop through this context (the records of the two ends are
// pair-fixed: re-pointing X's peer at Y would race their owners' lock-free
// reads of `peer`).
//
// Invariants (node-context thread):
// - frames leave through `loop_` in the order they were sent and are taken
//   in that order, one drain at a time, never inside a handler's send (a
//   close answered inside send_close would see the sender half-closed): a
//   drain is armed for a later turn, except for a user message from the
//   sink that finds the loop empty, taken at once after on_local is done
//   with its link. Only a user frame is ever taken inside the sink's batch:
//   a mark there would start a mirror that cannot see the rest of the
//   batch (leased, neither queued nor sent) and count it nowhere;
// - a user frame in `loop_` carries its message itself: the ports in it
//   were adopted and shipped again by this context (as a context that
//   forwards a message does), never turned into links;
// - only an endpoint of two successor names that name each other, both
//   given by the same relay, switches onto a loop (splice_go): a relay
//   cannot make it deliver into a link it did not give;
// - nothing sent on a loop is a violation of this node (it would ban
//   itself): what does not add up is an internal error, logged and
//   counted (node_stats::internal_errors), and its message dropped (its
//   ports closed); a message out of order ends the loop (loop_broken:
//   the end that saw it closes as its user would, so the other hears it
//   and closes after what it was sent), since all behind it would wait
//   for the gap.

#include "remote/node.hpp"

#include <utility>

#include <caf/node_id.hpp>
#include <fmt/format.h>

#include "contexts/world.hpp"
#include "ports/port_scheduler.hpp"

namespace entangle::detail::remote {

std::atomic<void (*)(frame&)> loop_frame_hook{nullptr};

void node_state::loop(frame f, serialized_message msg, bool now) {
  ++frames_out;
  now = now && !draining_ && loop_.empty();
  loop_.push_back({std::move(f), std::move(msg)});
  if (now) {
    // From the sink, after everything the caller did with its link: no
    // handler runs inside a send, and the message skips a second wake-up
    // of this context.
    drain_loop();
    return;
  }
  if (loop_armed_)
    return;
  loop_armed_ = true;
  in_ctx([this] { drain_loop(); });
}

void node_state::drain_loop() {
  if (draining_)
    return; // the drain under way takes it, or arms the next
  draining_ = true;
  struct done {
    bool& flag;
    ~done() {
      flag = false; // whatever happens below (a throw while reporting)
    }
  } guard{draining_};
  // What the handlers send on the loop now goes behind, in a later drain
  // (armed by that send: loop_armed_ is cleared first).
  loop_armed_ = false;
  auto batch = std::move(loop_);
  loop_.clear();
  for (auto& [f, msg] : batch) {
    ++frames_in;
    // One frame's failure (a bug, or memory) must not lose the frames
    // behind it: the loop's order would break for good.
    try {
      take_looped(f, std::move(msg));
    } catch (const std::exception& e) {
      internal_error(std::string{"on a loop: "} + e.what());
    } catch (...) {
      internal_error("on a loop");
    }
  }
}

void node_state::take_looped(frame& f, serialized_message&& msg) {
  switch (f.kind) {
    case frame_kind::user:
      loop_user(f, std::move(msg));
      break;
    case frame_kind::close:
      handle_close(self_, f);
      break;
    case frame_kind::mark:
      handle_mark(self_, f);
      break;
    case frame_kind::credit:
      handle_credit(self_, f);
      break;
    case frame_kind::open:
    case frame_kind::refuse:
      // Only a connect opens a link, and never to this node.
      internal_error(fmt::format("a frame of kind {} on a loop",
                                 static_cast<int>(f.kind)));
      break;
    default:
      // A splice's frames: between the loop's two ends (splice_drop), or
      // between this node as the relay of a loop end and as that end's
      // endpoint (consider_splice).
      handle_splice(self_, f);
      break;
  }
}

void node_state::loop_out(link& l, bool succ, serialized_message&& msg,
                          std::uint32_t bytes) {
  frame f;
  f.kind = frame_kind::user;
  f.dst = succ ? l.sp_remote : l.remote;
  f.seq = succ ? l.sp_next_send : l.next_send;
  // The ports it carries stay ports: taken (the forest cut) and shipped
  // again, as a context forwarding them would, so the delivery at the
  // other end is an in-process transfer.
  auto* core = current_core();
  for (auto& rec : msg.ports) {
    auto p = core->adopt_port(std::move(rec));
    rec = core->ship_port(*p.object());
  }
  ++(succ ? l.sp_next_send : l.next_send);
  user_left(l, bytes, true);
  // Taken at once if nothing waits on the loop (loop_out is the last
  // thing on_local does); else behind it, in a later turn.
  loop(std::move(f), std::move(msg), true);
}

void node_state::loop_user(frame& f, serialized_message&& msg) {
  if (auto* hook = loop_frame_hook.load(std::memory_order_relaxed))
    hook(f);
  auto& sched = current_core()->sched();
  auto i = links_.find(f.dst);
  bool live = i != links_.end() && i->second.node == self_
              && !i->second.pending;
  link* succ = live ? nullptr : successor_of(self_, f.dst);
  if (!live && succ == nullptr) {
    // Our own end dropped that name first (its close, its splice's drop),
    // as a peer's tombstone would take it: dropped, its ports closed.
    if (tombstones_.count({self_, f.dst}) == 0)
      internal_error("a message on a loop for no link");
    sched.drop(std::move(msg), drop_reason::closed);
    return;
  }
  if (succ != nullptr) {
    // The other end switched first: held until our swap, as from a node.
    succ->sp_early.emplace(f.seq, std::move(msg));
    return;
  }
  auto& l = i->second;
  if (f.seq != l.next_recv || (l.got_close && f.seq > l.last_recv)) {
    // In order by construction: a gap is a bug, not a peer's doing. Every
    // later message would wait behind it: the loop ends.
    auto why = f.seq != l.next_recv
                 ? fmt::format("message {} on a loop (expected {})", f.seq,
                               l.next_recv)
                 : fmt::format("message {} on a loop after its close at {}",
                               f.seq, l.last_recv);
    sched.drop(std::move(msg), drop_reason::closed);
    loop_broken(f.dst, why);
    return;
  }
  deliver(l, std::move(msg));
  finish_if_done(f.dst);
}

void node_state::loop_broken(port_name end, const std::string& why) {
  internal_error(why + "; the loop is closed");
  auto i = links_.find(end);
  if (i == links_.end())
    return;
  // As its user closing it would: the other end hears the close through
  // the loop (live, or held for its swap if it has not swapped yet: a
  // direct close_link of `remote` would miss it then), reads what this
  // end sent and closes; what it sent meanwhile goes to the tombstone,
  // which its answering close removes.
  user_closed(i->second);
}

bool node_state::loop_pair(const link& l, const caf::node_id& relay) {
  // Both ends named by the same relay, each the other's successor.
  auto s = successors_.find(l.sp_remote);
  if (s == successors_.end())
    return false;
  auto i = links_.find(s->second);
  return i != links_.end() && &i->second != &l && i->second.node == relay
         && i->second.sp_node == self_ && i->second.sp_remote == l.sp_local
         && i->second.sp != link::splice::none
         && i->second.sp != link::splice::dialing;
}

} // namespace entangle::detail::remote
