// entangle_bench: every entangle case beside its raw-CAF baseline, in one
// process, interleaved, median of --reps repetitions. scripts/bench runs it
// (and the Node peer) and prints the summary KEY=VALUE lines.
//
//   entangle_bench [--quick] [--reps=N] [--only=group,group...]
//                  [--side=caf|entangle]   (one side alone, for profilers)
//   groups: pingpong oneway fan transfer payloads tracing memory
//
// Every figure is a median of per-rep medians or per-rep ratios; the
// RESULT lines are for scripts/bench, the tables for humans.

#include "cases.hpp"

#include <malloc.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <string>

namespace bench {

std::size_t rss_bytes() {
  std::ifstream in{"/proc/self/status"};
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0)
      return std::stoull(line.substr(6)) * 1024;
  return 0;
}

std::size_t heap_bytes() {
  return mallinfo2().uordblks;
}

} // namespace bench

using namespace bench;

namespace {

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

int run_child(const std::string& kind, std::size_t n, bool heap) {
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

/// How many of entangle's wake-ups could not use the context's reusable
/// element (docs/performance.md, "fourth round").
void print_fallbacks(std::uint64_t fallbacks, std::size_t messages) {
  std::printf("  wake-ups sent as an allocated CAF message: %llu for %zu "
              "messages (%.2f per 1000)\n",
              static_cast<unsigned long long>(fallbacks), messages,
              messages ? 1000.0 * double(fallbacks) / double(messages) : 0.0);
}

} // namespace

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
    } else if (auto v = val("--reps=")) {
      reps = std::atoi(v);
    } else if (auto v = val("--only=")) {
      std::stringstream ss{v};
      std::string g;
      while (std::getline(ss, g, ','))
        only.insert(g);
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
      report("trace_on_pingpong", "ping-pong, tracer on (ns/RTT)", "",
             interleave(
               s.reps, [n] { return ent_pingpong(n, payload::number); },
               [n] { return ent_pingpong(n, payload::number, true); }));
      auto w = s.oneway;
      report("trace_on_oneway", "one way, tracer on (ns/msg)", "",
             interleave(
               s.reps, [w] { return ent_oneway(w); },
               [w] { return ent_oneway(w, true); }));
    }
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
    report("payload_object", "small object {string, number}", "",
           interleave(
             s.reps, [n] { return caf_pingpong_object(n); },
             [n] { return ent_pingpong(n, payload::object); }));
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
  if (want("memory"))
    memory(s);
  return 0;
}
