#include "contexts/world.hpp"

#include <caf/io/middleman.hpp>
#include <caf/settings.hpp>

#include <algorithm>

#include <caf/actor_cast.hpp>
#include <caf/exit_reason.hpp>
#include <caf/send.hpp>

#include "base/prune.hpp"
#include "base/trace_hooks.hpp"
#include "contexts/ingress.hpp"

namespace entangle::detail {

namespace {

void send_hint(const caf::actor& owner, port_scheduler::wake_kind kind,
               port_record&, std::uint64_t epoch, std::uint64_t arg) {
  // Every record owner is a context (only context_core::adopt sets one).
  if (kind == port_scheduler::wake_kind::peer_closed) {
    // Rare (a connection lost before its worker started it): no wake
    // element, an ordinary message.
    caf::anon_send(owner, peer_closed_atom::value, epoch);
    return;
  }
  auto* core = static_cast<context_core*>(
    caf::actor_cast<caf::abstract_actor*>(owner));
  if (kind == port_scheduler::wake_kind::unshipped) {
    // Caused by the owner itself, on its own thread: no mailbox trip.
    core->note_unshipped(epoch, arg);
    return;
  }
  // From inside a context, wake the owner on this worker.
  core->wake(port_ready_atom::value, epoch, current_execution_unit());
}

runtime_config& prepare(runtime_config& c) {
  if (c.deterministic)
    c.set("scheduler.policy", caf::atom("testing"));
  if (c.remote && !c.remote_loaded) {
    // CAF's network layer (issue #14; src/remote/ runs on it). BASP's
    // handshake compares app identifiers: a CAF node of another
    // application is refused before any entangle frame is exchanged.
    c.load<caf::io::middleman>();
    c.remote_loaded = true;
    c.set("middleman.app-identifiers",
          std::vector<std::string>{"entangle/1"});
    // Without heartbeats a hung peer is never detected (CAF_NOTES §5).
    if (caf::get_if(&c.content, "middleman.heartbeat-interval") == nullptr)
      c.set("middleman.heartbeat-interval", c.remote_heartbeat);
    // Five intervals, but never under 5 s: a process that is merely slow
    // (a sanitizer build on a loaded machine stalled for over a second)
    // must not be declared lost. A dead process closes its socket and is
    // seen at once either way.
    if (caf::get_if(&c.content, "middleman.connection-timeout") == nullptr)
      c.set("middleman.connection-timeout",
            std::max(caf::timespan{5 * c.remote_heartbeat},
                     caf::timespan{std::chrono::seconds{5}}));
  }
  return c;
}

#if ENTANGLE_TRACING
void trace_start(entangle::tracer& t, const context_control& ctl,
                 std::string_view kind) {
  t.on_context_start(trace_context{t.now(), ctl.id, ctl.name, kind,
                                   trace_current_context(), {}, {}});
}
#endif

} // namespace

world::world(runtime_config& c)
  : cfg(c),
    tracer(c.tracer),
    sched(port_scheduler::create(send_hint)),
    system(prepare(c)) {
  sched->warnings = c.warnings;
  sched->default_marks = c.port_high_water_mark;
#if ENTANGLE_TRACING
  sched->tracer = tracer.get();
#endif
  if (c.deterministic)
    coordinator
      = &dynamic_cast<caf::scheduler::test_coordinator&>(system.scheduler());
}

std::uint64_t next_context_id() noexcept {
  static std::atomic<std::uint64_t> next{1};
  return next.fetch_add(1, std::memory_order_relaxed);
}

std::mutex& context_control::mu() const noexcept {
  // Each on its own cache line: blocks that share a stripe only share the
  // lock, which is held for a handle copy or a frame list swap.
  struct alignas(64) stripe {
    std::mutex m;
  };
  static stripe stripes[256];
  auto h = reinterpret_cast<std::uintptr_t>(this) >> 4;
  return stripes[(h ^ (h >> 8)) & 255].m;
}

world::~world() {
  {
    std::lock_guard<std::mutex> guard{mu};
    live.clear();
  }
  // The remote node holds actor handles: let them go while the actor
  // system is still there (outside the lock: it releases ports too).
  auto node = std::move(remote);
  auto stop_node = std::move(remote_stop);
  node.reset();
  stop_node = nullptr;
}

std::shared_ptr<context_control>
world::spawn(std::string name, init_function init, spawn_options opts) {
  auto ctl = std::make_shared<context_control>();
  ctl->name = std::move(name);
  ctl->origin = std::move(opts.origin);
  ctl->parent = opts.parent.address();
  ctl->is_window = opts.window;
  ctl->sched = sched;
  if (opts.parent_window) {
    ctl->parent_window = opts.parent_window;
    std::lock_guard<std::mutex> guard{opts.parent_window->mu()};
    auto& list = opts.parent_window->frames;
    if (!list)
      list = std::make_unique<std::vector<std::weak_ptr<context_control>>>();
    auto& frames = *list;
    // Bounded: frames that ended are dropped when the list is full.
    prune_when_full(frames, [](const std::weak_ptr<context_control>& f) {
      auto c = f.lock();
      return !c || c->ended.load();
    });
    frames.push_back(ctl);
  }
  auto inside = std::move(opts.inside);
  {
    std::lock_guard<std::mutex> guard{mu};
    ctl->id = next_context_id();
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
  bool drain_it = false;
  {
    std::lock_guard<std::mutex> guard{mu};
    if (live.count(ctl->id) != 0)
      ctl->set_actor(hdl);
    stop_it = stopping;
    drain_it = shutting_down;
  }
  if (stop_it) // spawned by a context while the runtime stops
    terminate(ctl);
  else if (drain_it) // ... or shuts down: it finishes after its init
    caf::anon_send(hdl, drain_atom::value);
  return ctl;
}

void world::context_ended(context_control& ctl, exit_kind kind,
                                  std::string what) {
  ENTANGLE_TRACE(sched->tracer, t,
                 t->on_context_end(trace_context{t->now(), ctl.id,
                                                 ctl.name, {}, 0,
                                                 to_string(kind), what}));
  if (ctl.service) { // the gateway or the remote node: no exit record
    bool is_gateway;
    {
      std::lock_guard<std::mutex> guard{mu};
      is_gateway = &ctl != remote_ctl.get();
    }
    if (is_gateway)
      close_outside_ports(*this);
    std::lock_guard<std::mutex> guard{mu};
    ctl.set_actor(nullptr);
    ctl.ended = true;
    (is_gateway ? gateway_ended : remote_ended) = true;
    cv.notify_all();
    return;
  }
  std::lock_guard<std::mutex> guard{mu};
  if (ctl.is_shared_worker())
    if (auto i = shared_workers.find(ctl.shared->key);
        i != shared_workers.end() && i->second.get() == &ctl)
      shared_workers.erase(i);
  ++exit_counts[static_cast<std::size_t>(kind)];
  if (cfg.exit_history > 0) {
    if (exits.size() >= cfg.exit_history)
      exits.pop_front(); // bounded: the counts by kind stay exact
    exits.push_back(context_exit{ctl.id, ctl.name, kind, std::move(what)});
  }
  if (auto i = live.find(ctl.id); i != live.end()) {
    i->second->set_actor(nullptr);
    i->second->ended = true;
    live.erase(i);
  }
  cv.notify_all();
}

void world::connect_shared(const std::string& key, std::string name,
                                   origin org, init_function init,
                                   record_ptr inside) {
  auto msg = std::make_shared<serialized_message>();
  msg->ports.push_back(std::move(inside));
  msg->fate = drop_reason::context_gone; // closes the port if never handled
  caf::actor hdl;
  {
    std::lock_guard<std::mutex> guard{mu};
    auto i = shared_workers.find(key);
    if (i != shared_workers.end() && i->second->actor()) {
      ++i->second->shared->pending_connects;
      hdl = i->second->actor();
    } else if (!stopping) {
      // Start it: registered, counted and spawned under the lock, so a
      // second client cannot start a twin and the worker cannot end before
      // its first connect.
      auto ctl = std::make_shared<context_control>();
      ctl->name = std::move(name);
      ctl->origin = std::move(org);
      ctl->sched = sched;
      ctl->shared = std::make_unique<context_control::shared_state>();
      ctl->shared->key = key;
      ctl->shared->pending_connects = 1;
      ctl->id = next_context_id();
      live.emplace(ctl->id, ctl);
      shared_workers[key] = ctl;
      ENTANGLE_TRACE(sched->tracer, t, trace_start(*t, *ctl, "shared worker"));
      hdl = system.spawn<context_core>(*this, ctl, std::move(init),
                                       record_ptr{});
      ctl->set_actor(hdl);
    }
  }
  if (hdl)
    caf::anon_send(hdl, connect_atom::value, std::move(msg));
}

bool world::shared_may_end(context_control& ctl) {
  std::lock_guard<std::mutex> guard{mu};
  if (ctl.shared->pending_connects > 0)
    return false;
  if (auto i = shared_workers.find(ctl.shared->key);
      i != shared_workers.end() && i->second.get() == &ctl)
    shared_workers.erase(i);
  return true;
}

caf::actor world::gateway() {
  std::lock_guard<std::mutex> guard{mu};
  if (gateway_ctl) // running, or gone because the runtime stops
    return gateway_ctl->actor();
  if (stopping)
    return {};
  auto ctl = std::make_shared<context_control>();
  ctl->name = "outside";
  ctl->id = next_context_id();
  ctl->sched = sched;
  ctl->service = true;
  auto hdl = system.spawn<context_core>(*this, ctl, init_function{},
                                        record_ptr{});
  ctl->set_actor(hdl);
  gateway_ctl = std::move(ctl);
  return hdl;
}

bool world::stop_gateway() {
  caf::actor hdl;
  {
    std::lock_guard<std::mutex> guard{mu};
    if (!gateway_ctl)
      return false;
    hdl = gateway_ctl->actor();
    if (hdl)
      gateway_ctl->terminated = true;
  }
  if (!hdl)
    return false;
  caf::anon_send_exit(hdl, caf::exit_reason::kill);
  return true;
}

bool world::stop_remote() {
  caf::actor hdl;
  std::function<void()> stop_actor;
  {
    std::lock_guard<std::mutex> guard{mu};
    if (!remote_ctl)
      return false;
    hdl = remote_ctl->actor();
    if (hdl)
      remote_ctl->terminated = true;
    stop_actor = std::move(remote_stop);
  }
  // The node context first: it sends frames as the actor.
  if (hdl)
    caf::anon_send_exit(hdl, caf::exit_reason::kill);
  if (stop_actor)
    stop_actor();
  return static_cast<bool>(hdl);
}

void world::terminate(std::uint64_t id) {
  std::shared_ptr<context_control> ctl;
  {
    std::lock_guard<std::mutex> guard{mu};
    auto i = live.find(id);
    if (i == live.end())
      return;
    ctl = i->second;
  }
  terminate(ctl);
}

void world::terminate(const std::shared_ptr<context_control>& ctl) {
  caf::actor hdl;
  {
    std::lock_guard<std::mutex> guard{mu};
    if (live.count(ctl->id) == 0)
      return;
    hdl = ctl->actor();
  }
  ctl->terminated.store(true);
  if (hdl)
    caf::anon_send_exit(hdl, caf::exit_reason::kill);
}

} // namespace entangle::detail
