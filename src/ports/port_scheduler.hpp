#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string_view>
#include <utility>

#include "entangle/drop_reason.hpp"
#include "entangle/flow_control.hpp"
#include "ports/port_record.hpp"
#include "ports/post_stage.hpp"
#include "base/trace_hooks.hpp"

namespace entangle::detail {

/// The per-runtime owner of every port record: creates entangled pairs,
/// moves messages into the target's queue, wakes owners, closes ports (with
/// the cascade through ports carried by dropped messages) and counts drops.
///
/// It is a thread-safe object called synchronously by context actors (the
/// Mojo/Node shape): a post takes the sender's record lock, then the
/// target's, and sends at most one CAF message (a coalesced wake-up hint).
/// There is no global lock on the post path.
///
/// Invariants:
/// - `open_records()` counts records not yet closed; after every context
///   has ended it is 0 (leak oracle, PORT_PROTOCOLS §7.3.11: a port left
///   open then is one nobody can close any more). `live_records()` counts
///   records not yet destroyed: the same once no user handle is left, but a
///   handle to a closed or transferred port, or to either end of its
///   channel, holds its port_pair (both records' memory) for as long as the
///   handle lives (ownership rules: port_pair, port_object.hpp).
/// - Every message that is not dispatched is counted in exactly one drop
///   reason, at the place where it is destroyed.
///
/// Lifetime: a keep-alive count (`refs_`), not a `shared_ptr` per port.
/// Every port object holds one (its `sched_ref`: a port_block's object for
/// the block's record too, so every record is covered); the `shared_ptr`s
/// that create() hands out hold one together, given back by their last
/// owner. The last count deletes the scheduler, so a handle kept after its
/// runtime ended still finds it. A scheduler made on the stack (tests) is
/// never deleted by the count: its own reference is never given back.
class port_scheduler {
public:
  /// How an owner is woken. `drain`: "this shipped port has messages" (one
  /// coalesced hint per batch; `arg` is the port's epoch). `unshipped`:
  /// "this never-shipped, started port of yours went from empty to
  /// non-empty; its head has stamp `arg`" (the owner orders those ports by
  /// head stamp, see enqueue_locked). Only the owner's own thread can cause
  /// an `unshipped` wake-up: only it posts to, closes or starts such ports.
  /// `peer_closed`: "the peer of your unstarted, watched port closed" (see
  /// watch_close).
  enum class wake_kind { none, drain, unshipped, peer_closed };

  using hint_fn = std::function<void(const caf::actor& owner, wake_kind kind,
                                     port_record& rec, std::uint64_t epoch,
                                     std::uint64_t arg)>;

  explicit port_scheduler(hint_fn send_hint);

  /// Hands this thread's staged posts to their port (post_stage) before an
  /// operation that must come after them: every public operation here
  /// that changes something calls it first; the post that stages does
  /// not, nor do the sender's flow queries while they find room (they
  /// count the staged posts: staged_for). A load and a compare while
  /// nothing is staged.
  static void flush_stage() {
    auto& st = post_stage::local();
    if (__builtin_expect(st.dst != nullptr, 0))
      st.sched->flush_staged(st);
  }

  /// A scheduler on the heap whose `shared_ptr` owners hold one keep-alive
  /// count (see "Lifetime" above).
  static std::shared_ptr<port_scheduler> create(hint_fn send_hint);

  /// Creates two entangled records, both in transit (no owner yet).
  std::pair<std::shared_ptr<port_record>, std::shared_ptr<port_record>>
  make_pair(bool shipped = false);

  /// Makes `owner` the owner of `rec` (a new pair or an adopted port).
  /// The port starts unstarted. Returns the new epoch, unique in this
  /// scheduler (no other record ever gets it).
  std::uint64_t adopt(port_record& rec, caf::actor owner, port_object* obj);

  /// Detaches `rec` from its owner for a transfer (IN TRANSIT); marks it
  /// and its peer as shipped. Its queue stays where it is.
  void ship(port_record& rec);

  /// Appends `msg` to the queue of `src`'s peer, waking the peer's owner if
  /// needed, or drops it (counted) when there is no live peer, or when the
  /// ports it carries would end up inside their own queues (unreachable).
  /// `bytes`: its size for the peer's byte mark (see admit).
  void post(port_record& src, serialized_message&& msg,
            std::uint32_t bytes = 0);
  /// post() of a message that is a plain value (its clone is its copy, it
  /// carries no port: context_core::post_owned), built in place in the
  /// peer's queue instead of being moved there through a
  /// serialized_message.
  void post_value(port_record& src, value&& v, std::uint32_t bytes);

  // -- flow control (flow_state; docs/architecture.md "Flow control") ------

  /// The high-water mark every new record gets (runtime_config::
  /// port_high_water_mark); set before any port exists.
  high_water_mark default_marks;

  /// The flow state of `src`'s peer, or null when it has no mark: the one
  /// extra load of a post. Caller owns `src` (reads its peer link).
  static flow_state* peer_flow(const port_record& src) noexcept {
    auto* p = src.peer();
    return p != nullptr ? p->flow(std::memory_order_acquire) : nullptr;
  }

  /// The admission check of a post of `n` bytes into the queue `f`
  /// belongs to, made by the sender before anything else (so a refused
  /// post changes nothing). Returns `n`, clamped, for `post`.
  /// `more`/`more_bytes`: posts this sender already admitted that are not
  /// queued yet (an outside port's posts on their way to its gateway),
  /// counted as unread.
  /// @throws dom_exception `QuotaExceededError` if the message would take
  ///         the unread data past the hard limit (an empty queue takes any
  ///         one message).
  static std::uint32_t admit(const flow_state& f, std::size_t n,
                             std::size_t more = 0,
                             std::size_t more_bytes = 0) {
    if (auto r = f.refuses(n, more, more_bytes)) [[unlikely]]
      refuse(f, r);
    return clamp_size(n);
  }

  /// Sets the marks of `rec` (by its owner); a crossing (it was full, is
  /// not now) sends the peer its ready notice.
  void set_marks(port_record& rec, const high_water_mark& m);

  /// The marks of `rec` (none when it has no flow state).
  high_water_mark marks(port_record& rec);

  /// A consumer above the port (a stream reader) keeps a message it was
  /// handed unread until it has processed it: `hold` counts a message of
  /// `bytes` as unread again, `ack` as read (a crossing then sends the
  /// peer its ready notice). So the credit a sender sees is what the
  /// consumer has room for, not what the event loop took: Mojo's read
  /// acks, reported by the reader. No-ops without a mark. By rec's owner.
  /// `hold` returns whether it counted (false without a flow state: the
  /// consumer must then not `ack` it).
  /// `popped_now`: the message was taken from the queue in this turn, so
  /// under `hold_reads` it still counts and is not added again.
  bool hold(port_record& rec, std::size_t bytes, bool popped_now = false);
  /// From now on `rec`'s consumer holds what it takes (flow_state::held);
  /// no-op without a flow state. By rec's owner.
  void hold_reads(port_record& rec);
  void ack(port_record& rec, std::size_t bytes);

  /// Whether the peer of `src` (owned by the caller) is full again: a
  /// ready notice taken now is stale and is not fired. Exact, not a hint:
  /// `full` is cleared only by a crossing, which queues a new notice (none
  /// is queued on `src` once this one was taken), or by a close.
  bool peer_full(const port_record& src);

  /// admit() of a post from `src` (owned by the caller) into `f`, its
  /// peer's flow state: this thread's posts to that peer still in the
  /// stage (post_stage) are admitted and not queued, so they count as
  /// unread.
  /// A refusal hands the stage over first and asks again (see
  /// peer_has_room: a sender refused waits for `ready`).
  /// A refused sender is promised a ready after the receiver's next read
  /// (note_refusal).
  static std::uint32_t admit_from(const port_record& src, const flow_state& f,
                                  std::size_t n) {
    auto s = staged_for(src);
    if (f.refuses(n, s.messages, s.bytes)) [[unlikely]]
      return admit_refused(src, f, n, s.messages != 0);
    return clamp_size(n);
  }

  /// Whether `src`'s peer is below all of its marks (or has none),
  /// counting this thread's staged posts to it. The same atomics as
  /// `admit`; a stale answer is too cautious.
  /// Why "no room" hands the stage over first and asks again: a sender
  /// told "no room" waits for `ready`, which comes once the receiver's
  /// unread data, having reached a mark (`full`, set by the append that
  /// reaches it), falls below. Staged posts are appended later; had the
  /// receiver read meanwhile, their append would reach no mark and no
  /// `ready` would ever come. Appended now, the answer is the queue's.
  /// (A wake-up that cannot be allocated ends the process here, as at a
  /// turn's end.)
  static bool peer_has_room(const port_record& src) noexcept {
    auto* f = peer_flow(src);
    if (f == nullptr)
      return true;
    auto s = staged_for(src);
    if (!f->at_mark(s.messages, s.bytes))
      return true;
    if (s.messages == 0)
      return false;
    flush_stage();
    return !f->at_mark();
  }

  /// This thread's staged posts from `src` (owned by the caller) to its
  /// peer: none unless the stage's target is that peer.
  struct staged_count {
    std::size_t messages = 0;
    std::size_t bytes = 0;
  };
  static staged_count staged_for(const port_record& src) noexcept {
    auto& st = post_stage::local();
    if (st.dst == nullptr || st.dst != src.peer())
      return {};
    return {st.staged(), st.bytes};
  }

  /// The room `src`'s peer has left: mark minus unread, per mark set
  /// (nullopt: no such mark, or no live peer).
  struct credit {
    std::optional<std::int64_t> messages;
    std::optional<std::int64_t> bytes;
    /// No room under some mark (message_port::backpressure).
    bool exhausted() const noexcept {
      return (messages && *messages <= 0) || (bytes && *bytes <= 0);
    }
  };
  /// Counts this thread's staged posts to the peer as unread (staged_for).
  credit credit_of(const port_record& src);
  /// The room receiving record `rec` has left, counting `more` messages
  /// (`more_bytes`) not queued yet as unread. Takes rec's lock; a read
  /// only, so it leaves the stage as it is.
  static credit room_of(port_record& rec, std::size_t more = 0,
                        std::size_t more_bytes = 0);

  // -- credit between nodes (src/remote/node_credit.cpp) --------------------

  /// The peer of link end `end` is fed by it: from now on the peer's mark
  /// changes and reads queue the ready notice on that end (flow_state::
  /// report); a flow state is made if it has none. If it has a mark, the
  /// notice is queued at once, so the node tells the sending node. By the
  /// end's owner (the node context).
  void watch_reads(const std::shared_ptr<port_record>& end);

  /// What the node reads of a record it watches: its marks and unread
  /// count (under its lock; no marks, 0 without a flow state or closed).
  struct flow_view {
    high_water_mark marks;
    std::size_t count = 0;
  };
  static flow_view view_of(port_record& rec);

  /// Link end `end` mirrors the remote receiver (flow_state::mirror): sets
  /// its marks to `m`; on entering mirror mode, `unsent` messages (sent
  /// before and not yet credited, 0 bytes each) count as unread. Marks
  /// that are not enabled leave mirror mode: unread is again what is
  /// queued. A crossing queues the ready notice on `end`'s peer. By the
  /// end's owner.
  void set_mirror(port_record& end, const high_water_mark& m,
                  std::size_t unsent);

  /// Link end `end` mirrors the remote receiver with marks `m` (enabled)
  /// and, from now on, `n` messages of `bytes` sent and not credited (its
  /// link was spliced: node_credit.cpp, rebase_credit); what is queued on
  /// it counts too. A crossing queues the ready notice on `end`'s peer. By
  /// the end's owner.
  void rebase_mirror(port_record& end, const high_water_mark& m,
                     std::size_t n, std::size_t bytes);

  /// The remote receiver read `n` messages (`bytes`) sent through mirror
  /// `end`, or they were dropped before being sent: they are no longer
  /// unread; a crossing (or a watching feeder) gets the ready notice. By
  /// the end's owner.
  void credit_remote(port_record& end, std::size_t n, std::size_t bytes);

  struct start_result {
    /// Never shipped: its owner dispatches it in combined order.
    bool unshipped = false;
    /// Can still produce an event: entangled, or something (at least the
    /// close sentinel) is queued. A port whose close was already seen by a
    /// previous owner cannot, and must not keep its new owner alive.
    bool live = false;
    /// For a never-shipped port holding messages: its head's stamp (the
    /// owner adds it to its combined order; no wake-up is sent). 0: none.
    std::uint64_t head_stamp = 0;
  };

  /// Enables the queue of `rec` (if `epoch` is current) and wakes the owner
  /// when a shipped port has messages waiting.
  start_result start(const std::shared_ptr<port_record>& rec,
                     std::uint64_t epoch);

  /// Whether misuse warnings are printed.
  bool warnings = true;

#if ENTANGLE_TRACING
  /// The runtime's tracer, or null (set before any context runs; the
  /// runtime keeps it alive).
  entangle::tracer* tracer = nullptr;

  /// Reports a message that does not travel on a port (window.postMessage,
  /// a BroadcastChannel delivery) from the running context to `target`;
  /// returns its trace id. Call only when `tracer` is set.
  std::uint64_t trace_other_post(std::uint64_t target, const char* type,
                                 std::size_t ports);
#endif

  /// Prints a misuse warning (when `warnings` is on).
  void warn(std::string_view where, std::string_view what) const;

  /// Closes `rec`: drops its queue (counted as `why`), clears the pairing
  /// and leaves a close sentinel behind everything in the peer's queue.
  /// Ports inside dropped messages are closed too (iteratively, so a chain
  /// of nested ports cannot overflow the stack). Idempotent.
  void close(const std::shared_ptr<port_record>& rec, drop_reason why);

  enum class pop_result { item, empty, stale };

  /// For a never-shipped port: takes its head if that is the message with
  /// `stamp` (the owner's record of the port's head), and sets `next` to
  /// the stamp of the new head (0 if none). `stale` when the port moved,
  /// closed or got shipped (then it drains on hints), or when its head is
  /// not `stamp` (an outdated record; the current one is elsewhere).
  pop_result pop_unshipped(port_record& rec, std::uint64_t epoch,
                           std::uint64_t stamp, envelope& out,
                           std::uint64_t& next);

  /// receive_message_on_port: takes the head of `rec`'s queue for the
  /// owner holding `epoch` if it is a value message (a close sentinel or a
  /// typed message stays queued: `empty`), started or not. For a started,
  /// never-shipped port, `next` gets the stamp of the new head (0 if none
  /// or shipped), which the owner re-enters in its combined order.
  pop_result take_value(port_record& rec, std::uint64_t epoch, envelope& out,
                        std::uint64_t& next);

  /// Takes up to `max` messages from the head of the queue into `out`
  /// (empty) in one lock round, for the owner holding `epoch` (what a drain hint
  /// dispatches). If that empties the queue, the drain hint is consumed and
  /// `drained` is set (a post meanwhile sends a new hint). `left`, if
  /// given, gets the queue's length after the take (a trace's depth,
  /// read in the same lock round).
  pop_result pop_batch(port_record& rec, std::uint64_t epoch,
                       envelope_queue::batch& out, std::size_t max,
                       bool& drained, std::size_t* left = nullptr);

  /// Puts `items` back in front of the queue, in order: messages the owner
  /// took with pop_batch and has not dispatched, given back before the
  /// port's state changes (close, transfer, the context ending).
  /// Precondition: the caller still owns `rec` at the epoch it popped at.
  ///
  /// A ready notice given back while a newer one was queued meanwhile (a
  /// crossing after the batch was taken) replaces it: the crossing folds
  /// into the notice that was never dispatched, at its place, exactly as
  /// if the batch had never been taken (one ready, not two).
  void unpop(port_record& rec, envelope_queue::batch& items) {
    flush_stage();
    record_guard guard{rec.mu()};
    auto* f = rec.flow(std::memory_order_relaxed);
    for (auto i = items.begin(); i != items.end(); ++i) {
      if (i->is_ready) {
        if (rec.ready_queued)
          rec.queue.erase_first([](const envelope& e) { return e.is_ready; });
        rec.ready_queued = true; // it is queued again
      } else if (f != nullptr && !i->is_close && !f->mirror && !f->held) {
        f->added(i->bytes); // unread again (a mirror's or held pop did not
                            // count)
      }
    }
    rec.queue.prepend(items);
  }

  /// After a full batch: returns true if messages remain and the owner must
  /// send itself a new hint (fairness), false if the hint was consumed.
  bool needs_rehint(port_record& rec, std::uint64_t epoch);

  /// Returns whether `rec` is still entangled with a live peer.
  bool entangled(port_record& rec);

  /// Asks for a `peer_closed` wake-up when the peer of `rec` (owned,
  /// unstarted) closes before `rec` is started. Returns false, and watches
  /// nothing, if it is no longer entangled (checked under the same lock,
  /// so no close can slip between the check and the watch).
  bool watch_close(port_record& rec);

  /// Drops `msg` for `why`, counting it (and closing ports it carried).
  void drop(serialized_message&& msg, drop_reason why);

  /// Counts a drop of a message that never became a serialized_message.
  void count_drop(drop_reason why, std::uint64_t n = 1) noexcept {
    drops_[static_cast<std::size_t>(why)].fetch_add(n,
                                                    std::memory_order_relaxed);
    ENTANGLE_TRACE(tracer, t, report_drop(*t, why, n));
  }

  drop_counts drops() const noexcept;

  std::size_t live_records() const noexcept {
    return live_.load(std::memory_order_acquire);
  }

  std::size_t open_records() const noexcept {
    return open_.load(std::memory_order_acquire);
  }

  /// Transit forest nodes alive (0 once no port in transit is nested in a
  /// queue: the internals and leak tests check it).
  std::size_t transit_nodes() {
    std::lock_guard<std::mutex> transit{transit_mu_};
    return forest_.nodes();
  }

  /// @private Called by ~port_record bookkeeping.
  void record_destroyed(port_record* rec) noexcept;

private:
  /// admit_from's refusal (cold): hands over the stage if `staged` and
  /// asks again; still refused, notes the refusal and throws.
  [[gnu::cold, gnu::noinline]] static std::uint32_t
  admit_refused(const port_record& src, const flow_state& f, std::size_t n,
                bool staged);
  /// A sender was refused: the receiving record `rec`'s next read sends
  /// it a ready. `full` is what a read's crossing looks for; the append
  /// that reaches a mark sets it, but a refusal by the byte limit can come
  /// while the unread data is below every mark (a message bigger than the
  /// room left), and the error tells the sender to wait for ready.
  static void note_refusal(port_record& rec);
  /// Throws admit's QuotaExceededError, naming the limit `r` hit (the
  /// figures admit's check read, not a second read that a concurrent
  /// read or re-marking could contradict).
  [[noreturn, gnu::cold]] static void refuse(const flow_state& f,
                                             const flow_refusal& r);

  /// Appends `msg` (or the close sentinel) to `dst` (locked by the caller);
  /// returns how the caller must wake `dst.owner` after unlocking.
  /// `arg` receives the hint's argument (see wake_kind).
  /// `Payload` is a serialized_message, or a plain value (post_value)
  /// that becomes one in place.
  template <class Payload>
  wake_kind enqueue_locked(port_record& dst, Payload&& msg, bool is_close,
                           std::uint64_t& arg, std::uint32_t bytes = 0,
                           bool is_ready = false);

  /// Counts the items [first, last) taken from `rec`'s queue as read
  /// (flow_state) and a taken ready notice as no longer queued. Returns
  /// true on a crossing: the caller sends the ready notice (send_ready)
  /// once it released the lock. Caller holds rec's lock.
  template <class It>
  static bool taken_locked(port_record& rec, It first, It last) noexcept {
    auto* f = rec.flow(std::memory_order_relaxed);
    if (f == nullptr && !rec.ready_queued)
      return false; // no mark and no notice: the common case
    bool took = false;
    for (auto i = first; i != last; ++i) {
      if (i->is_ready) {
        rec.ready_queued = false;
      } else if (f != nullptr && !i->is_close && !f->mirror && !f->held) {
        // A mirror's reads are the remote node's credit, a held port's its
        // consumer's acks.
        f->taken(i->bytes);
        took = true;
      }
    }
    return f != nullptr && f->settle_reads(took);
  }

  /// taken_locked for a batch. While no ready notice is queued and no
  /// bytes are unread (no byte mark), every item but a close sentinel is
  /// a message of 0 bytes, and the sentinel is the last item (no message
  /// follows it: its poster is closed; only a ready notice can, and then
  /// ready_queued sends us down the walk), so the batch is counted without
  /// reading each envelope: a fast producer's messages would otherwise be
  /// fetched from its core one by one while it waits for this lock (the
  /// flow_mark_oneway profile).
  static bool taken_locked(port_record& rec,
                           envelope_queue::batch& out) noexcept {
    auto* f = rec.flow(std::memory_order_relaxed);
    if (f == nullptr || rec.ready_queued
        || f->bytes.load(std::memory_order_relaxed) != 0)
      return taken_locked(rec, out.begin(), out.end());
    auto k = out.size() - (out.size() > 0 && out.back().is_close ? 1 : 0);
    bool took = false;
    if (k > 0 && !f->mirror && !f->held) {
      f->taken_count(k);
      took = true;
    }
    return f->settle_reads(took);
  }

  /// Queues the ready notice on the peer of `rec` (whose queue just
  /// dropped below its mark), unless one is queued there already. Called
  /// by rec's owner without locks held.
  void send_ready(port_record& rec);
  /// Queues the ready notice on `s` itself (unless one is queued there).
  void queue_ready(port_record* s);

  void close_one(const std::shared_ptr<port_record>& rec, drop_reason why);

  /// Caller holds rec's lock: `stale` unless `epoch` owns it, `empty`
  /// (consuming the drain hint), or `item`.
  static pop_result head_locked(port_record& rec, std::uint64_t epoch) noexcept;

  /// Whether queuing a message carrying `carried` at `dst` closes a cycle:
  /// `dst` is, through the ports it is nested in, inside one of those
  /// ports' queues. O(log n) amortized (transit_forest). Caller holds
  /// transit_mu_.
  bool closes_cycle(port_record& dst,
                    const port_list& carried);

  /// What a post to `dst`, closed, counts under: its close reason, except
  /// that only the doomed message itself is doomed (what follows it is
  /// just unentangled). Caller holds dst's lock.
  static drop_reason closed_post_reason(const port_record& dst) noexcept {
    return dst.lost == drop_reason::doomed ? drop_reason::unentangled
                                           : dst.lost;
  }

  /// A traced post's own part of its event, taken before the lock
  /// (begin_post_trace): staged as is (post_stage::events), or made into
  /// the whole event of a post through `src` (`event`: the caller fills
  /// in the target and depth, which a drop leaves 0).
  struct post_trace {
    entangle::tracer* t;
    trace_post_item item;
    std::size_t ports;
    trace_post event(const port_record& src) const noexcept;
  };

  /// Stages a post (post_stage) if `src`'s peer is the thread's busy
  /// target and the message carries no port; returns whether it did. A
  /// traced post (`tr`) stages its event too, reported at the flush.
  template <class Payload>
  bool stage_post(post_stage& st, port_record& src, Payload& msg,
                  std::uint32_t bytes, post_trace* tr);
  /// Hands `st`'s messages to `st.dst` in one lock round (see flush_stage).
  void flush_staged(post_stage& st);
#if ENTANGLE_TRACING
  /// Reports the staged posts after their flush, as one group: queued
  /// at `target` (first depth `depth + 1`) or, if `dropped`, not queued.
  void report_staged(post_stage& st, const port_record& target,
                     std::uint64_t target_context, std::size_t depth,
                     bool dropped) noexcept;
#endif

  /// The body of post() and post_value(); `Traced` adds the trace (tr
  /// non-null) and nothing else, the untraced instantiation has no trace
  /// code. `Payload` as for enqueue_locked: a plain value has no ports, so
  /// its instantiation has no transit code either.
  template <bool Traced, class Payload>
  void post_impl(port_record& src, Payload&& msg, std::uint32_t bytes,
                 post_trace* tr);

  template <bool Traced, class Payload>
  void post_drop(const port_record& src, Payload&& msg, drop_reason why,
                 post_trace* tr);

#if ENTANGLE_TRACING
  static void report_drop(entangle::tracer& t, drop_reason why,
                          std::uint64_t n) noexcept;
  /// The traced posts (port_trace.cpp): out of line, away from the
  /// untraced ones (not `cold`: optimized for size, it did not inline the
  /// event's making; the locked section is enqueue_body, in both).
  [[gnu::noinline]] void
  post_value_traced(port_record& src, value&& v, std::uint32_t bytes);
  [[gnu::noinline]] void
  post_serialized_traced(port_record& src, serialized_message&& msg,
                         std::uint32_t bytes);
  /// See post_trace.
  post_trace begin_post_trace(entangle::tracer& t, std::size_t ports,
                              const value& data) noexcept;
  /// Names the next traced message: unique in this runtime, handed out
  /// to each thread in blocks (one shared counter bumped per post was a
  /// locked add per message, and bounced its cache line between the
  /// threads of a ping-pong).
  std::uint64_t take_trace_id() noexcept;
  std::atomic<std::uint64_t> next_trace_id_{1};
  static std::uint64_t new_trace_gen() noexcept;
  /// Tells this scheduler's blocks from any other's, also from those of
  /// a scheduler that lived at the same address before.
  const std::uint64_t trace_gen_;
#endif

  hint_fn send_hint_;
  std::atomic<std::uint64_t> next_stamp_{1};
  /// Names records (port_record::id).
  std::atomic<std::uint64_t> next_record_id_{1};
  /// Epochs are unique across records, so the epoch of a hint alone names
  /// the port object it wakes (a hint carries no record reference).
  std::atomic<std::uint64_t> next_epoch_{1};
  /// Guards `forest_` and every record's `transit`, and makes "check the
  /// forest, then enqueue and link" atomic among posts that carry ports:
  /// two such posts into each other's carried ports could otherwise form a
  /// cycle that neither check sees. Posts without ports never take it.
  std::mutex transit_mu_;
  /// How ports in transit are nested (guarded by transit_mu_).
  transit_forest forest_;
  std::atomic<std::size_t> live_{0};
  std::atomic<std::size_t> open_{0};
  /// The keep-alive count (see "Lifetime"); starts with its creator's one.
  std::atomic<std::size_t> refs_{1};
  friend void retain(port_scheduler* s) noexcept;
  friend void release(port_scheduler* s) noexcept;
  std::array<std::atomic<std::uint64_t>, drop_reason_count> drops_{};
};

} // namespace entangle::detail
