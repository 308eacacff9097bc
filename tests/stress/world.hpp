#pragma once

// The port scheduler (src/ports/port_scheduler.hpp) stressed from plain threads:
// the shared harness (this file: inboxes and the world; owner.hpp: an owner
// thread; round.hpp: running and checking a round). One scenario per
// *_test.cpp in this folder.
//
// No CAF code runs here: every "context" is a std::thread with an inbox, and
// the scheduler's wake-up hints go to that inbox instead of to a CAF
// mailbox. The scheduler is the only shared object, so ThreadSanitizer
// (scripts/test --tsan) sees every access it makes, which it cannot do for
// anything that goes through Debian's uninstrumented libcaf_core
// (shared/design/CAF_NOTES.md §7).
//
// Owners are real `caf::actor` handles that CAF never runs
// (owner_handles.hpp).
//
// Each "owner" thread follows the scheduler's contract the way context_core
// does: only the owner of a record pops it (on drain hints and tokens only,
// never by polling, so a lost wake-up leaves a queue that never drains),
// starts, ships or closes it; anyone may post to it. Owner threads never assert
// (Catch2 v2 is not thread-safe): they record errors, and the test body
// checks everything on the main thread after joining them:
//   - per-pair FIFO: an end receives exactly 0, 1, 2, ... of what its peer
//     posted (across any number of transfers of either end), and after the
//     close sentinel nothing;
//   - at most one close sentinel per end; exactly one for every end that
//     waited for it, and then it received everything its peer ever posted;
//   - no stale pop: a pop with an old epoch never returns a message;
//   - drops: messages posted (or dropped on purpose) == messages popped +
//     drops().total();
//   - live_records() == 0 once everything is closed;
//   - at checkpoints (nobody posts, transfers or closes; the main thread
//     polls the records): every queue of a started port drains, and every
//     open port is still entangled (a lost close event shows there).
// A round that does not settle within `round_deadline` fails (as a hang).
//
// Scenarios: everything at once (four levels of pairs, ports carried only
// down the levels, so no port ends up inside its own queue), never-shipped
// ports (tokens, held messages, leaving the combined order), one end relayed
// between threads while its peer streams, both ends closing at once, deep
// cascades. ENTANGLE_STRESS_ITERS sets the rounds per test case (default 8:
// about 2 s in a debugoptimized build, 3 s under ASan, 4-5 s under TSan).

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include <caf/actor.hpp>

#include <catch2/catch.hpp>

#include "owner_handles.hpp"
#include "ports/port_record.hpp"
#include "ports/port_scheduler.hpp"
#include "ports/serialized_message.hpp"

namespace entangle::stress {

using namespace std::chrono_literals;
using entangle::bigint;
using entangle::drop_reason;
using entangle::detail::envelope;
using entangle::detail::port_record;
using entangle::detail::port_scheduler;
using entangle::detail::serialized_message;
using entangle::test::owner_handles;

using record_ptr = std::shared_ptr<port_record>;
using wake_kind = port_scheduler::wake_kind;
using pop_result = port_scheduler::pop_result;

/// Rounds per test case.
inline int stress_rounds() {
  if (const char* s = std::getenv("ENTANGLE_STRESS_ITERS")) {
    char* end = nullptr;
    auto n = std::strtol(s, &end, 10);
    if (end != s && n > 0)
      return static_cast<int>(n);
  }
  return 8;
}

/// How long a round may take before it counts as hung (lost wake-up or a
/// port that never closes). Generous: TSan slows this test ~10x.
inline constexpr auto round_deadline = 60s;


// -- inboxes ------------------------------------------------------------------

/// What an owner thread's "mailbox" carries. `unshipped`: the owner's own
/// wake-up for its never-shipped ports (one at a time, like a context's).
struct work {
  enum class kind { drain, unshipped, adopt } k = kind::drain;
  std::weak_ptr<port_record> weak; // drain: held weakly, as in CAF
  record_ptr rec;                  // adopt: a record in transit
  std::uint64_t epoch = 0;
};

class inbox {
public:
  void push(work w) {
    {
      std::lock_guard<std::mutex> guard{mu_};
      items_.push_back(std::move(w));
    }
    cv_.notify_one();
  }

  /// Everything queued; waits up to `wait` for something if empty.
  std::deque<work> take(std::chrono::microseconds wait) {
    std::unique_lock<std::mutex> guard{mu_};
    if (items_.empty() && wait.count() > 0)
      cv_.wait_for(guard, wait);
    return std::exchange(items_, {});
  }

  /// Number of queued transfers (records waiting to be adopted).
  std::size_t pending_adopts() const {
    std::lock_guard<std::mutex> guard{mu_};
    return static_cast<std::size_t>(
      std::count_if(items_.begin(), items_.end(),
                    [](const work& w) { return w.k == work::kind::adopt; }));
  }

private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<work> items_;
};

// -- the world: one scheduler, its records, the owners' inboxes ---------------

/// The test's view of one port end. Only the thread that currently owns the
/// end touches it; ownership moves with the record (through the scheduler's
/// record locks or an inbox lock), and the main thread reads it after join.
struct end_state {
  int level = 0;            // ends are carried only on higher-level pairs
  record_ptr rec;           // set while owned
  std::uint64_t epoch = 0;  // the current owner's epoch
  bool started = false;
  std::uint64_t sent = 0;   // seq of the next message this end posts
  std::uint64_t recvd = 0;  // seq this end expects next
  int closes = 0;           // close sentinels popped
  bool waits_for_close = false; // must end by popping exactly one sentinel
  bool closed_by_owner = false;
  int adopted = 0;          // times adopted (transfers + 1)
};

/// The owner running on this thread: a never-shipped port's wake-up is
/// caused by its owner itself and handled at once (context_core's
/// note_unshipped), so the hint needs the owner, not its inbox.
struct unshipped_sink {
  virtual ~unshipped_sink() = default;
  virtual int sink_id() const = 0;
  virtual void note_unshipped(const record_ptr& rec, std::uint64_t epoch,
                              std::uint64_t stamp) = 0;
};
inline thread_local unshipped_sink* current_sink = nullptr;

struct world {
  world(const owner_handles& h, std::size_t n_owners)
    : handles(h),
      sched([this](const caf::actor& owner, wake_kind kind,
                   port_record& rec, std::uint64_t epoch,
                   std::uint64_t arg) { hint(owner, kind, rec, epoch, arg); }) {
    sched.warnings = false;
    for (std::size_t i = 0; i < n_owners; ++i)
      boxes.push_back(std::make_unique<inbox>());
  }

  /// Before the threads start: a new pair; ends 2p and 2p+1.
  std::pair<int, int> add_pair(bool shipped, int level) {
    auto [a, b] = sched.make_pair(shipped);
    int i = static_cast<int>(ends.size());
    for (auto* r : {&a, &b}) {
      index.emplace(r->get(), static_cast<int>(ends.size()));
      all.push_back(*r);
      ends.emplace_back();
      ends.back().level = level;
    }
    fresh.push_back(std::move(a));
    fresh.push_back(std::move(b));
    return {i, i + 1};
  }

  /// Before the threads start: gives end `e` (still in transit) to owner `o`.
  void give(int e, int o) {
    boxes[o]->push(work{work::kind::adopt, {}, std::move(fresh[e]), 0});
  }

  int index_of(const port_record* r) const {
    auto i = index.find(r);
    return i == index.end() ? -1 : i->second;
  }

  void hint(const caf::actor& owner, wake_kind kind, port_record& target,
            std::uint64_t epoch, std::uint64_t arg) {
    int o = owner ? handles.index_of(owner) : -1;
    int r = index_of(&target);
    // The hint names the record; the work item holds it (it is alive: the
    // scheduler runs this under its lock, while something references it).
    record_ptr rec = r >= 0 ? all[static_cast<std::size_t>(r)].lock() : nullptr;
    if (o < 0 || o >= static_cast<int>(boxes.size()) || !rec
        || kind == wake_kind::none) {
      bad_hints.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    if (kind == wake_kind::drain) {
      drain_hints.fetch_add(1, std::memory_order_relaxed);
      boxes[o]->push(work{work::kind::drain, rec, nullptr, epoch});
    } else if (current_sink == nullptr || current_sink->sink_id() != o) {
      bad_hints.fetch_add(1, std::memory_order_relaxed); // not its owner
    } else {
      unshipped_hints.fetch_add(1, std::memory_order_relaxed);
      current_sink->note_unshipped(rec, epoch, arg);
    }
  }

  /// Polled by the main thread: every record closed (or gone)?
  std::size_t open_records() const {
    std::size_t n = 0;
    for (auto& w : all)
      if (auto r = w.lock()) {
        entangle::detail::record_guard guard{r->mu()};
        if (!r->closed)
          ++n;
      }
    return n;
  }

  /// Polled by the main thread once nobody posts, transfers or closes any
  /// more: every record closed, or owned and either unstarted or empty, and
  /// no transfer waiting in an inbox. Anything else that lasts is a lost
  /// wake-up. And then every open record is still entangled: a port whose
  /// peer closed popped the close sentinel and was closed by its owner.
  /// Returns the number of open records, -1 if not settled (yet), or -2
  /// with `bad` set if settled with an unentangled open record.
  int settled(std::string& bad) const {
    for (auto& b : boxes)
      if (b->pending_adopts() > 0)
        return -1;
    int open = 0;
    int lost = -1;
    for (auto& w : all)
      if (auto r = w.lock()) {
        entangle::detail::record_guard guard{r->mu()};
        if (r->closed)
          continue;
        ++open;
        if (!r->owner)
          return -1; // in transit
        if (!r->started)
          continue; // held by its owner: may hold messages
        if (!r->queue.empty())
          return -1;
        if (!r->entangled_locked())
          lost = index_of(r.get());
      }
    if (lost >= 0) {
      bad = "end " + std::to_string(lost)
            + " is open, drained and unentangled: its close event was lost";
      return -2;
    }
    return open;
  }

  /// After the threads ended: what the still-open records look like.
  /// (With `unsettled`: only those that keep settled() from holding.)
  std::string describe_open(bool unsettled = false) const {
    std::ostringstream out;
    int shown = 0;
    for (auto& w : all)
      if (auto r = w.lock()) {
        entangle::detail::record_guard guard{r->mu()};
        if (r->closed || shown == 10
            || (unsettled && r->owner
              && (!r->started || (r->queue.empty() && r->entangled_locked()))))
          continue;
        ++shown;
        out << "end " << index_of(r.get()) << ": owner=" << (r->owner ? 1 : 0)
            << " started=" << r->started << " shipped=" << r->shipped
            << " hint_pending=" << r->hint_pending
            << " queue=" << r->queue.size() << " peer=" << (r->entangled_locked() ? 1 : 0)
            << "\n";
      }
    return out.str();
  }

  const owner_handles& handles;
  port_scheduler sched;
  std::vector<end_state> ends;
  std::unordered_map<const port_record*, int> index; // fixed once running
  std::vector<std::weak_ptr<port_record>> all;
  std::vector<record_ptr> fresh; // records not yet handed to an owner
  std::vector<std::unique_ptr<inbox>> boxes;
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> drain_hints{0};
  std::atomic<std::uint64_t> unshipped_hints{0};
  std::atomic<std::uint64_t> bad_hints{0};
};

} // namespace entangle::stress
