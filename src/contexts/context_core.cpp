#include "contexts/context_core.hpp"

#include <atomic>
#include <cstdio>
#include <cstdlib>

#include <caf/send.hpp>
#include <fmt/format.h>

#include "entangle/error.hpp"
#include "entangle/message_event.hpp"
#include "contexts/world.hpp"
#include "clone/structured_clone.hpp"
#include "contexts/window_message.hpp"

namespace entangle::detail {

namespace {

// initial-exec: libentangle is linked, not dlopen()ed, so its TLS is static
// and reads need no __tls_get_addr call (one per post and dispatch).
[[gnu::tls_model("initial-exec")]] thread_local context_core* tl_current
  = nullptr;

/// The context a case of the shared behavior runs for (make_behavior):
/// consume() makes it the running one before CAF invokes the behavior.
context_core* self() noexcept {
  return tl_current;
}

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

context_core* exchange_current(context_core* ctx) noexcept {
  auto* prev = tl_current;
  tl_current = ctx;
  return prev;
}

caf::execution_unit* current_execution_unit() noexcept {
  return tl_current != nullptr ? tl_current->context() : nullptr;
}

#if ENTANGLE_TRACING
std::uint64_t trace_current_context() noexcept {
  return tl_current ? tl_current->id() : 0;
}

entangle::tracer* current_tracer() noexcept {
  return tl_current ? tl_current->sched().tracer : nullptr;
}
#endif

context_core::context_core(caf::actor_config& cfg, world& rt,
                           std::shared_ptr<context_control> control,
                           init_function init, record_ptr inside)
  : caf::scheduled_actor(cfg),
    rt_(rt),
    sched_(rt.sched.get()),
    explorer_(rt.explorer),
    wake_(new wake_element),
    control_(std::move(control)),
    startup_(std::make_unique<startup>(startup{std::move(init),
                                               std::move(inside)})),
    facade_(this) {
  // nop
}

namespace {

std::atomic<std::uint64_t> destroyed_count{0};

} // namespace

std::uint64_t contexts_destroyed() noexcept {
  return destroyed_count.load(std::memory_order_relaxed);
}

context_core::~context_core() {
  destroyed_count.fetch_add(1, std::memory_order_relaxed);
  wake_->orphan();
  // on_exit closed every port; should an actor die without it, an object
  // of a port_block would still hold its own block (see port_object).
  for (auto& obj : ports_.snapshot()) {
    unpin(*obj);
    obj->record.reset();
  }
}

const char* context_core::name() const {
  return control_->name.c_str();
}

void context_core::run_guarded(void* fn, void (*call)(void*)) {
  std::string what;
  try {
    scope in{this};
    call(fn);
    return;
  } catch (const std::exception& e) {
    what = e.what();
  } catch (...) {
    what = "unknown exception";
  }
  // The web reports the exception and the event loop goes on; an actor
  // crashes. A context already ending (or reporting: an error handler that
  // throws) ends either way.
  if (rt_.cfg.continue_after_exception && !closing_ && !reporting_) {
    report_exception(what);
    return;
  }
  if (!failed_) {
    failed_ = true;
    rare().what = std::move(what);
  }
  closing_ = true;
}

void context_core::initialize() {
  // What event_based_actor::initialize does.
  caf::scheduled_actor::initialize();
  setf(is_initialized_flag);
  if (auto bhvr = make_behavior())
    do_become(std::move(bhvr), true);
}

caf::behavior context_core::make_behavior() {
  // CAF's default handler would print; every user call is guarded anyway.
  set_exception_handler([](caf::scheduled_actor*, std::exception_ptr&) {
    return caf::make_error(caf::sec::runtime_error);
  });
  auto start = std::move(startup_);
  if (start->inside) {
    auto p = adopt_port(std::move(start->inside), true);
    inside_ = p.object();
  }
  if (start->init) {
    auto init = std::move(start->init);
    guarded([&] { init(facade_); });
  }
  // The worker machinery enables the implicit ports once init has run
  // (HTML §12.2), whether or not init installed a handler: ours here, the
  // parent's outside port on its own thread.
  if (inside_ && !closing_)
    start_port(*inside_);
  if (auto parent = caf::actor_cast<caf::actor>(control_->parent))
    caf::anon_send(parent, worker_ready_atom::value, id());
  end_turn();
  // One behavior for every context, not one each: CAF allocates a
  // behavior's cases per actor (728 bytes for these), and an idle context
  // must stay small (issue #17). Its cases capture nothing: consume() makes
  // the receiving context the running one (current_core) for every message.
  static const caf::behavior shared{
    [](port_ready_atom, std::uint64_t epoch) { self()->on_ready(epoch); },
    [](unshipped_atom, std::uint64_t) { self()->on_unshipped(); },
    [](task_atom) { self()->on_task(); },
    [](broadcast_atom, const weak_broadcast_ptr& weak,
       const broadcast_delivery_ptr& delivery) {
      self()->on_broadcast(weak, delivery);
    },
    [](connect_atom, const connect_msg_ptr& msg) {
      self()->on_connect(msg, true);
    },
    [](ingress_atom, const connect_msg_ptr& msg) {
      self()->on_connect(msg, false);
    },
    [](navigate_atom, const navigation_ptr& nav) {
      self()->on_navigate(nav);
    },
    [](peer_closed_atom, std::uint64_t epoch) {
      self()->on_peer_closed(epoch);
    },
    [](unload_atom) {
      self()->close_self();
      self()->end_turn();
    },
    [](window_msg_atom, const window_delivery_ptr& d) {
      self()->on_window_message(d);
    },
    [](worker_ready_atom, std::uint64_t worker_id) {
      self()->on_worker_ready(worker_id);
    },
    [](worker_error_atom, std::uint64_t worker_id, const std::string& name,
       const std::string& what, bool handled) {
      self()->on_worker_error(worker_id, name, what, handled);
    },
    [](why_atom, const liveness_probe_ptr& probe) {
      {
        std::lock_guard<std::mutex> guard{probe->mu};
        probe->answers.push_back(self()->describe());
      }
      probe->cv.notify_all();
    },
    [](drain_atom) {
      self()->begin_draining();
      self()->end_turn();
    },
    [](drain_fence_atom) { self()->on_drain_fence(); },
    [](inject_atom, const injected_fn& fn) {
      self()->guarded([&] { fn(); });
      self()->end_turn();
    },
  };
  return shared;
}

void context_core::on_worker_ready(std::uint64_t worker_id) {
  if (auto port = worker_port(worker_id))
    start_port(*port);
  end_turn();
}

void context_core::on_worker_error(std::uint64_t worker_id,
                                   const std::string& name,
                                   const std::string& what, bool handled) {
  bool heard = false;
  // A port found through the port table is attached (a closed or shipped
  // one left the table, and the worker table with it).
  if (auto port = worker_port(worker_id)) {
    // Like the web's ErrorEvent at the Worker object; it comes before the
    // close of the worker's implicit port (the worker sent it first).
    heard = !port->events.empty(event_kind::error);
    message_event ev;
    ev.type = "error";
    ev.data = what;
    ev.error = what;
    guarded([&] { fire(*port, event_kind::error, ev); });
  }
  if (!handled && !heard)
    print_uncaught("worker", name, worker_id, what);
  end_turn();
}

void context_core::on_task() {
  if (tasks_.empty() || closing_ || (drain_ && drain_->tasks == 0)) {
    end_turn();
    return;
  }
  if (drain_) {
    --drain_->tasks;
    --drain_->left;
  }
  std::function<void()> fn;
  tasks_.pop_front(fn);
  guarded([&] { fn(); });
  end_turn();
}

bool context_core::reachable() const noexcept {
  // The lifetime rule, in one place. A window lives until it is closed,
  // like a browser window (or until its parent's document goes). Any other
  // context lives while something can still make its code run:
  // - a started port waiting for messages: not closed, not transferred,
  //   its close event not yet dispatched, and not unref'ed (a worker's
  //   implicit ports count here: worker.unref() unrefs the parent's);
  // - a BroadcastChannel that is open and has a message handler;
  // - a queued task;
  // - a pending timer that is not unref'ed;
  // - a `connect` listener, except in a shared worker: the context is a
  //   service waiting for runtime::connect (its clients decide a shared
  //   worker's lifetime instead).
  // An unstarted port does not count: only this context could start it,
  // and none of its code will run again. Shared workers also wait for
  // connects on their way (world::shared_may_end).
  return control_->is_window || control_->service || open_started_ > 0
         || open_broadcasts_ > 0 || !tasks_.empty() || refed_timers_ > 0
         || (!is_shared_worker()
             && !global_events_.empty(event_kind::connect));
}

void context_core::end_turn() {
  apply_navigation();
  run_due_timers();
  // Others may run before this end becomes visible (its ports close): on
  // the threaded runtime the end is one more step of this turn.
  if (explorer_ != nullptr
      && (closing_
          || (drain_ ? drain_->fence_seen && drain_->left == 0
                     : !reachable())))
    explore_point(explore_op::end);
  bool idle = !reachable();
  if (closing_) {
    quit();
  } else if (drain_) {
    if (drain_->fence_seen && drain_->left == 0)
      quit(); // everything queued when the drain began was dispatched
  } else if (idle) {
    // A shared worker must not end while a client's connect is on its way
    // (decided under the runtime lock that connecting clients take).
    if (!is_shared_worker() || rt_.shared_may_end(*control_))
      quit();
  }
}

message_port context_core::adopt_port(record_ptr rec, bool implicit) {
  // The record's first adoption fills the object of its block (no
  // allocation); a transferred port gets an object of its own. The blank
  // check needs no lock: only this first adoption writes the block's
  // object's identity, and it happened before the record reached us.
  port_ptr obj;
  if (auto& mine = port_block::of(*rec).first; mine.blank()) {
    // (Its `sched` is the record's: set when the block was made.)
    mine.ctx_id = id();
    mine.implicit = implicit;
    obj = port_ptr{rec, &mine};
  } else {
    obj = std::make_shared<adopted_port>(id(), control_->sched.get(),
                                         implicit);
  }
  obj->epoch = sched_->adopt(*rec, caf::actor_cast<caf::actor>(this),
                             obj.get());
  ENTANGLE_TRACE(sched_->tracer, t,
                 t->on_adopt(trace_port{t->now(), rec->id, id()}));
  obj->record = std::move(rec);
  ports_.insert(obj.get());
  // ATTACHED now: it keeps itself alive (the table only points at it).
  if (is_adopted(*obj))
    static_cast<adopted_port&>(*obj).self = obj;
  return message_port{std::move(obj)};
}

record_ptr context_core::ship_port(port_object& port) {
  if (lease_.port == &port)
    give_back(port); // messages of the batch move with the port
  auto keep = unlist(port);
  auto rec = std::move(port.record);
  port.detached.store(true, std::memory_order_relaxed);
  sched_->ship(*rec);
  ENTANGLE_TRACE(sched_->tracer, t,
                 t->on_transfer(trace_port{t->now(), rec->id, id()}));
  forget(port);
  return rec;
}

void context_core::set_sink(port_object& port, port_sink fn) {
  if (fn)
    rare().sinks[&port] = std::move(fn);
  else if (rare_)
    rare_->sinks.erase(&port);
}

void context_core::start_port(port_object& port) {
  if (!port.record) {
    warn_inert(port, "start", "nothing happens");
    return;
  }
  if (port.started.load(std::memory_order_relaxed))
    return;
  port.started.store(true, std::memory_order_relaxed);
  auto r = sched_->start(port.record, port.epoch);
  if (r.live && !port.peer_gone && !port.counted && !port.unrefed) {
    port.counted = true;
    ++open_started_;
  }
  if (r.head_stamp != 0)
    note_unshipped(port.epoch, r.head_stamp);
  if (drain_)
    allow_queued(port);
}

void context_core::close_port(port_object& port, drop_reason why) {
  if (port.closed.load(std::memory_order_relaxed))
    return;
  if (lease_.port == &port)
    give_back(port); // counted with the rest of the queue
  port.closed.store(true, std::memory_order_relaxed);
  port.detached.store(true, std::memory_order_relaxed);
  auto keep = port.record ? unlist(port) : nullptr;
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
  forget_allowance(port);
  // The port dispatches nothing more: drop its listeners now (they may
  // capture handles to it) and let it go once user handles are gone.
  port.events.clear();
  if (rare_)
    rare_->sinks.erase(&port);
  if (port.implicit && workers_) // a worker object's port ends
    workers_->erase_epoch(port.epoch);
}

port_ptr context_core::unlist(port_object& port) {
  // Out of the table first, while `record` is still set: nothing that
  // runs later (the listeners' destructors in forget) can find the port
  // half detached.
  auto keep = unpin(port);
  ports_.erase(port.epoch);
  return keep;
}

port_ptr context_core::port_of(std::uint64_t epoch) const {
  return ports_.find(epoch);
}

std::uint64_t context_core::worker_of(const port_object& port) const {
  return port.implicit && workers_ ? workers_->worker_at(port.epoch) : 0;
}

port_ptr context_core::worker_port(std::uint64_t worker_id) const {
  auto epoch = workers_ ? workers_->epoch_of(worker_id) : 0;
  return epoch != 0 ? port_of(epoch) : nullptr;
}

void context_core::queue_task(std::function<void()> fn) {
  if (closing_ || drain_) // HTML's closing flag: new tasks are discarded
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
    if (auto i = rt_.shared_workers.find(control_->shared->key);
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
  if (!workers_)
    workers_ = std::make_unique<worker_table>();
  if (!workers_->add(ctl->id, obj.epoch)) { // both come from counters
    std::fputs("entangle: internal error: a worker's id or port epoch did "
               "not grow\n",
               stderr);
    std::abort();
  }
  return worker{std::move(outside), std::move(ctl)};
}

void context_core::on_exit() {
  scope in{this};
  closing_ = true;
  if (failed_)
    report_failure();
  // Orderly shutdown: a parent that ends normally only closes its workers'
  // implicit ports, and each worker finishes what is queued to it
  // (begin_draining); one that crashed or was terminated takes them down
  // at once.
  if (workers_ && (failed_ || control_->terminated.load()))
    workers_->for_each([this](std::uint64_t worker_id) {
      rt_.terminate(worker_id);
    });
  tasks_.clear();
  drop_timers(); // (CAF cancels the clock's wake-up: ensure_wake)
  if (startup_)
    startup_->init = nullptr;
  // Close every port we own as an orderly close: peers get everything we
  // posted, then close. Messages still queued here are counted as
  // context_gone, and ports they carry are closed in turn.
  auto ports = ports_.snapshot(); // close_port erases them from ports_
  unshipped_heads_.clear();
  workers_.reset();
  if (rare_) {
    auto bcs = std::move(rare_->bcs);
    rare_->bcs.clear();
    for (auto& [seq, obj] : bcs)
      close_broadcast(*obj);
  }
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
  if (startup_ && startup_->inside) // spawned but never initialised
    sched_->close(startup_->inside, drop_reason::context_gone);
  startup_.reset();
  // A crash first is what ended it, even if terminate() came meanwhile
  // (its parent, hearing of the crash, may fail and terminate its workers).
  auto kind = failed_                      ? exit_kind::exception
              : control_->terminated.load() ? exit_kind::terminated
                                            : exit_kind::normal;
  rt_.context_ended(*control_, kind, rare_ ? rare_->what : std::string{});
  caf::scheduled_actor::on_exit();
}

} // namespace entangle::detail
