#pragma once

#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <caf/actor_system.hpp>

#include "context_core.hpp"
#include "entangle/runtime.hpp"
#include "port_scheduler.hpp"

namespace entangle::detail {

/// Everything a runtime owns, shared with its contexts.
///
/// Member order matters: the scheduler outlives the actor system, because
/// records (held by mailbox hints) call back into it while the system
/// destroys the last actors.
struct runtime_state {
  explicit runtime_state(runtime_config& cfg);
  ~runtime_state();

  /// Spawns a context; `inside` is the worker side of an implicit pair.
  std::shared_ptr<context_control> spawn(std::string name, init_function init,
                                         record_ptr inside);

  /// Called by a context's on_exit.
  void context_ended(const context_control& ctl, exit_kind kind,
                     std::string what);

  void terminate(const std::shared_ptr<context_control>& ctl);

  runtime_config& cfg;
  std::shared_ptr<port_scheduler> sched;

  mutable std::mutex mu;
  std::condition_variable cv;
  std::map<std::uint64_t, std::shared_ptr<context_control>> live;
  std::vector<context_exit> exits;
  std::uint64_t next_id = 1;
  bool stopping = false;

  caf::actor_system system;
};

} // namespace entangle::detail
