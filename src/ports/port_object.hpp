#pragma once

#include <atomic>
#include <cstdint>
#include <memory>

#include "ports/event_target.hpp"
#include "ports/port_record.hpp"

namespace entangle::detail {

class context_core;
class port_scheduler;

/// The JS-visible MessagePort object: lives in exactly one context (its
/// realm) and is reached through `message_port` handles.
///
/// What it knows: its context (by id, so a handle used elsewhere is
/// recognised as foreign without touching the context), its record while it
/// owns one, and its listeners. What it does not know: where its peer is.
///
/// State (transitions only as listed):
///   ATTACHED (record set) --transfer--> DETACHED   (record null, detached)
///   ATTACHED --close() or context end--> CLOSED    (record null, detached,
///                                                   closed)
/// `peer_gone` is set when the close event was dispatched here.
///
/// Thread affinity: every field except the atomics and the const members is
/// touched only by the owning context's thread.
class port_object {
public:
  port_object(context_core* owner, std::uint64_t owner_id,
              std::shared_ptr<port_scheduler> s, bool is_implicit)
    : ctx(owner), ctx_id(owner_id), sched(std::move(s)), implicit(is_implicit) {
  }

  /// The owning context. Dereference only after checking `ctx_id` against
  /// the running context (it may have ended).
  context_core* const ctx;
  const std::uint64_t ctx_id;
  const std::shared_ptr<port_scheduler> sched;

  std::shared_ptr<port_record> record;
  std::uint64_t epoch = 0;

  // The small fields together, in one word (bytes per idle port).

  /// A worker's implicit port: its events target the worker object or the
  /// worker global, so `message_event::target` stays null.
  const bool implicit;

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

/// Returns `obj` if the running context owns it. Otherwise the handle is
/// inert: a post is counted as a foreign_context drop, a warning says why,
/// and nullptr is returned. Never dereferences the owner unless it runs.
/// @throws type_error for a null handle.
port_object* owned(const std::shared_ptr<port_object>& obj, const char* op,
                   bool is_post);

} // namespace entangle::detail
