#include "ports/port_scheduler.hpp"

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "entangle/error.hpp"
#include "ports/port_object.hpp"

namespace entangle::detail {

record_lock_stripe record_locks[record_lock_stripes];

// -- port_scheduler ----------------------------------------------------------

port_scheduler::port_scheduler(hint_fn send_hint)
  :
#if ENTANGLE_TRACING
    trace_gen_(new_trace_gen()),
#endif
    send_hint_(std::move(send_hint)) {
  // nop
}

std::shared_ptr<port_scheduler> port_scheduler::create(hint_fn send_hint) {
  // The shared_ptr's owners together hold the count the constructor
  // starts with; their last one gives it back.
  return {new port_scheduler(std::move(send_hint)),
          [](port_scheduler* s) { release(s); }};
}

void retain(port_scheduler* s) noexcept {
  s->refs_.fetch_add(1, std::memory_order_relaxed);
}

void release(port_scheduler* s) noexcept {
  if (s->refs_.fetch_sub(1, std::memory_order_acq_rel) == 1)
    delete s;
}

std::pair<std::shared_ptr<port_record>, std::shared_ptr<port_record>>
port_scheduler::make_pair(bool shipped) {
  flush_stage();
  auto id = next_record_id_.fetch_add(2, std::memory_order_relaxed);
  // One allocation per pair: both records and their first port objects.
  auto pair = std::make_shared<port_pair>(*this, id);
  std::shared_ptr<port_record> a{pair, &pair->ends[0]};
  std::shared_ptr<port_record> b{pair, &pair->ends[1]};
  a->shipped = shipped;
  b->shipped = shipped;
  live_.fetch_add(2, std::memory_order_acq_rel);
  open_.fetch_add(2, std::memory_order_acq_rel);
  if (default_marks.enabled()) {
    for (auto* r : {a.get(), b.get()}) {
      auto* f = new flow_state;
      f->set_marks(default_marks);
      r->set_flow(f, std::memory_order_release);
    }
  }
  ENTANGLE_TRACE(tracer, t,
                 t->on_entangle(trace_port{t->now(), a->id,
                                           trace_current_context(), b->id,
                                           shipped}));
  return {std::move(a), std::move(b)};
}

std::uint64_t port_scheduler::adopt(port_record& rec, caf::actor owner,
                                    port_object* obj) {
  flush_stage();
  if (rec.transit(std::memory_order_acquire) != nullptr) {
    // It left the queue that held it: it is a root of the forest now.
    std::lock_guard<std::mutex> transit{transit_mu_};
    forest_.cut(rec);
  }
  record_guard guard{rec.mu()};
  rec.owner = std::move(owner);
  rec.obj = obj;
  rec.started = false;
  rec.hint_pending = false;
  rec.watch_close = false;
  rec.epoch = next_epoch_.fetch_add(1, std::memory_order_relaxed);
  return rec.epoch;
}

void port_scheduler::ship(port_record& rec) {
  flush_stage();
  port_record* peer = nullptr;
  {
    record_guard guard{rec.mu()};
    rec.owner = nullptr;
    rec.obj = nullptr;
    rec.started = false;
    rec.hint_pending = false;
    rec.shipped = true;
    rec.epoch = next_epoch_.fetch_add(1, std::memory_order_relaxed);
    peer = rec.peer();
  }
  if (peer) {
    caf::actor wake;
    std::uint64_t epoch = 0;
    {
      record_guard guard{peer->mu()};
      if (!peer->shipped && peer->started && peer->owner
          && !peer->queue.empty()) {
        // It leaves the combined order with messages still held: from now
        // on it drains like any shipped port (its tokens find it gone).
        peer->hint_pending = true;
        wake = peer->owner;
        epoch = peer->epoch;
      }
      peer->shipped = true;
    }
    if (wake)
      send_hint_(wake, wake_kind::drain, *peer, epoch, epoch);
  }
}

namespace {

/// enqueue_locked's body, inlined into each post (a post's whole locked
/// section is this): as a call it cost a plain value's post 34 more
/// instructions (callgrind). A free function, so that enqueue_locked
/// itself stays an ordinary member that flow_scheduler.cpp calls.
template <class Payload>
[[gnu::always_inline]] inline port_scheduler::wake_kind
enqueue_body(port_record& dst, Payload&& msg, bool is_close,
             std::uint64_t& arg, std::uint32_t bytes, bool is_ready,
             std::atomic<std::uint64_t>& next_stamp) {
  using wake_kind = port_scheduler::wake_kind;
  // Never-shipped ports of one context form one task source ordered by
  // enqueue time (HTML §1.3). Their sender is their own context, so a global
  // stamp orders them; the owner keeps its started ones in a heap by head
  // stamp and is told only when a port's queue becomes non-empty (later
  // heads it learns when it pops). Shipped ports coalesce hints and drain
  // in batches.
  std::uint64_t stamp = 0;
  if (!dst.shipped)
    stamp = next_stamp.fetch_add(1, std::memory_order_relaxed);
  bool was_empty = dst.queue.empty();
  dst.queue.emplace_back(std::forward<Payload>(msg), is_close, stamp, bytes,
                         is_ready);
  if (!dst.started || !dst.owner)
    return is_close && dst.watch_close && dst.owner ? wake_kind::peer_closed
                                                    : wake_kind::none;
  if (!dst.shipped) {
    if (!was_empty)
      return wake_kind::none;
    arg = stamp;
    return wake_kind::unshipped;
  }
  if (dst.hint_pending)
    return wake_kind::none;
  dst.hint_pending = true;
  arg = dst.epoch;
  return wake_kind::drain;
}

} // namespace

template <class Payload>
port_scheduler::wake_kind
port_scheduler::enqueue_locked(port_record& dst, Payload&& msg, bool is_close,
                               std::uint64_t& arg, std::uint32_t bytes,
                               bool is_ready) {
  return enqueue_body(dst, std::forward<Payload>(msg), is_close, arg, bytes,
                      is_ready, next_stamp_);
}

template port_scheduler::wake_kind
port_scheduler::enqueue_locked(port_record&, serialized_message&&, bool,
                               std::uint64_t&, std::uint32_t, bool);

void port_scheduler::post_value(port_record& src, value&& v,
                                std::uint32_t bytes) {
#if ENTANGLE_TRACING
  if (__builtin_expect(tracer != nullptr, 0)) {
    post_value_traced(src, std::move(v), bytes);
    return;
  }
#endif
  post_impl<false>(src, std::move(v), bytes, nullptr);
}

void port_scheduler::post(port_record& src, serialized_message&& msg,
                          std::uint32_t bytes) {
#if ENTANGLE_TRACING
  if (__builtin_expect(tracer != nullptr, 0)) {
    post_serialized_traced(src, std::move(msg), bytes);
    return;
  }
#endif
  post_impl<false>(src, std::move(msg), bytes, nullptr);
}

// One body for the traced and the untraced post: the untraced
// instantiation contains no trace code at all, and the traced one cannot
// drift from it. A trace reads the target, its owner and its queue depth
// under the locks the post takes anyway.
template <bool Traced, class Payload>
void port_scheduler::post_impl(port_record& src, Payload&& msg,
                               std::uint32_t bytes,
                               [[maybe_unused]] post_trace* tr) {
  constexpr bool serialized =
    std::is_same_v<std::decay_t<Payload>, serialized_message>;
  // A post to a busy receiver waits in this thread's stage (post_stage);
  // any other post hands the stage over first, so posts keep their order.
  auto& st = post_stage::local();
  if (st.open && st.busy != nullptr && stage_post(st, src, msg, bytes, tr))
    return;
  flush_stage();
  // Posts that carry ports check and link the transit forest under
  // transit_mu_ (see closes_cycle); plain posts never touch it.
  std::unique_lock<std::mutex> transit{transit_mu_, std::defer_lock};
  if constexpr (serialized)
    if (!msg.ports.empty())
      transit.lock();
  // No lock on `src`: only the owner posts, and `peer` changes only when
  // the record itself closes, which for an owned record only its owner
  // does (port_record, "Locking"). The peer lives as long as `src` (one
  // port_pair).
  auto* dst = src.peer();
  if (!dst) {
    if (transit)
      transit.unlock();
    post_drop<Traced>(src, std::move(msg), drop_reason::closed, tr);
    return;
  }
  if constexpr (serialized) {
    if (transit && closes_cycle(*dst, msg.ports)) {
      transit.unlock();
      post_drop<Traced>(src, std::move(msg), drop_reason::unreachable, tr);
      return;
    }
  }
  std::uint64_t arg = 0;
  // What the trace reads under the lock (Traced only).
  [[maybe_unused]] std::uint64_t target_context = 0;
  [[maybe_unused]] std::size_t depth = 0;
  {
    std::unique_lock<record_mutex> guard{dst->mu()};
    if (dst->closed) {
      // The peer closed: counted under its reason (closed_post_reason).
      auto why = closed_post_reason(*dst);
      guard.unlock();
      if (transit)
        transit.unlock();
      post_drop<Traced>(src, std::move(msg), why, tr);
      return;
    }
    if constexpr (serialized)
      if (transit)
        for (auto& rec : msg.ports)
          forest_.link(*rec, *dst);
    auto kind = enqueue_body(*dst, std::move(msg), false, arg, bytes, false,
                             next_stamp_);
    if (auto* f = dst->flow(std::memory_order_relaxed))
      f->added(bytes); // unread (the sender was admitted before serializing)
    if constexpr (Traced) {
#if ENTANGLE_TRACING
      if constexpr (!serialized) // built in place: the id goes in there
        dst->queue.back().msg.trace_id = tr->item.message;
#endif
      target_context = dst->obj ? dst->obj->ctx_id : 0;
      depth = dst->queue.size();
    }
    if (kind != wake_kind::none) {
      // Woken under the lock: the owner cannot change meanwhile, so no
      // reference count on its handle. CAF's enqueue calls nothing of ours
      // that locks (at most wake_element::request_deletion, when the
      // mailbox is closed), so no other record lock is taken under this.
      send_hint_(dst->owner, kind, *dst, dst->epoch, arg);
    }
    // Its owner had a wake-up pending (the enqueue coalesced into it):
    // the next posts to it may wait in the stage.
    if (st.open) {
      bool busy = kind == wake_kind::none && !transit && dst->shipped
                  && dst->started && dst->owner;
      st.busy = busy ? dst : nullptr;
      st.busy_id = busy ? dst->id : 0;
    }
  }
  if (transit)
    transit.unlock();
  // After the wake-up: on_post may be *called* after the delivery's
  // on_deliver (hooks run on both threads); its time is before it.
  if constexpr (Traced) {
    auto ev = tr->event(src);
    ev.target_port = dst->id;
    ev.target_context = target_context;
    ev.queue_depth = depth;
    tr->t->on_post(ev);
  }
}

#if ENTANGLE_TRACING
// The traced posts' entry points are port_trace.cpp's.
template void port_scheduler::post_impl<true>(port_record&, value&&,
                                              std::uint32_t, post_trace*);
template void port_scheduler::post_impl<true>(port_record&,
                                              serialized_message&&,
                                              std::uint32_t, post_trace*);
#endif

template <bool Traced, class Payload>
void port_scheduler::post_drop([[maybe_unused]] const port_record& src,
                               Payload&& msg, drop_reason why,
                               [[maybe_unused]] post_trace* tr) {
  if constexpr (Traced) {
    auto ev = tr->event(src);
    ev.queued = false;
    tr->t->on_post(ev);
  }
  if constexpr (std::is_same_v<std::decay_t<Payload>, serialized_message>)
    drop(std::move(msg), why);
  else
    count_drop(why); // a plain value: nothing inside to close
}

bool port_scheduler::closes_cycle(
  port_record& dst,
  const port_list& carried) {
  // The carried ports were just shipped by the poster, so each is the root
  // of its tree (the ports nested in its queue). Queuing them in `dst`
  // closes a cycle exactly when `dst` is nested in one of them: when one
  // of them is the root of dst's tree. Owned and closed ports are roots
  // (adoption and close cut them), so a chain that reaches one ends there.
  auto* root = forest_.find_root(dst);
  for (auto& rec : carried)
    if (rec.get() == root)
      return true;
  return false;
}

port_scheduler::start_result
port_scheduler::start(const std::shared_ptr<port_record>& rec,
                      std::uint64_t epoch) {
  flush_stage();
  caf::actor wake;
  start_result r;
  {
    record_guard guard{rec->mu()};
    if (rec->epoch != epoch || rec->closed || !rec->owner)
      return {};
    rec->started = true;
    r.unshipped = !rec->shipped;
    r.live = rec->entangled_locked() || !rec->queue.empty();
    if (rec->queue.empty())
      return r;
    if (r.unshipped) {
      // Held messages join the combined order with the stamps they got
      // when posted: the caller adds the head (O(1), however many wait).
      r.head_stamp = rec->queue.front().stamp;
      return r;
    }
    if (rec->hint_pending)
      return r;
    rec->hint_pending = true;
    wake = rec->owner;
  }
  send_hint_(wake, wake_kind::drain, *rec, epoch, epoch);
  return r;
}

void port_scheduler::warn(std::string_view where, std::string_view what) const {
  if (warnings)
    std::fprintf(stderr, "entangle: warning: [%.*s] %.*s\n",
                 static_cast<int>(where.size()), where.data(),
                 static_cast<int>(what.size()), what.data());
}

namespace {

struct pending_close {
  std::shared_ptr<port_record> rec;
  drop_reason why;
};

// Closing a port destroys its queued messages, which closes the ports they
// carry, whose queues may carry more ports... Run that as a loop over a
// per-thread work list instead of as recursion.
[[gnu::tls_model("initial-exec")]] thread_local std::vector<pending_close>*
  close_worklist = nullptr;

} // namespace

void port_scheduler::close(const std::shared_ptr<port_record>& rec,
                           drop_reason why) {
  flush_stage();
  if (close_worklist != nullptr) {
    close_worklist->push_back(pending_close{rec, why});
    return;
  }
  std::vector<pending_close> work;
  close_worklist = &work;
  close_one(rec, why);
  while (!work.empty()) {
    auto item = std::move(work.back());
    work.pop_back();
    close_one(item.rec, item.why);
  }
  close_worklist = nullptr;
}

void port_scheduler::close_one(const std::shared_ptr<port_record>& rec,
                               drop_reason why) {
  if (rec->transit(std::memory_order_acquire) != nullptr) {
    // A closed port ends every chain it was in (its queue is dropped, so
    // what it held closes too, and cuts itself in turn).
    std::lock_guard<std::mutex> transit{transit_mu_};
    forest_.cut(*rec);
  }
  envelope_queue::batch dropped;
  port_record* peer = nullptr;
  {
    record_guard guard{rec->mu()};
    if (rec->closed)
      return;
#if ENTANGLE_TRACING
    std::uint64_t ctx = rec->obj ? rec->obj->ctx_id : 0;
#endif
    open_.fetch_sub(1, std::memory_order_acq_rel);
    rec->owner = nullptr;
    rec->obj = nullptr;
    rec->hint_pending = false;
    rec->epoch = next_epoch_.fetch_add(1, std::memory_order_relaxed);
    peer = rec->peer();
    rec->closed = true;
    rec->lost = why;
    rec->queue.take_all(dropped);
    rec->ready_queued = false;
    if (auto* f = rec->flow(std::memory_order_relaxed))
      f->reset();
    // The peer's close sentinel may be queued too: it is not a message.
    ENTANGLE_TRACE(tracer, t,
                   t->on_close(trace_close{
                     t->now(), rec->id, ctx, why,
                     static_cast<std::size_t>(std::count_if(
                       dropped.begin(), dropped.end(),
                       [](const envelope& e) { return !e.sentinel(); }))}));
  }
  if (peer) {
    caf::actor wake;
    std::uint64_t epoch = 0;
    std::uint64_t arg = 0;
    auto kind = wake_kind::none;
    {
      record_guard guard{peer->mu()};
      if (!peer->closed && !peer->peer_closed) {
        // The survivor keeps its link (only its own close clears it, so
        // its owner reads it without a lock); later posts find `rec`
        // closed and count under `rec->lost`. Only the doomed message
        // itself counts as doomed; what follows is unentangled.
        peer->peer_closed = true;
        peer->lost = why == drop_reason::doomed ? drop_reason::unentangled
                                                : why;
        // The sentinel goes behind everything `rec` posted: the peer sees
        // close exactly once, after the last message.
        kind = enqueue_locked(*peer, serialized_message{}, true, arg);
        if (kind != wake_kind::none) {
          wake = peer->owner;
          epoch = peer->epoch;
        }
      }
    }
    if (kind != wake_kind::none)
      send_hint_(wake, kind, *peer, epoch, arg);
  }
  // Destroyed here, outside every lock; carried ports land on the worklist.
  for (auto& e : dropped) {
    if (!e.sentinel() && !e.msg.splice_marker) {
      count_drop(why);
      e.msg.fate = why;
    }
  }
}

port_scheduler::pop_result
port_scheduler::head_locked(port_record& rec, std::uint64_t epoch) noexcept {
  if (rec.epoch != epoch || !rec.owner)
    return pop_result::stale;
  if (rec.queue.empty()) {
    rec.hint_pending = false; // the next enqueue sends a new hint
    return pop_result::empty;
  }
  return pop_result::item;
}

port_scheduler::pop_result
port_scheduler::pop_unshipped(port_record& rec, std::uint64_t epoch,
                              std::uint64_t stamp, envelope& out,
                              std::uint64_t& next) {
  flush_stage();
  bool crossing = false;
  {
    record_guard guard{rec.mu()};
    if (rec.epoch != epoch || !rec.owner || rec.shipped || rec.queue.empty()
        || rec.queue.front().stamp != stamp)
      return pop_result::stale;
    rec.queue.pop_front(out);
    next = rec.queue.empty() ? 0 : rec.queue.front().stamp;
    crossing = taken_locked(rec, &out, &out + 1);
  }
  if (crossing)
    send_ready(rec);
  return pop_result::item;
}

port_scheduler::pop_result
port_scheduler::take_value(port_record& rec, std::uint64_t epoch,
                           envelope& out, std::uint64_t& next) {
  flush_stage();
  bool crossing = false;
  {
    record_guard guard{rec.mu()};
    if (rec.epoch != epoch || !rec.owner)
      return pop_result::stale;
    // A ready notice at the head is taken too (out.is_ready): the caller
    // fires it, so it cannot block synchronous reads.
    if (rec.queue.empty() || rec.queue.front().is_close
        || rec.queue.front().msg.typed)
      return pop_result::empty;
    rec.queue.pop_front(out);
    next = rec.started && !rec.shipped && !rec.queue.empty()
             ? rec.queue.front().stamp
             : 0;
    crossing = taken_locked(rec, &out, &out + 1);
  }
  if (crossing)
    send_ready(rec);
  return pop_result::item;
}

port_scheduler::pop_result
port_scheduler::pop_batch(port_record& rec, std::uint64_t epoch,
                          envelope_queue::batch& out, std::size_t max,
                          bool& drained, std::size_t* left) {
  flush_stage();
  bool crossing = false;
  {
    record_guard guard{rec.mu()};
    if (auto r = head_locked(rec, epoch); r != pop_result::item)
      return r;
    rec.queue.take_front(out, max);
    if (rec.queue.empty()) {
      rec.hint_pending = false;
      drained = true;
    }
    if (left != nullptr)
      *left = rec.queue.size();
    crossing = taken_locked(rec, out); // `out` was empty
  }
  if (crossing)
    send_ready(rec);
  return pop_result::item;
}

bool port_scheduler::needs_rehint(port_record& rec, std::uint64_t epoch) {
  flush_stage();
  record_guard guard{rec.mu()};
  if (rec.epoch != epoch || !rec.owner)
    return false;
  if (rec.queue.empty()) {
    rec.hint_pending = false;
    return false;
  }
  return true;
}

bool port_scheduler::entangled(port_record& rec) {
  flush_stage();
  record_guard guard{rec.mu()};
  return rec.entangled_locked();
}

bool port_scheduler::watch_close(port_record& rec) {
  flush_stage();
  record_guard guard{rec.mu()};
  if (!rec.entangled_locked() || !rec.owner)
    return false;
  rec.watch_close = true;
  return true;
}

drop_counts port_scheduler::drops() const noexcept {
  drop_counts out;
  for (std::size_t i = 0; i < drop_reason_count; ++i)
    out.by_reason[i] = drops_[i].load(std::memory_order_relaxed);
  return out;
}

} // namespace entangle::detail
