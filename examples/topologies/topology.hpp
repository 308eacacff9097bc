#pragma once

// The example topologies as data: a registry that entangle-run, the
// per-example programs and the tests share. Deliberately free of CAF
// headers, so the small example mains compile fast.

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace entangle {
class runtime;
} // namespace entangle

namespace entangle::examples {

/// The knobs every topology understands (entangle-run's options). 0 means
/// "the topology's default".
struct params {
  /// Contexts, stages, workers or clients, depending on the topology.
  std::size_t size = 0;
  /// Messages (items, rounds, lines, hops...).
  std::size_t messages = 0;
  /// Extra bytes carried by each message.
  std::size_t payload = 0;
  /// Print the story of the run (a few lines, never one per message).
  bool verbose = true;
  /// Give up (and fail) after this long.
  std::chrono::milliseconds timeout{30000};
  /// Topologies across processes: serve this process's role on
  /// 127.0.0.1:listen (0: any free port) until stdin closes; -1: no.
  long listen = -1;
  /// Topologies across processes: the entangle:// URL a client role
  /// connects to (empty: start the other processes itself).
  std::string connect;
};

/// What a topology bumps while it runs (read by the live progress line).
struct progress {
  std::atomic<std::uint64_t> delivered{0};
};

/// The result of one run, checked by the topology itself.
struct outcome {
  /// Every check passed (counts, sums, order, nothing dropped or leaked
  /// unless the topology expects it).
  bool ok = false;
  /// One line: what was checked, or what went wrong.
  std::string verdict;
  /// Channels the topology created (MessageChannels, worker and shared
  /// worker connections).
  std::size_t channels = 0;
  /// Messages the topology's handlers received, and how many it expected.
  std::uint64_t delivered = 0;
  std::uint64_t expected = 0;
};

/// One example topology.
struct topology {
  const char* name;
  /// One line for `entangle-run --list`.
  const char* description;
  /// What `size`, `messages` and `payload` mean for it.
  const char* knobs;
  /// Defaults for the knobs left at 0.
  std::size_t default_size;
  std::size_t default_messages;
  /// Spawns the topology into `rt` (already configured, e.g. traced), runs
  /// it to the end within `p.timeout` and checks the result. `p` has the
  /// defaults filled in.
  outcome (*run)(runtime& rt, const params& p, progress& prog);
  /// Runs across processes: needs the network layer
  /// (runtime_config::remote) and understands --listen / --connect.
  bool remote = false;
};

/// Every topology, in the order `--list` shows them.
const std::vector<topology>& topologies();

/// The topology called `name`, or nullptr.
const topology* find_topology(std::string_view name);

/// The name entangle-run runs without one.
inline constexpr std::string_view default_topology = "mdn-basic";

} // namespace entangle::examples
