#include "entangle/runtime.hpp"

#include <caf/actor_cast.hpp>
#include <caf/exit_reason.hpp>
#include <caf/send.hpp>

#include "runtime_state.hpp"
#include "trace_hooks.hpp"

namespace entangle {

namespace detail {

namespace {

void send_hint(const caf::actor& owner, port_scheduler::wake_kind kind,
               const record_ptr&, std::uint64_t epoch) {
  // Every record owner is a context (only context_core::adopt sets one).
  // From inside a context, wake the owner on this worker.
  auto* core = static_cast<context_core*>(
    caf::actor_cast<caf::abstract_actor*>(owner));
  caf::atom_value what = port_ready_atom::value;
  if (kind == port_scheduler::wake_kind::token)
    what = unshipped_atom::value;
  core->wake(what, epoch, current_execution_unit());
}

} // namespace

namespace {

runtime_config& prepare(runtime_config& c) {
  if (c.deterministic)
    c.set("scheduler.policy", caf::atom("testing"));
  return c;
}

#if ENTANGLE_TRACING
void trace_start(entangle::tracer& t, const context_control& ctl,
                 std::string_view kind) {
  t.on_context_start(trace_context{trace_clock::now(), ctl.id, ctl.name, kind,
                                   trace_current_context(), {}});
}
#endif

} // namespace

runtime_state::runtime_state(runtime_config& c)
  : cfg(c),
    tracer(c.tracer),
    sched(std::make_shared<port_scheduler>(send_hint)),
    system(prepare(c)) {
  sched->warnings = c.warnings;
#if ENTANGLE_TRACING
  sched->tracer = tracer.get();
#endif
  if (c.deterministic)
    coordinator
      = &dynamic_cast<caf::scheduler::test_coordinator&>(system.scheduler());
}

bool runtime_state::drive(bool advance) {
  auto done = [this] {
    std::lock_guard<std::mutex> guard{mu};
    return live.empty();
  };
  while (!done()) {
    if (coordinator->try_run_once())
      continue;
    if (advance && coordinator->has_pending_timeout()) {
      coordinator->trigger_timeout();
      continue;
    }
    return false;
  }
  // Let the ended actors' last messages go (they hold nothing strongly).
  while (coordinator->try_run_once())
    ; // nop
  return true;
}

runtime_state::~runtime_state() {
  {
    std::lock_guard<std::mutex> guard{mu};
    live.clear();
  }
}

std::shared_ptr<context_control>
runtime_state::spawn(std::string name, init_function init, spawn_options opts) {
  auto ctl = std::make_shared<context_control>();
  ctl->name = std::move(name);
  ctl->origin = std::move(opts.origin);
  ctl->parent = std::move(opts.parent);
  ctl->is_window = opts.window;
  ctl->rt = this;
  if (opts.parent_window) {
    ctl->parent_window = opts.parent_window;
    std::lock_guard<std::mutex> guard{opts.parent_window->frames_mu};
    opts.parent_window->frames.push_back(ctl);
  }
  auto inside = std::move(opts.inside);
  {
    std::lock_guard<std::mutex> guard{mu};
    ctl->id = next_id++;
    live.emplace(ctl->id, ctl);
  }
  ENTANGLE_TRACE(sched->tracer, t,
                 trace_start(*t, *ctl,
                             ctl->is_window
                               ? (opts.parent_window ? "frame" : "window")
                               : (ctl->parent ? "worker" : "context")));
  // Registered before it can run, so it cannot end "before it began".
  auto hdl = system.spawn<context_core>(*this, ctl, std::move(init),
                                        std::move(inside));
  bool stop_it = false;
  {
    std::lock_guard<std::mutex> guard{mu};
    if (live.count(ctl->id) != 0)
      ctl->actor = hdl;
    stop_it = stopping;
  }
  if (stop_it) // spawned by a context while the runtime stops
    terminate(ctl);
  return ctl;
}

void runtime_state::context_ended(const context_control& ctl, exit_kind kind,
                                  std::string what) {
  ENTANGLE_TRACE(sched->tracer, t,
                 t->on_context_end(trace_context{trace_clock::now(), ctl.id,
                                                 ctl.name, {}, 0,
                                                 to_string(kind)}));
  std::lock_guard<std::mutex> guard{mu};
  if (!ctl.shared_key.empty())
    if (auto i = shared_workers.find(ctl.shared_key);
        i != shared_workers.end() && i->second.get() == &ctl)
      shared_workers.erase(i);
  exits.push_back(context_exit{ctl.id, ctl.name, kind, std::move(what)});
  if (auto i = live.find(ctl.id); i != live.end()) {
    i->second->actor = nullptr;
    live.erase(i);
  }
  cv.notify_all();
}

void runtime_state::connect_shared(const std::string& key, std::string name,
                                   origin org, init_function init,
                                   record_ptr inside) {
  auto msg = std::make_shared<serialized_message>();
  msg->ports.push_back(std::move(inside));
  msg->fate = drop_reason::context_gone; // closes the port if never handled
  caf::actor hdl;
  {
    std::lock_guard<std::mutex> guard{mu};
    auto i = shared_workers.find(key);
    if (i != shared_workers.end() && i->second->actor) {
      ++i->second->pending_connects;
      hdl = i->second->actor;
    } else if (!stopping) {
      // Start it: registered, counted and spawned under the lock, so a
      // second client cannot start a twin and the worker cannot end before
      // its first connect.
      auto ctl = std::make_shared<context_control>();
      ctl->name = std::move(name);
      ctl->origin = std::move(org);
      ctl->rt = this;
      ctl->shared_key = key;
      ctl->pending_connects = 1;
      ctl->id = next_id++;
      live.emplace(ctl->id, ctl);
      shared_workers[key] = ctl;
      ENTANGLE_TRACE(sched->tracer, t, trace_start(*t, *ctl, "shared worker"));
      hdl = system.spawn<context_core>(*this, ctl, std::move(init),
                                       record_ptr{});
      ctl->actor = hdl;
    }
  }
  if (hdl)
    caf::anon_send(hdl, connect_atom::value, std::move(msg));
}

bool runtime_state::shared_may_end(context_control& ctl) {
  std::lock_guard<std::mutex> guard{mu};
  if (ctl.pending_connects > 0)
    return false;
  if (auto i = shared_workers.find(ctl.shared_key);
      i != shared_workers.end() && i->second.get() == &ctl)
    shared_workers.erase(i);
  return true;
}

void runtime_state::terminate(const std::shared_ptr<context_control>& ctl) {
  caf::actor hdl;
  {
    std::lock_guard<std::mutex> guard{mu};
    if (live.count(ctl->id) == 0)
      return;
    hdl = ctl->actor;
  }
  ctl->terminated.store(true);
  if (hdl)
    caf::anon_send_exit(hdl, caf::exit_reason::kill);
}

} // namespace detail

runtime_config::runtime_config() {
  opt_group{custom_options_, "entangle"}
    .add(max_clone_depth, "max-clone-depth",
         "maximum nesting depth of a posted value")
    .add(dispatch_batch, "dispatch-batch",
         "messages one port dispatches per turn before yielding")
    .add(max_buffer_bytes, "max-buffer-bytes",
         "largest ArrayBuffer payload a context accepts (0 = no limit)")
    .add(warnings, "warnings", "print misuse warnings to stderr")
    .add(deterministic, "deterministic",
         "run all contexts on one thread with virtual time");
}

std::string_view to_string(exit_kind k) noexcept {
  switch (k) {
    case exit_kind::normal:
      return "normal";
    case exit_kind::exception:
      return "exception";
    case exit_kind::terminated:
      return "terminated";
  }
  return "unknown";
}

runtime::runtime()
  : owned_cfg_(std::make_unique<runtime_config>()),
    impl_(std::make_unique<impl>(*owned_cfg_)) {
  // nop
}

runtime::runtime(runtime_config& cfg) : impl_(std::make_unique<impl>(cfg)) {
  // nop
}

runtime::~runtime() {
  stop();
  if (impl_->coordinator != nullptr) {
    impl_->drive(true);
    return;
  }
  std::unique_lock<std::mutex> guard{impl_->mu};
  impl_->cv.wait(guard, [this] { return impl_->live.empty(); });
}

std::uint64_t runtime::spawn(std::string name, init_function init) {
  return impl_->spawn(std::move(name), std::move(init), {})->id;
}

std::uint64_t runtime::spawn(std::string name, std::string_view origin_url,
                             init_function init) {
  detail::spawn_options opts;
  opts.origin = origin::parse(origin_url); // SyntaxError before anything runs
  return impl_->spawn(std::move(name), std::move(init), std::move(opts))->id;
}

std::uint64_t runtime::open_window(std::string name,
                                   std::string_view origin_url,
                                   init_function init) {
  detail::spawn_options opts;
  opts.origin = origin::parse(origin_url);
  opts.window = true;
  return impl_->spawn(std::move(name), std::move(init), std::move(opts))->id;
}

void runtime::run() {
  if (impl_->coordinator != nullptr) {
    impl_->drive(true);
    return;
  }
  std::unique_lock<std::mutex> guard{impl_->mu};
  impl_->cv.wait(guard,
                 [this] { return impl_->live.empty() || impl_->stopping; });
}

bool runtime::run_for(std::chrono::milliseconds timeout) {
  if (impl_->coordinator != nullptr) // virtual time: no wall clock involved
    return impl_->drive(true);
  std::unique_lock<std::mutex> guard{impl_->mu};
  return impl_->cv.wait_for(guard, timeout, [this] {
    return impl_->live.empty() || impl_->stopping;
  }) && impl_->live.empty();
}

void runtime::stop() {
  std::vector<std::shared_ptr<detail::context_control>> all;
  {
    std::lock_guard<std::mutex> guard{impl_->mu};
    impl_->stopping = true;
    for (auto& [id, ctl] : impl_->live)
      all.push_back(ctl);
    impl_->cv.notify_all();
  }
  for (auto& ctl : all)
    impl_->terminate(ctl);
}

void runtime::terminate(std::uint64_t context_id) {
  std::shared_ptr<detail::context_control> ctl;
  {
    std::lock_guard<std::mutex> guard{impl_->mu};
    auto i = impl_->live.find(context_id);
    if (i == impl_->live.end())
      return;
    ctl = i->second;
  }
  impl_->terminate(ctl);
}

std::size_t runtime::live_contexts() const {
  std::lock_guard<std::mutex> guard{impl_->mu};
  return impl_->live.size();
}

drop_counts runtime::drops() const {
  return impl_->sched->drops();
}

std::vector<context_exit> runtime::exits() const {
  std::lock_guard<std::mutex> guard{impl_->mu};
  return impl_->exits;
}

std::size_t runtime::live_ports() const {
  return impl_->sched->live_records();
}

} // namespace entangle
