#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <typeinfo>
#include <vector>

#include "entangle/message_port.hpp"
#include "entangle/runtime.hpp"
#include "entangle/testing/schedule.hpp"
#include "entangle/value.hpp"

namespace entangle::testing {

/// One event a context dispatched, as the testkit recorded it.
struct delivery {
  /// Name and id of the context it was dispatched in.
  std::string context;
  std::uint64_t context_id = 0;
  /// "message", "messageerror", "close", or "error" (an exception ended a
  /// worker: at its worker object in the parent, before that close).
  std::string type;
  /// A copy of the event's data (undefined for close; the what() for
  /// error).
  value data;
  /// The event's origin ("" for port messages).
  std::string origin;
  /// The port it fired at; null for a worker's implicit port (its global
  /// on the worker's side, its worker object on the parent's) and for a
  /// BroadcastChannel.
  message_port port;
  /// The port's number in reports ("p3", see `port_name`); 0 when `port`
  /// is null.
  std::uint64_t port_id = 0;
  /// At a dedicated worker's global (the worker's side of its implicit
  /// port: what its creator posted to it).
  bool at_global = false;
  /// At a worker object, the creator's side of a worker (what the worker
  /// posted, its "error", and "close" once it ended): the worker's name.
  std::string worker;
  /// How many ports the message carried.
  std::size_t ports = 0;
  /// The registered type name of a typed message (typed.hpp); else "".
  std::string typed;
  /// Its C++ type (null for value messages).
  const std::type_info* typed_type = nullptr;
};

/// "message at port p3 of w1: \"ping\"" (what failure output shows).
std::string to_string(const delivery& d);

/// The name reports give a port: "p" and its scheduler's number ("p3"),
/// the same in every run of a test; "a closed port" once it has none.
std::string port_name(const message_port& port);

/// A C++ type's readable name ("test_types::order"), for reports.
std::string type_display_name(const std::type_info& type);

/// A failed `testkit::require` (explore() reports it with the schedule).
class schedule_failure : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

namespace internal {
class explorer;
struct kit_access;
} // namespace internal

/// Runs entangle contexts deterministically, on the calling thread, for
/// unit tests of actor protocols.
///
/// The same contexts and the same user code as with a threaded `runtime`,
/// but every context runs on CAF's `test_coordinator`: nothing happens until
/// the test drives it, one event at a time (`step`) or until idle (`run`),
/// and time is virtual (timers fire only in `advance`, except a 0 ms timer,
/// which is due at once and runs when the task that set it ends, as on the
/// threaded runtime). Every dispatched event is recorded (`deliveries`).
///
/// A plain testkit runs one schedule: the oldest ready context first, each
/// turn whole, time still while anything can run. An *exploring* testkit
/// (constructed with a `schedule`; `explore()` makes one per schedule)
/// takes every choice the threaded runtime could make differently from
/// its schedule instead; docs/testing.md says which ones and why.
///
/// Single-threaded: use a testkit, and the handles its contexts hand out,
/// only from the test's thread. Handles captured from inside contexts may be
/// passed to the inspection and fault-injection calls below.
class testkit {
public:
  /// `tune` adjusts the configuration (it is already deterministic, with
  /// warnings off and a dispatch batch of 1, so one step is one event).
  explicit testkit(const std::function<void(runtime_config&)>& tune = {});

  /// An exploring testkit taking its choices from `s`. Its configuration
  /// is the runtime's default (dispatch_batch 64, as in production: the
  /// schedules explored are those of that configuration) with warnings
  /// off, then `tune`.
  explicit testkit(schedule s,
                   const std::function<void(runtime_config&)>& tune = {});
  ~testkit();

  testkit(const testkit&) = delete;
  testkit& operator=(const testkit&) = delete;

  /// The runtime (drops, exits, live counts, spawn).
  runtime& rt() noexcept {
    return *rt_;
  }

  /// Spawns a top-level context; its init runs at the next step or run.
  std::uint64_t spawn(std::string name, init_function init);

  /// Opens a top-level window (runtime::open_window).
  std::uint64_t open_window(std::string name, std::string_view origin_url,
                            init_function init);

  /// Opens a frame of the live window `parent` (context::open_frame, run
  /// inside it now); returns the frame's id.
  /// @throws std::invalid_argument if no such window lives.
  std::uint64_t open_frame(std::string_view parent, std::string name,
                           std::string_view origin_url, init_function init);

  // -- driving ---------------------------------------------------------------

  /// Runs until exactly one event (message, messageerror, close, error) was
  /// dispatched and returns it; nullopt when nothing is left to run without
  /// advancing time. Inits, tasks and timer callbacks that run on the way do
  /// not count as events. (Exploring: runs one scheduling step after
  /// another until some event was dispatched; a step whose turn was
  /// interrupted by other contexts may dispatch several; the first is
  /// returned, all are in `deliveries`.)
  std::optional<delivery> step();

  /// Runs everything that can run without advancing time. Returns the
  /// number of events dispatched.
  std::size_t run();

  /// Advances virtual time by `d` (firing every timer due by then, in
  /// order), then runs until idle. Returns the number of events dispatched.
  /// (Exploring: time moves to each next timer whenever the schedule says,
  /// also while contexts still have work, until `d` has passed and nothing
  /// is left.)
  std::size_t advance(std::chrono::milliseconds d);

  /// Moves virtual time by `d` and delivers the wake-ups of the timers
  /// due by then, in due order, without running anything: `step()` then
  /// runs them one event at a time. (A timer re-armed meanwhile fires when
  /// time moves again.)
  void advance_time(std::chrono::milliseconds d);

  /// Virtual time since the testkit started.
  std::chrono::milliseconds now() const;

  /// Returns whether nothing can run without advancing time.
  bool idle() const;

  /// Returns whether a timer is pending.
  bool has_pending_timer() const;

  // -- inspection ------------------------------------------------------------

  /// Messages (and a pending close) queued on `port`, not yet dispatched.
  /// 0 for a null, closed or transferred-away handle.
  std::size_t queued(const message_port& port) const;

  /// Every event dispatched so far, in order.
  const std::vector<delivery>& deliveries() const noexcept {
    return log_;
  }
  void clear_deliveries() noexcept {
    log_.clear();
  }

  drop_counts drops() const;
  std::size_t live_contexts() const;
  std::size_t live_ports() const;

  /// The live context named `name` (the oldest one if several are).
  /// @throws std::invalid_argument if none lives (the message names the
  ///         live ones).
  std::uint64_t id_of(std::string_view name) const;

  /// The name of context `id`, live or ended ("" if unknown).
  std::string name_of(std::uint64_t id) const;

  // -- faults ----------------------------------------------------------------
  //
  // On a plain testkit a fault lands now. Exploring, it lands when the
  // schedule says: at once by default, or after other contexts ran, at
  // the latest before the next run()/advance() returns.

  /// Terminates a context from outside (as runtime::terminate).
  void terminate(std::uint64_t context_id);
  void terminate(std::string_view name);

  /// Makes a context end as if a handler threw `what`.
  void crash(std::uint64_t context_id, const std::string& what);
  void crash(std::string_view name, const std::string& what);

  /// Closes `port` from outside, as its owner would (the peer gets close
  /// after everything already posted).
  void close_port(const message_port& port);

  /// Runs `fn` inside the context `context_id` now (it may post, close,
  /// spawn...) and returns true; returns false, running nothing, if that
  /// context has ended (under exploration it may have in some schedules).
  bool inject(std::uint64_t context_id, std::function<void()> fn);
  /// @throws std::invalid_argument if no context of that name lives.
  bool inject(std::string_view name, std::function<void()> fn);

  // -- expectations of explored test bodies ----------------------------------

  /// Records a failure of this schedule unless `ok` (the first one is what
  /// explore() reports). Callable from the body and from handlers.
  void check(bool ok, std::string_view what);

  /// As `check`; from the test body it also stops the body (throws
  /// schedule_failure). Inside a context it only records (an exception
  /// there would end the context instead).
  void require(bool ok, std::string_view what);

  bool failed() const noexcept {
    return !failure_.empty();
  }
  /// The first recorded failure ("" if none).
  const std::string& failure() const noexcept {
    return failure_;
  }

  /// Whether this testkit explores (was given a schedule).
  bool exploring() const noexcept {
    return explorer_ != nullptr;
  }

private:
  friend struct internal::kit_access;

  bool run_one_job();
  void record_dispatches();
  /// Exploring: a spent decision budget fails the schedule.
  void settle_check();

  std::unique_ptr<runtime_config> cfg_;
  std::unique_ptr<internal::explorer> explorer_;
  std::unique_ptr<runtime> rt_;
  std::vector<delivery> log_;
  std::string failure_;
  /// Virtual time when the testkit started (CAF's clock is steady_clock).
  std::chrono::steady_clock::time_point start_;
};

} // namespace entangle::testing
