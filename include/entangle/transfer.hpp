#pragma once

#include <variant>
#include <vector>

#include "entangle/array_buffer.hpp"
#include "entangle/message_port.hpp"

namespace entangle {

/// An item of a transfer list: a port (moved to the receiver) or a buffer
/// (its bytes moved, the source detached). Nothing else is transferable, so
/// the type system already rejects what the web rejects with DataCloneError
/// at run time (a plain object in the transfer list).
class transferable {
public:
  transferable(message_port p) : v_(std::move(p)) {
  }
  transferable(array_buffer b) : v_(std::move(b)) {
  }

  const message_port* port() const noexcept {
    return std::get_if<message_port>(&v_);
  }
  const array_buffer* buffer() const noexcept {
    return std::get_if<array_buffer>(&v_);
  }

private:
  std::variant<message_port, array_buffer> v_;
};

/// A transfer list, in the order the receiver will see the ports.
using transfer_list = std::vector<transferable>;

/// The options form of `post_message` (HTML `StructuredSerializeOptions`).
struct structured_serialize_options {
  transfer_list transfer;
};

} // namespace entangle
