// The post stage (post_stage.hpp): a context's posts to a busy receiver,
// staged on the posting thread and handed over in groups.

#include "ports/post_stage.hpp"

#include "ports/port_object.hpp"
#include "ports/port_scheduler.hpp"

namespace entangle::detail {

envelope_queue& post_stage::make_q() {
  ::new (static_cast<void*>(q_)) envelope_queue{};
  has_queue = true;
  // Gives the queue's (empty) state back when the thread exits: every turn
  // flushed the stage before.
  struct reaper {
    post_stage* s;
    ~reaper() {
      if (s->has_queue) {
        s->q().~envelope_queue();
        s->has_queue = false;
      }
    }
  };
  static thread_local reaper r{this};
  return q();
}

void post_stage::turn::flush() {
  port_scheduler::flush_stage();
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
  if (dst == nullptr || dst != st.busy || dst->id != st.busy_id)
    return false;
  // Still busy: its owner has not drained the queue since (then this post
  // goes over at once, with the stage before it, and wakes it), and no
  // mark was set (admission counts queued messages, not staged ones).
  if (!dst->hint_pending || dst->flow(std::memory_order_acquire) != nullptr)
    return false;
  // Only a locked post sets `busy`, and it flushed first: whatever is
  // staged is for `dst`.
  st.dst = dst;
  st.sched = this;
  auto& q = st.has_queue ? st.q() : st.make_q();
  // A chunk of 64 at once: a flood fills it, and it is relinked into the
  // target whole (a few messages move into the target's room instead).
  q.emplace_back_first(envelope_queue::big_cap, std::move(msg), false, 0,
                       bytes);
  if (q.size() >= st.limit)
    flush_staged(st);
  return true;
}

template bool port_scheduler::stage_post(post_stage&, port_record&, value&,
                                         std::uint32_t);
template bool port_scheduler::stage_post(post_stage&, port_record&,
                                         serialized_message&, std::uint32_t);

void port_scheduler::flush_staged(post_stage& st) {
  auto* dst = st.dst;
  auto& q = st.q(); // a message was staged: it exists
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
        why = closed_post_reason(*dst);
      q.take_all(dropped);
    } else if (!dst->shipped) {
      // Never shipped (only a stale `busy` leads here): each message gets
      // its stamp, in order, as its own post would have.
      // (Each enqueue may allocate: if one throws, as a failed post would,
      // the rest stays staged for `dst`, not for the next target.)
      envelope e;
      try {
        while (!q.empty()) {
          q.pop_front(e);
          std::uint64_t a = 0;
          auto k = enqueue_locked(*dst, std::move(e.msg), false, a, e.bytes);
          if (f != nullptr)
            f->added(e.bytes);
          if (kind == wake_kind::none) {
            kind = k;
            arg = a;
          }
        }
      } catch (...) {
        st.dst = dst;
        throw;
      }
    } else {
      if (f != nullptr) // a mark set since `busy` was learned
        q.for_each([f](const envelope& e) { f->added(e.bytes); });
      if (q.size() <= dst->queue.room()) {
        // A few, and the target's newest chunk has room for them: moved
        // there, so that chunks spliced in stay well filled (a queue's
        // memory stays O(messages)); no allocation either way.
        envelope e;
        while (!q.empty()) {
          q.pop_front(e);
          dst->queue.emplace_back(std::move(e));
        }
      } else {
        dst->queue.splice_back(q); // whole chunks relinked
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
  st.busy_id = still_busy ? dst->id : 0;
  // Destroyed outside the lock (they carry no port: nothing closes).
  for (auto& e : dropped) {
    if (!e.msg.splice_marker) {
      count_drop(why);
      e.msg.fate = why;
    }
  }
}

} // namespace entangle::detail
