#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#ifndef ENTANGLE_RECORD_LOCK_STRIPES
/// Tests build once with 1 to prove no code path holds two record locks.
#  define ENTANGLE_RECORD_LOCK_STRIPES 1024
#endif

#include <caf/actor.hpp>

#include "base/chunk_fifo.hpp"
#include "ports/flow_state.hpp"
#include "ports/serialized_message.hpp"
#include "ports/transit_forest.hpp"

namespace entangle::detail {

class context_core;
class port_object;
class port_scheduler;

/// A record lock: a futex word, taken with one compare-and-swap when free.
///
/// Record critical sections are a few dozen instructions, taken once per
/// post by the producer and once per batch by the consumer. glibc's
/// adaptive mutex (what this replaced) spent about 65 instructions per
/// uncontended lock and unlock on type checks and owner bookkeeping, a
/// sixth of a post; this is a compare-and-swap to lock and an exchange to
/// unlock. Contended, it spins briefly (the holder is about to release),
/// then sleeps on the futex (Drepper, "Futexes Are Tricky", mutex 3):
/// state 0 free, 1 held, 2 held with sleepers; an unlock that finds 2
/// wakes one. Sleeping matters: a producer that found its consumer
/// popping a batch would otherwise pay a futex sleep and wake-up per
/// collision (std::mutex showed ~25% of one way's cycles there).
class record_mutex {
public:
  record_mutex() noexcept = default;
  record_mutex(const record_mutex&) = delete;
  record_mutex& operator=(const record_mutex&) = delete;
  void lock() noexcept {
    std::uint32_t c = 0;
    if (__builtin_expect(state_.compare_exchange_strong(
                           c, 1, std::memory_order_acquire,
                           std::memory_order_relaxed),
                         1))
      return;
    lock_contended(c);
  }
  bool try_lock() noexcept {
    std::uint32_t c = 0;
    return state_.compare_exchange_strong(c, 1, std::memory_order_acquire,
                                          std::memory_order_relaxed);
  }
  void unlock() noexcept {
    if (__builtin_expect(state_.exchange(0, std::memory_order_release) == 2,
                         0))
      wake_one();
  }

private:
  void lock_contended(std::uint32_t c) noexcept;
  void wake_one() noexcept;
  std::atomic<std::uint32_t> state_{0};
};

using record_guard = std::lock_guard<record_mutex>;

/// A flag written under the record's lock and also read without it (a
/// poster deciding whether to stage, post_stage): relaxed atomic loads and
/// stores, plain moves on x86, with a bool's syntax.
class relaxed_flag {
public:
  relaxed_flag& operator=(bool v) noexcept {
    v_.store(v, std::memory_order_relaxed);
    return *this;
  }
  operator bool() const noexcept {
    return v_.load(std::memory_order_relaxed);
  }

private:
  std::atomic<bool> v_{false};
};

/// One item of a port message queue: a message, the close sentinel the
/// peer's closure leaves *behind* everything it posted, or a ready notice
/// (the peer's queue dropped below its high-water mark; see flow_state).
struct envelope {
  envelope() = default;
  envelope(serialized_message&& m, bool close, std::uint64_t s,
           std::uint32_t n = 0, bool ready = false) noexcept
    : msg(std::move(m)), is_close(close), is_ready(ready), bytes(n), stamp(s) {
  }
  /// A plain value's message, built in place (port_scheduler::post_value).
  envelope(value&& v, bool close, std::uint64_t s, std::uint32_t n = 0,
           bool ready = false) noexcept
    : msg(std::move(v)), is_close(close), is_ready(ready), bytes(n), stamp(s) {
  }

  /// Whether this is a sentinel (close or ready), not a message.
  bool sentinel() const noexcept {
    return is_close || is_ready;
  }

  serialized_message msg;
  bool is_close = false;
  bool is_ready = false;
  /// The message's size for the receiver's byte mark (0 when the receiver
  /// had no mark at the post); in the padding before `stamp`.
  std::uint32_t bytes = 0;
  /// Global enqueue order, set only for never-shipped targets (HTML §1.3).
  std::uint64_t stamp = 0;
};

// A one-way flood's cost is largely the first touch of its queue's pages
// (docs/performance.md, "The envelope's size"): a field added here costs
// every queued message.
static_assert(sizeof(void*) != 8 || sizeof(envelope) <= 128,
              "an envelope stays within 128 bytes on 64-bit targets");

/// A port's message queue: one pointer, nothing allocated until the first
/// message (an idle port must stay small); batches move by chunk.
using envelope_queue = chunk_fifo<envelope>;

/// The routing record of one port endpoint, owned by the port scheduler.
///
/// What it is: the one place where a port's queue lives. Within a process a
/// port's queue never moves; transferring the port only changes `owner`. So
/// messages already queued, and messages the peer posts while the port is in
/// flight, "move with the port" for free, and per-port FIFO holds by
/// construction (the Node/Mojo in-process design, PORT_PROTOCOLS §6.6).
///
///      context A                                  context B
///   [port_object] --record--> [port_record P] <--peer--> [port_record Q]
///                              queue: messages             queue: ...
///                              posted by Q
///
/// A record is *not* aware of the JS-visible port object except through
/// `obj`, which is valid only while `owner` is set and `epoch` matches.
/// (Its memory is shared with the object of its first adoption: a record
/// is always the `port_record` base of a port_block, port_object.hpp.)
///
/// States (derived from the fields; transitions only as listed):
/// - OWNED (owner set): UNSTARTED -> STARTED (`started` never goes back).
/// - IN TRANSIT (owner null, !closed): inside exactly one serialized_message;
///   -> OWNED by the context that receives it (started = false again), or
///   -> CLOSED when that message is destroyed undelivered.
/// - CLOSED (`closed`): terminal. Queue emptied, `peer()` null (its own
///   view; the survivor still sees this record, see `peer()`).
///
/// Locking: `mu()` guards every mutable field except `transit` (and the
/// owner may call `peer()` without it, see there). It is one of
/// a fixed table of striped locks chosen by the record's id, not a lock
/// per record: the record's 56 bytes have no room for even a 4-byte
/// record_mutex, and an idle port must stay small (the lock table is the
/// Go runtime's semaphore-table shape). So never hold
/// two record locks at once (two records may share a stripe: holding both
/// would self-deadlock; post, close and transfer take them one after the
/// other), and never destroy a serialized_message under a lock (that may
/// close other records). `transit` is guarded by the scheduler's transit
/// mutex, which is taken before any record lock, and only by posts that
/// carry ports, adoptions of nested ports and closes of such ports.
struct port_record {
protected:
  /// Only as the base of a port_block (port_object.hpp): a record always
  /// shares its allocation with the object of its first adoption.
  explicit port_record(std::uint64_t i) : id(i) {
  }

public:
  port_record(const port_record&) = delete;
  port_record& operator=(const port_record&) = delete;

  /// Frees `flow` and `transit`'s holder (port_block's destructor told the
  /// scheduler first).
  ~port_record();

  /// The scheduler that made this record: its port_block's object holds it
  /// (port_object.hpp; no field of the record's own, 8 bytes per port).
  port_scheduler& sched() const noexcept;
  /// Names the record in traces and logs, and picks its lock stripe:
  /// a sequence number, unique in its scheduler. (Not a capability: user
  /// code never sees it. The 128-bit random names of PORT_PROTOCOLS are for
  /// ports that cross a process boundary and are minted there.)
  const std::uint64_t id;

  /// This record's lock (shared with the records of the same stripe).
  record_mutex& mu() const noexcept;

  /// The owning context's actor; null while in transit or closed. Used only
  /// to send it a wake-up hint.
  caf::actor owner;

  /// The owner's port object; valid only while `owner` is set (the owner
  /// clears both under `mu` before the object dies).
  port_object* obj = nullptr;

  /// Bumped on every ownership change, so a stale hint or handle is ignored.
  std::uint64_t epoch = 0;

  /// The entangled peer: the other end of this record's port_pair, until
  /// this record's own close (then null; the peer's close sets
  /// `peer_closed` instead). Not stored: the pair fixes it for life, and
  /// the id's parity says which end this is (8 bytes per idle port). Only
  /// this record's close writes `closed`, so the owner, the only one who
  /// closes an owned record, may call it without the lock (the post path
  /// does). Not an owning link: both ends share one allocation, so the
  /// peer lives exactly as long as this record.
  port_record* peer() const noexcept;

  /// Messages posted by the peer (and the close sentinel), in post order.
  envelope_queue queue;

  /// This record's node in the scheduler's transit forest, while it is
  /// nested in a queued message or holds one that carries ports (see
  /// transit_forest: how ports in transit nest, and how a post that would
  /// close a cycle nothing can deliver is found). Null for every other
  /// record. Written under the scheduler's transit mutex; read without it
  /// only to skip that mutex when null.
  transit_node* transit(std::memory_order o) const noexcept {
    auto* x = extras_.load(std::memory_order_acquire);
    return x != nullptr ? x->transit.load(o) : nullptr;
  }
  void set_transit(transit_node* n, std::memory_order o) {
    if (n != nullptr)
      extras().transit.store(n, o);
    else if (auto* x = extras_.load(std::memory_order_acquire))
      x->transit.store(nullptr, o);
  }

  /// This port's high-water mark and unread counts, once a mark was set
  /// (see flow_state); owned, freed with the record, never replaced. Set
  /// under `mu()`; the sender reads it without the lock (admission).
  flow_state* flow(std::memory_order o) const noexcept {
    auto* x = extras_.load(std::memory_order_acquire);
    return x != nullptr ? x->flow.load(o) : nullptr;
  }
  void set_flow(flow_state* f, std::memory_order o) {
    extras().flow.store(f, o);
  }

private:
  /// The two rarely used pointers above, behind one pointer (8 bytes per
  /// idle port instead of 16): made by the first writer of either, never
  /// replaced, freed with the record. Its two writers hold different locks
  /// (transit mutex, `mu()`), so it is published with a compare-and-swap;
  /// readers load it with acquire to see its fields initialised.
  struct extras_block {
    std::atomic<transit_node*> transit{nullptr};
    std::atomic<flow_state*> flow{nullptr};
  };
  extras_block& extras();
  std::atomic<extras_block*> extras_{nullptr};

public:
  // The small fields last, packed into one word (bytes per idle port).

  /// Why the pairing is gone (this record's close reason once `closed`;
  /// the peer's, mapped, once `peer_closed`).
  drop_reason lost = drop_reason::unentangled;

  /// The peer closed (its close sentinel is, or was, in `queue`).
  bool peer_closed = false;

  /// The port message queue is enabled (HTML "start()").
  bool started = false;

  /// Terminal state.
  bool closed = false;

  /// HTML "has been shipped": set on a transferred port and its peer.
  bool shipped = false;

  /// A wake-up hint is on its way to `owner`, or the owner is draining.
  /// Invariant: while set, `owner` will look at the queue again, so
  /// enqueuers need not send another hint (hints are coalesced). Used for
  /// shipped ports only; never-shipped ports get one token per message.
  /// Written under `mu()`; the owner of the peer reads it without the lock
  /// to keep staging its posts only while this is set (post_stage).
  relaxed_flag hint_pending;

  /// The owner wants to hear when the peer closes while this port is not
  /// started (a shared worker's connection keeps the worker alive until
  /// then, HTML §12.6). Cleared by every adoption.
  bool watch_close = false;

  /// A ready notice is in `queue`: later crossings of the peer's mark fold
  /// into it (so notices cannot pile up on a port that is not read).
  bool ready_queued = false;

  /// Still paired with an open peer. Caller holds mu().
  bool entangled_locked() const noexcept {
    return !closed && !peer_closed;
  }
};

/// The striped record locks. Padded to a cache line each, so unrelated
/// ports do not contend through false sharing; 1024 stripes keep two busy
/// ports on one stripe unlikely (and then they only share a lock, which is
/// held for a few instructions).
struct alignas(64) record_lock_stripe {
  record_mutex m;
};
inline constexpr std::size_t record_lock_stripes = ENTANGLE_RECORD_LOCK_STRIPES;
extern record_lock_stripe record_locks[record_lock_stripes];

inline record_mutex& port_record::mu() const noexcept {
  static_assert((record_lock_stripes & (record_lock_stripes - 1)) == 0,
                "stripe count must be a power of two");
  // Ids are consecutive: the two ends of a pair never share a stripe.
  return record_locks[id & (record_lock_stripes - 1)].m;
}

} // namespace entangle::detail
