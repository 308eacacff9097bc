#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <set>
#include <unordered_map>
#include <utility>
#include <vector>

#include <caf/actor_traits.hpp>
#include <caf/scheduled_actor.hpp>

#include "base/caf_compat.hpp"
#include "entangle/context.hpp"
#include "entangle/origin.hpp"
#include "entangle/runtime.hpp"
#include "contexts/broadcast.hpp"
#include "contexts/context_control.hpp"
#include "contexts/explore_hook.hpp"
#include "base/lazy_fifo.hpp"
#include "contexts/port_table.hpp"
#include "ports/port_object.hpp"
#include "ports/port_scheduler.hpp"
#include "contexts/wake_element.hpp"
#include "contexts/worker_table.hpp"

namespace entangle::detail {

struct world;

/// A navigation of a window (HTML §7.4 "navigate"): the new document's
/// origin and code.
struct navigation_request {
  entangle::origin org;
  init_function init;
};

/// runtime::why_alive's question to every live context: each answers by
/// adding its entry (context_core::describe).
struct liveness_probe {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<context_liveness> answers;
};

/// How to spawn a context (world::spawn).
struct spawn_options {
  entangle::origin origin = entangle::origin::opaque();
  /// The worker side of an implicit port pair (dedicated workers).
  record_ptr inside;
  /// The creator of a dedicated worker.
  caf::actor parent;
  /// A window (top-level or frame) and, for a frame, its parent window.
  bool window = false;
  std::shared_ptr<context_control> parent_window;
};

/// Contexts destroyed in this process so far (CAF let go of the actor):
/// for tests that check an ended context is not held (one relaxed add per
/// context).
std::uint64_t contexts_destroyed() noexcept;

/// One browsing context: a CAF event-based actor with one event loop.
///
/// Event loop. The mailbox carries only wake-ups: `port_ready` hints (a
/// started, shipped port of ours has messages; see port_scheduler), one
/// `unshipped` wake-up while never-shipped ports hold messages (HTML §1.3:
/// they form one task source in posting order), and `task` markers. A
/// wake-up dispatches at most `dispatch_batch` messages, each as its own
/// task, then yields (re-waking itself) so that one busy port cannot starve
/// the others or the task queue (HTML §4.6).
///
/// Never-shipped ports. Only this context posts to, starts or closes them,
/// so their bookkeeping needs no lock: `unshipped_heads_` holds one entry
/// (head stamp, epoch) per started never-shipped port whose queue is not
/// empty, keyed by the stamp of its oldest message; the scheduler reports a
/// port whose queue becomes non-empty (note_unshipped), and dispatching
/// its head re-enters the next one. The smallest stamp is the oldest
/// message of the combined task source, so a dispatch costs O(log K) for K
/// such ports. Entries of ports that moved, closed or got shipped are
/// dropped when they surface (pop_unshipped says `stale`).
///
/// Liveness. A window lives until it is closed (or its parent's document
/// goes). Any other context stays alive while it can still be reached:
/// while some started port of it waits for messages, or (a shared worker)
/// a client holds the other end of a connection, started or not
/// (`open_started_` > 0 counts both), an open BroadcastChannel has a
/// handler (`open_broadcasts_`), a task is queued or a timer is pending.
/// When a turn ends with neither, or `close()` was called, or user code
/// threw, it quits. Every exit path runs `on_exit`, which closes every port
/// it owns (peers get close after all it posted) and breaks handler cycles.
///
/// Thread affinity: all members are touched by the actor's own thread only,
/// except the immutable ones and `control_`.
class context_core : public caf::scheduled_actor,
                     public caf::dynamically_typed_actor_base {
public:
  // Spawned as CAF spawns an event_based_actor (a dynamically typed actor
  // with a behavior), without its mixins (sender, requester, subscriber,
  // behavior_changer), which a context never uses: CAF's worker
  // dynamic_casts every job it resumes to abstract_actor, and that cast
  // walks the whole class graph (comparing type_info names with strcmp
  // across shared objects), 1 348 instructions per resume through
  // event_based_actor's, 802 through this one (bench/cast_probe.cpp;
  // docs/performance.md "CAF's fixed cost per hop").
  using signatures = caf::none_t;
  using behavior_type = caf::behavior;

  context_core(caf::actor_config& cfg, world& rt,
               std::shared_ptr<context_control> control, init_function init,
               record_ptr inside);

  ~context_core() override;

  /// Called once by initialize(), as event_based_actor's is.
  caf::behavior make_behavior();
  void initialize() override;
  void on_exit() override;
  /// Handles this context's own wake element without CAF's generic
  /// dispatch (no categorising, matching or response promise); every other
  /// message goes the usual way.
  caf::invoke_message_result consume(caf::mailbox_element& x) override;

  /// Wakes this context: `port_ready` for `epoch` or the `unshipped`
  /// wake-up, from any thread (the caller holds a strong handle to this
  /// actor).
  /// `eu`: the caller's CAF worker, or null outside a context.
  void wake(caf::atom_value what, std::uint64_t epoch, caf::execution_unit* eu);
  const char* name() const override;

  /// A never-shipped, started port of ours (`epoch`) went from empty to
  /// holding the message stamped `stamp`. Called on this context's own
  /// thread, possibly under that port's record lock (so it takes none).
  void note_unshipped(std::uint64_t epoch, std::uint64_t stamp);

  // -- used by the public API (always on this context's thread) -------------

  std::uint64_t id() const noexcept {
    return control_->id;
  }
  const std::string& context_name() const noexcept {
    return control_->name;
  }
  const entangle::origin& context_origin() const noexcept {
    return control_->origin;
  }
  entangle::context& facade() noexcept {
    return facade_;
  }
  world& rt() noexcept {
    return rt_;
  }
  port_scheduler& sched() noexcept {
    return *sched_;
  }

  /// Creates this context's port object for `rec` (a new or adopted port).
  message_port adopt_port(record_ptr rec, bool implicit = false);

  /// Detaches a port for a transfer and returns its record (IN TRANSIT).
  record_ptr ship_port(port_object& port);

  /// What a sink port hands over instead of dispatching events: each
  /// queued item as it is (a message still in its in-flight form, with its
  /// ports IN TRANSIT, or the close sentinel).
  using port_sink = std::function<void(envelope&&)>;

  /// Makes `port` (owned by this context) a sink: its messages and its
  /// close go to `fn`, not to listeners; null `fn` undoes it. The remote
  /// layer's link ends are sinks (src/remote/): they forward what they
  /// get to another process without rebuilding it. Forgotten with the port.
  void set_sink(port_object& port, port_sink fn);

  /// StructuredSerializeWithTransfer from this context (clone/): ports in
  /// `transfer` must be ours and are shipped if it succeeds.
  serialized_message serialize(const value& message,
                               const transfer_list& transfer,
                               const port_object* source);

  /// Posts from `src` (context_post.cpp): post() clones, post_serialized()
  /// sends (drop rules: closed, detached, doomed; `bytes`: the size for
  /// the peer's byte mark); post_owned() takes a value the caller gives up
  /// (no transfer) and builds it in place when its clone is its copy.
  void post(port_object& src, const value& message,
            const transfer_list& transfer);
  void post_owned(port_object& src, value&& message);
  void post_serialized(port_object& src, serialized_message&& msg,
                       std::uint32_t bytes = 0);
  void start_port(port_object& port);
  /// Reports once per port a silent no-op on an inert (closed or
  /// transferred) port.
  void warn_inert(port_object& port, const char* op, const char* effect);
  /// receive_message_on_port: the next value message queued on `port`, now,
  /// without dispatching an event; nullopt when none is queued (a close or
  /// a typed message at the head stays for its event).
  std::optional<message_event> receive_now(const port_ptr& port);
  /// port.ref()/unref(): whether the port keeps this context alive.
  void set_ref(port_object& port, bool ref);
  /// Timers: whether timer `id` keeps this context alive.
  void set_timer_ref(timer_id id, bool ref) noexcept;
  void close_port(port_object& port, drop_reason why);

  void queue_task(std::function<void()> fn);

  timer_id set_timer(std::function<void()> fn, std::chrono::milliseconds delay,
                     bool repeat);
  void clear_timer(timer_id id) noexcept;

  /// `self.close()`: end after the current task.
  void close_self() noexcept;

  /// HTML's closing flag without discarding (a dedicated worker whose
  /// parent ended normally, runtime::shutdown): everything already queued
  /// to this context is dispatched -- on every port it owns (and on ports
  /// it starts meanwhile), its task queue, and its mailbox up to a fence --
  /// then it ends. Nothing new is accepted meanwhile: tasks and timers are
  /// discarded, messages that arrive later stay queued and are dropped at
  /// the end (context_gone), window messages, broadcasts and connects
  /// behind the fence are refused. Idempotent. (context_drain.cpp)
  void begin_draining();
  bool draining() const noexcept {
    return drain_ != nullptr;
  }

  // -- BroadcastChannel (src/contexts/broadcast_channel.cpp is the public face) -------
  std::shared_ptr<broadcast_object> join_broadcast(std::string name);
  void post_broadcast(broadcast_object& obj, const value& message);
  void close_broadcast(broadcast_object& obj);
  /// Counts `obj` toward liveness once it is open and has a handler.
  void count_broadcast(broadcast_object& obj);

  // -- windows (src/contexts/window.cpp is the public face) ----------------------------
  bool is_window() const noexcept {
    return control_->is_window;
  }
  const std::shared_ptr<context_control>& control() const noexcept {
    return control_;
  }
  /// Event handlers of the window global (window messages).
  event_target& global_events() noexcept {
    return global_events_;
  }
  std::shared_ptr<context_control> open_frame(std::string name,
                                              entangle::origin org,
                                              init_function init);
  /// Replaces the document after the current task (HTML navigation).
  void navigate(entangle::origin org, init_function init);

  /// Connects to a shared worker; returns this client's port.
  message_port connect_shared(std::string script, init_function init,
                              std::string name);
  bool is_shared_worker() const noexcept {
    return control_->is_shared_worker();
  }

  /// Spawns a dedicated worker connected by an implicit port pair.
  worker spawn_worker(std::string name, init_function init);

  /// The implicit port to the parent, or null for top-level contexts.
  const port_ptr& inside_port() const noexcept {
    return inside_;
  }

  /// What `port` has not dispatched yet: its queue plus, mid-batch, the
  /// rest of the batch taken from it (the lease). Any thread while this
  /// context is idle (the testkit), else this context's own.
  std::size_t queued(const port_object& port) const;

  /// Reports misuse (stderr when warnings are on).
  void warn(const std::string& what);

  // -- schedule exploration (explore_hook; the testkit only) -----------------

  /// An exploration point before `op`: other contexts may run first. This
  /// thread's staged posts go over first (post_stage), before a post only
  /// under an explorer (a schedule sees every post queued).
  void explore_point(explore_op op, const port_object* port = nullptr,
                     const value* data = nullptr) {
    if (op != explore_op::post || explorer_ != nullptr)
      port_scheduler::flush_stage();
    if (__builtin_expect(explorer_ != nullptr, 0))
      explorer_->point(*this, op, port, data);
  }

  /// Whether the init function ran (CAF's first resume).
  bool initialized() const noexcept {
    return getf(is_initialized_flag);
  }

  /// This context's port object `epoch` (what a wake-up hint names), or
  /// null. For the testkit's reports: this context's thread, or any while
  /// it is idle.
  port_ptr port_of(std::uint64_t epoch) const;

  /// The id of the worker whose worker object (the outside implicit port)
  /// `port` is, or 0 (the testkit's reports); that port by worker, or null.
  std::uint64_t worker_of(const port_object& port) const;
  port_ptr worker_port(std::uint64_t worker_id) const;

private:
  void on_ready(std::uint64_t epoch);
  void on_unshipped();
  void on_task();
  void on_timer(std::uint64_t wake);
  void on_broadcast(const weak_broadcast_ptr& weak,
                    const broadcast_delivery_ptr& delivery);
  void on_window_message(const window_delivery_ptr& d);
  /// A connect event: a shared worker's client (`shared`), or a thread
  /// outside every context (runtime::connect).
  void on_connect(const connect_msg_ptr& msg, bool shared);
  /// Another window navigates this one (window_proxy::navigate).
  void on_navigate(const navigation_ptr& nav);
  /// Runs a pending navigation, if any: the end of the task that asked for
  /// it (HTML: the old document goes before any further task of it runs).
  void apply_navigation();
  /// A watched, unstarted connection of this shared worker lost its peer.
  void on_peer_closed(std::uint64_t epoch);
  void on_worker_ready(std::uint64_t worker_id);
  /// Adopts the ports of `msg` and moves its data into `ev`.
  void receive(serialized_message& msg, message_event& ev);
  void fire_global(event_kind k, message_event& ev);
  /// Destroys the current document (navigation): as on_exit, minus ending.
  void unload_document();
  void destroy_frames();
  void on_worker_error(std::uint64_t worker_id, const std::string& name,
                       const std::string& what, bool handled);
  /// An exception ended this context: the runtime's hook, the creator's
  /// error event, or stderr (context_report.cpp).
  void report_failure();
  /// What keeps this context alive (runtime::why_alive).
  context_liveness describe() const;
  /// runtime_config::continue_after_exception: an exception escaped init
  /// or a handler and the context goes on; tells the hook, the global's
  /// error listeners, then the creator or stderr.
  void report_exception(const std::string& what);
  /// Prints an uncaught exception to stderr (with `warnings` on).
  void print_uncaught(const char* kind, const std::string& name,
                      std::uint64_t context_id, const std::string& what) const;
  /// Dispatches one item of a port's queue. `ev` is the caller's event,
  /// reused for each plain message of a batch (dispatch_event).
  void dispatch(const port_ptr& port, envelope&& e, message_event& ev);
  /// Delivers a typed message to its `on_typed` handler (context_typed.cpp).
  void dispatch_typed(port_object& port, serialized_message& msg,
                      message_event& ev);
  void dispatch_event(const port_ptr& port, envelope&& e, message_event& ev);
  /// What is not a plain message: a sink's item, ready, close,
  /// messageerror and typed messages, each with an event of its own.
  void dispatch_other(const port_ptr& port, envelope&& e);
  /// Closes a worker object's port once its close event ran (the worker
  /// ended): its channel and worker-table entry go now, not with this
  /// context.
  void let_go_of_worker(port_object& port);
#if ENTANGLE_TRACING
  void traced_dispatch(entangle::tracer& t, const port_ptr& port,
                       envelope&& e, message_event& ev);
  /// A traced batch was taken, `left` behind it (context_dispatch.cpp).
  void trace_batch_begin(std::size_t left) noexcept;
#endif
  std::optional<std::string> check_receivable_bytes(std::size_t bytes) const;
  void fire(port_object& port, event_kind k, message_event& ev);
  void end_turn();
  /// Window messages, broadcasts and connects are refused (closing, or
  /// draining behind the fence).
  bool refusing() const noexcept;
  /// While draining: how many more messages `port` may dispatch
  /// (unbounded otherwise), and the bookkeeping of what it did.
  std::size_t allowance(const port_object& port) const noexcept;
  void dispatched_from(const port_object& port, std::size_t n) noexcept;
  /// While draining: a port started now may dispatch what it holds.
  void allow_queued(const port_object& port);
  void forget_allowance(const port_object& port) noexcept;
  void on_drain_fence();
  void uncount(port_object& port) noexcept;
  void forget(port_object& port);

  /// Takes `port` (ATTACHED) out of `ports_` and ends its self-keeping
  /// (unpin); the result keeps it alive while its caller detaches it.
  port_ptr unlist(port_object& port);

  /// Runs user code `f` inside this context; an escaping exception is
  /// recorded and makes the context close (it never leaves the actor).
  template <class F>
  void guarded(F&& f) {
    run_guarded(static_cast<void*>(&f), [](void* p) {
      (*static_cast<std::remove_reference_t<F>*>(p))();
    });
  }
  void run_guarded(void* fn, void (*call)(void*));

  world& rt_;
  /// The runtime's scheduler, kept alive by `control_->sched`.
  port_scheduler* const sched_;
  /// The runtime's schedule explorer (deterministic testkit) or null.
  explore_hook* explorer_;
  /// The reusable wake-up (see wake_element); orphaned, not deleted, by the
  /// destructor, since a closed mailbox may still hold it.
  wake_element* wake_;
  std::shared_ptr<context_control> control_;
  /// What make_behavior starts with (the init function and a worker's
  /// implicit port), freed once it ran: not carried for a context's life.
  struct startup {
    init_function init;
    record_ptr inside;
  };
  std::unique_ptr<startup> startup_;
  std::shared_ptr<port_object> inside_;
  entangle::context facade_;

  /// Every port object of this context, by its (scheduler-unique) epoch:
  /// how a wake-up hint finds its port.
  port_table ports_;
  /// The window global's listeners (window messages).
  event_target global_events_;
  /// Set by navigate() or a request from another window; taken by
  /// apply_navigation() at the end of the task. The event loop runs no
  /// further task of the old document while it is set (a dispatch batch
  /// stops, see on_ready).
  navigation_ptr pending_navigation_;
  /// The combined order of never-shipped ports (see the class comment): a
  /// min-heap on `stamp`.
  struct unshipped_head {
    std::uint64_t stamp;
    std::uint64_t epoch;
    bool operator>(const unshipped_head& other) const noexcept {
      return stamp > other.stamp;
    }
  };
  std::vector<unshipped_head> unshipped_heads_;
  /// The batch on_ready took from one port's queue in one lock round and
  /// has not dispatched yet. Invariant: while `port` is set, the elements
  /// of `items` not taken yet are older than everything still in that
  /// port's queue and belong in front of it; closing or shipping the port
  /// gives them back first (give_back), so every other path sees the queue
  /// as if they had never been taken. `items` lives on on_ready's stack (a
  /// context runs on one thread at a time and on_ready does not nest).
  struct lease {
    port_object* port = nullptr;
    envelope_queue::batch* items = nullptr;
  } lease_;
  void give_back(port_object& port);
  /// Queued tasks (queue_task); lazy: most contexts never queue one.
  lazy_fifo<std::function<void()>> tasks_;

  /// Timers (context_timers.cpp) are tasks of this event loop (HTML
  /// §8.6): one runs when its due time has come, either when CAF's clock
  /// delivers the wake-up each arming schedules (an idle context), or at
  /// the end of a turn of this context, whichever comes first -- so a busy
  /// context cannot starve its timers behind a late clock thread.
  /// Invariant: `rare_->due` holds exactly one (due, id) per entry of
  /// `rare_->timers`.
  /// A wake-up that finds its timer gone (run early, cleared) or not due
  /// (re-armed since) does nothing.
  struct timer {
    std::function<void()> fn;
    std::chrono::milliseconds interval;
    bool repeat;
    caf::actor_clock::time_point due;
    bool refed = true;
  };
  /// The lifetime rule (see the definition).
  bool reachable() const noexcept;
  /// What most contexts never use, in one block made on first use (rare()):
  /// an idle context must stay small (issue #17); readers check for null.
  /// Workers have their own block: each link of a worker chain spawns one.
  struct rare_state {
    /// This context's BroadcastChannel objects, by creation sequence.
    std::unordered_map<std::uint64_t, std::shared_ptr<broadcast_object>> bcs;
    /// Sink ports (set_sink); empty in every context but the remote node's.
    std::unordered_map<const port_object*, port_sink> sinks;
    /// Pending timers (a fired timeout is erased; a cleared one too), and
    /// their due times in order.
    std::unordered_map<timer_id, timer> timers;
    std::set<std::pair<caf::actor_clock::time_point, timer_id>> due;
    timer_id next_timer = 1;
    /// The earliest wake-up on CAF's clock not yet received (max: none
    /// known); never later than the first of `due` after a turn.
    caf::actor_clock::time_point wake_at = caf::actor_clock::time_point::max();
    /// Why the context failed (an escaped exception's what()).
    std::string what;
  };
  std::unique_ptr<rare_state> rare_;
  std::unique_ptr<worker_table> workers_; // null until the first spawn
  rare_state& rare() {
    if (!rare_)
      rare_ = std::make_unique<rare_state>();
    return *rare_;
  }
  void arm(timer_id id, timer& t, caf::actor_clock::time_point due);
  /// Puts a wake-up on CAF's clock for the first due timer, unless one at
  /// or before it is pending (a new one replaces the pending one).
  void ensure_wake();
  /// Runs timer `i` (a task): a timeout is erased, an interval re-armed.
  void fire_timer(std::unordered_map<timer_id, timer>::iterator i);
  /// At the end of a turn: runs every timer already due, once each.
  void run_due_timers();
  /// Forgets every timer (the context or its document ends).
  void drop_timers() noexcept;
  /// While draining (see begin_draining): each port's remaining allowance,
  /// the queued tasks still to run, their sum, and whether the mailbox
  /// fence went by.
  struct drain_state {
    std::unordered_map<const port_object*, std::size_t> quota;
    std::size_t tasks = 0;
    std::size_t left = 0;
    bool fence_seen = false;
  };
  std::unique_ptr<drain_state> drain_;
  // Counters and flags last, packed (issue #17: every context has them).
  // 32-bit counters: each counts objects of this context, which at well
  // over 100 bytes apiece could not number 2^32.
  /// Started ports that keep this context alive (see reachable()).
  std::uint32_t open_started_ = 0;
  /// Open BroadcastChannels with a handler.
  std::uint32_t open_broadcasts_ = 0;
  /// Timers that keep this context alive (not unref'ed).
  std::uint32_t refed_timers_ = 0;
  /// The `unshipped` wake-up is in the mailbox (one at a time).
  bool unshipped_wake_ = false;
  bool closing_ = false;
  bool failed_ = false;
  /// An escaped exception is being reported (continue_after_exception):
  /// one thrown by an error handler now ends the context.
  bool reporting_ = false;
};

/// Returns the context running on this thread, or nullptr.
context_core* current_core() noexcept;

/// The CAF execution unit (worker) running the current context, or nullptr
/// outside any context. Wake-ups sent with it go to that worker's own queue,
/// as `self->send` does; CAF's `anon_send` passes none, which hands every
/// wake-up to the coordinator (another thread) -- a thread handoff per hop.
caf::execution_unit* current_execution_unit() noexcept;

} // namespace entangle::detail
