// Model-based randomized test ([model]): random operations over a random set
// of contexts -- create channels, post tagged values, transfer ports (single
// hops, chains through the root relay and inside data messages, both ends at
// once), start, close, doom, end/crash/terminate contexts, invalid posts --
// checked against a reference model (PORT_PROTOCOLS §7, SEMANTICS §3-§8).
//
// Invariants, per channel direction A -> B (tests/model/world.hpp):
// - deliveries at B are A's live posts in order, each at most once: a
//   delivery out of order is `reordered`, twice `duplicated`; a post made on
//   a closed, transferred-away or foreign handle, or a doomed one, is never
//   delivered (`close_violations`);
// - a live post of A is missing (`lost`) if a later one arrived, or if B is
//   still open at quiescence (everything started and drained);
// - B sees close at most once, only after every live post of A, nothing
//   after it, never while A is open, and exactly once if B is open at
//   quiescence and A is gone (`close_violations`);
// - every message that was not dispatched is counted in exactly one drop
//   reason (a shortfall is `lost`, an excess `duplicated`; `detached`,
//   `foreign_context` and `messageerror` are checked exactly);
// - at the end no context and no port record is left (`leaked`; a run that
//   does not end counts too).
//
// It runs under the deterministic testkit (random `step`s between the
// operations explore interleavings; failures replay exactly and are shrunk)
// and under the threaded runtime, and under the testkit exploring
// schedules (mode explore: each seed also draws the schedule's choices --
// turns interrupted by other contexts, the oldest ready context not always
// first -- with the runtime's own dispatch batches). Environment:
//   ENTANGLE_MODEL_SEEDS  seeds per mode (default 200: about 2 s in a
//                         debugoptimized build, 18 s under ASan+UBSan)
//   ENTANGLE_MODEL_OPS    operations per seed (default 300)
//   ENTANGLE_MODEL_SCHEDULES   seeds in explore mode (default 60)
//   ENTANGLE_MODEL_EXPLORE_OPS operations per seed there (default 150)
//   ENTANGLE_MODEL_SEED   run only this seed
//   ENTANGLE_MODEL_KEEP   only these operation indices, e.g. "0-12,15,40-41"
//   ENTANGLE_MODEL_MODE   testkit, threads, explore or both (all three,
//                         the default)
//   ENTANGLE_MODEL_SHRINK 0 to skip shrinking a failure
//   ENTANGLE_MODEL_VERBOSE 1 to print every end's log for failing seeds
//   ENTANGLE_MODEL_TIMEOUT seconds a threaded run may take before it counts
//     as a hang (default 60, plus 20 ms per operation)
//   ENTANGLE_MODEL_MARK   a high-water mark of this many messages on both
//     ends of every channel the model creates (hard limit 2x; the marks
//     travel with the ports): every post is then delivered exactly once
//     and in order, or refused with QuotaExceededError changing nothing
//     (meson test model-limits: 2)

#include <catch2/catch.hpp>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "entangle/all.hpp"
#include "entangle/testing/testkit.hpp"
#include "model/ops.hpp"
#include "model/world.hpp"

using namespace entangle;
using namespace entangle::model;

namespace {

using clock_type = std::chrono::steady_clock;

struct settings {
  std::uint64_t seeds = 200;
  std::size_t ops = 300;
  /// Explore mode: seeds (each also the schedule's seed) and operations.
  std::uint64_t schedules = 60;
  std::size_t explore_ops = 150;
  std::optional<std::uint64_t> only_seed;
  std::optional<std::vector<std::size_t>> keep;
  std::string mode = "both";
  bool shrink = true;
  bool verbose = false;
  std::uint64_t timeout_s = 60;
};

std::optional<std::string> env(const char* name) {
  if (const char* v = std::getenv(name); v != nullptr && *v != '\0')
    return std::string{v};
  return std::nullopt;
}

/// "0-12,15" -> {0, ..., 12, 15}
std::vector<std::size_t> parse_ranges(const std::string& s) {
  std::vector<std::size_t> out;
  std::stringstream in{s};
  std::string item;
  while (std::getline(in, item, ',')) {
    auto dash = item.find('-');
    auto lo = std::stoul(item.substr(0, dash));
    auto hi = dash == std::string::npos ? lo
                                        : std::stoul(item.substr(dash + 1));
    for (auto i = lo; i <= hi; ++i)
      out.push_back(i);
  }
  return out;
}

std::string format_ranges(const std::vector<std::size_t>& xs) {
  std::string out;
  for (std::size_t i = 0; i < xs.size();) {
    auto j = i;
    while (j + 1 < xs.size() && xs[j + 1] == xs[j] + 1)
      ++j;
    if (!out.empty())
      out += ",";
    out += std::to_string(xs[i]);
    if (j > i)
      out += "-" + std::to_string(xs[j]);
    i = j + 1;
  }
  return out;
}

/// ENTANGLE_MODEL_MARK (0: no limits).
std::size_t mark_setting() {
  if (auto v = env("ENTANGLE_MODEL_MARK"))
    return std::stoull(*v);
  return 0;
}

/// Tells the world to set the mark on both ends of every channel it
/// creates (not runtime-wide: the model's own control messages to its
/// workers are not under test and do not wait for credit).
void apply_mark(runtime_config&, world& w) {
  if (auto m = mark_setting()) {
    w.limits = true;
    w.mark = m;
  }
}

settings read_settings() {
  settings s;
  if (auto v = env("ENTANGLE_MODEL_SEEDS"))
    s.seeds = std::stoull(*v);
  if (auto v = env("ENTANGLE_MODEL_OPS"))
    s.ops = std::stoull(*v);
  if (auto v = env("ENTANGLE_MODEL_SCHEDULES"))
    s.schedules = std::stoull(*v);
  if (auto v = env("ENTANGLE_MODEL_EXPLORE_OPS"))
    s.explore_ops = std::stoull(*v);
  if (auto v = env("ENTANGLE_MODEL_SEED"))
    s.only_seed = std::stoull(*v);
  if (auto v = env("ENTANGLE_MODEL_KEEP"))
    s.keep = parse_ranges(*v);
  if (auto v = env("ENTANGLE_MODEL_MODE"))
    s.mode = *v;
  if (auto v = env("ENTANGLE_MODEL_SHRINK"))
    s.shrink = *v != "0";
  if (auto v = env("ENTANGLE_MODEL_VERBOSE"))
    s.verbose = *v != "0";
  if (auto v = env("ENTANGLE_MODEL_TIMEOUT"))
    s.timeout_s = std::stoull(*v);
  return s;
}

/// What one run of one operation list found.
struct outcome {
  tally t;
  std::uint64_t executed = 0;
  std::uint64_t skipped = 0;
  std::uint64_t delivered = 0;
  std::uint64_t drops = 0;
  std::uint64_t closes = 0;
  std::uint64_t refused = 0;
  drop_counts by_reason;
  std::string log; // every end's log (for reports)
};

/// Dispatch batch per seed: one event per turn, a few, or the default.
std::size_t batch_for(std::uint64_t seed) {
  static const std::size_t batches[] = {1, 64, 2};
  return batches[seed % 3];
}

/// Fills the outcome from a finished run.
void conclude(outcome& out, world& w, runtime& rt, bool want_log) {
  w.check(out.t, rt.drops(), rt.exits());
  auto ports = rt.live_ports();
  auto contexts = rt.live_contexts();
  out.t.add(&tally::leaked, ports + contexts,
            "leak: " + std::to_string(ports) + " port records and "
              + std::to_string(contexts) + " contexts left after the end");
  if (auto cycle = w.cycle_note(); !cycle.empty() && out.t.failed())
    out.t.first = cycle + "; " + out.t.first;
  out.executed = w.executed;
  out.skipped = w.skipped;
  out.refused = w.refused.load();
  out.delivered = w.data_delivered;
  out.drops = rt.drops().total();
  out.by_reason = rt.drops();
  out.closes = w.closes_seen;
  if (want_log || out.t.failed())
    out.log = w.dump();
}

/// `explore`: the testkit explores schedules, its choices drawn from
/// `seed` too (ENTANGLE_MODEL_MODE=explore).
outcome run_testkit(std::uint64_t seed, const std::vector<op>& ops,
                    bool want_log, bool explore = false) {
  outcome out;
  world w{ops, false};
  auto tune = [seed, &w](runtime_config& cfg) {
    cfg.max_buffer_bytes = buffer_limit;
    cfg.dispatch_batch = batch_for(seed);
    apply_mark(cfg, w);
  };
  auto kit_ptr = explore ? std::make_unique<testing::testkit>(
                             testing::schedule::random(seed), tune)
                         : std::make_unique<testing::testkit>(tune);
  auto& kit = *kit_ptr;
  w.rt = &kit.rt();
  kit.spawn("root", [&w](context& self) { w.root_init(self); });
  kit.run();
  for (std::size_t k = 0; k < ops.size(); ++k) {
    if (ops[k].kind == op_kind::step) {
      for (std::uint32_t i = 0; i < ops[k].arg; ++i)
        if (!kit.step())
          break;
      continue;
    }
    int target = w.executor_of(ops[k]);
    if (target < 0) {
      w.note_skip();
      continue;
    }
    kit.inject(w.ctx_id(target), [&w, target, k] { w.exec(target, k); });
  }
  kit.run(); // transfers through the relay land before the final phase
  kit.inject(w.ctx_id(0), [&w] { w.begin_finish(); });
  kit.run();
  if (!w.drained) {
    out.t.add(&tally::other, 1, "the final phase did not drain");
    w.force_snapshot();
    kit.inject(w.ctx_id(0), [&w] { w.shutdown_root(); });
    kit.run();
  }
  if (kit.live_contexts() > 0) {
    w.forced_stop = true;
    kit.rt().stop();
    kit.run();
  }
  conclude(out, w, kit.rt(), want_log);
  return out;
}

outcome run_threads(std::uint64_t seed, const std::vector<op>& ops,
                    bool want_log) {
  outcome out;
  world w{ops, true};
  runtime_config cfg;
  cfg.warnings = false;
  cfg.max_buffer_bytes = buffer_limit;
  cfg.dispatch_batch = batch_for(seed);
  apply_mark(cfg, w);
  runtime rt{cfg};
  w.rt = &rt;
  rt.spawn("root", [&w](context& self) { w.root_init(self); });
  auto limit = std::chrono::seconds{read_settings().timeout_s}
               + std::chrono::milliseconds{20} * ops.size();
  // Wait for the end in slices: a port cycle the runtime failed to collect
  // would make the final phase wait forever, and the model can tell.
  auto deadline = clock_type::now() + limit;
  bool ended = false;
  bool cycle = false;
  while (!ended && !cycle && clock_type::now() < deadline) {
    ended = rt.run_for(std::chrono::seconds{1});
    cycle = !ended && w.finish_started() && !w.cycle_note().empty();
  }
  if (!ended) {
    if (cycle)
      out.t.add(&tally::other, 1, "the final phase did not drain");
    else
      out.t.add(&tally::leaked, 1,
                "hang: the run did not end within the time limit");
    w.force_snapshot();
    w.forced_stop = true;
    rt.stop();
  }
  // The runtime forgets its last context before that actor's state (its
  // ports, messages still queued for it) is destroyed, so "no context left"
  // can be seen a moment before the records and drop counters settle. Only when something is
  // left (a failed run, or that moment): wait until nothing is left or the
  // count stayed the same for 200 ms (a real leak), at most 10 s.
  auto until = clock_type::now() + std::chrono::seconds{10};
  auto left = rt.live_ports();
  auto stable_since = clock_type::now();
  while ((rt.live_contexts() > 0 || left > 0) && clock_type::now() < until
         && (rt.live_contexts() > 0
             || clock_type::now() - stable_since
                  < std::chrono::milliseconds{200})) {
    std::this_thread::sleep_for(std::chrono::milliseconds{5});
    auto now_left = rt.live_ports();
    if (now_left != left || rt.live_contexts() > 0) {
      left = now_left;
      stable_since = clock_type::now();
    }
  }
  conclude(out, w, rt, want_log);
  return out;
}

outcome run_once(const std::string& mode, std::uint64_t seed,
                 const std::vector<op>& ops, bool want_log) {
  return mode == "threads" ? run_threads(seed, ops, want_log)
                           : run_testkit(seed, ops, want_log,
                                         mode == "explore");
}

std::vector<op> select(const std::vector<op>& all,
                       const std::vector<std::size_t>& keep) {
  std::vector<op> out;
  for (auto i : keep)
    if (i < all.size())
      out.push_back(all[i]);
  return out;
}

/// Shrinks a failing list under the deterministic testkit: the shortest
/// failing prefix, then chunks removed while it still fails. Bounded in time.
std::vector<std::size_t> shrink(std::uint64_t seed, const std::vector<op>& all,
                                std::vector<std::size_t> keep,
                                clock_type::time_point deadline,
                                bool explore) {
  auto fails = [&](const std::vector<std::size_t>& k) {
    return run_testkit(seed, select(all, k), false, explore).t.failed();
  };
  std::size_t lo = 0;
  std::size_t hi = keep.size();
  while (lo + 1 < hi && clock_type::now() < deadline) {
    auto mid = (lo + hi) / 2;
    if (fails({keep.begin(), keep.begin() + static_cast<std::ptrdiff_t>(mid)}))
      hi = mid;
    else
      lo = mid;
  }
  keep.resize(hi);
  for (auto chunk = keep.size() / 2; chunk >= 1; chunk /= 2) {
    for (std::size_t i = 0; i + chunk <= keep.size();) {
      if (clock_type::now() >= deadline)
        return keep;
      auto trial = keep;
      trial.erase(trial.begin() + static_cast<std::ptrdiff_t>(i),
                  trial.begin() + static_cast<std::ptrdiff_t>(i + chunk));
      if (fails(trial))
        keep = std::move(trial);
      else
        i += chunk;
    }
  }
  return keep;
}

void report_failure(const settings& s, clock_type::time_point shrink_until,
                    const std::string& mode,
                    std::uint64_t seed, const std::vector<op>& all,
                    const std::vector<std::size_t>& keep, const outcome& o) {
  std::ostringstream out;
  out << "model: FAILED mode=" << mode << " seed=" << seed
      << " ops=" << all.size() << " dispatch_batch=" << batch_for(seed)
      << "\n  first violation: " << o.t.first << "\n";
  auto shown = keep;
  bool shrunk = false;
  if (s.shrink) {
    // Deterministic replay (a threaded failure is tried under the testkit
    // with the same operations).
    auto again = run_testkit(seed, select(all, keep), false,
                             mode == "explore");
    if (again.t.failed()) {
      shown = shrink(seed, all, keep, shrink_until, mode == "explore");
      shrunk = true;
    } else if (mode == "threads") {
      out << "  (does not reproduce under the testkit; the threaded run is "
             "not deterministic)\n";
    }
  }
  // The shrunk list replayed (deterministic), or the failing run itself.
  auto replay = shrunk ? run_testkit(seed, select(all, shown), true,
                                     mode == "explore")
                       : o;
  auto shown_mode = !shrunk ? mode : mode == "explore" ? mode : "testkit";
  out << "  reproduce: ENTANGLE_MODEL_MODE=" << shown_mode
      << " ENTANGLE_MODEL_SEED=" << seed << " ENTANGLE_MODEL_OPS="
      << all.size() << " ENTANGLE_MODEL_KEEP=" << format_ranges(shown) << "\n";
  if (shrunk)
    out << "  shrunk to " << shown.size() << " of " << keep.size()
        << " operations; its first violation: " << replay.t.first << "\n";
  out << "  that run: lost=" << replay.t.lost
      << " duplicated=" << replay.t.duplicated
      << " reordered=" << replay.t.reordered
      << " close_violations=" << replay.t.close_violations
      << " leaked=" << replay.t.leaked << " other=" << replay.t.other << "\n";
  for (auto& v : replay.t.some)
    out << "    - " << v << "\n";
  out << "  operations:\n";
  for (auto i : shown)
    if (i < all.size())
      out << "    #" << i << " " << to_string(all[i]) << "\n";
  if (s.verbose || shown.size() <= 60 || !shrunk)
    out << "  ends (posted: seq:status, got: seq@ctx/phase; phase 0 = "
           "operations, 1 = final phase, 2 = after the snapshot):\n"
        << replay.log;
  std::cout << out.str() << std::flush;
}

/// Posts refused by the hard limit in the last run_mode (ENTANGLE_MODEL_MARK).
std::uint64_t last_refused = 0;

/// Runs every seed in one mode, prints the summary line, returns the totals.
tally run_mode(const std::string& mode) {
  auto s = read_settings();
  tally total;
  outcome sum;
  std::uint64_t seeds = 0;
  // Reports (with shrinking) the first failure of up to three different
  // kinds, told apart by the start of their first violation.
  std::vector<std::string> reported;
  // Shrinking shares one time budget per mode, from the first failure on
  // (a failing CI run stays bounded).
  clock_type::time_point shrink_until;
  auto t0 = clock_type::now();
  std::uint64_t first = s.only_seed.value_or(1);
  std::uint64_t count = s.only_seed          ? 1
                        : mode == "explore" ? s.schedules
                                            : s.seeds;
  for (auto seed = first; seed < first + count; ++seed) {
    auto all = generate(seed, mode == "explore" ? s.explore_ops : s.ops,
                        mode != "threads");
    std::vector<std::size_t> keep;
    if (s.keep) {
      keep = *s.keep;
    } else {
      for (std::size_t i = 0; i < all.size(); ++i)
        keep.push_back(i);
    }
    auto o = run_once(mode, seed, select(all, keep), s.verbose);
    ++seeds;
    total.merge(o.t);
    sum.executed += o.executed;
    sum.skipped += o.skipped;
    sum.delivered += o.delivered;
    sum.drops += o.drops;
    sum.closes += o.closes;
    sum.refused += o.refused;
    for (std::size_t r = 0; r < drop_reason_count; ++r)
      sum.by_reason.by_reason[r] += o.by_reason.by_reason[r];
    if (o.t.failed()) {
      std::cout << "model: seed " << seed << " failed (mode=" << mode
                << "): " << o.t.first << "\n";
      std::string kind;
      for (char ch : o.t.first)
        if (!std::isdigit(static_cast<unsigned char>(ch)) && kind.size() < 40)
          kind += ch;
      if (reported.size() < 3
          && std::find(reported.begin(), reported.end(), kind)
               == reported.end()) {
        if (reported.empty())
          shrink_until = clock_type::now() + std::chrono::seconds{60};
        reported.push_back(kind);
        report_failure(s, shrink_until, mode, seed, all, keep, o);
      }
    }
  }
  auto secs = std::chrono::duration<double>(clock_type::now() - t0).count();
  std::printf("model: seeds=%llu ops=%zu lost=%llu duplicated=%llu "
              "reordered=%llu close_violations=%llu leaked=%llu mode=%s\n",
              static_cast<unsigned long long>(seeds),
              mode == "explore" ? s.explore_ops : s.ops,
              static_cast<unsigned long long>(total.lost),
              static_cast<unsigned long long>(total.duplicated),
              static_cast<unsigned long long>(total.reordered),
              static_cast<unsigned long long>(total.close_violations),
              static_cast<unsigned long long>(total.leaked), mode.c_str());
  std::printf("model-detail: mode=%s executed=%llu skipped=%llu "
              "delivered=%llu drops=%llu closes=%llu other=%llu wall=%.1fs\n",
              mode.c_str(), static_cast<unsigned long long>(sum.executed),
              static_cast<unsigned long long>(sum.skipped),
              static_cast<unsigned long long>(sum.delivered),
              static_cast<unsigned long long>(sum.drops),
              static_cast<unsigned long long>(sum.closes),
              static_cast<unsigned long long>(total.other), secs);
  last_refused = sum.refused;
  if (mark_setting() > 0)
    std::printf("model-detail: mode=%s mark=%zu: %llu posts refused by the "
                "hard limit (QuotaExceededError, nothing changed)\n",
                mode.c_str(), mark_setting(),
                static_cast<unsigned long long>(sum.refused));
  std::printf("model-detail: mode=%s drops by reason:", mode.c_str());
  for (std::size_t r = 0; r < drop_reason_count; ++r)
    std::printf(" %s=%llu",
                std::string{to_string(static_cast<drop_reason>(r))}.c_str(),
                static_cast<unsigned long long>(sum.by_reason.by_reason[r]));
  std::printf("\n");
  std::fflush(stdout);
  return total;
}

void run_and_require(const std::string& mode) {
  auto s = read_settings();
  if (s.mode != "both" && s.mode != mode)
    return;
  auto t = run_mode(mode);
  // With limits the rule must have been exercised, not just allowed.
  if (mark_setting() > 0 && s.seeds >= 20 && !s.only_seed)
    CHECK(last_refused > 0);
  INFO("first violation: " << t.first);
  CHECK(t.lost == 0);
  CHECK(t.duplicated == 0);
  CHECK(t.reordered == 0);
  CHECK(t.close_violations == 0);
  CHECK(t.leaked == 0);
  REQUIRE(t.other == 0);
}

} // namespace

TEST_CASE("model: random operations agree with the reference model under "
          "the deterministic testkit",
          "[model]") {
  run_and_require("testkit");
}

TEST_CASE("model: random operations agree with the reference model under "
          "the threaded runtime",
          "[model]") {
  run_and_require("threads");
}

TEST_CASE("model: random operations agree with the reference model under "
          "explored schedules",
          "[model][explore]") {
  run_and_require("explore");
}
