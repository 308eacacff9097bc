// entangle_bench: every entangle case beside its raw-CAF baseline, in one
// process, interleaved, median of --reps repetitions. scripts/bench runs it
// (and the Node peer) and prints the summary KEY=VALUE lines.
//
//   entangle_bench [--quick] [--reps=N] [--only=group,group...]
//                  [--side=caf|entangle]   (one side alone, for profilers)
//                  [--verbose-reps]        (each repetition on stderr)
//   groups: pingpong oneway fan transfer payloads tracing memory scale flow
//   (payload_object: that one payload row alone; flow_mark: the first
//   flow row alone; trace_oneway: the counting tracer's one-way row alone)
//
// Every figure is a median of per-rep medians or per-rep ratios; the
// RESULT lines are for scripts/bench, the tables for humans.

#include "cases.hpp"

#include <entangle/trace.hpp>

#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <string>

namespace bench {

std::size_t status_bytes(const char* key) {
  std::ifstream in{"/proc/self/status"};
  std::string line;
  auto len = std::strlen(key);
  while (std::getline(in, line))
    if (line.compare(0, len, key) == 0)
      return std::stoull(line.substr(len)) * 1024;
  return 0;
}

std::size_t rss_bytes() {
  return status_bytes("VmRSS:");
}

std::size_t heap_bytes() {
  return mallinfo2().uordblks;
}

} // namespace bench

using namespace bench;

namespace {

/// One call of `read`, median of 7 runs of 10^6 calls.
template <class Read>
double read_cost_ns(Read read) {
  std::vector<double> xs;
  for (int r = 0; r < 7; ++r) {
    constexpr int n = 1000000;
    std::uint64_t sink = 0;
    auto t0 = now_ns();
    for (int i = 0; i < n; ++i)
      sink += read();
    auto t1 = now_ns();
    asm volatile("" : : "r"(sink));
    xs.push_back(double(t1 - t0) / n);
  }
  return median(xs);
}

/// One trace_clock::now().
double clock_read_ns() {
  return read_cost_ns([] {
    return static_cast<std::uint64_t>(
      entangle::trace_clock::now().time_since_epoch().count());
  });
}

#if defined(__x86_64__)
/// The cycle counter a cheaper trace clock would read (docs/performance.md,
/// "A cheaper clock?"): ordered (lfence; rdtsc, as the kernel's
/// steady_clock reads it, so a read is not taken before the loads that
/// precede it, which keeps timestamps consistent across threads), and
/// unordered (rdtsc alone).
double counter_read_ns(bool ordered) {
  return ordered ? read_cost_ns([] {
    __builtin_ia32_lfence();
    return static_cast<std::uint64_t>(__builtin_ia32_rdtsc());
  })
                 : read_cost_ns([] {
                     return static_cast<std::uint64_t>(__builtin_ia32_rdtsc());
                   });
}
#endif

std::string self_exe() {
  char buf[4096];
  auto n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n <= 0)
    return "entangle_bench";
  buf[n] = '\0';
  return buf;
}

/// Memory is measured in a fresh child process per figure, so that memory
/// freed by an earlier case cannot hide the growth of a later one.
double child_measure(const std::string& kind, std::size_t n, bool heap) {
  std::ostringstream cmd;
  cmd << '"' << self_exe() << "\" --mem-child=" << kind << " --n=" << n
      << " --heap=" << (heap ? 1 : 0);
  auto* f = popen(cmd.str().c_str(), "r");
  if (f == nullptr)
    return -1;
  double x = -1;
  if (std::fscanf(f, "%lf", &x) != 1)
    x = -1;
  pclose(f);
  return x;
}

/// The scale figures of one fresh process: "a b c" (see run_child).
bool child_triple(const std::string& kind, std::size_t n, double out[3]) {
  std::ostringstream cmd;
  cmd << '"' << self_exe() << "\" --mem-child=" << kind << " --n=" << n;
  auto* f = popen(cmd.str().c_str(), "r");
  if (f == nullptr)
    return false;
  bool ok = std::fscanf(f, "%lf %lf %lf", &out[0], &out[1], &out[2]) == 3;
  pclose(f);
  return ok;
}

int run_child(const std::string& kind, std::size_t n, bool heap) {
  if (kind == "channels") {
    auto f = ent_channels(n);
    std::printf("%.3f %.3f %.3f\n", f.create_ns, f.bytes_per_port, f.close_ns);
    return 0;
  }
  if (kind == "ended_workers") {
    auto f = ent_ended_workers(n);
    std::printf("%.3f %.3f %.3f\n", f.plain_bytes, f.timed_bytes, f.ns);
    return 0;
  }
  if (kind == "timers") {
    auto f = ent_timer_churn(n);
    std::printf("%.3f %.3f %.3f\n", f.ns, f.bytes, f.stop_ms);
    return 0;
  }
  if (kind == "contexts_ent" || kind == "contexts_caf") {
    auto f = kind == "contexts_ent" ? ent_contexts(n) : caf_contexts(n);
    std::printf("%.3f %.3f %.3f\n", f.spawn_ns, f.bytes_per_context,
                f.round_ns);
    return 0;
  }
  if (kind == "flood" || kind == "flood_limited") {
    // `n` messages; the limited flood's mark is 1000 messages (hard 2000).
    std::printf("%.0f\n",
                ent_flood_peak_rss(n, kind == "flood_limited" ? 1000 : 0));
    return 0;
  }
  double x = -1;
  if (kind == "port")
    x = ent_idle_port_bytes(n, heap);
  else if (kind == "context")
    x = ent_idle_context_bytes(n, heap);
  else if (kind == "caf_actor")
    x = caf_idle_actor_bytes(n, heap);
  std::printf("%.3f\n", x);
  return x < 0 ? 1 : 0;
}

void memory(const sizes& s) {
  std::printf("\n== memory (fresh process per figure, median of %d)\n"
              "%-34s %12s %12s\n",
              s.reps, "what", "RSS B/item", "heap B/item");
  struct row {
    const char* key;
    const char* what;
    const char* kind;
    std::size_t n;
  };
  row rows[] = {
    {"bytes_per_idle_port", "entangle idle port", "port", s.idle_ports},
    {"bytes_per_context", "entangle idle context (window)", "context",
     s.idle_contexts},
    {"bytes_per_caf_actor", "raw CAF idle actor", "caf_actor",
     s.idle_contexts},
  };
  for (auto& r : rows) {
    std::vector<double> rss, heap;
    for (int i = 0; i < s.reps; ++i) {
      rss.push_back(child_measure(r.kind, r.n, false));
      heap.push_back(child_measure(r.kind, r.n, true));
    }
    std::printf("%-34s %12.1f %12.1f  (n=%zu)\n", r.what, median(rss),
                median(heap), r.n);
    if (std::string{r.kind} == "port")
      print_sizes();
    if (std::string{r.kind} == "context")
      print_context_sizes();
    std::printf("RESULT %s rss=%.1f heap=%.1f\n", r.key, median(rss),
                median(heap));
    std::fflush(stdout);
  }
}

/// Medians of `reps` fresh-process triples.
std::vector<double> triple_medians(const std::string& kind, std::size_t n,
                                   int reps) {
  std::vector<double> a, b, c;
  for (int i = 0; i < reps; ++i) {
    double x[3];
    if (!child_triple(kind, n, x))
      continue;
    a.push_back(x[0]);
    b.push_back(x[1]);
    c.push_back(x[2]);
  }
  return {median(a), median(b), median(c)};
}

/// How cost grows with the size of the world (issue #17).
void scale(const sizes& s) {
  std::printf("\n== scale: ns per hop of a ping-pong on one port, against K "
              "started ports in the receiving context (%zu hops; last column:"
              " ns/msg when K ports hold them all; median of %d)\n"
              "%-10s %16s %16s %22s\n",
              s.scale_messages, s.scale_reps, "K", "never-shipped",
              "shipped", "never-shipped, K busy");
  double first = 0, last = 0, first_s = 0, last_s = 0;
  for (auto k : s.scale_ports) {
    std::vector<double> u, sh, busy;
    for (int i = 0; i < s.scale_reps; ++i) {
      u.push_back(ent_ports_scale(k, s.scale_messages, false));
      sh.push_back(ent_ports_scale(k, s.scale_messages, true));
      busy.push_back(ent_unshipped_busy(k, s.scale_messages));
    }
    std::printf("%-10zu %16.1f %16.1f %22.1f\n", k, median(u), median(sh),
                median(busy));
    std::printf("RESULT scale_ports_%zu unshipped_ns=%.3f shipped_ns=%.3f "
                "busy_ns=%.3f\n",
                k, median(u), median(sh), median(busy));
    if (k == s.scale_ports.front()) {
      first = median(u);
      first_s = median(sh);
    }
    last = median(u);
    last_s = median(sh);
    std::fflush(stdout);
  }
  std::printf("RESULT scale_ports_cost ratio=%.4f shipped_ratio=%.4f\n",
              last / first, last_s / first_s);
  std::printf("\n== scale: nesting N ports in transit, each post into the "
              "deepest one so far (ns/post, median of %d)\n"
              "%-10s %16s %16s\n",
              s.scale_reps, "N", "top-down", "bottom-up");
  for (auto n : s.scale_nests) {
    std::vector<double> td, bu;
    for (int i = 0; i < s.scale_reps; ++i) {
      td.push_back(ent_nest(n, true));
      bu.push_back(ent_nest(n, false));
    }
    std::printf("%-10zu %16.1f %16.1f\n", n, median(td), median(bu));
    std::printf("RESULT scale_nest_%zu top_down_ns=%.3f bottom_up_ns=%.3f\n",
                n, median(td), median(bu));
    std::fflush(stdout);
  }
  print_worker_churn(s);
  auto reps = std::max(1, s.scale_reps / 2);
  auto tm = triple_medians("timers", s.scale_timers, reps);
  std::printf("\n== scale: %zu timeouts of 30 s set and cleared at once by one "
              "context (an RPC client's pattern; fresh process, median of "
              "%d)\n  %.1f ns per set+clear, %.1f B RSS left per pair, "
              "%.1f ms from the context's end to the runtime's\n",
              s.scale_timers, reps, tm[0], tm[1], tm[2]);
  std::printf("RESULT scale_timers ns=%.3f bytes=%.1f stop_ms=%.1f\n", tm[0],
              tm[1], tm[2]);
  auto ew = triple_medians("ended_workers", s.scale_ended, reps);
  std::printf("\n== scale: %zu workers spawned by a context that lives on, "
              "each ending at once (fresh process, median of %d)\n  %.1f B "
              "heap left per ended worker, %.1f B if it cleared a 30 s "
              "timeout first, %.1f ns per worker spawned and gone\n",
              s.scale_ended, reps, ew[0], ew[1], ew[2]);
  std::printf("RESULT scale_ended_workers bytes=%.1f timed_bytes=%.1f "
              "ns=%.3f\n",
              ew[0], ew[1], ew[2]);
  auto ch = triple_medians("channels", s.scale_channels, reps);
  std::printf("\n== scale: %zu live channels in one context (fresh process, "
              "median of %d)\n  create %.1f ns/channel, %.1f B RSS per port, "
              "close %.1f ns/channel\n",
              s.scale_channels, reps, ch[0], ch[1], ch[2]);
  std::printf("RESULT scale_channels create_ns=%.3f bytes_per_port=%.1f "
              "close_ns=%.3f\n",
              ch[0], ch[1], ch[2]);
  auto ec = triple_medians("contexts_ent", s.scale_contexts, reps);
  auto cc = triple_medians("contexts_caf", s.scale_contexts, reps);
  header("scale: a chain of N contexts, each spawning the next (fresh "
         "process per figure); a round goes down and back up");
  std::printf("N=%zu (entangle: dedicated workers with their implicit port "
              "pairs)\n",
              s.scale_contexts);
  auto row = [](const char* what, double c, double e) {
    std::printf("%-34s %12.1f %12.1f %8.2fx\n", what, c, e, e / c);
  };
  row("spawn (ns/context)", cc[0], ec[0]);
  row("RSS (B/context)", cc[1], ec[1]);
  row("round (ns/hop)", cc[2], ec[2]);
  std::printf("RESULT scale_contexts caf_spawn_ns=%.3f ent_spawn_ns=%.3f "
              "caf_bytes=%.1f ent_bytes=%.1f caf_hop_ns=%.3f ent_hop_ns=%.3f\n",
              cc[0], ec[0], cc[1], ec[1], cc[2], ec[2]);
  std::fflush(stdout);
  // Growth: the same per-item figures for smaller worlds, then the big one
  // again (flat columns: cost independent of the number of live items).
  std::printf("\n== scale: growth of live channels in one context (fresh "
              "process per point, median of %d)\n%-10s %12s %12s %12s\n",
              reps, "N", "create ns", "B RSS/port", "close ns");
  auto curve_channels = s.scale_channel_curve;
  curve_channels.push_back(s.scale_channels);
  for (auto n : curve_channels) {
    auto c = n == s.scale_channels ? ch : triple_medians("channels", n, reps);
    std::printf("%-10zu %12.1f %12.1f %12.1f\n", n, c[0], c[1], c[2]);
    std::printf("RESULT scale_growth_channels_%zu create_ns=%.3f "
                "bytes_per_port=%.1f close_ns=%.3f\n",
                n, c[0], c[1], c[2]);
  }
  std::printf("\n== scale: growth of a chain of N contexts (fresh process per "
              "point, median of %d; per context)\n%-8s %9s %9s %7s %7s "
              "%7s %7s %7s %7s\n",
              reps, "N", "spawn CAF", "spawn ent", "ratio", "B CAF", "B ent",
              "ratio", "hop CAF", "hop ent");
  auto curve_contexts = s.scale_context_curve;
  curve_contexts.push_back(s.scale_contexts);
  for (auto n : curve_contexts) {
    bool big = n == s.scale_contexts;
    auto e = big ? ec : triple_medians("contexts_ent", n, reps);
    auto c = big ? cc : triple_medians("contexts_caf", n, reps);
    std::printf("%-8zu %9.1f %9.1f %6.2fx %7.0f %7.0f %6.2fx %7.1f %7.1f\n",
                n, c[0], e[0], e[0] / c[0], c[1], e[1], e[1] / c[1], c[2],
                e[2]);
    std::printf("RESULT scale_growth_contexts_%zu caf_spawn_ns=%.3f "
                "ent_spawn_ns=%.3f caf_bytes=%.1f ent_bytes=%.1f "
                "caf_hop_ns=%.3f ent_hop_ns=%.3f\n",
                n, c[0], e[0], c[1], e[1], c[2], e[2]);
  }
  std::fflush(stdout);
  header("scale: fan-out/fan-in through N contexts (ns per round)");
  auto n = s.scale_fan;
  auto rounds = s.scale_fan_rounds;
  std::string what = "N=" + std::to_string(n) + " (ns/round)";
  report("scale_fan", what.c_str(), "",
         interleave(
           s.scale_reps, [n, rounds] { return caf_fan(n, rounds); },
           [n, rounds] { return ent_fan(n, rounds); }));
}

/// How many of entangle's wake-ups could not use the context's reusable
/// element (docs/performance.md, "fourth round").
void print_fallbacks(std::uint64_t fallbacks, std::size_t messages) {
  std::printf("  wake-ups sent as an allocated CAF message: %llu for %zu "
              "messages (%.2f per 1000)\n",
              static_cast<unsigned long long>(fallbacks), messages,
              messages ? 1000.0 * double(fallbacks) / double(messages) : 0.0);
}

} // namespace

/// Flow control (issue #15): each ratio is measured in this run against a
/// baseline interleaved with it.
/// `mark_only`: the first case alone (`--only=flow_mark`, to profile;
/// `--side=caf` runs its baseline, `--side=entangle` the marked side).
void flow(const sizes& s, bool mark_only) {
  auto n = s.oneway;
  header("flow control: one way with a mark never reached",
         "no mark", "mark set", "mark/none");
  report("flow_mark_oneway", "one way (ns/msg)", "",
         interleave(
           s.reps, [n] { return ent_oneway(n); },
           [n] { return ent_oneway(n, trace_mode::off, 2 * n + 1); }));
  if (mark_only)
    return;
  header("streams: steady state vs plain posts", "posts", "stream",
         "stream/posts");
  report("flow_stream_oneway", "one way, mark 64 (ns/chunk)", "",
         interleave(
           s.reps, [n] { return ent_oneway(n); },
           [n] { return ent_stream_oneway(n, 64); }));
  // Peak RSS of a flood of 1 KiB messages into a slow consumer, each in a
  // fresh process: with a limit it stays near the hard limit's worth.
  auto flood = s.oneway / 5;
  std::vector<double> none, limited;
  for (int i = 0; i < std::min(s.reps, 3); ++i) {
    none.push_back(child_measure("flood", flood, false));
    limited.push_back(child_measure("flood_limited", flood, false));
  }
  auto mib = [](double b) { return b / (1024.0 * 1024.0); };
  std::printf("\n== flood of %zu x 1 KiB into a slow consumer: peak RSS "
              "growth (fresh process, median of %zu)\n"
              "no limit %.1f MiB, mark 1000 (hard limit 2000 = 2 MiB of "
              "payload) %.1f MiB\n",
              flood, none.size(), mib(median(none)), mib(median(limited)));
  std::printf("RESULT flow_flood_rss none_mib=%.3f limited_mib=%.3f\n",
              mib(median(none)), mib(median(limited)));
  std::fflush(stdout);
}

int main(int argc, char** argv) {
  sizes s;
  std::set<std::string> only;
  std::string child;
  std::size_t child_n = 0;
  bool child_heap = false;
  int reps = 0;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto val = [&](const char* k) -> const char* {
      auto len = std::strlen(k);
      return a.compare(0, len, k) == 0 ? argv[i] + len : nullptr;
    };
    if (a == "--quick") {
      s.reps = 5;
      s.pingpong = 20000;
      s.oneway = 200000;
      s.fan_n = 100;
      s.fan_rounds = 100;
      s.big_pingpong = 2000;
      s.idle_ports = 100000;
      s.idle_contexts = 5000;
      s.transfers_per_rep = 3;
      s.scale_messages = 100000;
      s.scale_nests = {1000, 16000};
      s.scale_fan_rounds = 20;
      s.scale_reps = 3;
    } else if (auto v = val("--reps=")) {
      reps = std::atoi(v);
    } else if (auto v = val("--only=")) {
      std::stringstream ss{v};
      std::string g;
      while (std::getline(ss, g, ','))
        only.insert(g);
    } else if (a == "--verbose-reps") {
      verbose_reps = true;
    } else if (auto v = val("--side=")) {
      only_side = std::string{v} == "caf" ? 1 : 2;
    } else if (auto v = val("--mem-child=")) {
      child = v;
    } else if (auto v = val("--n=")) {
      child_n = std::strtoull(v, nullptr, 10);
    } else if (auto v = val("--heap=")) {
      child_heap = std::atoi(v) != 0;
    } else {
      std::fprintf(stderr, "unknown argument: %s\n", argv[i]);
      return 2;
    }
  }
  if (!child.empty())
    return run_child(child, child_n, child_heap);
  if (reps > 0)
    s.reps = reps;
  auto want = [&](const char* g) { return only.empty() || only.count(g) > 0; };
  std::printf("entangle_bench: %d reps, interleaved with raw CAF; times are "
              "medians in ns per operation\n",
              s.reps);
  if (want("pingpong")) {
    header("ping-pong round trip, two contexts (number)");
    auto n = s.pingpong;
    auto f0 = wake_fallbacks();
    report("pingpong", "round trip (ns/RTT)", "",
           interleave(
             s.reps, [n] { return caf_pingpong_number(n); },
             [n] { return ent_pingpong(n, payload::number); }));
    // Two hops per round trip, warm-up included (ent_pingpong).
    print_fallbacks(wake_fallbacks() - f0, s.reps * 2 * (n + n / 10 + 1));
  }
  if (want("oneway")) {
    header("one-way pipelined throughput, one channel (number)");
    auto n = s.oneway;
    auto f0 = wake_fallbacks();
    auto r = interleave(
      s.reps, [n] { return caf_oneway(n); }, [n] { return ent_oneway(n); });
    report("oneway", "one way (ns/msg)", "", r);
    print_fallbacks(wake_fallbacks() - f0, s.reps * n);
    std::printf("  throughput: raw CAF %.2f M/s, entangle %.2f M/s\n",
                1e3 / r.caf_ns, 1e3 / r.ent_ns);
  }
  if (want("tracing")) {
    header("tracing: a counting tracer set vs none (same build)",
           "tracer off", "tracer on", "on/off");
    if (!ent_tracing_compiled_in()) {
      std::printf("tracing compiled out (-Dtracing=false): not measured\n");
    } else {
      auto n = s.pingpong;
      // Timestamps (what a recorder needs) cost a clock read per event;
      // the untimed rows are a tracer that only counts.
      pair_result timed_rt, timed_ow;
      for (auto mode : {trace_mode::timed, trace_mode::untimed}) {
        bool timed = mode == trace_mode::timed;
        auto rt = interleave(
          s.reps, [n] { return ent_pingpong(n, payload::number); },
          [n, mode] { return ent_pingpong(n, payload::number, mode); });
        report(timed ? "trace_on_pingpong" : "trace_untimed_pingpong",
               timed ? "ping-pong, timestamps (ns/RTT)"
                     : "ping-pong, no timestamps (ns/RTT)",
               "", rt);
        auto w = s.oneway;
        auto ow = interleave(
          s.reps, [w] { return ent_oneway(w); },
          [w, mode] { return ent_oneway(w, mode); });
        report(timed ? "trace_on_oneway" : "trace_untimed_oneway",
               timed ? "one way, timestamps (ns/msg)"
                     : "one way, no timestamps (ns/msg)",
               "", ow);
        if (timed) {
          timed_rt = rt;
          timed_ow = ow;
        }
      }
      // What the timestamps alone cost: a post reads the clock once, a
      // delivery once more than the one before it in its batch (one way:
      // about once per message) or twice alone (each ping-pong delivery
      // is a batch of one). A round trip's 6 reads are in series, so the
      // tracer-off time plus them is a floor. One way's 2 per message are
      // on two threads that may overlap, so (off + 2 reads) / off is what
      // they cost when both are on the critical path, not a floor.
      auto clk = clock_read_ns();
      auto floor_rt = (timed_rt.caf_ns + 6 * clk) / timed_rt.caf_ns;
      auto serial_ow = (timed_ow.caf_ns + 2 * clk) / timed_ow.caf_ns;
      std::printf("  a clock read (trace_clock::now) costs %.1f ns: a "
                  "timed round trip is at least %.2fx, a timed message one "
                  "way %.2fx if both its reads add up\n",
                  clk, floor_rt, serial_ow);
      std::printf("RESULT trace_clock ns=%.3f floor_pingpong=%.4f "
                  "serial_oneway=%.4f\n",
                  clk, floor_rt, serial_ow);
#if defined(__x86_64__)
      auto ordered = counter_read_ns(true);
      auto unordered = counter_read_ns(false);
      std::printf("  the cycle counter under it: %.1f ns ordered (lfence; "
                  "rdtsc), %.1f ns unordered (not consistent across "
                  "threads)\n",
                  ordered, unordered);
      std::printf("RESULT trace_counter ordered_ns=%.3f unordered_ns=%.3f\n",
                  ordered, unordered);
#endif
      // The stock recorder (default limits: past 100 000 events it only
      // counts), one way: the hooks, timestamps and its per-thread lanes.
      auto w = s.oneway;
      report("trace_recorder_oneway", "one way, trace_recorder (ns/msg)", "",
             interleave(
               s.reps, [w] { return ent_oneway(w); },
               [w] { return ent_oneway(w, trace_mode::recorder); }));
    }
  }
  // Alone (`--only=trace_oneway`: one case to profile; `--side=caf` runs
  // it with the tracer off, `--side=entangle` with a counting tracer).
  if (!want("tracing") && want("trace_oneway")) {
    header("tracing: a counting tracer set vs none (same build)",
           "tracer off", "tracer on", "on/off");
    auto w = s.oneway;
    report("trace_untimed_oneway", "one way, no timestamps (ns/msg)", "",
           interleave(
             s.reps, [w] { return ent_oneway(w); },
             [w] { return ent_oneway(w, trace_mode::untimed); }));
  }
  if (want("fan")) {
    header("fan-out/fan-in through N channels (ns per round)");
    auto n = s.fan_n;
    auto rounds = s.fan_rounds;
    auto r = interleave(
      s.reps, [n, rounds] { return caf_fan(n, rounds); },
      [n, rounds] { return ent_fan(n, rounds); });
    std::string what = "N=" + std::to_string(n) + " (ns/round)";
    report("fan", what.c_str(), "", r);
  }
  if (want("payloads")) {
    header("payloads, ping-pong round trip (ns/RTT)");
    auto n = s.pingpong;
    report("payload_number", "number", "",
           interleave(
             s.reps, [n] { return caf_pingpong_number(n); },
             [n] { return ent_pingpong(n, payload::number); }));
  }
  // Also alone (`--only=payload_object`: one case to profile).
  if (want("payloads") || want("payload_object")) {
    auto n = s.pingpong;
    report("payload_object", "small object {string, number}", "",
           interleave(
             s.reps, [n] { return caf_pingpong_object(n); },
             [n] { return ent_pingpong(n, payload::object); }));
  }
  if (want("payloads")) {
    auto b = s.big_pingpong;
    report("payload_64k_copy", "64 KiB buffer, copied", "",
           interleave(
             s.reps, [b] { return caf_pingpong_bytes(b, false); },
             [b] { return ent_pingpong(b, payload::bytes_copied); }));
    report("payload_64k_transfer", "64 KiB buffer, transferred/moved", "",
           interleave(
             s.reps, [b] { return caf_pingpong_bytes(b, true); },
             [b] { return ent_pingpong(b, payload::bytes_transferred); }));
  }
  if (want("transfer")) {
    header("transfer of a port with K queued messages (ns/transfer; CAF: "
           "send an actor handle + ack)");
    auto t = s.transfers_per_rep;
    for (auto k : s.transfer_queues) {
      auto r = interleave(
        s.reps, [t] { return caf_handle_rtt(t); },
        [k, t] { return ent_transfer(k, t); });
      std::string key = "transfer_" + std::to_string(k);
      std::string what = "K=" + std::to_string(k);
      report(key.c_str(), what.c_str(), "", r);
    }
    // Control: the same K posts, but on a channel that is not moved. If
    // this grows like K=100000, the growth is the posts' aftermath
    // (caches, allocator), not the transfer.
    auto k = s.transfer_queues.back();
    std::string what = "K=" + std::to_string(k) + " queued elsewhere";
    report("transfer_control", what.c_str(), "",
           interleave(
             s.reps, [t] { return caf_handle_rtt(t); },
             [k, t] { return ent_transfer(k, t, true); }));
  }
  if (want("flow") || want("flow_mark"))
    flow(s, !want("flow"));
  if (want("memory"))
    memory(s);
  if (want("scale"))
    scale(s);
  return 0;
}
