#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <caf/actor_system_config.hpp>

#include "entangle/context.hpp"
#include "entangle/drop_reason.hpp"
#include "entangle/flow_control.hpp"
#include "entangle/outside_port.hpp"
#include "entangle/trace.hpp"

namespace entangle {

namespace testing {
class testkit;
} // namespace testing

class runtime;

namespace detail {
struct world;
/// @private The world a runtime's contexts live in (src/remote/ needs it).
world& world_of(runtime& rt) noexcept;
} // namespace detail

/// Configuration, the CAF way: it *is* a `caf::actor_system_config`, so CLI
/// options (`cfg.parse(argc, argv)`), INI files and CAF's own settings
/// (`--scheduler.max-threads=2`) work unchanged. entangle's own options live
/// in the `entangle` group.
/// An exception that escaped a context's init or a handler
/// (runtime_config::on_error).
struct context_error {
  std::uint64_t id = 0;
  std::string name;
  /// Whether it ended the context (false with
  /// `runtime_config::continue_after_exception`).
  /// The exception's what() ("unknown exception" for a non-std one).
  std::string what;
  bool ended = true;
};

struct runtime_config : caf::actor_system_config {
  runtime_config();

  /// Maximum nesting depth of a posted value (DataCloneError beyond).
  std::size_t max_clone_depth = 256;

  /// Maximum messages one port dispatches per turn before yielding to other
  /// work on the same event loop (fairness; HTML §4.6).
  std::size_t dispatch_batch = 64;

  /// Most posts of one turn handed to a busy port at once (the post stage,
  /// docs/architecture.md): while the receiving context has a wake-up
  /// pending anyway, a post waits on the posting thread and goes over with
  /// the ones after it in one lock round when this many wait, when the
  /// posting context does anything else with ports, or when its turn
  /// ends, whichever comes first. 0 or 1: every post goes over at once.
  std::size_t post_batch = 64;

  /// Largest buffer (bytes) a context accepts in one message; a larger one
  /// fails deserialization at the receiver (`messageerror`). 0 = no limit.
  std::size_t max_buffer_bytes = 0;

  /// The high-water mark every new port gets (its receiver may change it:
  /// `message_port::set_high_water_mark`). Off unless configured:
  /// `entangle.port-high-water-mark` (messages), `entangle.port-high-water-
  /// bytes` and `entangle.port-hard-limit-factor` on the command line or
  /// in an INI file. See `high_water_mark` for the rules.
  high_water_mark port_high_water_mark;

  /// Print warnings (misuse, doomed posts) to stderr.
  bool warnings = true;

  /// How many ended contexts `runtime::exits()` remembers (the most recent
  /// ones; 0: none). `runtime::exit_counts()` counts every end regardless.
  std::size_t exit_history = 1000;

  /// Run every context on the calling thread under CAF's deterministic
  /// `test_coordinator`, with virtual time (timers fire only when time is
  /// advanced). Nothing runs until driven: `run()` runs to completion
  /// (advancing time to each next timer), `testing::testkit` steps.
  bool deterministic = false;

  /// Observes every post, delivery, transfer, close and drop, and every
  /// context's start and end (see `tracer`; `trace_recorder` writes Chrome
  /// trace JSON, Graphviz and Mermaid). Null: no tracing, and the hooks
  /// cost one branch each. Ignored when `tracing_compiled_in()` is false.
  std::shared_ptr<entangle::tracer> tracer;

  /// What an exception escaping init or a handler does. false (the
  /// default, actor semantics): it ends the context like a crash — its
  /// ports close, peers get close, a worker's creator gets `error` then
  /// `close`. true (the web's "report an exception"): the
  /// context keeps running; an `error` event fires at its global
  /// (`context::on_error`), and unless a listener called
  /// `prevent_default()`, a dedicated worker's creator gets `error` at the
  /// worker object, and what nobody handled is printed. Either way the
  /// runtime's `on_error` hook sees it first.
  bool continue_after_exception = false;

  /// Called for every exception that ends a context (top-level ones,
  /// workers, windows), on that context's thread as it ends. Without it an
  /// uncaught exception is printed to stderr ("entangle: uncaught exception
  /// in context 'name' (#id): what"), unless it ended a dedicated worker
  /// whose creator has an error listener on the worker object (Node and
  /// the web print what nobody handled). With `warnings` off nothing is
  /// printed. The hook must not throw (what it throws is ignored). With
  /// `continue_after_exception` it sees every escaped exception
  /// (`context_error::ended` false).
  std::function<void(const context_error&)> on_error;

  /// Load CAF's network layer (caf::io's middleman), so that this runtime
  /// can listen for and connect to other processes (include/entangle/
  /// remote.hpp). Off by default: it costs a thread. Option
  /// `entangle.remote`; set it before the runtime is made.
  bool remote = false;

  /// How often connected runtimes exchange heartbeats; a peer silent for
  /// five intervals, and at least 5 s, is lost (its ports close, counted
  /// `node_lost`; a process that died is seen at once, its socket closes,
  /// the timeout is for a hung one). Sets
  /// CAF's `middleman.heartbeat-interval` and `middleman.connection-timeout`
  /// unless those are given. Option `entangle.remote-heartbeat`.
  caf::timespan remote_heartbeat = std::chrono::milliseconds{200};

  /// How long a connect may take (TCP, CAF's handshake and entangle's
  /// hello) before it fails with NetworkError. Option
  /// `entangle.remote-connect-timeout`.
  caf::timespan remote_connect_timeout = std::chrono::seconds{5};

  /// What one connected runtime can make this one keep (caps against a
  /// peer that would grow it without bound; exceeding one is a protocol
  /// violation: the peer is disconnected and its ports close, counted
  /// `node_lost`). The links it made here (channels it opened, ports it
  /// sent) plus the ends kept for it after a close, at most
  /// `remote_max_links`; per link, the frames that came ahead of a
  /// missing one, at most `remote_max_early_frames`, of at most
  /// `remote_max_early_bytes` encoded bytes since that buffer was last
  /// empty. Options `entangle.remote-max-links`,
  /// `entangle.remote-max-early-frames`, `entangle.remote-max-early-bytes`.
  std::size_t remote_max_links = 65536;
  std::size_t remote_max_early_frames = 1024;
  std::size_t remote_max_early_bytes = std::size_t{16} << 20;
  /// Proxy collapse: a runtime that relays a port between two others
  /// (a port that moved T -> here -> B) splices them onto a direct link and
  /// drops out, when T and B are connected already (docs/guide.md, "Across
  /// processes"). Off: it relays for the channel's life. Option
  /// `entangle.remote-collapse`.
  bool remote_collapse = true;

  /// @private The middleman was loaded (load only once per config).
  bool remote_loaded = false;
};

/// How a context ended.
enum class exit_kind : std::uint8_t {
  /// It closed itself or had nothing left to do.
  normal,
  /// An exception escaped its init function or a handler.
  exception,
  /// It was terminated from outside (and had not failed: an exception
  /// that escaped first is what ended it, even if terminate() came after).
  terminated,
};

std::string_view to_string(exit_kind k) noexcept;

/// What keeps one context alive (runtime::why_alive).
struct context_liveness {
  std::uint64_t id = 0;
  std::string name;
  /// "window", "frame", "worker", "shared worker" or "context".
  std::string kind;
  /// One line per thing that keeps it running or that it waits for, e.g.
  /// "port p12 is started and waits for messages".
  std::vector<std::string> reasons;
};

/// How many exit kinds there are (indexes of `exit_counts`).
inline constexpr std::size_t exit_kind_count = 3;

/// The record of one ended context.
struct context_exit {
  std::uint64_t id = 0;
  std::string name;
  exit_kind kind = exit_kind::normal;
  /// The exception's what() for `exit_kind::exception`.
  std::string what;
};

/// What `runtime::shutdown` did.
struct shutdown_report {
  /// Contexts that finished what was queued to them and ended within the
  /// grace period.
  std::size_t finished = 0;
  /// Contexts still running at the deadline, terminated.
  std::size_t terminated = 0;
  /// Messages dropped while shutting down, by reason (posted after a
  /// context stopped accepting work, or still queued when it was
  /// terminated).
  drop_counts dropped;
};

/// Owns the CAF actor system and the port scheduler; spawns top-level
/// contexts; runs until every context has ended or `stop()` is called.
///
/// Thread safety: every member may be called from any thread.
class runtime {
public:
  /// A runtime with a default configuration.
  runtime();

  /// A runtime using `cfg`, which must outlive it (as with caf::actor_system).
  explicit runtime(runtime_config& cfg);

  /// Stops every context and waits for them.
  ~runtime();

  runtime(const runtime&) = delete;
  runtime& operator=(const runtime&) = delete;

  /// Spawns a top-level context running `init`, with a fresh opaque
  /// origin. Returns its id.
  std::uint64_t spawn(std::string name, init_function init);

  /// Spawns a top-level context with the origin of `origin_url` (e.g.
  /// "https://example.org"; see `origin::parse`).
  /// @throws dom_exception `SyntaxError` for an unparsable URL.
  std::uint64_t spawn(std::string name, std::string_view origin_url,
                      init_function init);

  /// Opens a top-level window with the origin of `origin_url`: a context
  /// that can receive window.post_message (`context::on_message`), open
  /// frames and navigate. Like a browser window it lives until it closes
  /// itself (`context::close`) or is terminated; its frames end with it.
  /// @throws dom_exception `SyntaxError`.
  std::uint64_t open_window(std::string name, std::string_view origin_url,
                            init_function init);

  /// Blocks until every context has ended or `stop()` was called.
  void run();

  /// Like `run()`, but gives up after `timeout`; returns whether every
  /// context ended.
  bool run_for(std::chrono::milliseconds timeout);

  /// Terminates every context at once (their ports close; what was queued
  /// to them is dropped, counted as context_gone) and returns once every
  /// context has ended, so `live_contexts() == 0` right after it. Called
  /// from inside a context of this runtime it cannot wait for that context
  /// itself: it starts the stop and returns. Makes `run()` return.
  void stop();

  /// Graceful stop: every context stops accepting new work and finishes
  /// what is already queued to it (HTML's closing flag: tasks and timers
  /// set from now on are discarded, messages posted to it from now on are
  /// dropped as context_gone, queued ones are dispatched), then ends.
  /// Contexts spawned meanwhile run their init and do the same. Whatever
  /// still runs after `grace` is terminated as by `stop()`. Returns when
  /// every context has ended. In deterministic mode time is virtual: every
  /// context drains as far as it can, then the rest is terminated.
  /// Must not be called from inside a context of this runtime
  /// (InvalidStateError).
  shutdown_report shutdown(std::chrono::milliseconds grace);

  /// The way in from a thread that is not a context (main, an I/O
  /// thread, a test): a new channel whose one end is returned and whose
  /// other end reaches context `context_id` as a `connect` event at its
  /// global (`context::on_connect`, `ev.ports[0]`, not started). Like a
  /// shared worker's client, the connection keeps that context alive until
  /// either end closes. An unknown or ended context gives a port that is
  /// closed at once. See `outside_port` for the thread rules.
  /// @throws dom_exception InvalidStateError inside a context.
  outside_port connect(std::uint64_t context_id);

  /// Terminates one context from outside; unknown ids are ignored.
  void terminate(std::uint64_t context_id);

  /// Returns the number of contexts that have not ended yet.
  std::size_t live_contexts() const;

  /// Returns the drop counters.
  drop_counts drops() const;

  /// Returns how the most recent ended contexts ended (at most
  /// `runtime_config::exit_history` of them), in order of ending.
  std::vector<context_exit> exits() const;

  /// Returns how many contexts ended, by `exit_kind` (exact, unlike the
  /// bounded `exits()` history).
  std::array<std::uint64_t, exit_kind_count> exit_counts() const;

  /// Returns the number of open (not yet closed) port records (0 once
  /// every context ended: no leaks). A handle kept to a closed port keeps
  /// its memory, not an open record.
  std::size_t live_ports() const;

  /// Why is it still running? Asks every live context what keeps it alive
  /// (started ports waiting, referenced timers, queued tasks, workers,
  /// BroadcastChannels, pending connects, a window's own lifetime) and
  /// what it waits for in vain (ports holding messages but never started).
  /// A context busy for longer than `wait` is listed as busy. In
  /// deterministic mode each context answers at once (no other event
  /// runs). Must not be called from inside a context of this runtime.
  std::vector<context_liveness>
  why_alive(std::chrono::milliseconds wait = std::chrono::milliseconds{200})
    const;

  /// `why_alive` as text, one block per context. `run_for` prints it to
  /// stderr when it times out (with `warnings` on).
  std::string describe_live(std::chrono::milliseconds wait
                            = std::chrono::milliseconds{200}) const;

  /// @private
  struct impl;

private:
  friend class testing::testkit;
  friend detail::world& detail::world_of(runtime& rt) noexcept;

  std::unique_ptr<runtime_config> owned_cfg_;
  std::unique_ptr<impl> impl_;
};

} // namespace entangle
