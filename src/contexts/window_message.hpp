#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "entangle/origin.hpp"
#include "ports/port_scheduler.hpp"
#include "ports/serialized_message.hpp"

namespace entangle::detail {

struct context_control;

/// One window.post_message in flight, inside a CAF message to the target
/// window's actor (one posted-message task source per target: CAF's
/// per-sender FIFO). If it dies undelivered (the window ended with it in
/// the mailbox), the drop is counted and the ports it carries are closed.
struct window_delivery {
  window_delivery(serialized_message m, std::optional<origin> target,
                  std::string from, std::shared_ptr<context_control> src,
                  std::uint64_t doc, std::shared_ptr<port_scheduler> s)
    : msg(std::move(m)),
      target_origin(std::move(target)),
      sender_origin(std::move(from)),
      source(std::move(src)),
      document(doc),
      sched(std::move(s)) {
  }

  ~window_delivery() {
    if (!settled) {
      sched->count_drop(drop_reason::context_gone);
      msg.fate = drop_reason::context_gone;
    }
  }

  window_delivery(const window_delivery&) = delete;
  window_delivery& operator=(const window_delivery&) = delete;

  serialized_message msg;
  /// nullopt for "*".
  std::optional<origin> target_origin;
  /// The sender's origin, serialized (the event's `origin`).
  std::string sender_origin;
  /// The sending window (the event's `source`), or null.
  std::shared_ptr<context_control> source;
  /// The target's document when the message was posted.
  std::uint64_t document;
  std::shared_ptr<port_scheduler> sched;
  bool settled = false;
};

} // namespace entangle::detail
