// The receiving half of a context's event loop: wake-ups (the reusable
// wake element and CAF's fallback messages), batches taken from a port's
// queue, and the dispatch of each message or close as a DOM event. The
// rest of the context (lifetime, posting, tasks) is in context_core.cpp.

#include "contexts/context_core.hpp"

#include <algorithm>
#include <cassert>
#include <cstring>
#include <functional>

#include <caf/system_messages.hpp>

#include "entangle/message_event.hpp"
#include "contexts/world.hpp"
#include "clone/structured_clone.hpp"

namespace entangle::detail {

namespace {

std::atomic<std::uint64_t> fallback_count{0};

} // namespace

std::uint64_t wake_fallbacks() noexcept {
  return fallback_count.load(std::memory_order_relaxed);
}

void context_core::wake(caf::atom_value what, std::uint64_t epoch,
                        caf::execution_unit* eu) {
  if (wake_->try_take()) {
    wake_->set(what, epoch);
    enqueue(caf::mailbox_element_ptr{wake_}, eu);
    return;
  }
  fallback_count.fetch_add(1, std::memory_order_relaxed);
  if (what == port_ready_atom::value) {
    eq_impl(caf::make_message_id(), nullptr, eu, port_ready_atom::value, epoch);
  } else {
    // The same (atom, u64) shape as the element, so either form matches
    // the behavior.
    eq_impl(caf::make_message_id(), nullptr, eu, unshipped_atom::value,
            std::uint64_t{0});
  }
}

/// Defined in context_core.cpp: makes `ctx` the running context, returns
/// the previous one.
context_core* exchange_current(context_core* ctx) noexcept;

namespace {

/// This context is the running one while it drains a wake-up: its pops
/// may queue a ready notice on a never-shipped port of its own
/// (note_unshipped checks the thread), also when a test's deterministic
/// scheduler runs it from inside another context's call stack.
struct drain_scope {
  explicit drain_scope(context_core* ctx) noexcept
    : prev(exchange_current(ctx)) {
  }
  ~drain_scope() {
    exchange_current(prev);
  }
  drain_scope(const drain_scope&) = delete;
  drain_scope& operator=(const drain_scope&) = delete;
  context_core* prev;
};

} // namespace

caf::invoke_message_result context_core::consume(caf::mailbox_element& x) {
  // The running context while it handles any message: the shared
  // behavior's cases find it so (make_behavior).
  drain_scope running{this};
  // This turn's posts to a busy port go over in groups (post_stage); the
  // end of the turn hands over what waits.
  post_stage::turn staging{static_cast<std::uint32_t>(
    std::min<std::size_t>(rt_.cfg.post_batch, 1u << 16))};
  if (&x != wake_) {
    // A timer's wake-up (ensure_wake) is CAF's timeout_msg, which CAF's
    // consume would take for its own (a receive or stream timeout).
    auto& c = x.content();
    if (c.match_elements<caf::timeout_msg>()
        && c.get_as<caf::timeout_msg>(0).type == timer_atom::value) {
      current_mailbox_element(&x);
      on_timer(c.get_as<caf::timeout_msg>(0).timeout_id);
      current_mailbox_element(nullptr);
      return caf::invoke_message_result::consumed;
    }
    return caf::scheduled_actor::consume(x);
  }
  // What CAF's consume would do for it, minus the generic parts: a context
  // never awaits a CAF response (nothing is skipped), never changes its
  // behavior, and a wake-up is never a system message.
  current_mailbox_element(&x);
  // The element goes back to senders only after this returns (CAF releases
  // it then), so reading it here is safe.
  if (wake_->what() == port_ready_atom::value)
    on_ready(wake_->epoch());
  else
    on_unshipped();
  // Nothing may write through the current element once CAF hands it back
  // to senders (a response promise would move its `sender`, for one).
  current_mailbox_element(nullptr);
  return caf::invoke_message_result::consumed;
}

void context_core::on_ready(std::uint64_t epoch) {
  // Epochs are unique per adoption: no port object here has it once the
  // port moved away or closed (a stale hint).
  auto keep = ports_.find(epoch); // dispatch may close or transfer it
  if (!keep) {
    end_turn();
    return;
  }
  auto& port = *keep;
  if (!port.record) {
    end_turn();
    return;
  }
  // Not a copy: the record is used again only while the lease shows that
  // the port still holds it.
  auto& rec = port.record;
  // One lock round takes the whole batch (not one per message: the
  // producer posting into this queue meanwhile contends for that lock);
  // whole chunks move by pointer (envelope_queue).
  envelope_queue::batch items;
  message_event ev; // one event for the batch's messages (dispatch_event)
  auto batch = rt_.cfg.dispatch_batch == 0 ? 1 : rt_.cfg.dispatch_batch;
  batch = std::min(batch, allowance(port)); // draining: only what was queued
  bool drained = false;
  // A trace's queue depth is read in the take's lock round.
  std::size_t left = 0;
  std::size_t* traced_left = nullptr;
#if ENTANGLE_TRACING
  if (__builtin_expect(sched_->tracer != nullptr, 0))
    traced_left = &left;
#endif
  if (!closing_ && batch > 0
      && sched_->pop_batch(*rec, epoch, items, batch, drained, traced_left)
           == port_scheduler::pop_result::item) {
    lease_ = lease{&port, &items};
#if ENTANGLE_TRACING
    if (traced_left != nullptr)
      trace_batch_begin(left);
#endif
    // Dispatched in place: give_back moves only the ones not taken yet.
    // A navigation ends the batch too: the rest belongs to the old document
    // (given back below, then dropped when unload closes the port).
    // (The drain bookkeeping is a map lookup, made only while draining.)
    while (lease_.port == &port && items.left() > 0 && !closing_
           && !pending_navigation_ && (!drain_ || allowance(port) > 0)) {
      auto& e = items.take();
      guarded([&] { dispatch(keep, std::move(e), ev); });
      if (drain_)
        dispatched_from(port, 1);
    }
    if (lease_.port == &port) {
      if (items.left() > 0)
        give_back(port); // closing, navigating or drained: dropped later
      else if (!drained && !closing_ && allowance(port) > 0
               && sched_->needs_rehint(*rec, epoch))
        // A full batch and more waiting: yield to other events (fairness).
        wake(port_ready_atom::value, epoch, context());
    }
    lease_ = lease{};
  }
  // What the batch and the event still hold goes before the turn ends (as
  // when each message had an event of its own), not after end_turn's
  // timers, navigation or exit.
  items.clear();
  ev.target = message_port{}; // what the scrub left, but plain data
  end_turn();
}

std::size_t context_core::queued(const port_object& port) const {
  if (!port.record)
    return 0;
  std::size_t n = 0;
  {
    port_scheduler::flush_stage(); // this thread's posts to it count
    record_guard guard{port.record->mu()};
    n = port.record->queue.size();
  }
  if (lease_.port == &port) // the rest of the batch waits here too
    n += lease_.items->left();
  return n;
}

void context_core::give_back(port_object& port) {
  // The lease ends first: give_rest may allocate (a split chunk), and a
  // throw must not leave it naming a batch its caller's unwinding frees.
  auto* items = lease_.items;
  lease_ = lease{};
  envelope_queue::batch rest;
  items->give_rest(rest);
  sched_->unpop(*port.record, rest);
}

void context_core::note_unshipped(std::uint64_t epoch, std::uint64_t stamp) {
  // Only this context posts to, starts or closes its never-shipped ports,
  // so this runs on its own thread (the heap needs no lock): in its user
  // code, or in its event loop between handlers (a ready notice sent when
  // a pop crossed a mark, port_scheduler::send_ready).
  assert(current_core() == this || current_core() == nullptr);
  unshipped_heads_.push_back(unshipped_head{stamp, epoch});
  std::push_heap(unshipped_heads_.begin(), unshipped_heads_.end(),
                 std::greater<>{});
  if (!unshipped_wake_) {
    unshipped_wake_ = true;
    wake(unshipped_atom::value, 0, context());
  }
}

void context_core::on_unshipped() {
  // Dispatches the oldest messages of the combined task source (HTML
  // §1.3), at most a batch per wake-up. Invariant: every started,
  // never-shipped port of ours with a non-empty queue has an entry with its
  // head's stamp here (pushed by note_unshipped, or below when its head is
  // taken and more remain); entries of ports that moved, closed or got
  // shipped are stale and skipped.
  auto batch = rt_.cfg.dispatch_batch == 0 ? 1 : rt_.cfg.dispatch_batch;
  std::size_t n = 0;
  message_event ev; // one event for the batch's messages (dispatch_event)
  auto& heap = unshipped_heads_;
  while (n < batch && !heap.empty() && !closing_) {
    std::pop_heap(heap.begin(), heap.end(), std::greater<>{});
    auto head = heap.back();
    heap.pop_back();
    auto keep = ports_.find(head.epoch); // dispatch may close or move it
    if (!keep || !keep->record || allowance(*keep) == 0)
      continue;
    envelope e;
    std::uint64_t next = 0;
    if (sched_->pop_unshipped(*keep->record, head.epoch, head.stamp, e, next)
        != port_scheduler::pop_result::item)
      continue;
    if (next != 0) { // its next head joins the order before anything runs
      heap.push_back(unshipped_head{next, head.epoch});
      std::push_heap(heap.begin(), heap.end(), std::greater<>{});
    }
    ++n;
    guarded([&] { dispatch(keep, std::move(e), ev); });
    dispatched_from(*keep, 1);
  }
  if (!heap.empty() && !closing_)
    wake(unshipped_atom::value, 0, context()); // yield (fairness), then more
  else
    unshipped_wake_ = false;
  if (heap.empty() && heap.capacity() > 64)
    std::vector<unshipped_head>{}.swap(heap); // memory returns when idle
  ev.target = message_port{}; // its last target goes before the turn ends
  end_turn();
}

std::optional<message_event> context_core::receive_now(const port_ptr& self) {
  auto& port = *self;
  if (!port.record)
    return std::nullopt;
  envelope e;
  do {
    if (e.is_ready) // taken at the head: it fires as a task of its own
      queue_task([this, self] {
        if (self->record && !sched_->peer_full(*self->record)) {
          message_event ready;
          ready.type = "ready";
          ready.target = message_port{self};
          fire(*self, event_kind::ready, ready);
        }
      });
    if (lease_.port == &port && lease_.items->left() > 0) {
      // The rest of the batch being dispatched is the front of the queue.
      auto& head = lease_.items->peek();
      if (head.is_close || head.msg.typed)
        return std::nullopt;
      e = std::move(lease_.items->take());
    } else {
      std::uint64_t next = 0;
      if (sched_->take_value(*port.record, port.epoch, e, next)
          != port_scheduler::pop_result::item)
        return std::nullopt;
      if (next != 0) // its combined-order entry named the head just taken
        note_unshipped(port.epoch, next);
    }
    dispatched_from(port, 1); // a drain waits for one item less
  } while (e.is_ready);
  message_event ev;
  if (!port.implicit)
    ev.target = message_port{self};
  if (auto err = e.msg.buffer_bytes == 0
                   ? std::nullopt
                   : check_receivable_bytes(e.msg.buffer_bytes)) {
    sched_->drop(std::move(e.msg), drop_reason::messageerror);
    ev.type = "messageerror";
    ev.data = null;
    ev.error = std::move(*err);
    return ev;
  }
  ev.type = "message";
  receive(e.msg, ev);
  return ev;
}

void context_core::set_ref(port_object& port, bool ref) {
  if (port.unrefed == !ref)
    return;
  port.unrefed = !ref;
  if (!ref) {
    uncount(port);
  } else if (port.started.load(std::memory_order_relaxed) && !port.peer_gone
             && port.record && !port.counted
             && (sched_->entangled(*port.record) || queued(port) > 0)) {
    port.counted = true;
    ++open_started_;
  }
}

void context_core::dispatch(const port_ptr& port, envelope&& e,
                            message_event& ev) {
#if ENTANGLE_TRACING
  if (auto* t = sched_->tracer; __builtin_expect(t != nullptr, 0)) {
    traced_dispatch(*t, port, std::move(e), ev);
    return;
  }
#endif
  dispatch_event(port, std::move(e), ev);
}

#if ENTANGLE_TRACING
namespace {

/// Messages of a lease's batch handed out so far (the one being
/// dispatched included).
template <class Lease>
std::size_t taken(const Lease& l) noexcept {
  return l.items->size() - l.items->left();
}

/// The traced batch this thread is dispatching (a context runs on one
/// thread at a time; a nested one, which the testkit may run, starts its
/// own and so ends the outer chain). Two per-message costs of a trace are
/// paid once per batch here: the queue depth (read in the take's lock
/// round, then counted down: a lock round per message, or even one more
/// per batch, was contended with the producer), and a clock read (a
/// delivery's begin is the previous one's end: nothing of the batch runs
/// between them).
struct trace_batch {
  const context_core* ctx = nullptr;
  /// The port's queue length when the batch was taken (later arrivals are
  /// not counted: a snapshot at most one batch old).
  std::size_t left = 0;
  /// taken() during the delivery whose begin is `mark`, if chained.
  std::size_t chain_next = 0;
  bool chained = false;
  trace_clock::time_point mark;
};
[[gnu::tls_model("initial-exec")]] thread_local trace_batch tl_trace_batch;

} // namespace

void context_core::trace_batch_begin(std::size_t left) noexcept {
  auto& b = tl_trace_batch;
  b.ctx = this;
  b.chained = false;
  b.left = left;
}

void context_core::traced_dispatch(entangle::tracer& t,
                                   const port_ptr& self, envelope&& e,
                                   message_event& ev) {
  auto& port = *self;
  auto& b = tl_trace_batch;
  // Part of this context's current batch (not a message taken on its own,
  // e.g. by the never-shipped path, nor a batch given back meanwhile).
  bool in_batch = b.ctx == this && lease_.port == &port;
  // Reported when the listeners return or throw (a slice in the trace).
  struct report {
    context_core& self;
    const port_object& port;
    entangle::tracer& t;
    trace_deliver ev;
    ~report() {
      ev.end = t.now();
      auto& b = tl_trace_batch;
      if (b.ctx == &self && self.lease_.port == &port) {
        b.chained = true;
        b.chain_next = taken(self.lease_) + 1;
        b.mark = ev.end;
      }
      t.on_deliver(ev);
    }
  } r{*this, port, t, {}};
  r.ev.message = e.msg.trace_id;
  r.ev.context = id();
  r.ev.port = port.record ? port.record->id : 0;
  r.ev.type = e.is_close                                        ? "close"
              : e.is_ready                                      ? "ready"
              : e.msg.buffer_bytes != 0
                  && check_receivable_bytes(e.msg.buffer_bytes)
                ? "messageerror"
                : "message";
  r.ev.queue_depth = in_batch ? b.left + lease_.items->left()
                              : queued(port);
  r.ev.begin = in_batch && b.chained && b.chain_next == taken(lease_)
                 ? b.mark
                 : t.now();
  b.chained = false;
  dispatch_event(self, std::move(e), ev);
}
#endif

namespace {

/// Gives back what a plain message's handler left in the reused event,
/// when the handler returns or throws: its data and ports go when they
/// went with an event of their own (a port nobody kept is collected
/// then), and fields a handler may have written are reset, so each
/// message starts from a fresh event's state.
struct event_scrub {
  message_event& ev;
  ~event_scrub() {
    if (ev.data.var().index() > value::last_simple_index)
      ev.data = value{};
    if (!ev.ports.empty())
      ev.ports.clear();
    if (!ev.origin.empty())
      ev.origin.clear();
    if (!ev.last_event_id.empty())
      ev.last_event_id.clear();
    if (!ev.error.empty())
      ev.error.clear();
    if (!ev.typed.empty())
      ev.typed.clear();
    if (ev.source.index() != 0)
      ev.source = std::monostate{};
    ev.default_prevented = false;
  }
};

} // namespace

void context_core::dispatch_event(const port_ptr& self, envelope&& e,
                                  message_event& ev) {
  auto& port = *self;
  auto& msg = e.msg;
  if (e.sentinel() || msg.buffer_bytes != 0 || msg.typed
      || (rare_ && !rare_->sinks.empty())) {
    dispatch_other(self, std::move(e));
    return;
  }
  // A plain message, in the caller's event: what a fresh event would
  // hold, without building and destroying one per message (five strings,
  // a variant, a vector and the target's reference count).
  event_scrub scrub{ev};
  if (ev.type.size() != 7 || std::memcmp(ev.type.data(), "message", 7) != 0)
    ev.type.assign("message", 7); // a handler wrote it (a compare is cheaper)
  if (port.implicit) {
    if (ev.target)
      ev.target = message_port{};
  } else if (ev.target.object() != self) {
    ev.target = message_port{self};
  }
  if (msg.ports.empty() && !msg.needs_rebuild)
    ev.data = std::move(msg.data); // receive() of a message with no port
  else
    receive(msg, ev);
  fire(port, event_kind::message, ev);
}

void context_core::let_go_of_worker(port_object& port) {
  // A worker object's port whose close event ran (and its error event, if
  // the worker failed: see dispatch_other): the worker ended, and nothing
  // can come through this port again. Kept, it held its channel
  // (the pair, 240 B) and the worker table's entry until this context
  // ended: a context that spawns a worker per job kept every job's (issue
  // #17). Closed now, without a word: a post through a worker handle kept
  // by the user is dropped as context_gone (refused_post), as a post to the
  // ended worker's closed end was, and a handler set on it later never
  // runs (nothing is left to dispatch either way). A worker object's port
  // cannot be transferred, so closing it changes nothing else a program
  // can see.
  port.warned = true; // (warn_inert: the user did not close it)
  close_port(port, drop_reason::closed);
}

void context_core::dispatch_other(const port_ptr& self, envelope&& e) {
  auto& port = *self;
  if (rare_ && !rare_->sinks.empty()) {
    if (auto i = rare_->sinks.find(&port); i != rare_->sinks.end()) {
      if (e.is_close) {
        port.peer_gone = true;
        uncount(port);
      }
      auto fn = i->second; // the sink may unset itself
      fn(std::move(e));
      return;
    }
  }
  message_event ev;
  if (!port.implicit)
    ev.target = message_port{self};
  if (e.is_ready) {
    // The peer's queue dropped below its high-water mark (flow_state);
    // full again by now (a consumer held what was taken, or more came):
    // stale, and the next crossing queues a fresh notice.
    if (port.record && sched_->peer_full(*port.record))
      return;
    ev.type = "ready";
    fire(port, event_kind::ready, ev);
    return;
  }
  if (e.is_close) {
    port.peer_gone = true;
    uncount(port);
    if (&port == inside_.get()) {
      // The parent ended normally (a crash or terminate() kills us
      // instead): a dedicated worker without an owner is no longer needed
      // (HTML "permissible worker"); it finishes what is already queued to
      // it and ends (the closing flag: queued tasks are unaffected).
      begin_draining();
      return;
    }
    ev.type = "close";
    fire(port, event_kind::close, ev);
    if (port.implicit && port.record) {
      // A task, not now: a worker that failed sent its error report to
      // our mailbox before its port closed, and the close can come in the
      // batch of a wake-up that was ahead of the report; on_worker_error
      // finds the worker object by its port. The task is behind the report.
      queue_task([this, keep = self] {
        if (keep->record && keep->peer_gone)
          let_go_of_worker(*keep);
      });
    }
    return;
  }
  auto& msg = e.msg;
  if (msg.buffer_bytes == 0) {
    // nop: nothing to check (the common case skips building an optional)
  } else if (auto err = check_receivable_bytes(msg.buffer_bytes)) {
    sched_->drop(std::move(msg), drop_reason::messageerror);
    ev.type = "messageerror";
    ev.data = null;
    ev.error = std::move(*err);
    fire(port, event_kind::messageerror, ev);
    return;
  }
  if (msg.typed) {
    dispatch_typed(port, msg, ev);
    return;
  }
  receive(msg, ev);
  fire(port, event_kind::message, ev);
}

void context_core::receive(serialized_message& msg, message_event& ev) {
  ev.ports.reserve(msg.ports.size());
  for (auto& rec : msg.ports)
    ev.ports.push_back(adopt_port(std::move(rec)));
  msg.ports.clear();
  ev.data = std::move(msg.data);
  if (msg.needs_rebuild)
    rebuild(ev.data, ev.ports);
}

void context_core::fire_global(event_kind k, message_event& ev) {
  if (rt_.on_dispatch)
    rt_.on_dispatch(*this, nullptr, ev);
  global_events_.dispatch(k, ev);
}

std::optional<std::string>
context_core::check_receivable_bytes(std::size_t bytes) const {
  return check_receivable(bytes, rt_.cfg.max_buffer_bytes);
}

void context_core::fire(port_object& port, event_kind k, message_event& ev) {
  if (rt_.on_dispatch)
    rt_.on_dispatch(*this, &port, ev);
  port.events.dispatch(k, ev);
}

} // namespace entangle::detail
