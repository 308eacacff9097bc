#pragma once

#include <string>
#include <variant>
#include <vector>

#include "entangle/message_port.hpp"
#include "entangle/value.hpp"
#include "entangle/window.hpp"

namespace entangle {

/// Where a message came from: nothing for port messages (the spec's
/// `source` is null), the sending window for window.post_message, a port
/// for a shared worker's `connect`.
using message_source = std::variant<std::monostate, message_port, window_proxy>;

/// A `MessageEvent` (and, with type "close", the port's close `Event`).
///
/// For messages posted on ports: `origin` is "", `last_event_id` is "",
/// `source` is empty and `ports` lists the transferred ports in transfer-list
/// order (never "null": an empty vector when there are none).
struct message_event {
  /// "message", "messageerror" or "close".
  std::string type = "message";
  /// The clone of the posted value (undefined for messageerror and close).
  value data;
  /// The transferred ports, in transfer-list order.
  std::vector<message_port> ports;
  std::string origin;
  std::string last_event_id;
  message_source source;
  /// The port the event fired at (null for events at a context global).
  message_port target;
  /// For "messageerror": why the receiver could not deserialize.
  std::string error;
  /// For a typed message (`post_typed`, see typed.hpp): the registered name
  /// of its C++ type; empty for structured-clone messages.
  std::string typed;
};

} // namespace entangle
