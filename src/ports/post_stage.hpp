#pragma once

#include <cstddef>
#include <cstdint>
#include <new>
#include <vector>

#include "entangle/trace.hpp"

#include "ports/port_record.hpp"

namespace entangle::detail {

class port_scheduler;

/// A context's posts to a busy receiver, handed over in groups: the
/// batching on the port queue (docs/architecture.md, "The post stage").
///
/// Why: in a flood every post took the receiving record's lock, which the
/// receiver's thread takes too to pop, so the two cores passed the lock
/// word, the record and the queue's tail back and forth once per message.
/// A post whose receiver has a wake-up pending already (it will look at
/// its queue again in any case) goes into this thread's stage instead;
/// the stage is handed over in one lock round, its chunks relinked into
/// the receiver's queue (port_scheduler::flush_staged).
///
/// Invariants:
/// - Messages are staged only while a context handles a CAF message on
///   this thread (`open`, set by a `turn`), and the end of that handling
///   flushes the stage: nothing stays staged past the turn that posted it.
/// - Every other port operation of this thread flushes it first (a post
///   to another port, close, transfer, start, pops, marks, and every
///   explore point but a post's): the thread's port operations take effect
///   in program order, as they did without a stage. So whatever this
///   context does after a staged post, it cannot cause an effect that
///   finds the message missing from its queue.
/// - It holds messages for one target (`dst`), in post order, at most
///   `limit` (flushed when full), none carrying ports. The
///   target lives until the flush: the sender's own end keeps their
///   port_pair alive, and the sender gives that end up only by closing or
///   transferring it, which flush first.
/// - `busy` is what the last locked post saw: that target's owner had a
///   wake-up pending. A post is staged only while that still holds: it
///   reads the target's `hint_pending` (relaxed) first. So once the
///   receiver has drained its queue (and cleared the flag), the next post
///   hands the stage over with itself and wakes it. The flush handles
///   every state the target can be in (closed: dropped and counted; never
///   shipped: stamped one by one).
/// - Traced posts stage their own part of the event (`events`, one item
///   per message: a runtime's tracer is set before any context runs, so a
///   stage's posts are all traced or none): instant, id and type. Their
///   source (`trace_context`, `trace_port`) is one for all, as is their
///   target; the target, its owner and the queue's depth are read at the
///   flush, which reports the group after it (one tracer::on_post_group
///   call), as a post does after its append.
/// - Staged posts are admitted, not yet unread: flow control counts them
///   as unread wherever the sender asks (admission, credit and
///   `peer_has_room`, via port_scheduler::staged_for and `bytes`), and the
///   flush adds them to the target's unread data. So a mark is never
///   passed by staged posts, and a writer that posts while it has credit
///   never meets QuotaExceededError. An answer of "no room" (or a
///   refusal) that the staged posts make hands them over first and asks
///   again: a sender told so waits for `ready`, which needs their append
///   to reach the mark before the receiver reads. A mark set or
///   lowered after a post was admitted finds it as it would find it
///   queued: admitted under the marks of its time.
/// - What it does not bound: the posts staged after the receiver's last
///   look, when the context then posts nothing more for a long time in
///   the same turn. They go over when the turn ends (or at its next port
///   operation). A handler must not wait inside its turn for a reaction
///   to its own posts (contexts never block; runtime_config::post_batch
///   = 1 turns staging off).
struct post_stage {
  /// A context is handling a CAF message on this thread.
  bool open = false;
  /// `q()` was made (on this thread's first staged post).
  bool has_queue = false;
  /// Messages per hand-over (runtime_config::post_batch; 0: no staging).
  std::uint32_t limit = 0;
  /// The scheduler `dst` belongs to (set with `dst`).
  port_scheduler* sched = nullptr;
  /// The staged messages' target; null while nothing is staged.
  port_record* dst = nullptr;
  /// A traced runtime's staged posts, one item per staged message in
  /// order, reported at the flush (made with the first; freed with `q`).
  std::vector<trace_post_item>* events = nullptr;
  /// The traced posts' source context and port (set with the first).
  std::uint64_t trace_context = 0;
  std::uint64_t trace_port = 0;
  /// The staged messages' sizes for the target's byte mark, summed (0
  /// for those posted while it had none, as for queued ones).
  std::size_t bytes = 0;
  /// See the invariants: a hint, never dereferenced; `busy_id` is its id
  /// (an address a new pair reuses names another record).
  const port_record* busy = nullptr;
  std::uint64_t busy_id = 0;

  /// The staged messages. Precondition: has_queue.
  envelope_queue& q() noexcept {
    return *std::launder(reinterpret_cast<envelope_queue*>(q_));
  }
  /// Messages staged now.
  std::size_t staged() noexcept {
    return has_queue ? q().size() : 0;
  }
  /// Makes `q()` (destroyed when the thread exits).
  envelope_queue& make_q();

  /// This thread's stage.
  static post_stage& local() noexcept;

  /// Opens the stage while a context handles one CAF message; the end
  /// flushes it and restores what was open before (the deterministic
  /// scheduler may run a context inside another's call stack).
  class turn {
  public:
    explicit turn(std::uint32_t limit) noexcept {
      auto& s = local();
      prev_open_ = s.open;
      prev_limit_ = s.limit;
      s.open = limit > 1;
      s.limit = limit;
    }
    /// Flushes (port_scheduler::flush_stage). A wake-up that cannot be
    /// allocated then ends the process, as it would have ended the post.
    ~turn() {
      auto& s = local();
      if (__builtin_expect(s.dst != nullptr, 0))
        flush();
      s.open = prev_open_;
      s.limit = prev_limit_;
      if (!prev_open_) {
        s.busy = nullptr; // what the next turn finds is learned afresh
        s.busy_id = 0;
      }
    }
    turn(const turn&) = delete;
    turn& operator=(const turn&) = delete;

  private:
    static void flush();
    bool prev_open_;
    std::uint32_t prev_limit_;
  };

private:
  // Raw storage, so that the thread-local stage is constant-initialized
  // and trivially destructible: read with a plain %fs-relative load, no
  // guard and no TLS wrapper call on the post path.
  alignas(envelope_queue) unsigned char q_[sizeof(envelope_queue)] = {};
};

/// How many posts went through a stage in this process (counted per
/// group handed over): for tests and the benchmark to see that staging
/// happened.
std::uint64_t staged_posts() noexcept;

/// The stage of each thread.
[[gnu::tls_model("initial-exec")]] inline thread_local post_stage
  tls_post_stage;

inline post_stage& post_stage::local() noexcept {
  return tls_post_stage;
}

} // namespace entangle::detail
