#pragma once

#include <cstdint>

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
///   `limit` (flushed when full), none carrying ports, none traced. The
///   target lives until the flush: the sender's own end keeps their
///   port_pair alive, and the sender gives that end up only by closing or
///   transferring it, which flush first.
/// - `busy` is what the last locked post saw: that target's owner had a
///   wake-up pending. Only a hint, compared with a target's address and
///   never dereferenced; a stale one at worst delays messages until the
///   flush, and the flush handles every state the target can be in
///   (closed: dropped and counted; never shipped: stamped one by one).
struct post_stage {
  /// A context is handling a CAF message on this thread.
  bool open = false;
  /// Messages per hand-over (runtime_config::post_batch; 0: no staging).
  std::uint32_t limit = 0;
  /// The scheduler `dst` belongs to (set with `dst`).
  port_scheduler* sched = nullptr;
  /// The staged messages' target; null while nothing is staged.
  port_record* dst = nullptr;
  /// See the invariants: a hint, never dereferenced.
  const port_record* busy = nullptr;
  envelope_queue q;

  /// This thread's stage.
  static post_stage& local() noexcept {
    [[gnu::tls_model("initial-exec")]] static thread_local post_stage s;
    return s;
  }

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
    ~turn();
    turn(const turn&) = delete;
    turn& operator=(const turn&) = delete;

  private:
    bool prev_open_;
    std::uint32_t prev_limit_;
  };
};

} // namespace entangle::detail
