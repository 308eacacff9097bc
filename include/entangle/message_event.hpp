#pragma once

#include <optional>
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
///
/// A listener's event lives while the listeners of that dispatch run:
/// keep a copy (or move `data` and `ports` out), not a reference. The
/// runtime reuses the object for the next message of the batch.
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
  /// The web's `preventDefault()`, for `error` events at a context's global
  /// (runtime_config::continue_after_exception): the error counts as
  /// handled and goes no further (not to the creator, not to stderr).
  void prevent_default() noexcept {
    default_prevented = true;
  }
  bool default_prevented = false;
};

/// Node's `receiveMessageOnPort`: takes the next message queued on `port`
/// now, started or not, without dispatching an event for it (listeners
/// never see it). Returns nullopt when no message is queued, and also when
/// the next item is the peer's close (it stays for the close event) or a
/// typed message (it stays for its `on_typed` handler). Ports the message
/// carries are adopted as by a dispatch. A message the context cannot
/// receive (a buffer over `max_buffer_bytes`) comes back as an event of
/// type "messageerror" (dropped and counted, as a dispatch would).
/// Must run in the context that owns `port`; elsewhere it returns nullopt
/// and warns, like any use of a foreign handle.
/// @throws type_error for a null handle.
std::optional<message_event> receive_message_on_port(const message_port& port);

} // namespace entangle
