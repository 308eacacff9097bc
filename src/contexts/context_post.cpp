// The sending half of a context: a post from one of its ports, from the
// value to the peer's queue (structured clone, flow control's admission,
// the drop rules), and the warnings for posts on inert ports. The
// receiving half is context_dispatch.cpp.

#include "contexts/context_core.hpp"

#include <fmt/format.h>

#include "entangle/flow_control.hpp"
#include "contexts/world.hpp"
#include "clone/structured_clone.hpp"

namespace entangle::detail {

namespace {

/// Flow control: a peer with a high-water mark admits the post first
/// (QuotaExceededError past its hard limit), before anything is shipped;
/// this thread's posts to it that wait in the stage count as unread.
/// Returns the size for the peer's byte mark, measured only under one (a
/// walk of the value); a message queued without one counts 0 bytes.
std::uint32_t admit_post(port_object& src, const value& message) {
  if (!src.record)
    return 0;
  auto* f = port_scheduler::peer_flow(*src.record);
  if (f == nullptr)
    return 0; // no mark: the common case
  return port_scheduler::admit_from(
    *src.record, *f,
    f->mark_bytes.load(std::memory_order_relaxed) ? message_size(message) : 0);
}

/// Why a post from `src` is dropped unqueued (closed or transferred away,
/// warned once per port), or nullopt.
std::optional<drop_reason> refused_post(context_core& ctx, port_object& src) {
  if (src.closed.load(std::memory_order_relaxed)) {
    // A worker object whose worker ended (let_go_of_worker): posted to a
    // context that ended, as before its port was let go; not a misuse.
    if (src.implicit && src.peer_gone)
      return drop_reason::context_gone;
    ctx.warn_inert(src, "post_message",
                   "the message is dropped (counted as closed)");
    return drop_reason::closed;
  }
  if (!src.record) {
    ctx.warn_inert(src, "post_message",
                   "the message is dropped (counted as detached)");
    return drop_reason::detached;
  }
  return std::nullopt;
}

} // namespace

serialized_message context_core::serialize(const value& message,
                                           const transfer_list& transfer,
                                           const port_object* source) {
  clone_sender from{id(), this, [](void* self, port_object& port) {
                      return static_cast<context_core*>(self)->ship_port(port);
                    }};
  return serialize_with_transfer(from, message, transfer, source,
                                 rt_.cfg.max_clone_depth);
}

void context_core::post(port_object& src, const value& message,
                        const transfer_list& transfer) {
  auto bytes = admit_post(src, message);
  post_serialized(src, serialize(message, transfer, &src), bytes);
}

void context_core::post_owned(port_object& src, value&& message) {
  if (!clones_as_copy(message, rt_.cfg.max_clone_depth)) {
    post(src, message, {});
    return;
  }
  auto bytes = admit_post(src, message);
  // What post_serialized does, for a message that carries no port: it is
  // built in place in the peer's queue (port_scheduler::post_value).
  explore_point(explore_op::post, &src, &message);
  if (auto why = refused_post(*this, src)) {
    sched_->count_drop(*why);
    return;
  }
  sched_->post_value(*src.record, std::move(message), bytes);
}

void context_core::post_serialized(port_object& src, serialized_message&& msg,
                                   std::uint32_t bytes) {
  explore_point(explore_op::post, &src, &msg.data);
  if (auto why = refused_post(*this, src)) {
    sched_->drop(std::move(msg), *why);
    return;
  }
  if (!msg.ports.empty()) {
    // The owner reads its record's peer link without the lock (see
    // port_record::peer).
    auto* peer = src.record->peer();
    for (auto& rec : msg.ports) {
      if (rec && rec.get() == peer) {
        // SEMANTICS §4.3 / ARCHITECTURE §2.3: the target travels inside its
        // own message. Drop it; destroying the message closes the target,
        // so this port gets `close` and the channel is gone.
        warn("post_message: the target port is in the transfer list "
             "(doomed): message dropped, channel closed");
        sched_->drop(std::move(msg), drop_reason::doomed);
        return;
      }
    }
  }
  sched_->post(*src.record, std::move(msg), bytes);
}

void context_core::warn_inert(port_object& port, const char* op,
                              const char* effect) {
  // Spec-silent no-ops, said once per handle so a mistake is visible.
  if (port.warned)
    return;
  port.warned = true;
  warn(fmt::format("{} on a port that was {}: {} (reported once per port)",
                   op,
                   port.closed.load(std::memory_order_relaxed)
                     ? "closed"
                     : "transferred away",
                   effect));
}

} // namespace entangle::detail
