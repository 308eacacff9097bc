#pragma once

#include <cstdint>

#include "entangle/fwd.hpp"

namespace entangle::detail {

class context_core;
struct port_object;

/// What a context is about to do at an exploration point.
enum class explore_op : std::uint8_t {
  post,        ///< post on a shipped port (its peer may be elsewhere)
  close,       ///< close a shipped port
  start,       ///< start a shipped port (reads what its queue holds)
  receive,     ///< receive_message_on_port on a shipped port
  post_window, ///< window_proxy::post_message
  navigate,    ///< ask another window to navigate
  broadcast,   ///< BroadcastChannel post
  connect,     ///< connect to a shared worker
  terminate,   ///< terminate a worker
  end,         ///< end: its ports close, peers and parent see it
};

/// A schedule explorer: the testkit's (src/testing/explorer.hpp), in
/// deterministic mode only; null otherwise, so the threaded runtime pays
/// one predictable branch per point.
///
/// Why points. Under the test coordinator a context's turn runs from start
/// to end before anything else runs; on the threaded runtime other
/// contexts run on other cores meanwhile, and what they do can land
/// between two operations of the turn. Only operations that touch what
/// other contexts can see or change -- a port whose peer may live
/// elsewhere, a window, a broadcast group, a shared worker, a worker's
/// life, this context's own end -- can tell the difference. A context calls
/// `point` just before each of them (from its own thread, holding no lock,
/// its own state consistent); the explorer may then run turns of other
/// ready contexts there, nested on this thread, which is exactly what
/// another core could have done at that moment.
class explore_hook {
public:
  virtual ~explore_hook() = default;

  /// `self` is about to do `op` (on `port`, with `data`, where that
  /// applies; both may be null).
  virtual void point(context_core& self, explore_op op,
                     const port_object* port, const value* data)
    = 0;
};

} // namespace entangle::detail
