#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/actor_addr.hpp>

#include "entangle/origin.hpp"

namespace entangle::detail {

class port_scheduler;

/// Shared between a context actor, the runtime and the handles that name
/// the context (`worker`, `window_proxy`): what is needed to terminate it
/// from outside, to post to it, and to report its end. A handle may outlive
/// the runtime: nothing here points into it (the scheduler is shared).
struct context_control {
  /// Unique in this process, not just in its runtime: ownership checks
  /// compare it, so a handle carried into another runtime is foreign there.
  std::uint64_t id = 0;
  std::string name;
  /// The scheduler of the context's runtime.
  std::shared_ptr<port_scheduler> sched;
  /// Set once the context ended (its actor is gone).
  std::atomic<bool> ended{false};

  /// The context's actor while it runs (null before it is spawned and after).
  caf::actor actor() const {
    std::lock_guard<std::mutex> guard{mu()};
    return actor_;
  }
  void set_actor(caf::actor hdl) {
    std::lock_guard<std::mutex> guard{mu()};
    actor_ = std::move(hdl);
  }

  /// The spawning context of a dedicated worker (null for top-level ones).
  /// Weak: a strong link would make a chain of workers destroy itself
  /// recursively, one stack frame per link (a 100 000-deep chain crashed).
  caf::actor_addr parent;
  /// The context's origin (a worker's is its creator's). Changes only by
  /// navigation, on the context's own thread.
  entangle::origin origin = entangle::origin::opaque();
  std::atomic<bool> terminated{false};

  /// The runtime's hidden "outside" context (ingress.cpp): it lives until
  /// the runtime stops and is not one of the runtime's live contexts.
  bool service = false;

  // -- windows (HTML §11) ---------------------------------------------------
  bool is_window = false;
  /// Bumped by each navigation: messages posted to an earlier document are
  /// dropped at delivery.
  std::atomic<std::uint64_t> document{1};

  std::weak_ptr<context_control> parent_window;
  /// A window's frames, made with its first one. Guarded by `mu()`.
  std::unique_ptr<std::vector<std::weak_ptr<context_control>>> frames;

  // -- shared workers (HTML §12.6) -------------------------------------------
  /// What only a shared worker needs, in a block made before it is spawned
  /// and never replaced (so any thread may read the pointer): most contexts
  /// are not one, and every context has a control block (issue #17).
  /// Guarded by the runtime's `mu`.
  struct shared_state {
    /// Key in the runtime's shared worker registry.
    std::string key;
    /// Connects sent and not yet handled: the worker must not end meanwhile.
    std::size_t pending_connects = 0;
  };
  std::unique_ptr<shared_state> shared;
  bool is_shared_worker() const noexcept {
    return shared != nullptr;
  }

  /// Guards the actor handle and a window's `frames`: one of a fixed set of
  /// mutexes, picked by address, not one per block (a mutex is 40 bytes and
  /// every context has a control block, issue #17). Never held while taking
  /// another, so two blocks that share one cannot deadlock.
  std::mutex& mu() const noexcept;

private:
  caf::actor actor_;
};

/// A context id unique in this process (context_control::id).
std::uint64_t next_context_id() noexcept;

} // namespace entangle::detail
