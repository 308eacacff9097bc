#pragma once

// Timing, statistics, memory probes and output of the benchmark suite.
// Every entangle figure is measured beside its raw-CAF baseline in the same
// process, interleaved rep by rep, so a noisy 2-core machine moves both
// (PERFORMANCE.md "How to measure").

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

namespace bench {

using clock = std::chrono::steady_clock;

inline std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
           clock::now().time_since_epoch())
    .count();
}

inline double median(std::vector<double> xs) {
  if (xs.empty())
    return 0;
  std::sort(xs.begin(), xs.end());
  auto n = xs.size();
  return n % 2 == 1 ? xs[n / 2] : (xs[n / 2 - 1] + xs[n / 2]) / 2;
}

/// Sizes of one run (--quick shrinks them).
struct sizes {
  int reps = 7;
  std::size_t pingpong = 100000;
  std::size_t oneway = 1000000;
  std::size_t fan_n = 1000;
  std::size_t fan_rounds = 200;
  std::size_t big_pingpong = 5000;
  std::size_t idle_ports = 200000; // ports = 2 x channels
  std::size_t idle_contexts = 20000;
  std::vector<std::size_t> transfer_queues{0, 1000, 100000};
  std::size_t transfers_per_rep = 5;
  // scale (issue #17): same sizes in --quick, fewer messages and reps
  std::vector<std::size_t> scale_ports{1, 100, 10000, 100000};
  std::size_t scale_messages = 400000;
  std::vector<std::size_t> scale_nests{1000, 8000, 16000};
  /// Workers spawned by the context that churns channels, and channels.
  std::vector<std::size_t> scale_workers{1, 100, 10000};
  std::size_t scale_churn = 20000;
  /// Timeouts set and cleared by one context.
  std::size_t scale_timers = 200000;
  /// Fire-and-forget workers a living context spawns, which end at once.
  std::size_t scale_ended = 50000;
  std::size_t scale_channels = 1000000;
  std::size_t scale_contexts = 100000;
  /// Smaller worlds for the growth curves (the points before the two
  /// above).
  std::vector<std::size_t> scale_channel_curve{1000, 10000, 100000};
  std::vector<std::size_t> scale_context_curve{100, 1000, 10000};
  std::size_t scale_fan = 1000;
  std::size_t scale_fan_rounds = 50;
  int scale_reps = 5;
};

/// One measurement: "lower is better" per-op nanoseconds.
using case_fn = std::function<double()>;

struct pair_result {
  double caf_ns = 0;     // median per-op ns, raw CAF
  double ent_ns = 0;     // median per-op ns, entangle
  double ratio = 0;      // median of per-rep entangle/CAF time ratios
};

/// For profiling one side alone (--side=caf|entangle): 0 = both, 1 = raw
/// CAF only, 2 = entangle only (the other side then reads as 1 ns).
inline int only_side = 0;

/// --verbose-reps: every repetition's pair of figures on stderr (the
/// medians hide whether a row is bimodal).
inline bool verbose_reps = false;

/// Runs `caf` and `ent` alternately `reps` times (which one goes first
/// alternates too), and returns medians.
inline pair_result interleave(int reps, const case_fn& caf,
                              const case_fn& ent) {
  std::vector<double> c, e, r;
  for (int i = 0; i < reps; ++i) {
    double a, b;
    if (only_side != 0) {
      a = only_side == 1 ? caf() : 1;
      b = only_side == 2 ? ent() : 1;
    } else if (i % 2 == 0) {
      a = caf();
      b = ent();
    } else {
      b = ent();
      a = caf();
    }
    c.push_back(a);
    e.push_back(b);
    r.push_back(b / a);
    if (verbose_reps)
      std::fprintf(stderr, "  rep %d: raw CAF %.1f, entangle %.1f\n", i, a,
                   b);
  }
  return {median(c), median(e), median(r)};
}

/// Prints one table row and a machine-readable RESULT line.
inline void report(const char* key, const char* what, const char* unit,
                   const pair_result& p) {
  std::printf("%-34s %12.1f %12.1f %8.2fx  %s\n", what, p.caf_ns, p.ent_ns,
              p.ratio, unit);
  std::printf("RESULT %s caf_ns=%.3f ent_ns=%.3f ratio=%.4f\n", key, p.caf_ns,
              p.ent_ns, p.ratio);
  std::fflush(stdout);
}

inline void header(const char* title, const char* left = "raw CAF",
                   const char* right = "entangle",
                   const char* ratio = "ent/CAF") {
  std::printf("\n== %s\n%-34s %12s %12s %9s\n", title, "case", left, right,
              ratio);
}

/// Resident set size in bytes (VmRSS of /proc/self/status).
std::size_t rss_bytes();
/// A "Key: N kB" line of /proc/self/status in bytes (key with its colon).
std::size_t status_bytes(const char* key);

/// Bytes currently allocated through malloc (mallinfo2).
std::size_t heap_bytes();

} // namespace bench
