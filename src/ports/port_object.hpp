#pragma once

#include <atomic>
#include <cstdint>
#include <memory>

#include "ports/event_target.hpp"
#include "ports/port_record.hpp"

namespace entangle::detail {

class context_core;
class port_scheduler;

/// Adds one to / removes one from `s`'s keep-alive count (port_scheduler,
/// "Lifetime"); the last removal deletes a scheduler made by
/// port_scheduler::create.
void retain(port_scheduler* s) noexcept;
void release(port_scheduler* s) noexcept;

/// A counted reference to a port scheduler: what keeps it alive for a port
/// object and, in a port_block, for the block's record. 8 bytes, where a
/// `std::shared_ptr` is 16 (bytes per idle port, issue #17).
class sched_ref {
public:
  sched_ref() noexcept = default;
  explicit sched_ref(port_scheduler* s) noexcept : s_(s) {
    if (s_ != nullptr)
      retain(s_);
  }
  sched_ref(const sched_ref&) = delete;
  sched_ref& operator=(const sched_ref&) = delete;
  ~sched_ref() {
    if (s_ != nullptr)
      release(s_);
  }

  port_scheduler* get() const noexcept {
    return s_;
  }
  port_scheduler* operator->() const noexcept {
    return s_;
  }
  port_scheduler& operator*() const noexcept {
    return *s_;
  }
  explicit operator bool() const noexcept {
    return s_ != nullptr;
  }

private:
  port_scheduler* s_ = nullptr;
};

/// The JS-visible MessagePort object: lives in exactly one context (its
/// realm) and is reached through `message_port` handles.
///
/// What it knows: its context, by id only (a handle used elsewhere is
/// recognised as foreign without touching the context; where the id is the
/// running context's, that context is `current_core()`, so no pointer is
/// kept: 8 bytes per idle port), its record while it
/// owns one, and its listeners. What it does not know: where its peer is.
///
/// Where it lives: the first object of a record shares that record's
/// allocation (port_block below: one allocation and one control block per
/// port instead of two); handles to it are aliasing `shared_ptr`s that keep
/// the whole block alive. An object made by a later adoption (the port was
/// transferred) is an allocation of its own (adopted_port). Code never needs
/// to know which, except the port table's strong_ref / unpin.
///
/// State (transitions only as listed):
///   BLANK (ctx_id 0: the block's object before the record's first
///          adoption; no handle to it exists)
///   BLANK --first adoption--> ATTACHED
///   ATTACHED (record set) --transfer--> DETACHED   (record null, detached)
///   ATTACHED --close() or context end--> CLOSED    (record null, detached,
///                                                   closed)
/// `peer_gone` is set when the close event was dispatched here. An
/// attached object of a block holds its own block through `record` (a
/// cycle); every way out of ATTACHED moves `record` out, which breaks it.
///
/// Thread affinity: every field except the atomics and the identity fields
/// is touched only by the owning context's thread. The identity fields
/// (`ctx_id`, `implicit`) are written once, before any handle to the
/// object exists (at construction, or for a block's object at its first
/// adoption), and only read after; `sched` is set at construction.
class port_object {
public:
  /// A blank object (a port_block's, until its record is first adopted).
  explicit port_object(port_scheduler* s) noexcept : sched(s) {
  }

  port_object(std::uint64_t owner_id, port_scheduler* s, bool is_implicit)
    : sched(s), ctx_id(owner_id), implicit(is_implicit) {
  }

  port_object(const port_object&) = delete;
  port_object& operator=(const port_object&) = delete;

  /// Still BLANK (see above).
  bool blank() const noexcept {
    return ctx_id == 0;
  }

  /// Keeps the scheduler alive for this object's record, and is the
  /// scheduler of a block's record (port_record::sched()). Declared first,
  /// so destroyed last: after the listeners, whose handles may end other
  /// ports, and in a block after the record (whose end it reports).
  sched_ref sched;

  /// The owning context's id (context ids start at 1; 0 while BLANK).
  /// Identity field. The context itself is reached only from its own
  /// thread, as `current_core()` once `owned()` matched this id.
  std::uint64_t ctx_id = 0;

  std::shared_ptr<port_record> record;
  std::uint64_t epoch = 0;

  // The small fields together, in one word (bytes per idle port).

  /// A worker's implicit port: its events target the worker object or the
  /// worker global, so `message_event::target` stays null. Identity field.
  bool implicit = false;

  std::atomic<bool> started{false};
  std::atomic<bool> detached{false};
  std::atomic<bool> closed{false};
  bool peer_gone = false;

  /// Whether this port currently keeps its context alive (started, not
  /// detached, close event not yet seen, not unref'ed).
  bool counted = false;

  /// `unref()` was called: the port does not keep its context alive
  /// (Node's port.unref()); it still dispatches while the context lives.
  bool unrefed = false;

  /// A misuse of this handle after it went inert (transferred or closed)
  /// was reported once (later ones are only counted).
  bool warned = false;

  event_target events;
};

/// One port's record and the object of its first adoption (`first`), side
/// by side; always one of the two ends of a port_pair (below). The object
/// is the *first* base so that it is destroyed *after* the record: its
/// `sched` keeps the scheduler alive while the record's end is reported.
///
/// After a transfer the block's object stays (DETACHED, listeners dropped)
/// until the pair dies: at most one dead object per record, where a
/// transferred port used to free it once its handles were gone.
///
/// The record has no scheduler field of its own: the object's `sched` is
/// set when the block is made (before the first adoption) and is the
/// record's (port_record::sched()).
struct port_block_object {
  explicit port_block_object(port_scheduler& s) noexcept : first(&s) {
  }
  port_object first;
};
struct port_block final : port_block_object, port_record {
  port_block(port_scheduler& s, std::uint64_t i)
    : port_block_object(s), port_record(i) {
  }
  port_block(const port_block&) = delete;
  port_block& operator=(const port_block&) = delete;
  /// Tells the scheduler the record is gone (leak accounting, the transit
  /// forest), while every part of the block is still alive.
  ~port_block();

  static port_block& of(port_record& rec) noexcept {
    return static_cast<port_block&>(rec);
  }
  static const port_block& of(const port_record& rec) noexcept {
    return static_cast<const port_block&>(rec);
  }
};

/// The memory of one entangled pair: both ends' records and their first
/// port objects in ONE `make_shared` allocation (port_scheduler::make_pair
/// makes every record this way). 2 x 112 B + the control block: a 256 B
/// malloc chunk, 128 B per port.
///
/// Ownership (who keeps what alive):
/// - The pair's control block counts every `record_ptr` and `port_ptr`
///   that points into it (all are aliasing `shared_ptr`s): the handles to
///   either first object, the strong references a port table hands out
///   (it stores plain pointers), an attached first object's own `record`, a transferred port's object's `record`, a
///   serialized_message carrying an end, a weak `record_ptr` (ingress).
///   Nothing else counts: `port_record::peer()` is the other end of the
///   same allocation and `port_record::obj` never owned.
/// - A record is never destroyed on its own: both records and both first
///   objects are destroyed together, when the last reference into the pair
///   goes (each record's end is then reported to the scheduler: leak
///   accounting, `live_records()`). Until then a closed record keeps its
///   fields, its queue emptied, and the extras it had (flow, transit).
/// - A record is *open* until its close (`open_records()`, what
///   `runtime::live_ports()` reports; 0 once every context ended): the
///   leak oracle is that count, since a handle to a closed or transferred
///   port, or to the open end of a pair, legitimately holds the pair.
/// - A first object is BLANK until its record's first adoption, then
///   ATTACHED: its `record` (aliasing this pair) keeps the pair, so an
///   attached object lives while attached even with no handle left
///   (context_core's port table only points at it). Leaving ATTACHED (transfer,
///   close, context end) moves `record` out; its listeners are dropped
///   then, the object's memory stays with the pair.
/// - An object made by a later adoption (a transferred port) is its own
///   `make_shared` allocation (adopted_port), counted by its handles and,
///   while attached, by its own `self`; its `record` holds this pair
///   while attached. (The port table's plain pointers count nothing.)
/// - The scheduler: each port object (both first objects included) holds
///   one keep-alive count (`sched_ref`), so it outlives both records.
struct port_pair final {
  /// `first_id` is odd: the id's parity says which end a record is
  /// (port_record::peer()).
  port_pair(port_scheduler& s, std::uint64_t first_id)
    : ends{{s, first_id}, {s, first_id + 1}} {
  }
  port_block ends[2];
};

/// A port object made by a later adoption (a transferred port): an
/// allocation of its own. The context's port table holds plain pointers
/// (8 bytes a slot, not a 16 B `shared_ptr`: bytes per idle port), so an
/// ATTACHED object keeps itself alive: a block's object through `record`
/// (its own pair), this one through `self`, set at adoption and moved out
/// by `unpin` when it leaves ATTACHED (handles keep it after that).
struct adopted_port final : port_object {
  using port_object::port_object;
  std::shared_ptr<port_object> self;
};

/// Whether `obj` (ATTACHED: `record` set) is an adopted_port, not the
/// first object of its record's block.
inline bool is_adopted(const port_object& obj) noexcept {
  return &port_block::of(*obj.record).first != &obj;
}

/// A strong reference to `obj`, which is ATTACHED (what the port table
/// hands out: it stores plain pointers).
inline std::shared_ptr<port_object> strong_ref(port_object& obj) {
  if (is_adopted(obj))
    return static_cast<adopted_port&>(obj).self;
  return std::shared_ptr<port_object>{obj.record, &obj};
}

/// `obj` is leaving ATTACHED: returns a strong reference to it and drops
/// an adopted object's self reference (a block's object lets go of itself
/// when the caller moves its `record` out). Hold the result until `obj` is
/// out of its context's port table. Precondition: ATTACHED.
inline std::shared_ptr<port_object> unpin(port_object& obj) {
  if (is_adopted(obj))
    return std::move(static_cast<adopted_port&>(obj).self);
  return std::shared_ptr<port_object>{obj.record, &obj};
}

inline port_record* port_record::peer() const noexcept {
  if (closed)
    return nullptr;
  // make_pair gives ends[0] the odd id and ends[1] the next (even) one.
  auto* self = &port_block::of(*this);
  return const_cast<port_block*>((id & 1) != 0 ? self + 1 : self - 1);
}

inline port_scheduler& port_record::sched() const noexcept {
  return *port_block::of(*this).first.sched;
}

/// Returns `obj` if the running context owns it (then that context is
/// `current_core()`, the object's home; owner_core returns it).
/// Otherwise the handle is inert: a post is counted as a foreign_context
/// drop, a warning says why, and nullptr is returned. Never dereferences
/// the owner unless it runs.
/// @throws type_error for a null handle.
port_object* owned(const std::shared_ptr<port_object>& obj, const char* op,
                   bool is_post);

/// The same check, returning the owning (running) context or nullptr: for
/// the callers that need the context (the post path, start, close...).
context_core* owner_core(const std::shared_ptr<port_object>& obj,
                         const char* op, bool is_post);

} // namespace entangle::detail
