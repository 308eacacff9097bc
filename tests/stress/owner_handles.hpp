#pragma once

// Owner handles for tests that drive the port scheduler from plain threads.
//
// The scheduler needs real `caf::actor` handles as owners (it only copies
// them, tests them for null and passes them to the hint function). They come
// from scoped actors of an actor_system with `scheduler.policy=testing`:
// that system starts no worker threads, and nothing ever sends to or runs
// those actors, so ThreadSanitizer sees no CAF code at run time.

#include <cstddef>
#include <memory>
#include <vector>

#include <caf/actor.hpp>
#include <caf/actor_cast.hpp>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/atom.hpp>
#include <caf/scoped_actor.hpp>

namespace entangle::test {

/// `n` actor handles that CAF never runs (see the file comment).
struct owner_handles {
  explicit owner_handles(std::size_t n) {
    cfg.set("scheduler.policy", caf::atom("testing"));
    sys = std::make_unique<caf::actor_system>(cfg);
    for (std::size_t i = 0; i < n; ++i) {
      selves.push_back(std::make_unique<caf::scoped_actor>(*sys, true));
      actors.push_back(caf::actor_cast<caf::actor>(selves.back()->ptr()));
      ids.push_back(actors.back().id());
    }
  }

  ~owner_handles() {
    actors.clear();
    selves.clear();
    sys.reset();
  }

  int index_of(const caf::actor& a) const {
    auto id = a.id();
    for (std::size_t i = 0; i < ids.size(); ++i)
      if (ids[i] == id)
        return static_cast<int>(i);
    return -1;
  }

  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  std::vector<std::unique_ptr<caf::scoped_actor>> selves;
  std::vector<caf::actor> actors;
  std::vector<caf::actor_id> ids;
};

} // namespace entangle::test
