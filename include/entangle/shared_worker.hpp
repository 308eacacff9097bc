#pragma once

#include "entangle/message_port.hpp"

namespace entangle {

/// A client's handle on a shared worker (the web's `SharedWorker`), from
/// `context::connect_shared_worker`.
///
/// A shared worker is one context per (origin, script, name): the first
/// client starts it with its init function, later clients of the same
/// origin reach the same instance (their init is not run again, as the same
/// script URL is the same code). Each client gets a fresh port, entangled
/// with one the worker receives in a `connect` event (`context::on_connect`:
/// data "", ports [port], source port). Both ends start explicitly (HTML
/// §12.6, ARCHITECTURE §2): call `port().start()` or set `on_message`.
///
/// A shared worker stays alive while any client still holds an entangled
/// port to it (HTML §12.5-12.6), even one the worker has not started yet:
/// its code may start it later, e.g. when the next client connects. It
/// ends once no client holds a connection (each closed its port or ended)
/// and nothing else keeps it alive (no started port, task, timer, or
/// connect on its way). Clients of ports it still held then see `close`.
/// A client that connects after that starts a new instance.
class shared_worker {
public:
  shared_worker() = default;

  /// This client's port to the worker.
  const message_port& port() const noexcept {
    return port_;
  }

  /// @private
  explicit shared_worker(message_port p) : port_(std::move(p)) {
  }

private:
  message_port port_;
};

} // namespace entangle
