// Flow control on the port scheduler (docs/architecture.md, "Flow
// control"): admission against the receiver's marks, marks set and read,
// the holds and acks of a consumer above a port, credit, and the in-band
// ready notice. The state itself is the receiving record's flow_state.

#include "ports/port_scheduler.hpp"

#include <string>

#include "entangle/error.hpp"
#include "ports/port_object.hpp"

namespace entangle::detail {

namespace {

/// The messages queued on `rec` (sentinels are not messages) and their
/// accounted sizes. Caller holds rec's lock.
struct queued_counts {
  std::size_t n = 0;
  std::size_t bytes = 0;
};
queued_counts count_queued(const port_record& rec) {
  queued_counts c;
  rec.queue.for_each([&c](const envelope& e) {
    if (!e.sentinel()) {
      ++c.n;
      c.bytes += e.bytes;
    }
  });
  return c;
}

/// `rec`'s flow state, made on first use: from then on what is queued
/// already counts as unread (0 bytes each: sizes of messages posted while
/// there was no mark were not kept). Caller holds rec's lock.
flow_state& flow_of(port_record& rec) {
  auto* f = rec.flow(std::memory_order_relaxed);
  if (f == nullptr) {
    f = new flow_state;
    f->count.store(count_queued(rec).n, std::memory_order_relaxed);
    rec.set_flow(f, std::memory_order_release);
  }
  return *f;
}

} // namespace

void port_scheduler::refuse(const flow_state& f, const flow_refusal& r) {
  throw dom_exception(
    std::string{error_name::quota_exceeded},
    "post_message: the receiving port holds " + std::to_string(r.have)
      + " unread " + r.what + " and its hard limit is "
      + std::to_string(r.limit) + " ("
      + std::to_string(f.hard_factor.load(std::memory_order_relaxed))
      + " x its high-water mark); wait for this port's ready event, or "
        "post while desired_size() > 0");
}

std::uint32_t port_scheduler::admit_refused(const port_record& src,
                                            const flow_state& f,
                                            std::size_t n, bool staged) {
  if (staged) {
    // Its staged posts made the refusal: appended now (a refused sender
    // waits for ready; see peer_has_room), then asked again.
    flush_stage();
    if (!f.refuses(n))
      return clamp_size(n);
  }
  if (auto* peer = src.peer())
    note_refusal(*peer);
  // Read again after the note: a read since then crossed and sent the
  // ready, or admits now (the ready that follows is then one too many,
  // which a writer takes as room it has).
  if (auto r = f.refuses(n))
    refuse(f, r);
  return clamp_size(n);
}

void port_scheduler::note_refusal(port_record& rec) {
  record_guard guard{rec.mu()};
  if (auto* f = rec.flow(std::memory_order_relaxed); f != nullptr && !rec.closed)
    f->full = true;
}

void port_scheduler::set_marks(port_record& rec, const high_water_mark& m) {
  flush_stage();
  bool crossing = false;
  {
    record_guard guard{rec.mu()};
    if (rec.closed)
      return;
    if (rec.flow(std::memory_order_relaxed) == nullptr && !m.enabled())
      return;
    auto* f = &flow_of(rec);
    crossing = f->set_marks(m);
  }
  if (crossing)
    send_ready(rec);
}

high_water_mark port_scheduler::marks(port_record& rec) {
  flush_stage();
  record_guard guard{rec.mu()};
  auto* f = rec.flow(std::memory_order_relaxed);
  return f != nullptr ? f->marks() : high_water_mark{0, 0, 2};
}

bool port_scheduler::hold(port_record& rec, std::size_t bytes,
                          bool popped_now) {
  flush_stage();
  record_guard guard{rec.mu()};
  auto* f = rec.flow(std::memory_order_relaxed);
  if (f == nullptr || rec.closed)
    return false;
  if (!(f->held && popped_now))
    f->added(bytes);
  return true;
}

void port_scheduler::hold_reads(port_record& rec) {
  flush_stage();
  record_guard guard{rec.mu()};
  if (auto* f = rec.flow(std::memory_order_relaxed))
    f->held = true;
}

bool port_scheduler::peer_full(const port_record& src) {
  flush_stage();
  auto* peer = src.peer();
  if (peer == nullptr)
    return false;
  record_guard guard{peer->mu()};
  auto* f = peer->flow(std::memory_order_relaxed);
  return f != nullptr && !peer->closed && f->full;
}

void port_scheduler::ack(port_record& rec, std::size_t bytes) {
  flush_stage();
  bool crossing = false;
  {
    record_guard guard{rec.mu()};
    auto* f = rec.flow(std::memory_order_relaxed);
    if (f == nullptr || rec.closed
        || f->count.load(std::memory_order_relaxed) == 0)
      return;
    f->taken(bytes);
    crossing = f->settle();
    crossing = crossing || f->reports();
  }
  if (crossing)
    send_ready(rec);
}

port_scheduler::credit port_scheduler::credit_of(const port_record& src) {
  // No flush while there is room: the staged posts count as unread, as
  // they do in admission (a writer asking before each post keeps its posts
  // grouped). No room: handed over and asked again (see peer_has_room).
  auto* peer = src.peer();
  if (peer == nullptr)
    return {};
  auto s = staged_for(src);
  auto c = room_of(*peer, s.messages, s.bytes);
  if (s.messages != 0 && c.exhausted()) {
    flush_stage();
    c = room_of(*peer);
  }
  return c;
}

port_scheduler::credit port_scheduler::room_of(port_record& rec,
                                               std::size_t more,
                                               std::size_t more_bytes) {
  credit c;
  record_guard guard{rec.mu()};
  auto* f = rec.flow(std::memory_order_relaxed);
  if (f == nullptr || rec.closed)
    return c;
  auto m = f->marks();
  auto signed_of = [](std::size_t x) { return static_cast<std::int64_t>(x); };
  if (m.messages != 0)
    c.messages = signed_of(m.messages)
                 - signed_of(f->count.load(std::memory_order_relaxed) + more);
  if (m.bytes != 0)
    c.bytes = signed_of(m.bytes)
              - signed_of(f->bytes.load(std::memory_order_relaxed)
                          + more_bytes);
  return c;
}

void port_scheduler::send_ready(port_record& rec) {
  flush_stage();
  // The owner of `rec` reads its peer link without the lock (port_record::
  // peer); the notice goes into the peer's own queue, in band behind what
  // this side posted to it, so it moves with the peer and is dispatched
  // exactly once by whoever owns it then.
  queue_ready(rec.peer());
}

void port_scheduler::queue_ready(port_record* s) {
  flush_stage();
  if (s == nullptr)
    return;
  caf::actor wake;
  std::uint64_t epoch = 0;
  std::uint64_t arg = 0;
  auto kind = wake_kind::none;
  {
    record_guard guard{s->mu()};
    if (s->closed || s->ready_queued)
      return;
    s->ready_queued = true;
    kind = enqueue_locked(*s, serialized_message{}, false, arg, 0, true);
    if (kind != wake_kind::none) {
      wake = s->owner;
      epoch = s->epoch;
    }
  }
  if (kind != wake_kind::none)
    send_hint_(wake, kind, *s, epoch, arg);
}

// -- credit between nodes ------------------------------------------------------

void port_scheduler::watch_reads(const std::shared_ptr<port_record>& end) {
  flush_stage();
  auto* rec = end->peer(); // the end's owner reads its link unlocked
  if (rec == nullptr)
    return;
  bool marked = false;
  {
    record_guard guard{rec->mu()};
    if (rec->closed)
      return;
    auto* f = &flow_of(*rec);
    f->report = true;
    marked = f->marks().enabled();
  }
  if (marked)
    queue_ready(end.get());
}

port_scheduler::flow_view port_scheduler::view_of(port_record& rec) {
  flush_stage();
  flow_view v;
  v.marks.hard_factor = 2;
  record_guard guard{rec.mu()};
  auto* f = rec.flow(std::memory_order_relaxed);
  if (f == nullptr || rec.closed)
    return v;
  v.marks = f->marks();
  v.count = f->count.load(std::memory_order_relaxed);
  return v;
}

void port_scheduler::set_mirror(port_record& end, const high_water_mark& m,
                                std::size_t unsent) {
  flush_stage();
  bool crossing = false;
  {
    record_guard guard{end.mu()};
    if (end.closed)
      return;
    if (end.flow(std::memory_order_relaxed) == nullptr && !m.enabled())
      return;
    auto* f = &flow_of(end); // its count is set below
    if (m.enabled() && !f->mirror) {
      // From now on unread = queued here + sent and not credited.
      auto q = count_queued(end);
      f->mirror = true;
      f->count.store(q.n + unsent, std::memory_order_relaxed);
      f->bytes.store(q.bytes, std::memory_order_relaxed);
    } else if (!m.enabled() && f->mirror) {
      // Back to a plain end: unread is what its sink has not taken yet.
      auto q = count_queued(end);
      f->mirror = false;
      f->count.store(q.n, std::memory_order_relaxed);
      f->bytes.store(q.bytes, std::memory_order_relaxed);
    }
    crossing = f->set_marks(m);
  }
  if (crossing)
    send_ready(end);
}

void port_scheduler::rebase_mirror(port_record& end, const high_water_mark& m,
                                   std::size_t n, std::size_t bytes) {
  flush_stage();
  bool crossing = false;
  {
    record_guard guard{end.mu()};
    if (end.closed)
      return;
    auto* f = &flow_of(end); // its count is set below
    auto q = count_queued(end);
    f->mirror = true;
    f->count.store(q.n + n, std::memory_order_relaxed);
    f->bytes.store(q.bytes + bytes, std::memory_order_relaxed);
    crossing = f->set_marks(m); // full if at a mark; a crossing if it fell
  }
  if (crossing)
    send_ready(end);
}

void port_scheduler::credit_remote(port_record& end, std::size_t n,
                                   std::size_t bytes) {
  flush_stage();
  bool crossing = false;
  {
    record_guard guard{end.mu()};
    auto* f = end.flow(std::memory_order_relaxed);
    if (f == nullptr || end.closed || !f->mirror || n == 0)
      return;
    auto c = f->count.load(std::memory_order_relaxed);
    auto b = f->bytes.load(std::memory_order_relaxed);
    f->count.store(c > n ? c - n : 0, std::memory_order_relaxed);
    f->bytes.store(b > bytes ? b - bytes : 0, std::memory_order_relaxed);
    crossing = f->settle();
    crossing = crossing || f->reports();
  }
  if (crossing)
    send_ready(end);
}

} // namespace entangle::detail
