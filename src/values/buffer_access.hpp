#pragma once

#include "entangle/array_buffer.hpp"

namespace entangle::detail {

/// Access to a buffer's shared state: its identity (the clone's memo, Map
/// keys) and detaching (a transfer). The one friend `array_buffer` names.
struct clone_access {
  using state = array_buffer::state;

  static state* get(const array_buffer& b) noexcept {
    return b.state_.get();
  }

  /// Moves `from`'s bytes into `to` and detaches `from` (every handle).
  static void move_bytes(array_buffer& from, array_buffer& to) noexcept {
    to.state_->bytes = std::move(from.state_->bytes);
    from.state_->bytes.clear();
    from.state_->bytes.shrink_to_fit();
    from.state_->detached = true;
  }
};

} // namespace entangle::detail
