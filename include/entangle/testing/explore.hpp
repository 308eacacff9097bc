#pragma once

// Schedule exploration: run one test body under many schedules, each
// choosing differently where the threaded runtime could (which ready
// context runs next, which context runs in the middle of a turn, when a
// timer fires, when an injected fault lands), and report the first failing
// one with a command that replays it and its choices shrunk to a few
// readable steps. docs/testing.md, "Exploring schedules", teaches it.
//
//   auto result = explore([](testkit& kit) {
//     int done = 0;
//     kit.spawn("page", [&](context& self) { ... });
//     kit.run();
//     kit.require(done == 2, "both workers finished");
//   });
//   CHECK(result);   // catch.hpp prints result.report() when it fails

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "entangle/runtime.hpp"
#include "entangle/testing/schedule.hpp"

namespace entangle::testing {

class testkit;

/// How `explore` runs.
struct explore_options {
  /// Schedules to try, with seeds first_seed, first_seed + 1, ... 0 takes
  /// the environment's ENTANGLE_SCHEDULES, else 100.
  std::uint64_t schedules = 0;
  std::uint64_t first_seed = 1;
  /// Adjusts each schedule's runtime configuration, as testkit's `tune`
  /// (explored testkits start from the runtime's defaults, dispatch_batch
  /// 64 included, as in production; see testkit).
  std::function<void(runtime_config&)> tune;
  /// Shrink the failing schedule's choices (ENTANGLE_SHRINK=0: don't).
  bool shrink = true;
  /// Replays shrinking may take at most.
  std::size_t shrink_budget = 3000;
  /// Decisions one schedule may take; more is reported as a failure (the
  /// body never settles: a livelock, or an interval that never stops).
  std::size_t max_decisions = 200000;
  /// The test's name, for the replay command; under Catch2 (catch.hpp)
  /// the running test case's name is used when this is empty.
  std::string test_name;
};

/// What `explore` found. True when every schedule passed.
struct exploration {
  /// Schedules run.
  std::uint64_t schedules = 0;
  bool failed = false;
  /// The first failing schedule (what ENTANGLE_SCHEDULE replays).
  schedule failing;
  /// What its body reported (a failed check or require, an exception).
  std::string failure;
  /// The failing choices shrunk (equal to `failing` if shrinking was off
  /// or found nothing shorter), its failure, and its non-default choices
  /// in words, one step each.
  schedule shrunk;
  std::string shrunk_failure;
  std::vector<std::string> steps;
  /// Non-default choices of the failing schedule before shrinking.
  std::size_t choices_before = 0;
  /// The events (testkit deliveries) of the shrunk schedule, in order.
  std::vector<std::string> events;
  /// Environment and command that replay `failing`, and `shrunk`.
  std::string replay;
  std::string replay_shrunk;

  /// Everything above as the text a failing test prints.
  std::string report() const;

  explicit operator bool() const noexcept {
    return !failed;
  }
};

/// Runs `body` once per schedule, each time in a fresh exploring testkit,
/// until one fails (a `check`/`require` of the kit failed, or an exception
/// escaped the body), then shrinks and describes that schedule.
///
/// ENTANGLE_SCHEDULE (a seed, or choices as printed) runs exactly that
/// schedule instead, every time; ENTANGLE_SCHEDULES sets how many are
/// tried when `options.schedules` is 0.
///
/// Inside the body use the kit's `check`/`require`, not Catch2's macros:
/// the body runs once per schedule (and again while shrinking), and only
/// the result should reach Catch2.
exploration explore(const explore_options& options,
                    const std::function<void(testkit&)>& body);

/// `explore` with `schedules` schedules (0: the environment's or 100).
exploration explore(std::uint64_t schedules,
                    const std::function<void(testkit&)>& body);

/// `explore` with default options.
exploration explore(const std::function<void(testkit&)>& body);

/// Runs `body` once under `s` and describes it (as `explore` describes a
/// failure: `failed`, `failure`, `steps`, `events`); no shrinking.
exploration replay(const schedule& s, const explore_options& options,
                   const std::function<void(testkit&)>& body);

/// How explore() learns the running test's name for its replay command
/// (catch.hpp installs Catch2's); empty: none.
void set_test_name_source(std::function<std::string()> fn);

} // namespace entangle::testing
