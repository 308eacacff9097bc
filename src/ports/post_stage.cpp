// The post stage (post_stage.hpp): a context's posts to a busy receiver,
// staged on the posting thread and handed over in groups.

#include "ports/post_stage.hpp"

#include <algorithm>
#include <atomic>

#include "ports/port_object.hpp"
#include "ports/port_scheduler.hpp"

namespace entangle::detail {

namespace {

/// Messages handed over by flushes, in this process (one add per group).
std::atomic<std::uint64_t> staged_total{0};

} // namespace

std::uint64_t staged_posts() noexcept {
  return staged_total.load(std::memory_order_relaxed);
}

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
      delete s->events;
      s->events = nullptr;
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
                                Payload& msg, std::uint32_t bytes,
                                [[maybe_unused]] post_trace* tr) {
  if constexpr (std::is_same_v<Payload, serialized_message>)
    if (!msg.ports.empty())
      return false; // the transit forest is checked and linked under locks
  // The owner reads its record's peer link without the lock (see
  // port_record::peer).
  auto* dst = src.peer();
  if (dst == nullptr || dst != st.busy || dst->id != st.busy_id)
    return false;
  // Still busy: its owner has not drained the queue since (then this post
  // goes over at once, with the stage before it, and wakes it). A mark
  // needs no check: the sender's admission counted the staged posts as
  // unread (port_scheduler::admit_from), and the flush counts them in.
  if (!dst->hint_pending)
    return false;
  auto& q = st.has_queue ? st.q() : st.make_q();
#if ENTANGLE_TRACING
  if (tr != nullptr) {
    // Room for the event first: a failure leaves nothing staged.
    if (st.events == nullptr)
      st.events = new std::vector<trace_post_item>;
    auto& ev = *st.events;
    if (ev.capacity() < q.size() + 1) // a whole group at once
      ev.reserve(std::max<std::size_t>({q.size() + 1, st.limit,
                                        2 * ev.capacity()}));
  }
#endif
  // Only a locked post sets `busy`, and it flushed first: whatever is
  // staged is for `dst`.
  st.dst = dst;
  st.sched = this;
  // A chunk of 64 at once: a flood fills it, and it is relinked into the
  // target whole (a few messages move into the target's room instead).
  q.emplace_back_first(envelope_queue::big_cap, std::move(msg), false, 0,
                       bytes);
  st.bytes += bytes;
#if ENTANGLE_TRACING
  if (tr != nullptr) {
    q.back().msg.trace_id = tr->item.message; // (a value is built in place)
    if (st.events->empty()) { // the group's source, once
      st.trace_context = src.obj ? src.obj->ctx_id : 0;
      st.trace_port = src.id;
    }
    st.events->push_back(tr->item);
  }
#endif
  if (q.size() >= st.limit)
    flush_staged(st);
  return true;
}

template bool port_scheduler::stage_post(post_stage&, port_record&, value&,
                                         std::uint32_t, post_trace*);
template bool port_scheduler::stage_post(post_stage&, port_record&,
                                         serialized_message&, std::uint32_t,
                                         post_trace*);

void port_scheduler::flush_staged(post_stage& st) {
  auto* dst = st.dst;
  auto& q = st.q(); // a message was staged: it exists
  st.dst = nullptr;
  staged_total.fetch_add(q.size(), std::memory_order_relaxed);
  bool still_busy = false;
  envelope_queue::batch dropped;
  auto why = drop_reason::closed;
  [[maybe_unused]] bool lost = false;
  // What a trace of the staged posts reads under the lock (post_impl's);
  // an untraced group reads none of it.
  [[maybe_unused]] std::size_t depth = 0;
  [[maybe_unused]] std::uint64_t target_context = 0;
#if ENTANGLE_TRACING
  bool traced = st.events != nullptr && !st.events->empty();
#endif
  {
    record_guard guard{dst->mu()};
    auto* f = dst->flow(std::memory_order_relaxed);
    auto kind = wake_kind::none;
    std::uint64_t arg = 0;
#if ENTANGLE_TRACING
    if (traced) {
      depth = dst->queue.size();
      target_context = dst->obj ? dst->obj->ctx_id : 0;
    }
#endif
    if (dst->closed || dst->peer_closed) {
      lost = true;
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
      [[maybe_unused]] std::size_t taken = 0;
      try {
        while (!q.empty()) {
          q.pop_front(e);
          ++taken;
          st.bytes -= e.bytes; // what stays staged keeps its exact sum
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
#if ENTANGLE_TRACING
        if (st.events != nullptr && !st.events->empty()) // (unreported)
          st.events->erase(st.events->begin(),
                           st.events->begin()
                             + static_cast<std::ptrdiff_t>(taken));
#endif
        throw;
      }
    } else {
      if (f != nullptr) // admitted as unread by the sender: now queued
        f->added_group(q.size(), st.bytes); // st.bytes: their sizes' sum
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
          still_busy = true;
        }
      }
    }
    if (kind != wake_kind::none) {
      try {
        send_hint_(dst->owner, kind, *dst, dst->epoch, arg); // as post_impl
      } catch (...) {
        // The messages are queued (the stage is empty): what was kept for
        // them must not be taken for the next group's.
        st.bytes = 0;
#if ENTANGLE_TRACING
        if (st.events != nullptr) // (unreported: the wake-up failed)
          st.events->clear();
#endif
        throw;
      }
    }
  }
  // (A throw above leaves st.bytes the exact sum of what stays staged, or
  // 0 when nothing does: added_group adds it as it is.)
  st.bytes = 0;
  st.busy = still_busy ? dst : nullptr;
  st.busy_id = still_busy ? dst->id : 0;
#if ENTANGLE_TRACING
  // After the wake-up, as a post reports; before the drops' reports.
  if (traced)
    report_staged(st, *dst, target_context, depth, lost);
#endif
  // Destroyed outside the lock (they carry no port: nothing closes).
  for (auto& e : dropped) {
    if (!e.msg.splice_marker) {
      count_drop(why);
      e.msg.fate = why;
    }
  }
}

#if ENTANGLE_TRACING
void port_scheduler::report_staged(post_stage& st, const port_record& target,
                                   std::uint64_t target_context,
                                   std::size_t depth, bool dropped) noexcept {
  auto& items = *st.events;
  trace_post_group g;
  g.context = st.trace_context;
  g.port = st.trace_port;
  if (!dropped) { // dropped: no target, as post_drop reports it
    g.target_port = target.id;
    g.target_context = target_context;
    g.first_depth = depth + 1; // the depth after its own append
  }
  g.queued = !dropped;
  g.items = items.data();
  g.size = items.size();
  // One call for the group (a hook must not throw: entangle::tracer).
  tracer->on_post_group(g);
  items.clear();
}
#endif

} // namespace entangle::detail
