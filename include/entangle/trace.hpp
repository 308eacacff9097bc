#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "entangle/drop_reason.hpp"

namespace entangle {

/// The clock of every trace timestamp.
using trace_clock = std::chrono::steady_clock;

/// Returns whether this build of the library has the tracing hooks
/// (meson option `tracing`, default true). When it does not, a tracer set
/// on `runtime_config` is never called.
bool tracing_compiled_in() noexcept;

// Ids in trace events are names for observers, not capabilities, each
// unique within one runtime: a context id is `context::id()`; a port id
// names the port (both ends of a channel get consecutive ids, and an id
// stays with its end across transfers; `trace_recorder` labels it "p<id>");
// a message id links a post to its delivery (not in posting order across
// threads: each thread takes ids in blocks). 0 means "none" or "unknown".

/// A message was handed to the port scheduler (HTML "post message steps",
/// after serialization): appended to the target's queue, or dropped.
struct trace_post {
  /// The instant the message reached the port scheduler, read once (so
  /// `begin == end`): the value was serialized before, on the poster's own
  /// time, and the append itself takes a few dozen ns, shorter than the
  /// clock read that would time it. Before its delivery's `begin`.
  trace_clock::time_point begin;
  trace_clock::time_point end;
  std::uint64_t message = 0;
  /// The posting context and port.
  std::uint64_t context = 0;
  std::uint64_t port = 0;
  /// The entangled port it was queued on, and that port's owner at post
  /// time (0 while the target is in transit). Both 0 when dropped.
  std::uint64_t target_port = 0;
  std::uint64_t target_context = 0;
  /// The target queue's length after the append.
  std::size_t queue_depth = 0;
  /// How many ports the message carries.
  std::size_t ports = 0;
  /// False when the message was dropped here (no peer, peer closed); the
  /// drop is also reported to `on_drop`.
  bool queued = true;
  /// The posted value's type ("string", "object", ...).
  const char* type = "";
};

/// One post of a `trace_post_group`: what is its own.
struct trace_post_item {
  /// As `trace_post::message`.
  std::uint64_t message = 0;
  /// The posted value's type, as `trace_post::type`.
  const char* type = "";
  /// Its instant (`trace_post::begin`, equal to `end`).
  trace_clock::time_point at;
};

/// Posts handed to their target together (`tracer::on_post_group`): one
/// context's posts through one port, in post order, none carrying a port.
/// What they share is here once; `items` has what is each one's.
///
/// Why a group and not an array of `trace_post`: a counter adds `size` and
/// a recorder reads the items, so the poster's thread, which sets a
/// flood's pace, stages 24 bytes per traced post instead of making and
/// copying an 88-byte event (docs/performance.md, "Grouped posts as a
/// group").
struct trace_post_group {
  /// The posting context and port.
  std::uint64_t context = 0;
  std::uint64_t port = 0;
  /// As in `trace_post`; both 0 when dropped.
  std::uint64_t target_port = 0;
  std::uint64_t target_context = 0;
  /// False when the group was dropped (the target closed meanwhile); the
  /// drops are also reported to `on_drop`.
  bool queued = true;
  /// Queued: the target queue's length after the first item's append
  /// (each next item's is one more). 0 when dropped.
  std::size_t first_depth = 0;
  const trace_post_item* items = nullptr;
  std::size_t size = 0;

  /// Item `i` as the `trace_post` that `on_post` would be given.
  trace_post post(std::size_t i) const noexcept {
    trace_post ev;
    ev.begin = ev.end = items[i].at;
    ev.message = items[i].message;
    ev.context = context;
    ev.port = port;
    ev.target_port = target_port;
    ev.target_context = target_context;
    ev.queue_depth = queued ? first_depth + i : 0;
    ev.queued = queued;
    ev.type = items[i].type;
    return ev;
  }
};

/// A queued item was dispatched at its port: a message (or messageerror) or
/// the close sentinel. `begin`/`end` span the listeners.
struct trace_deliver {
  trace_clock::time_point begin;
  trace_clock::time_point end;
  /// The `trace_post::message` it came from (0 for close).
  std::uint64_t message = 0;
  std::uint64_t context = 0;
  std::uint64_t port = 0;
  /// "message", "messageerror" or "close".
  std::string_view type;
  /// The port queue's length left behind.
  std::size_t queue_depth = 0;
};

/// A port changed hands or was created.
struct trace_port {
  trace_clock::time_point at;
  std::uint64_t port = 0;
  /// The acting context: the one shipping it (transfer), receiving it
  /// (adopt) or creating the channel (entangle).
  std::uint64_t context = 0;
  /// For `on_entangle`: the other end.
  std::uint64_t peer = 0;
  /// For `on_entangle`: the pair spans two contexts from birth (a
  /// dedicated worker's implicit ports, a shared worker connection).
  bool implicit = false;
};

/// A port was closed (by `close()`, its context's end, or the loss of the
/// message carrying it).
struct trace_close {
  trace_clock::time_point at;
  std::uint64_t port = 0;
  /// Its owner at the time, 0 if it was in transit.
  std::uint64_t context = 0;
  /// Why its queued messages were dropped.
  drop_reason reason = drop_reason::closed;
  /// How many queued messages were dropped with it (the peer's close
  /// marker, if it was still queued, is not a message and not counted).
  std::size_t dropped = 0;
};

/// A context started or ended.
struct trace_context {
  trace_clock::time_point at;
  std::uint64_t context = 0;
  std::string_view name;
  /// "context", "worker", "shared worker", "window" or "frame".
  std::string_view kind;
  /// The context that created it (0 for the program itself).
  std::uint64_t creator = 0;
  /// For ends: "normal", "exception" or "terminated".
  std::string_view how;
  /// For ends by "exception": the exception's what() (what a worker's
  /// `on_error` handler gets).
  std::string_view what;
};

/// A named piece of work ran inside a context: a timer's callback, or one
/// step of an RPC call (`begin`/`end` span it; whatever it posted nests
/// inside).
struct trace_task {
  trace_clock::time_point begin;
  trace_clock::time_point end;
  std::uint64_t context = 0;
  /// "timeout" or "interval" (a timer fired); "rpc call" (the caller posts
  /// a call), "rpc method" (the service runs the method), "rpc result" (the
  /// caller settles the call's promise: its continuations run inside).
  std::string_view kind;
  /// The RPC method's name; empty for timers.
  std::string_view name;
  /// The timer id, or the RPC call id (unique per `rpc::remote`).
  std::uint64_t id = 0;
  /// How an RPC step ended: "returned", "threw <error name>", "answers
  /// later" (a method that returned a promise), "timed out" or "aborted";
  /// empty for timers and "rpc call".
  std::string_view detail;
  /// For timers: the delay (timeout) or period (interval).
  std::chrono::milliseconds delay{0};
};

/// A message was not delivered (counted in `runtime::drops()`).
struct trace_drop {
  trace_clock::time_point at;
  /// The running context, 0 outside any context.
  std::uint64_t context = 0;
  drop_reason reason = drop_reason::closed;
  std::uint64_t count = 1;
};

/// Observes the message flow of a runtime (set `runtime_config::tracer`).
///
/// Called synchronously from the library's hot paths, on whatever CAF
/// worker thread runs the context concerned, concurrently from several
/// threads (so a message's `on_deliver` may be called before its
/// `on_post`: order events by their timestamps, which are consistent), and
/// sometimes while the library holds internal locks: an
/// implementation must be thread-safe, fast, must not throw (a hook runs
/// in the middle of a state change) and must not call back into entangle.
/// It must outlive the runtime (the runtime holds a shared_ptr).
///
/// Every hook has an empty default, so an observer overrides what it needs.
/// `trace_recorder` (entangle/trace_recorder.hpp) is the stock one.
class tracer {
public:
  /// Whether events carry timestamps. Each is a clock read on the thread
  /// that posts or dispatches (30-80 ns on the development VM, against
  /// about 100 ns for a whole message one way: most of what a trace adds),
  /// so a tracer that only counts or samples can go without; its events
  /// then carry `trace_clock::time_point{}` in every time field.
  enum class timestamps { yes, no };

  tracer() noexcept = default;
  explicit tracer(timestamps ts) noexcept : timed_(ts == timestamps::yes) {
  }
  virtual ~tracer();

  bool timed() const noexcept {
    return timed_;
  }
  /// The time of an event happening now, as the hooks are given it.
  trace_clock::time_point now() const noexcept {
    return timed_ ? trace_clock::now() : trace_clock::time_point{};
  }


  virtual void on_post(const trace_post&) {
  }
  /// Posts handed to their target together, in post order: one
  /// context's posts through one port, grouped by the post stage while
  /// the receiver was busy (docs/architecture.md, "The post stage"); see
  /// `trace_post_group` for what they share. The default calls `on_post`
  /// with `group.post(i)` for each; an observer that can take a group at
  /// once (a counter adds `group.size`, a recorder takes its lock once)
  /// overrides it. A post is reported to one of the two, never both.
  virtual void on_post_group(const trace_post_group& group) {
    for (std::size_t i = 0; i < group.size; ++i)
      on_post(group.post(i));
  }
  /// @private What `on_post_group` was before `trace_post_group` (0.x):
  /// final, so that a tracer still overriding it fails to compile
  /// ("overriding final function") instead of no longer being called.
  virtual void on_posts(const trace_post*, std::size_t) final {
  }
  virtual void on_deliver(const trace_deliver&) {
  }
  /// A port was shipped in a transfer list (its context loses it).
  virtual void on_transfer(const trace_port&) {
  }
  /// A context took ownership of a port (new channel, received, implicit).
  virtual void on_adopt(const trace_port&) {
  }
  /// A pair of entangled ports was created.
  virtual void on_entangle(const trace_port&) {
  }
  virtual void on_close(const trace_close&) {
  }
  virtual void on_drop(const trace_drop&) {
  }
  virtual void on_context_start(const trace_context&) {
  }
  virtual void on_context_end(const trace_context&) {
  }
  /// A timer fired or an RPC call made a step (see `trace_task`).
  virtual void on_task(const trace_task&) {
  }

private:
  bool timed_ = true;
};

} // namespace entangle
