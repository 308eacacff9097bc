#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

#include "entangle/trace_recorder.hpp"

namespace entangle {

/// What a trace_recorder keeps. Two parts with different bounds:
/// - `events`: the time line for the Chrome trace and the sequence diagram,
///   capped at `limits.max_events` (later events only counted);
/// - `contexts` and `ports`: the topology (tracks, graph nodes and edges),
///   small and kept whole up to `limits.max_graph_ports`, so the graph and
///   the track list stay right even when the time line is cut.
///
/// Posts and deliveries, the events of every message, go to a *lane* per
/// thread first (`lane`): the posting and the delivering thread then never
/// wait for each other or take each other's cache lines, which one mutex
/// for both made them do on every message. `gather` moves the lanes into
/// `events` when somebody reads (totals, the writers); the writers order
/// events by time anyway.
///
/// Invariants: every field is guarded by `mu`, except a lane's contents
/// (its own `mu`, taken by its thread for each append and by `gather`
/// under `mu`: the only nesting) and `reserved`. `reserved` counts the
/// event slots handed out, to `events` one at a time and to lanes in
/// chunks, and never exceeds `limits.max_events`: so at most that many
/// events are kept, about the first ones (a lane may hold part of a chunk
/// unused while another lane is cut).
struct trace_recorder::state {
  enum class kind : std::uint8_t {
    post,
    deliver,
    transfer,
    close,
    drop,
    /// A timer or an RPC step (tracer::on_task).
    task,
    /// A context ended by an exception or was terminated.
    ended,
  };

  /// One time-line event (compact: a long run records many).
  struct event {
    kind k;
    /// deliver: 0 message, 1 messageerror, 2 close. post: 1 if queued.
    /// close, drop: the drop_reason. ended: 1 exception, 2 terminated.
    std::uint8_t sub = 0;
    std::uint32_t depth = 0;
    std::uint32_t ports = 0;
    std::int64_t ts = 0;  // ns since the recorder was made
    std::int64_t dur = 0; // ns
    std::uint64_t ctx = 0;
    std::uint64_t port = 0;
    /// post: target port and context; close: dropped count; drop: count;
    /// task: the timer or call id.
    std::uint64_t other = 0;
    /// task: the timer's delay in ms.
    std::uint64_t other_ctx = 0;
    std::uint64_t message = 0;
    /// post: the value's type. task: its name ("rpc method add"), and in
    /// `detail` how it ended; both interned (see `intern`).
    const char* type = "";
    const char* detail = "";
  };

  struct context_info {
    std::string name;
    std::string kind;
    std::uint64_t creator = 0;
    std::int64_t start = 0;
    std::int64_t end = -1; // -1: still running
    std::string how;
    /// The exception's what() when it crashed.
    std::string what;
  };

  struct port_info {
    std::uint64_t peer = 0;
    /// Every context that owned it, in order (the last one is the owner).
    std::vector<std::uint64_t> owners;
    std::size_t transfers = 0;
    bool closed = false;
  };

  explicit state(trace_limits l);

  /// One thread's posts and deliveries, not yet gathered.
  struct lane {
    std::mutex mu;
    std::vector<event> events;
    std::size_t posts = 0;
    std::size_t deliveries = 0;
    /// Slots this lane may still fill (taken from `reserved` in chunks).
    std::size_t budget = 0;
    /// Events not kept for the cap, and the time of the first of them.
    std::size_t cut = 0;
    std::int64_t first_cut = 0;

    /// Appends `e` if the budget allows (caller holds this lane's `mu`).
    void add(state& st, const event& e);
  };

  /// This thread's lane (made on its first post or delivery).
  lane& my_lane();

  /// Moves every lane's events and counts into `events` and `totals`
  /// (caller holds `mu`).
  void gather();

  /// Up to `want` event slots under the cap; 0 once it is reached.
  std::size_t take_budget(std::size_t want) noexcept;

  std::int64_t ns(trace_clock::time_point t) const noexcept {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(t - t0)
      .count();
  }

  /// Appends `e` if the cap allows (caller holds `mu`).
  void add(const event& e) {
    if (take_budget(1) == 1) {
      events.push_back(e);
    } else {
      if (totals.events_dropped == 0 || e.ts < first_cut)
        first_cut = e.ts;
      ++totals.events_dropped;
    }
  }

  /// The port's record, or null past the graph cap (caller holds `mu`).
  port_info* port(std::uint64_t id) {
    auto i = ports.find(id);
    if (i != ports.end())
      return &i->second;
    if (ports.size() >= limits.max_graph_ports) {
      graph_cut = true;
      return nullptr;
    }
    return &ports[id];
  }

  /// "name #id" (or "#id" for a context the recorder never saw start).
  std::string label(std::uint64_t ctx) const;

  /// A stable C string equal to `s` (task names repeat: a method name is
  /// kept once). Past `max_names` distinct names, "(other)".
  const char* intern(std::string s) {
    static constexpr std::size_t max_names = 4096;
    if (auto i = names.find(s); i != names.end())
      return i->c_str();
    if (names.size() >= max_names)
      return "(other)";
    return names.insert(std::move(s)).first->c_str();
  }

  const trace_limits limits;
  const trace_clock::time_point t0;
  /// Names this recorder in the threads' lane caches (never reused, unlike
  /// an address).
  const std::uint64_t uid;
  mutable std::mutex mu;
  std::atomic<std::size_t> reserved{0};
  std::map<std::thread::id, std::unique_ptr<lane>> lanes;
  std::string title = "entangle";
  std::vector<event> events;
  std::map<std::uint64_t, context_info> contexts;
  std::map<std::uint64_t, port_info> ports;
  struct channel {
    std::uint64_t port1;
    std::uint64_t port2;
    /// A worker's implicit pair or a shared worker connection.
    bool implicit;
  };
  /// Entangled pairs in creation order.
  std::vector<channel> channels;
  trace_totals totals;
  /// Interned task names (node-based: the strings never move).
  std::unordered_set<std::string> names;
  std::int64_t first_cut = 0;
  bool graph_cut = false;
};

} // namespace entangle
