#pragma once

#include "entangle/message_port.hpp"

namespace entangle {

/// The web's `MessageChannel`: two new, entangled ports owned by the context
/// that constructs it.
///
/// Must be constructed by code running inside a context (its init function
/// or a handler); elsewhere it throws `InvalidStateError`. Both ports start
/// with their queues disabled.
class message_channel {
public:
  /// Creates an entangled pair in the current context.
  /// @throws dom_exception `InvalidStateError` outside any context.
  message_channel();

  const message_port& port1() const noexcept {
    return port1_;
  }
  const message_port& port2() const noexcept {
    return port2_;
  }

private:
  message_port port1_;
  message_port port2_;
};

} // namespace entangle
