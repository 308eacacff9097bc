#pragma once

#include <cstdint>
#include <string>

namespace entangle::detail {

/// A 128-bit random port name. Unguessable (drawn from the OS CSPRNG) so
/// that, once ports cross processes, an id learnt from one incarnation of a
/// port cannot address another: ids are re-minted whenever an endpoint
/// materialises somewhere new. In-process code addresses records by pointer;
/// the id names a port in traces, logs and on the wire.
struct port_id {
  std::uint64_t hi = 0;
  std::uint64_t lo = 0;

  /// Draws a fresh id.
  static port_id make();

  friend bool operator==(port_id x, port_id y) noexcept {
    return x.hi == y.hi && x.lo == y.lo;
  }
  friend bool operator!=(port_id x, port_id y) noexcept {
    return !(x == y);
  }
};

std::string to_string(port_id id);

} // namespace entangle::detail
