#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <limits>

#include "entangle/flow_control.hpp"

namespace entangle::detail {

/// Saturating x * k (a hard limit of a huge mark stays huge).
inline std::size_t saturating_times(std::size_t x, std::size_t k) noexcept {
  return k != 0 && x > static_cast<std::size_t>(-1) / k
           ? static_cast<std::size_t>(-1)
           : x * k;
}

/// Which hard limit a post would go past (flow_state::refuses), with the
/// figures the check read, so the error names what was checked.
struct flow_refusal {
  const char* what = nullptr; // "messages" or "bytes"; null: admitted
  std::size_t have = 0;
  std::size_t limit = 0;
  explicit operator bool() const noexcept {
    return what != nullptr;
  }
};

/// The flow-control state of one *receiving* port record: its high-water
/// mark (set by its receiver) and what is unread in its queue. Allocated
/// with the first mark (an idle port without one pays one pointer), freed
/// with the record. The design: docs/architecture.md, "Flow control".
///
/// Unread = posted by the peer and not yet taken by the owner's event loop:
/// the messages of the record's queue (sentinels do not count), plus those
/// a consumer above the port holds until it has processed them
/// (port_scheduler::hold/ack: a stream reader's buffer). Taking a batch
/// counts it as read; a batch given back (`unpop`) is unread again.
///
/// Invariants, under the record's lock:
/// - `count` and `bytes` are the number and the summed sizes of the
///   messages in the queue plus the held ones (sizes saturate at 0: a
///   message queued while there was no byte mark -- its size is not
///   measured then -- counts 0 bytes);
/// - `full` is set once the unread data reached a mark, and cleared -- which
///   is the crossing that sends the peer one `ready` notice -- when it is
///   below every mark again (or the marks are lifted).
///
/// The marks and counters are atomics written only under the lock, so the
/// sender's admission check (`port_scheduler::admit`) reads them without
/// it. Its view can only be too high (the receiver only takes, and only
/// the sender adds), so it never admits past the hard limit: the property
/// a remote sender, which learns of reads through credit, keeps too.
///
/// Across processes (docs/architecture.md, "Credit between nodes"), two
/// flags, set by the remote node under the lock:
/// - `mirror`: this record is a node's link end, which sends what it is
///   given to another node at once; its unread data is what was sent and
///   not yet read *there*. Pops do not count as reads; only the node's
///   credit does (port_scheduler::credit_remote). While set, `count` is the
///   messages still queued here plus those sent and not credited.
/// - `report`: this record is fed by a node's link end (its peer): a change
///   of its marks, and every read while it has a mark, queues the ready
///   notice on that end (folded while one is queued), which the node turns
///   into a mark or credit frame for the sending node.
struct flow_state {
  std::atomic<std::size_t> mark_messages{0};
  std::atomic<std::size_t> mark_bytes{0};
  std::atomic<std::size_t> hard_factor{2};
  /// The hard limits (mark x factor, 0 without that mark), kept beside the
  /// marks so a sender's admission is a few loads and compares, not a
  /// division (the overflow check of the product) per post.
  std::atomic<std::size_t> hard_messages{0};
  std::atomic<std::size_t> hard_bytes{0};
  std::atomic<std::size_t> count{0};
  std::atomic<std::size_t> bytes{0};
  bool full = false;
  bool mirror = false;
  bool report = false;
  /// A consumer above the port holds every message it takes until it acks
  /// it (the outside gateway's inbox: port_scheduler::hold_reads): pops do
  /// not count as reads, `ack` does. Counting a pop and adding it back at
  /// the hold left a window in which the sender saw room nobody had made
  /// (a `ready` fired while the outside reader had read nothing).
  bool held = false;

  /// Whether a read is to be reported to the feeding node (see `report`).
  bool reports() const noexcept {
    return report
           && (mark_messages.load(std::memory_order_relaxed) != 0
               || mark_bytes.load(std::memory_order_relaxed) != 0);
  }

  high_water_mark marks() const noexcept {
    return {mark_messages.load(std::memory_order_relaxed),
            mark_bytes.load(std::memory_order_relaxed),
            hard_factor.load(std::memory_order_relaxed)};
  }

  /// Sets the marks; returns true on a crossing (it was full, now it is
  /// not), or when a feeding node must hear of the change (`report`).
  /// Caller holds the record's lock.
  bool set_marks(const high_water_mark& m) noexcept {
    auto k = m.hard_factor < 1 ? 1 : m.hard_factor;
    mark_messages.store(m.messages, std::memory_order_relaxed);
    mark_bytes.store(m.bytes, std::memory_order_relaxed);
    hard_factor.store(k, std::memory_order_relaxed);
    hard_messages.store(saturating_times(m.messages, k),
                        std::memory_order_relaxed);
    hard_bytes.store(saturating_times(m.bytes, k), std::memory_order_relaxed);
    if (!full && at_mark())
      full = true;
    return settle() || report;
  }

  /// Whether a post of `n` bytes goes past a hard limit: the sender's
  /// admission (port_scheduler::admit), without the lock. `more` and
  /// `more_bytes`: posts admitted and not queued yet, counted as unread. An
  /// empty queue takes any one message. The view can only be too high (see
  /// above), so this never admits past a limit -- except that a receiver
  /// lowering its marks at this moment may see one more admitted.
  flow_refusal refuses(std::size_t n, std::size_t more = 0,
                       std::size_t more_bytes = 0) const noexcept {
    auto c = count.load(std::memory_order_relaxed) + more;
    if (c == 0)
      return {};
    auto hm = hard_messages.load(std::memory_order_relaxed);
    if (hm != 0 && c >= hm)
      return {"messages", c, hm};
    auto hb = hard_bytes.load(std::memory_order_relaxed);
    if (hb == 0)
      return {};
    auto b = bytes.load(std::memory_order_relaxed) + more_bytes;
    return b + n > hb ? flow_refusal{"bytes", b, hb} : flow_refusal{};
  }

  /// Whether the unread data reached a mark (the sender's backpressure).
  /// `more`/`more_bytes`: posts admitted and not queued yet (as refuses).
  bool at_mark(std::size_t more = 0,
               std::size_t more_bytes = 0) const noexcept {
    auto mm = mark_messages.load(std::memory_order_relaxed);
    auto mb = mark_bytes.load(std::memory_order_relaxed);
    return (mm != 0 && count.load(std::memory_order_relaxed) + more >= mm)
           || (mb != 0
               && bytes.load(std::memory_order_relaxed) + more_bytes >= mb);
  }

  /// A message of `n` bytes was queued. Caller holds the lock.
  void added(std::size_t n) noexcept {
    count.store(count.load(std::memory_order_relaxed) + 1,
                std::memory_order_relaxed);
    bytes.store(bytes.load(std::memory_order_relaxed) + n,
                std::memory_order_relaxed);
    if (!full && at_mark())
      full = true;
  }

  /// `k` messages of `n` bytes in all were queued at once (a staged
  /// group): what `k` calls of added() do, since at_mark() only grows
  /// with them. Caller holds the lock.
  void added_group(std::size_t k, std::size_t n) noexcept {
    count.store(count.load(std::memory_order_relaxed) + k,
                std::memory_order_relaxed);
    bytes.store(bytes.load(std::memory_order_relaxed) + n,
                std::memory_order_relaxed);
    if (!full && at_mark())
      full = true;
  }

  /// A message of `n` bytes was taken. Caller holds the lock; call
  /// `settle` once the whole batch is counted.
  void taken(std::size_t n) noexcept {
    auto c = count.load(std::memory_order_relaxed);
    auto b = bytes.load(std::memory_order_relaxed);
    count.store(c > 0 ? c - 1 : 0, std::memory_order_relaxed);
    bytes.store(b > n ? b - n : 0, std::memory_order_relaxed);
  }

  /// `k` messages of 0 bytes were taken (a batch while no bytes are
  /// unread: port_scheduler::taken_locked). Caller holds the lock.
  void taken_count(std::size_t k) noexcept {
    auto c = count.load(std::memory_order_relaxed);
    count.store(c > k ? c - k : 0, std::memory_order_relaxed);
  }

  /// Returns true on a crossing: full, and now below every mark.
  bool settle() noexcept {
    if (!full || at_mark())
      return false;
    full = false;
    return true;
  }

  /// After a batch of reads (`took`: any counted): whether the owner must
  /// send the peer its ready notice (a crossing) or queue the report of
  /// the reads for a feeding node. Caller holds the lock.
  bool settle_reads(bool took) noexcept {
    bool crossing = settle();
    return crossing || (took && reports());
  }

  /// The queue was dropped (closed). Caller holds the lock.
  void reset() noexcept {
    count.store(0, std::memory_order_relaxed);
    bytes.store(0, std::memory_order_relaxed);
    full = false;
  }
};

/// The size a message is accounted with (envelope::bytes), saturated.
inline std::uint32_t clamp_size(std::size_t n) noexcept {
  constexpr auto max = std::numeric_limits<std::uint32_t>::max();
  return n > max ? max : static_cast<std::uint32_t>(n);
}

} // namespace entangle::detail
