#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include <caf/actor.hpp>

#include "entangle/value.hpp"
#include "ports/event_target.hpp"
#include "base/trace_hooks.hpp"

namespace entangle::detail {

class context_core;
class port_scheduler;

/// A BroadcastChannel object: lives in one context, like a port object.
/// `closed` is the only field touched off the owner's thread (read by
/// handles used elsewhere); everything else is the owner's.
class broadcast_object : public std::enable_shared_from_this<broadcast_object> {
public:
  broadcast_object(context_core* owner, std::uint64_t owner_id,
                   std::shared_ptr<port_scheduler> s, std::string n,
                   std::string key, std::uint64_t creation)
    : ctx(owner),
      ctx_id(owner_id),
      sched(std::move(s)),
      name(std::move(n)),
      origin_key(std::move(key)),
      seq(creation) {
  }

  context_core* const ctx;
  const std::uint64_t ctx_id;
  const std::shared_ptr<port_scheduler> sched;
  const std::string name;
  const std::string origin_key;
  /// Creation order across the runtime (destinations are sorted by it).
  const std::uint64_t seq;

  std::atomic<bool> closed{false};
  /// Keeps its context alive (open, with a message/messageerror handler).
  bool counted = false;
  event_target events;
};

/// What one post delivers: serialized once, cloned by each destination.
struct broadcast_payload {
  value data;
  std::size_t buffer_bytes = 0;
  std::string origin; // the sender's, serialized
};

/// One destination's delivery, carried inside a CAF message. If the message
/// dies undelivered (its context ended with it in the mailbox), the drop is
/// still counted: nothing is lost silently.
struct broadcast_delivery {
  broadcast_delivery(std::shared_ptr<const broadcast_payload> p,
                     std::shared_ptr<port_scheduler> s)
    : payload(std::move(p)), sched(std::move(s)) {
  }
  ~broadcast_delivery();
  broadcast_delivery(const broadcast_delivery&) = delete;
  broadcast_delivery& operator=(const broadcast_delivery&) = delete;

  const std::shared_ptr<const broadcast_payload> payload;
  const std::shared_ptr<port_scheduler> sched;
  /// Set by the receiver once it dispatched or counted it.
  bool settled = false;
#if ENTANGLE_TRACING
  std::uint64_t trace_id = 0;
#endif
};

/// All BroadcastChannel objects of a runtime, by (origin key, name).
/// Thread-safe; the lock is held only to copy a destination list.
class broadcast_registry {
public:
  struct entry {
    std::weak_ptr<broadcast_object> obj;
    caf::actor owner;
  };

  std::uint64_t next_seq() noexcept {
    return seq_.fetch_add(1, std::memory_order_relaxed);
  }

  void add(const std::shared_ptr<broadcast_object>& obj, caf::actor owner);
  void remove(const broadcast_object& obj);

  /// Every other object of the same group, in creation order.
  std::vector<entry> destinations(const broadcast_object& sender);

private:
  using key = std::pair<std::string, std::string>;
  std::mutex mu_;
  /// Each group's objects by creation sequence: a close takes one out in
  /// O(log B) under the lock every post takes (a vector's scan and erase
  /// was O(B)), and a post reads them in creation order without a sort.
  std::map<key, std::map<std::uint64_t, entry>> groups_;
  std::atomic<std::uint64_t> seq_{1};
};

} // namespace entangle::detail
