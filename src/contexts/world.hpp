#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <array>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/scheduler/test_coordinator.hpp>

#include "contexts/broadcast.hpp"
#include "contexts/context_core.hpp"
#include "entangle/runtime.hpp"
#include "ports/port_scheduler.hpp"

namespace entangle::detail {

/// The world the contexts of one runtime live in: the port scheduler, the
/// CAF actor system, the registries of live contexts, shared workers and
/// BroadcastChannels, and the configuration. Contexts reach it through
/// `context_core::rt()`; the public `runtime` (src/runtime/) owns one and
/// adds waiting, stopping and the deterministic driver on top. It lives in
/// the contexts layer because spawning and ending contexts is its job.
///
/// Member order matters: the scheduler outlives the actor system, because
/// records (held by mailbox hints) call back into it while the system
/// destroys the last actors.
struct outside_state;

struct world {
  explicit world(runtime_config& cfg);
  ~world();

  /// Spawns a context; `inside` is the worker side of an implicit pair.
  std::shared_ptr<context_control> spawn(std::string name, init_function init,
                                         spawn_options opts);

  /// The hidden context that owns the ends of outside ports (ingress.cpp),
  /// spawned on first use; null once the runtime stops.
  caf::actor gateway();
  /// Terminates the gateway (runtime::stop); true if one was running.
  bool stop_gateway();
  /// The outside ports' shared states, so the gateway's end can close
  /// them all (guarded by `mu`).
  std::vector<std::weak_ptr<outside_state>> outside_ports;
  std::shared_ptr<context_control> gateway_ctl;
  bool gateway_ended = false;

  /// The remote node (src/remote/, issue #14): its state, opaque here,
  /// created on first use; its hidden context (a service like the gateway,
  /// owning the local ends of cross-process links); how to stop its
  /// network-facing actor. All guarded by `mu`.
  std::shared_ptr<void> remote;
  std::shared_ptr<context_control> remote_ctl;
  std::function<void()> remote_stop;
  bool remote_ended = false;
  /// Terminates the remote node (runtime::stop); true if one was running.
  bool stop_remote();

  /// Called by a context's on_exit.
  void context_ended(context_control& ctl, exit_kind kind,
                     std::string what);

  void terminate(const std::shared_ptr<context_control>& ctl);
  /// Terminates the live context `id` (unknown or ended: nothing).
  void terminate(std::uint64_t id);

  /// Finds or starts the shared worker `key` and sends it a connect
  /// carrying `inside` (closed if the connect is never handled).
  void connect_shared(const std::string& key, std::string name,
                      origin org, init_function init, record_ptr inside);

  /// Called by a shared worker about to end: false (stay) while connects
  /// are pending; otherwise unregisters it.
  bool shared_may_end(context_control& ctl);

  /// Called for every event a context dispatches (before its listeners);
  /// `port` is null for events that are not at a port (BroadcastChannel).
  /// Set before contexts run (deterministic testkit, tracing).
  std::function<void(context_core&, port_object* port, const message_event&)>
    on_dispatch;

  /// Every BroadcastChannel object of this runtime.
  broadcast_registry broadcasts;

  runtime_config& cfg;
  /// Keeps `cfg.tracer` alive as long as contexts may call it.
  std::shared_ptr<entangle::tracer> tracer;
  std::shared_ptr<port_scheduler> sched;

  mutable std::mutex mu;
  std::condition_variable cv;
  std::map<std::uint64_t, std::shared_ptr<context_control>> live;
  /// The last `cfg.exit_history` ends, oldest first.
  std::deque<context_exit> exits;
  /// Every end, by exit_kind (exact, however long the history).
  std::array<std::uint64_t, exit_kind_count> exit_counts{};
  /// Running shared workers by key (origin + script + name).
  std::map<std::string, std::shared_ptr<context_control>> shared_workers;
  bool stopping = false;
  /// runtime::shutdown is in progress: new contexts drain after init.
  bool shutting_down = false;

  caf::actor_system system;

  /// Timers set and neither fired (one-shot), cleared nor dropped with
  /// their context (a cleared timer may leave its wake-up on CAF's clock;
  /// this can tell).
  std::atomic<std::size_t> pending_timers{0};

  /// Non-null in deterministic mode.
  caf::scheduler::test_coordinator* coordinator = nullptr;

  /// The testkit's schedule explorer (deterministic mode only; set before
  /// any context is spawned, outlives them). See explore_hook.
  explore_hook* explorer = nullptr;
};

} // namespace entangle::detail
