// The post stage (post_stage.hpp): a context's posts to a busy receiver,
// staged on the posting thread and handed over in groups.

#include "ports/post_stage.hpp"

#include "ports/port_object.hpp"
#include "ports/port_scheduler.hpp"

namespace entangle::detail {

post_stage::turn::~turn() {
  port_scheduler::flush_stage();
  auto& s = local();
  s.open = prev_open_;
  s.limit = prev_limit_;
  if (!s.open)
    s.busy = nullptr; // what the next turn finds is learned afresh
}

template <class Payload>
bool port_scheduler::stage_post(post_stage& st, port_record& src,
                                Payload& msg, std::uint32_t bytes) {
  if constexpr (std::is_same_v<Payload, serialized_message>)
    if (!msg.ports.empty())
      return false; // the transit forest is checked and linked under locks
  // The owner reads its record's peer link without the lock (see
  // port_record::peer).
  auto* dst = src.peer();
  if (dst == nullptr || dst != st.busy)
    return false;
  // Only a locked post sets `busy`, and it flushed first: whatever is
  // staged is for `dst`.
  st.dst = dst;
  st.sched = this;
  st.q.emplace_back_first(envelope_queue::big_cap, std::move(msg), false, 0,
                          bytes);
  if (st.q.size() >= st.limit)
    flush_staged(st);
  return true;
}

template bool port_scheduler::stage_post(post_stage&, port_record&, value&,
                                         std::uint32_t);
template bool port_scheduler::stage_post(post_stage&, port_record&,
                                         serialized_message&, std::uint32_t);

void port_scheduler::flush_staged(post_stage& st) {
  auto* dst = st.dst;
  st.dst = nullptr;
  bool still_busy = false;
  envelope_queue::batch dropped;
  auto why = drop_reason::closed;
  {
    record_guard guard{dst->mu()};
    auto* f = dst->flow(std::memory_order_relaxed);
    auto kind = wake_kind::none;
    std::uint64_t arg = 0;
    if (dst->closed || dst->peer_closed) {
      // Counted as the post would have been: under the target's reason
      // (its own close), or as a post through a closed end.
      if (dst->closed)
        why = dst->lost == drop_reason::doomed ? drop_reason::unentangled
                                               : dst->lost;
      st.q.take_all(dropped);
    } else if (!dst->shipped) {
      // Never shipped (only a stale `busy` leads here): each message gets
      // its stamp, in order, as its own post would have.
      envelope e;
      while (!st.q.empty()) {
        st.q.pop_front(e);
        std::uint64_t a = 0;
        auto k = enqueue_locked(*dst, std::move(e.msg), false, a, e.bytes);
        if (f != nullptr)
          f->added(e.bytes);
        if (kind == wake_kind::none) {
          kind = k;
          arg = a;
        }
      }
    } else {
      if (f != nullptr) // a mark set since `busy` was learned
        st.q.for_each([f](const envelope& e) { f->added(e.bytes); });
      if (st.q.size() >= envelope_queue::big_cap / 2) {
        dst->queue.splice_back(st.q); // whole chunks, relinked
      } else {
        // A few (the turn ended): moved, so that a chunk linked into a
        // queue is at least half full (its memory stays O(messages)), and
        // the stage's chunk stays with this thread for the next stage.
        envelope e;
        while (!st.q.empty()) {
          st.q.pop_front(e);
          dst->queue.emplace_back(std::move(e));
        }
      }
      if (dst->started && dst->owner) {
        if (!dst->hint_pending) {
          dst->hint_pending = true;
          kind = wake_kind::drain;
          arg = dst->epoch;
        } else {
          still_busy = f == nullptr;
        }
      }
    }
    if (kind != wake_kind::none)
      send_hint_(dst->owner, kind, *dst, dst->epoch, arg); // as post_impl
  }
  st.busy = still_busy ? dst : nullptr;
  // Destroyed outside the lock (they carry no port: nothing closes).
  for (auto& e : dropped) {
    if (!e.msg.splice_marker) {
      count_drop(why);
      e.msg.fate = why;
    }
  }
}

} // namespace entangle::detail
