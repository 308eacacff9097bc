#include "context_core.hpp"

#include <caf/send.hpp>
#include <fmt/format.h>

#include "entangle/error.hpp"
#include "entangle/message_event.hpp"
#include "runtime_state.hpp"
#include "structured_clone.hpp"
#include "window_message.hpp"

namespace entangle::detail {

namespace {

// initial-exec: libentangle is linked, not dlopen()ed, so its TLS is static
// and reads need no __tls_get_addr call (one per post and dispatch).
[[gnu::tls_model("initial-exec")]] thread_local context_core* tl_current
  = nullptr;

/// Marks the code between construction and destruction as running inside
/// `ctx` (restores the previous value: contexts never nest, but a test's
/// deterministic scheduler may run one from inside another's call stack).
class scope {
public:
  explicit scope(context_core* ctx) noexcept : prev_(tl_current) {
    tl_current = ctx;
  }
  ~scope() {
    tl_current = prev_;
  }
  scope(const scope&) = delete;
  scope& operator=(const scope&) = delete;

private:
  context_core* prev_;
};

} // namespace

context_core* current_core() noexcept {
  return tl_current;
}

caf::execution_unit* current_execution_unit() noexcept {
  return tl_current != nullptr ? tl_current->context() : nullptr;
}

#if ENTANGLE_TRACING
std::uint64_t trace_current_context() noexcept {
  return tl_current ? tl_current->id() : 0;
}
#endif

context_core::context_core(caf::actor_config& cfg, runtime_state& rt,
                           std::shared_ptr<context_control> control,
                           init_function init, record_ptr inside)
  : caf::event_based_actor(cfg),
    rt_(rt),
    sched_(rt.sched),
    wake_(new wake_element),
    control_(std::move(control)),
    init_(std::move(init)),
    inside_record_(std::move(inside)),
    facade_(this) {
  // nop
}

context_core::~context_core() {
  wake_->orphan();
}

void context_core::wake(caf::atom_value what, std::uint64_t epoch,
                        caf::execution_unit* eu) {
  if (wake_->try_take()) {
    wake_->set(what, epoch);
    enqueue(caf::mailbox_element_ptr{wake_}, eu);
  } else if (what == port_ready_atom::value) {
    eq_impl(caf::make_message_id(), nullptr, eu, port_ready_atom::value, epoch);
  } else {
    eq_impl(caf::make_message_id(), nullptr, eu, unshipped_atom::value);
  }
}

caf::invoke_message_result context_core::consume(caf::mailbox_element& x) {
  if (&x != wake_)
    return caf::event_based_actor::consume(x);
  // What CAF's consume would do for it, minus the generic parts: a context
  // never awaits a CAF response (nothing is skipped), never changes its
  // behavior, and a wake-up is never a system message.
  current_mailbox_element(&x);
  // The element goes back to senders only after this returns (CAF releases
  // it then), so reading it here is safe.
  if (wake_->what() == port_ready_atom::value)
    on_ready(wake_->epoch());
  else
    on_unshipped_token();
  return caf::invoke_message_result::consumed;
}

const char* context_core::name() const {
  return control_->name.c_str();
}

void context_core::run_guarded(void* fn, void (*call)(void*)) {
  try {
    scope in{this};
    call(fn);
  } catch (const std::exception& e) {
    if (!failed_) {
      failed_ = true;
      what_ = e.what();
    }
    closing_ = true;
  } catch (...) {
    if (!failed_) {
      failed_ = true;
      what_ = "unknown exception";
    }
    closing_ = true;
  }
}

caf::behavior context_core::make_behavior() {
  // CAF's default handler would print; every user call is guarded anyway.
  set_exception_handler([](caf::scheduled_actor*, std::exception_ptr&) {
    return caf::make_error(caf::sec::runtime_error);
  });
  if (inside_record_) {
    auto p = adopt_port(std::move(inside_record_), true);
    inside_ = p.object();
  }
  if (init_) {
    auto init = std::move(init_);
    guarded([&] { init(facade_); });
  }
  // The worker machinery enables the implicit ports once init has run
  // (HTML §12.2), whether or not init installed a handler: ours here, the
  // parent's outside port on its own thread.
  if (inside_ && !closing_)
    start_port(*inside_);
  if (control_->parent)
    caf::anon_send(control_->parent, worker_ready_atom::value, id());
  end_turn();
  return {
    [this](port_ready_atom, std::uint64_t epoch) { on_ready(epoch); },
    [this](unshipped_atom) { on_unshipped_token(); },
    [this](task_atom) { on_task(); },
    [this](timer_atom, timer_id id) { on_timer(id); },
    [this](broadcast_atom, const weak_broadcast_ptr& weak,
           const broadcast_delivery_ptr& delivery) {
      on_broadcast(weak, delivery);
    },
    [this](connect_atom, const connect_msg_ptr& msg) { on_connect(msg); },
    [this](unload_atom) {
      close_self();
      end_turn();
    },
    [this](window_msg_atom, const window_delivery_ptr& d) {
      on_window_message(d);
    },
    [this](worker_ready_atom, std::uint64_t worker_id) {
      on_worker_ready(worker_id);
    },
    [this](worker_error_atom, std::uint64_t worker_id, const std::string& what) {
      on_worker_error(worker_id, what);
    },
    [this](inject_atom, const injected_fn& fn) {
      guarded([&] { fn(); });
      end_turn();
    },
  };
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
  // producer posting into this queue meanwhile contends for that lock).
  // The batch vector is a per-thread spare (its capacity shuttles between
  // queues, see lazy_fifo::take_front); taken by swap, so that a context
  // run from inside another's call stack (the testkit may) gets its own.
  [[gnu::tls_model("initial-exec")]] thread_local std::vector<envelope> spare;
  std::vector<envelope> items;
  items.swap(spare);
  items.clear();
  auto batch = rt_.cfg.dispatch_batch == 0 ? 1 : rt_.cfg.dispatch_batch;
  bool drained = false;
  if (!closing_
      && sched_->pop_batch(*rec, epoch, items, batch, drained)
           == port_scheduler::pop_result::item) {
    lease_ = lease{&port, &items, 0};
    // Dispatched in place: give_back moves only the ones after `next`.
    while (lease_.port == &port && lease_.next < items.size() && !closing_) {
      auto& e = items[lease_.next++];
      guarded([&] { dispatch(keep, std::move(e)); });
    }
    if (lease_.port == &port) {
      if (lease_.next < items.size())
        give_back(port); // the context is closing: on_exit drops them
      else if (!drained && !closing_ && sched_->needs_rehint(*rec, epoch))
        // A full batch and more waiting: yield to other events (fairness).
        wake(port_ready_atom::value, epoch, context());
    }
    lease_ = lease{};
  }
  items.clear();
  if (items.capacity() <= 4 * batch)
    spare.swap(items); // keep a spare of reasonable size
  end_turn();
}

void context_core::give_back(port_object& port) {
  auto& items = *lease_.items;
  sched_->unpop(*port.record,
                items.begin() + static_cast<long>(lease_.next), items.end());
  lease_ = lease{};
}

void context_core::on_unshipped_token() {
  // Invariant: tokens in the mailbox >= messages held by started,
  // never-shipped ports of this context. So dispatching the oldest head per
  // token delivers them all, in posting order across those ports.
  port_object* best = nullptr;
  std::uint64_t best_stamp = 0;
  for (std::size_t i = 0; i < unshipped_.size();) {
    auto* p = unshipped_[i];
    std::uint64_t stamp = 0;
    auto r = p->record ? sched_->peek_unshipped(*p->record, p->epoch, stamp)
                       : port_scheduler::pop_result::stale;
    if (r == port_scheduler::pop_result::stale) {
      unshipped_[i] = unshipped_.back();
      unshipped_.pop_back();
      continue;
    }
    if (r == port_scheduler::pop_result::item
        && (best == nullptr || stamp < best_stamp)) {
      best = p;
      best_stamp = stamp;
    }
    ++i;
  }
  if (best != nullptr && !closing_) {
    auto keep = ports_.find(best->epoch); // dispatch may close or move it
    envelope e;
    if (keep != nullptr
        && sched_->pop(*best->record, best->epoch, e)
             == port_scheduler::pop_result::item)
      guarded([&] { dispatch(keep, std::move(e)); });
  }
  end_turn();
}

void context_core::on_worker_ready(std::uint64_t worker_id) {
  auto i = workers_.find(worker_id);
  if (i != workers_.end())
    if (auto port = i->second.lock())
      start_port(*port);
  end_turn();
}

void context_core::on_worker_error(std::uint64_t worker_id,
                                   const std::string& what) {
  auto i = workers_.find(worker_id);
  if (i != workers_.end()) {
    if (auto port = i->second.lock(); port && !port->detached) {
      // Like the web's ErrorEvent at the Worker object; it comes before the
      // close of the worker's implicit port (the worker sent it first).
      message_event ev;
      ev.type = "error";
      ev.data = what;
      ev.error = what;
      guarded([&] { fire(*port, event_kind::error, ev); });
    }
  }
  end_turn();
}

void context_core::on_task() {
  if (tasks_.empty() || closing_) {
    end_turn();
    return;
  }
  std::function<void()> fn;
  tasks_.pop_front(fn);
  guarded([&] { fn(); });
  end_turn();
}

void context_core::dispatch(const port_ptr& port, envelope&& e) {
#if ENTANGLE_TRACING
  if (auto* t = sched_->tracer; __builtin_expect(t != nullptr, 0)) {
    traced_dispatch(*t, port, std::move(e));
    return;
  }
#endif
  dispatch_event(port, std::move(e));
}

#if ENTANGLE_TRACING
void context_core::traced_dispatch(entangle::tracer& t,
                                   const port_ptr& self, envelope&& e) {
  auto& port = *self;
  // Reported when the listeners return or throw (a slice in the trace).
  struct report {
    entangle::tracer& t;
    trace_deliver ev;
    ~report() {
      ev.end = trace_clock::now();
      t.on_deliver(ev);
    }
  } r{t, {}};
  r.ev.message = e.msg.trace_id;
  r.ev.context = id();
  r.ev.port = port.record ? port.record->id : 0;
  r.ev.type = e.is_close                                        ? "close"
              : check_receivable_bytes(e.msg.buffer_bytes) ? "messageerror"
                                                                : "message";
  if (port.record) {
    record_guard guard{port.record->mu()};
    r.ev.queue_depth = port.record->queue.size();
    if (lease_.port == &port) // the rest of the batch waits here too
      r.ev.queue_depth += lease_.items->size() - lease_.next;
  }
  r.ev.begin = trace_clock::now();
  dispatch_event(self, std::move(e));
}
#endif

void context_core::dispatch_event(const port_ptr& self, envelope&& e) {
  auto& port = *self;
  message_event ev;
  if (!port.implicit)
    ev.target = message_port{self};
  if (e.is_close) {
    port.peer_gone = true;
    uncount(port);
    if (&port == inside_.get()) {
      // The parent ended (or terminated us): a dedicated worker without an
      // owner is no longer needed and closes (HTML "permissible worker").
      close_self();
      return;
    }
    ev.type = "close";
    fire(port, event_kind::close, ev);
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
  if (msg.has_port_slots)
    resolve_port_slots(ev.data, ev.ports);
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

void context_core::end_turn() {
  if (pending_navigation_ && !closing_) {
    auto nav = std::move(pending_navigation_);
    unload_document();
    control_->origin = std::move(nav->org);
    guarded([&] { nav->init(facade_); });
  }
  // A window lives until it is closed, like a browser window (or until its
  // parent's document goes); any other context ends once unreachable.
  bool idle = !control_->is_window && open_started_ == 0
              && open_broadcasts_ == 0 && tasks_.empty() && timers_.empty();
  if (closing_) {
    quit();
  } else if (idle) {
    // A shared worker must not end while a client's connect is on its way
    // (decided under the runtime lock that connecting clients take).
    if (!is_shared_worker() || rt_.shared_may_end(*control_))
      quit();
  }
}

message_port context_core::adopt_port(record_ptr rec, bool implicit) {
  auto obj = std::make_shared<port_object>(this, id(), sched_, implicit);
  obj->epoch = sched_->adopt(*rec, caf::actor_cast<caf::actor>(this),
                             obj.get());
  ENTANGLE_TRACE(sched_->tracer, t,
                 t->on_adopt(trace_port{trace_clock::now(), rec->id, id()}));
  obj->record = std::move(rec);
  ports_.insert(obj);
  return message_port{std::move(obj)};
}

record_ptr context_core::ship_port(port_object& port) {
  if (lease_.port == &port)
    give_back(port); // messages of the batch move with the port
  auto rec = std::move(port.record);
  port.detached.store(true, std::memory_order_relaxed);
  sched_->ship(*rec);
  ENTANGLE_TRACE(sched_->tracer, t,
                 t->on_transfer(trace_port{trace_clock::now(), rec->id, id()}));
  forget(port);
  return rec;
}

void context_core::post(port_object& src, const value& message,
                        const transfer_list& transfer) {
  post_serialized(src, serialize_with_transfer(*this, message, transfer, &src,
                                               rt_.cfg.max_clone_depth));
}

void context_core::post_serialized(port_object& src,
                                   serialized_message&& msg) {
  if (src.closed.load(std::memory_order_relaxed)) {
    sched_->drop(std::move(msg), drop_reason::closed);
    return;
  }
  if (!src.record) {
    sched_->drop(std::move(msg), drop_reason::detached);
    return;
  }
  if (!msg.ports.empty()) {
    // The owner reads its record's peer link without the lock (see
    // port_record::peer).
    auto& peer = src.record->peer;
    for (auto& rec : msg.ports) {
      if (rec && rec == peer) {
        // SEMANTICS §4.3 / ARCHITECTURE §2.3: the target travels inside its
        // own message. Drop it; destroying the message closes the target,
        // so this port gets `close` and the channel is gone.
        warn("post_message: the target port is in the transfer list "
             "(doomed): message dropped, channel closed");
        sched_->drop(std::move(msg), drop_reason::doomed);
        return;
      }
    }
  }
  sched_->post(*src.record, std::move(msg));
}

void context_core::start_port(port_object& port) {
  if (port.started.load(std::memory_order_relaxed) || !port.record)
    return;
  port.started.store(true, std::memory_order_relaxed);
  auto r = sched_->start(port.record, port.epoch);
  if (r.live && !port.peer_gone && !port.counted) {
    port.counted = true;
    ++open_started_;
  }
  if (r.unshipped)
    unshipped_.push_back(&port);
}

void context_core::close_port(port_object& port, drop_reason why) {
  if (port.closed.load(std::memory_order_relaxed))
    return;
  if (lease_.port == &port)
    give_back(port); // counted with the rest of the queue
  port.closed.store(true, std::memory_order_relaxed);
  port.detached.store(true, std::memory_order_relaxed);
  auto rec = std::move(port.record);
  forget(port);
  if (rec)
    sched_->close(rec, why);
}

void context_core::uncount(port_object& port) noexcept {
  if (port.counted) {
    port.counted = false;
    --open_started_;
  }
}

void context_core::forget(port_object& port) {
  uncount(port);
  // The port dispatches nothing more: drop its listeners now (they may
  // capture handles to it) and let it go once user handles are gone.
  port.events.clear();
  for (auto i = workers_.begin(); i != workers_.end(); ++i) {
    if (i->second.lock().get() == &port) {
      workers_.erase(i);
      break;
    }
  }
  for (auto& p : unshipped_) {
    if (p == &port) {
      p = unshipped_.back();
      unshipped_.pop_back();
      break;
    }
  }
  ports_.erase(port.epoch);
}

void context_core::queue_task(std::function<void()> fn) {
  if (closing_)
    return;
  tasks_.emplace_back(std::move(fn));
  eq_impl(caf::make_message_id(), nullptr, context(), task_atom::value);
}

void context_core::close_self() noexcept {
  closing_ = true;
  // A closing shared worker is not found by new clients (HTML §12.6): they
  // start a new instance; connects already sent to this one are refused
  // (their ports close).
  if (is_shared_worker()) {
    std::lock_guard<std::mutex> guard{rt_.mu};
    if (auto i = rt_.shared_workers.find(control_->shared_key);
        i != rt_.shared_workers.end() && i->second == control_)
      rt_.shared_workers.erase(i);
  }
}

void context_core::warn(const std::string& what) {
  sched_->warn(control_->name, what);
}

worker context_core::spawn_worker(std::string name, init_function init) {
  // The pair spans two contexts from birth: it behaves as shipped.
  auto [outside_rec, inside_rec] = sched_->make_pair(true);
  auto outside = adopt_port(std::move(outside_rec), true);
  auto& obj = *outside.object();
  // It keeps this context alive from now on, but is enabled only when the
  // worker reports that its init ran (HTML §12.2): what the worker posts
  // during init is delivered after it.
  obj.counted = true;
  ++open_started_;
  spawn_options opts;
  opts.origin = control_->origin;
  opts.inside = std::move(inside_rec);
  opts.parent = caf::actor_cast<caf::actor>(this);
  auto ctl = rt_.spawn(std::move(name), std::move(init), std::move(opts));
  workers_.emplace(ctl->id, outside.object());
  return worker{std::move(outside), std::move(ctl)};
}

void context_core::on_exit() {
  scope in{this};
  closing_ = true;
  // The creator learns of an exception before the implicit port closes.
  if (failed_ && control_->parent)
    caf::anon_send(control_->parent, worker_error_atom::value, id(), what_);
  tasks_.clear();
  rt_.pending_timers -= timers_.size();
  timers_.clear();
  init_ = nullptr;
  // Close every port we own as an orderly close: peers get everything we
  // posted, then close. Messages still queued here are counted as
  // context_gone, and ports they carry are closed in turn.
  auto ports = ports_.snapshot(); // close_port erases them from ports_
  unshipped_.clear();
  workers_.clear();
  auto bcs = std::move(bcs_);
  bcs_.clear();
  for (auto& [seq, obj] : bcs)
    close_broadcast(*obj);
  global_events_.clear();
  pending_navigation_.reset();
  if (control_->is_window)
    destroy_frames();
  for (auto& obj : ports) {
    obj->events.clear();
    close_port(*obj, drop_reason::context_gone);
  }
  if (inside_) {
    inside_->events.clear();
    close_port(*inside_, drop_reason::context_gone);
    inside_.reset();
  }
  if (inside_record_) // spawned but never initialised
    sched_->close(inside_record_, drop_reason::context_gone);
  inside_record_.reset();
  auto kind = control_->terminated.load() ? exit_kind::terminated
              : failed_                    ? exit_kind::exception
                                           : exit_kind::normal;
  rt_.context_ended(*control_, kind, what_);
  caf::event_based_actor::on_exit();
}

} // namespace entangle::detail
