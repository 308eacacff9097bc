#pragma once

#include <functional>

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

  /// Deterministic mode: how `drive` takes one step -- run a ready job, or
  /// with `advance`, move virtual time to the next timer and deliver it --
  /// returning false when nothing can happen. Empty: CAF's order (the
  /// oldest job first, time only when idle). The testkit's schedule
  /// explorer sets it, so that run(), stop() and shutdown() inside an
  /// explored test follow the schedule too.
  std::function<bool(bool advance)> step;
};

} // namespace entangle
