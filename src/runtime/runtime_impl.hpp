#pragma once

#include "contexts/world.hpp"
#include "entangle/runtime.hpp"

namespace entangle {

/// What a `runtime` owns: the world its contexts live in, plus the
/// deterministic driver (the testkit drives it too).
struct runtime::impl : detail::world {
  using world::world;

  /// Deterministic mode: runs jobs on this thread until every context ended
  /// or nothing can run; with `advance`, jumps virtual time to each next
  /// timer when idle. Returns whether every context ended.
  bool drive(bool advance);
};

} // namespace entangle
