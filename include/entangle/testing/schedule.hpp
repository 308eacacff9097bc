#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace entangle::testing {

/// Where an exploring testkit takes its scheduling choices from.
///
/// A *decision* is a moment where the threaded runtime could do one of
/// several things next: which ready context runs, whether another context
/// runs in the middle of a turn just before it posts or closes, when
/// virtual time moves and a timer wake-up is delivered, when a crash or a
/// termination the test asked for lands (docs/testing.md lists them). The
/// testkit lists the possibilities in a fixed order, the first being the
/// *default* (the context that has been ready longest runs, turns are not
/// interrupted, time stands still while anything can run, a fault lands at
/// once), and asks its schedule which to take. Decisions are numbered from
/// 0 in the order they are met.
///
/// A schedule is either a seed (a pseudo-random choice at each decision,
/// from a generator that is the same on every machine) or a list of
/// explicit choices (every decision not in it takes its default). Either
/// replays exactly: the same test body under the same schedule makes the
/// same choices, in any process, on any machine.
class schedule {
public:
  /// Decision `at` takes option `option` (0 is the default).
  struct choice {
    std::uint64_t at = 0;
    std::uint32_t option = 0;
  };

  /// Every decision takes its default.
  schedule() = default;

  /// Pseudo-random choices drawn from `seed`.
  static schedule random(std::uint64_t seed);

  /// The given choices; every other decision takes its default.
  static schedule choices(std::vector<choice> cs);

  /// Reads what `to_string` writes: "" or "default" (every choice at its
  /// default), "17" (seed 17), "choices:4=2,9=1" (decision 4 takes option
  /// 2, decision 9 option 1).
  /// @throws std::invalid_argument for anything else.
  static schedule parse(std::string_view text);

  /// The text `parse` reads (what ENTANGLE_SCHEDULE takes).
  std::string to_string() const;

  /// Whether choices come from a seed.
  bool is_random() const noexcept {
    return random_;
  }

  /// The seed (0 unless `is_random`).
  std::uint64_t seed() const noexcept {
    return seed_;
  }

  /// The explicit choices, by decision (empty for a seed).
  const std::vector<choice>& explicit_choices() const noexcept {
    return choices_;
  }

private:
  bool random_ = false;
  std::uint64_t seed_ = 0;
  std::vector<choice> choices_;
};

} // namespace entangle::testing
