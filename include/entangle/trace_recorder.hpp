#pragma once

#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <memory>
#include <string>

#include "entangle/trace.hpp"

namespace entangle {

/// Bounds of a `trace_recorder`: a trace of a long run stays small.
struct trace_limits {
  /// Events kept for the Chrome trace (posts, deliveries, transfers,
  /// closes, drops); later ones are counted, not kept.
  std::size_t max_events = 100000;
  /// Message arrows in a Mermaid sequence diagram (it is for small runs).
  std::size_t max_sequence_messages = 100;
  /// Ports remembered for the topology graph.
  std::size_t max_graph_ports = 20000;
};

/// What a recorder saw (all of it, also past the caps).
struct trace_totals {
  std::size_t contexts = 0;
  std::size_t channels = 0;
  std::size_t posts = 0;
  std::size_t deliveries = 0;
  std::size_t transfers = 0;
  std::size_t closes = 0;
  std::size_t drops = 0;
  /// Timers fired and RPC steps (`tracer::on_task`).
  std::size_t tasks = 0;
  /// Contexts that ended by an exception.
  std::size_t crashes = 0;
  /// Events kept, and events not kept because of `max_events`.
  std::size_t events_kept = 0;
  std::size_t events_dropped = 0;
};

/// The stock tracer: records what a runtime does and writes it as
///
/// - Chrome Trace Event JSON (opens in ui.perfetto.dev and chrome://tracing):
///   one track per context, each post -> delivery a flow arrow between a
///   "post" slice on the sender's track and the handler's slice on the
///   receiver's, transfers, closes and drops as instant events, queued
///   messages per context as counters, timers and RPC steps as slices
///   named by what ran ("timeout", "rpc method add"), a context that
///   crashed as a "crashed" instant carrying the exception's what(); the
///   caps and how many events they cut are in the file's `otherData`;
/// - a Graphviz DOT topology: contexts as nodes (a crashed one red, with
///   its what()), entangled ports as edges between their last owners,
///   transfers as dashed arrows;
/// - a Mermaid sequence diagram (capped, for small runs), with notes for
///   transfers, closes, timers, RPC steps and crashes.
///
/// Ports are labelled "p<id>" (`trace_port::port`) everywhere.
///
/// Thread-safe: posts and deliveries go to a buffer per thread (a clock
/// read, an uncontended lock and an append: the posting and the delivering
/// thread never wait for each other), the rarer events to a shared one;
/// both bounded together by `max_events`. Write the files once the runtime
/// has ended. A subclass that overrides `on_post` to see posts overrides
/// `on_post_group` too: this class takes grouped posts there, without
/// `on_post`.
class trace_recorder : public tracer {
public:
  explicit trace_recorder(trace_limits limits = {});
  ~trace_recorder() override;

  trace_recorder(const trace_recorder&) = delete;
  trace_recorder& operator=(const trace_recorder&) = delete;

  void on_post(const trace_post&) override;
  void on_post_group(const trace_post_group& group) override;
  void on_deliver(const trace_deliver&) override;
  void on_transfer(const trace_port&) override;
  void on_adopt(const trace_port&) override;
  void on_entangle(const trace_port&) override;
  void on_close(const trace_close&) override;
  void on_drop(const trace_drop&) override;
  void on_context_start(const trace_context&) override;
  void on_context_end(const trace_context&) override;
  void on_task(const trace_task&) override;

  /// Returns what was seen so far.
  trace_totals totals() const;

  /// The title written into the trace (process name), e.g. the topology.
  void title(std::string t);

  void write_chrome_json(std::ostream& out) const;
  void write_dot(std::ostream& out) const;
  void write_mermaid(std::ostream& out) const;

  /// Write to a file. @throws std::runtime_error if it cannot be written.
  void write_chrome_json(const std::string& path) const;
  void write_dot(const std::string& path) const;
  void write_mermaid(const std::string& path) const;

  /// @private
  struct state;

private:
  /// Counts an event that could not be recorded (hooks never throw).
  void lost() noexcept;
  /// What on_post and on_post_group do (not virtual: a subclass overriding
  /// either hook keeps the other one's recording).
  void record_posts(const trace_post_group& group,
                    std::size_t ports) noexcept;

  std::unique_ptr<state> st_;
};

} // namespace entangle
