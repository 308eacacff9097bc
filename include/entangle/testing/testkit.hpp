#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "entangle/message_port.hpp"
#include "entangle/runtime.hpp"
#include "entangle/value.hpp"

namespace entangle::testing {

/// One event a context dispatched, as the testkit recorded it.
struct delivery {
  /// Name and id of the context it was dispatched in.
  std::string context;
  std::uint64_t context_id = 0;
  /// "message", "messageerror" or "close".
  std::string type;
  /// A copy of the event's data (undefined for close).
  value data;
  /// The event's origin ("" for port messages).
  std::string origin;
  /// The port it fired at; null for a worker's implicit port and for a
  /// BroadcastChannel.
  message_port port;
  /// How many ports the message carried.
  std::size_t ports = 0;
  /// The registered type name of a typed message (typed.hpp); else "".
  std::string typed;
};

/// Runs entangle contexts deterministically, on the calling thread, for
/// unit tests of actor protocols.
///
/// The same contexts and the same user code as with a threaded `runtime`,
/// but every context runs on CAF's `test_coordinator`: nothing happens until
/// the test drives it, one event at a time (`step`) or until idle (`run`),
/// and time is virtual (timers fire only in `advance`, except a 0 ms timer,
/// which is due at once and runs when the task that set it ends, as on the
/// threaded runtime). Every dispatched
/// event is recorded (`deliveries`).
///
/// Single-threaded: use a testkit, and the handles its contexts hand out,
/// only from the test's thread. Handles captured from inside contexts may be
/// passed to the inspection and fault-injection calls below.
class testkit {
public:
  /// `tune` adjusts the configuration (it is already deterministic, with
  /// warnings off and a dispatch batch of 1, so one step is one event).
  explicit testkit(const std::function<void(runtime_config&)>& tune = {});
  ~testkit();

  testkit(const testkit&) = delete;
  testkit& operator=(const testkit&) = delete;

  /// The runtime (drops, exits, live counts, spawn).
  runtime& rt() noexcept {
    return *rt_;
  }

  /// Spawns a top-level context; its init runs at the next step or run.
  std::uint64_t spawn(std::string name, init_function init);

  // -- driving ---------------------------------------------------------------

  /// Runs until exactly one event (message, messageerror or close) was
  /// dispatched and returns it; nullopt when nothing is left to run without
  /// advancing time. Inits, tasks and timer callbacks that run on the way do
  /// not count as events.
  std::optional<delivery> step();

  /// Runs everything that can run without advancing time. Returns the
  /// number of events dispatched.
  std::size_t run();

  /// Advances virtual time by `d` (firing every timer due by then, in
  /// order), then runs until idle. Returns the number of events dispatched.
  std::size_t advance(std::chrono::milliseconds d);

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

  // -- faults ----------------------------------------------------------------

  /// Terminates a context from outside, now.
  void terminate(std::uint64_t context_id);

  /// Makes a context end as if a handler threw `what`, now.
  void crash(std::uint64_t context_id, const std::string& what);

  /// Closes `port` from outside, as its owner would (the peer gets close
  /// after everything already posted).
  void close_port(const message_port& port);

  /// Runs `fn` inside the context `context_id` now (it may post, close,
  /// spawn...). Ignored if that context has ended.
  void inject(std::uint64_t context_id, std::function<void()> fn);

private:
  bool run_one_job();

  std::unique_ptr<runtime_config> cfg_;
  std::unique_ptr<runtime> rt_;
  std::vector<delivery> log_;
};

} // namespace entangle::testing
