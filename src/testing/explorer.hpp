#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include <caf/actor_clock.hpp>
#include <caf/resumable.hpp>

#include "contexts/explore_hook.hpp"
#include "contexts/world.hpp"
#include "entangle/testing/schedule.hpp"

namespace entangle::testing::internal {

/// A fault the test asked for, waiting to land (exploring testkit).
struct fault {
  bool crash = false;
  std::uint64_t context = 0;
  std::string what;
};

/// One decision of a schedule: option `chosen` (0: the default) of
/// `options` (always at least 2; a moment with one possibility is not a
/// decision).
struct decision {
  std::uint32_t chosen = 0;
  std::uint32_t options = 0;
};

/// The scheduling choices of an exploring testkit (docs/testing.md,
/// "Which schedules are explored, and why those").
///
/// Top level (`step`): land a fault the test asked for, run one turn of a
/// ready context (one mailbox element, as CAF's workers take them), deliver
/// a timer wake-up that is due, or move virtual time to the next timer --
/// in that order of defaults, ready contexts oldest-ready first.
///
/// Inside a turn (`point`, called by contexts before each operation other
/// contexts can observe or influence): go on (the default), or first run
/// a turn of another ready context -- nested on this thread, which is what
/// another core could do meanwhile -- or land a fault, deliver a timer
/// wake-up, move time; then decide again (at most `per_point` times).
///
/// Invariants:
/// - Deterministic: the options of a decision depend only on what the
///   schedule chose before (never on pointers, ids of other runs or hash
///   order); ready contexts are ordered by (the scan at which they became
///   ready, context id), and context ids grow in spawn order in every run.
/// - Sound: every option is something the threaded runtime can do at that
///   moment (a ready context's next mailbox element, a timer at or after
///   its due time, a fault after the test asked for it); a context that is
///   running (on the stack) is never ready, so it never runs twice at once.
/// - Bounded: nesting is at most `max_depth` deep, and after
///   `max_decisions` decisions nothing more runs (`exhausted`).
class explorer final : public detail::explore_hook {
public:
  using time_point = caf::actor_clock::time_point;

  explorer(detail::world& w, schedule s);

  /// Takes one top-level step; false when nothing can happen by `limit`
  /// (virtual time) or the decision budget is spent.
  bool step(time_point limit);

  void point(detail::context_core& self, detail::explore_op op,
             const detail::port_object* port, const value* data) override;

  void add_fault(fault f) {
    faults_.push_back(std::move(f));
  }

  /// Off: points do nothing (teardown).
  void set_active(bool on) noexcept {
    active_ = on;
  }

  void set_budget(std::size_t max_decisions) noexcept {
    max_decisions_ = max_decisions;
  }

  /// Records, for each non-default decision, what was chosen instead of
  /// what (for `steps`); costs a little per decision, so off by default.
  void set_describing(bool on) noexcept {
    describing_ = on;
  }

  const std::vector<decision>& decisions() const noexcept {
    return decisions_;
  }

  bool exhausted() const noexcept {
    return exhausted_;
  }

  std::size_t budget() const noexcept {
    return max_decisions_;
  }

  /// The non-default decisions in words (describing only), in order.
  std::vector<std::string> steps() const;

private:
  struct option {
    enum kind_t : std::uint8_t { proceed, land, run, deliver, advance };
    kind_t kind = proceed;
    std::size_t fault = 0;
    caf::resumable* job = nullptr;
    std::uint64_t ctx = 0;
  };

  /// What a ready context would do next (its next mailbox element).
  enum class next_kind : std::uint8_t {
    other,
    init,
    drain,
    own,
    task,
    timer,
    killed,
    injected,
    window,
    broadcast,
    connect,
    navigate,
    unload,
    worker_ready,
    worker_error,
    drain_request,
    fence,
    peer_closed,
  };

  /// A port as a step names it: "p3", "its parent", "worker w2".
  struct port_ref {
    enum kind_t : std::uint8_t { plain, parent, worker };
    kind_t kind = plain;
    std::uint64_t id = 0; // record id (plain) or worker context id
  };

  /// An option, as a step describes it.
  struct side {
    option::kind_t kind = option::proceed;
    std::uint64_t ctx = 0;
    next_kind next = next_kind::other;
    port_ref port;
    std::int64_t ms = 0;
    fault f;
  };

  /// A non-default decision, described.
  struct note {
    std::uint64_t at = 0;
    bool nested = false;
    std::uint64_t self = 0;
    detail::explore_op op = detail::explore_op::end;
    port_ref port;
    std::string data;
    side chosen;
    side fallback;
  };

  std::vector<option> options(bool nested);
  std::uint32_t decide(std::size_t n, bool nested);
  void perform(const option& o);
  void land(const fault& f);
  bool visible(detail::explore_op op, const detail::port_object* port) const;
  side describe(const option& o);
  port_ref ref(const detail::context_core& owner,
               const detail::port_object* port);
  void remember(std::uint64_t ctx);
  std::string name(std::uint64_t ctx) const;
  std::string text(const port_ref& p) const;
  std::string text(const side& s) const;
  std::int64_t ms(time_point t) const;

  /// splitmix64: the same numbers on every platform.
  std::uint64_t next_random() noexcept;
  std::uint32_t below(std::uint64_t n) noexcept;

  static constexpr int max_depth = 3;
  static constexpr int per_point = 4;

  detail::world& world_;
  schedule schedule_;
  std::size_t next_choice_ = 0;
  std::uint64_t rng_ = 0;
  /// Random schedules: chances (in 16ths) that a point interrupts a turn
  /// and that a top-level decision leaves the default (per seed, so that
  /// seeds differ in character, not only in detail).
  std::uint32_t preempt16_ = 0;
  std::uint32_t wander16_ = 16;
  std::vector<decision> decisions_;
  std::size_t max_decisions_ = 200000;
  bool exhausted_ = false;
  bool active_ = true;
  int depth_ = 0;
  time_point limit_{};
  time_point start_{};
  std::vector<fault> faults_;
  /// Ready contexts by id -> the scan at which they became ready.
  std::unordered_map<std::uint64_t, std::uint64_t> since_;
  std::uint64_t scan_ = 0;
  bool describing_ = false;
  std::vector<note> notes_;
  /// Names of the contexts seen while describing, by id (ordered: same
  /// names are told apart by spawn order).
  std::map<std::uint64_t, std::string> names_;
};

} // namespace entangle::testing::internal
