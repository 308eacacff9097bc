#pragma once

// Helpers shared by the RPC tests (rpc_test.cpp, rpc_faults_test.cpp).

#include <catch2/catch.hpp>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "entangle/all.hpp"
#include "entangle/rpc.hpp"
#include "entangle/testing/catch.hpp"

namespace entangle::rpc_test {

using namespace entangle::testing;
using std::chrono::milliseconds;
using strings = std::vector<std::string>;

/// A service worker named "service" exposing `make()` on a fresh channel;
/// returns the caller's remote and the worker. The worker closes when the
/// remote is released, and so lets its parent end.
struct connection {
  rpc::remote remote;
  worker service;
  /// The service's end, once the worker received it (testkit only: read
  /// it from the test's thread).
  std::shared_ptr<message_port> service_port;
};

inline connection connect(context& self, std::function<rpc::methods()> make,
                          milliseconds timeout = milliseconds{0}) {
  message_channel ch;
  auto service_port = std::make_shared<message_port>();
  auto w = self.spawn("service", [make, service_port](context& ws) {
    ws.on_message([make, service_port](message_event& ev) {
      auto port = ev.ports.at(0);
      *service_port = port;
      rpc::expose(port, make());
      // One client per worker: it ends when its client releases.
      port.add_event_listener("close",
                              [](message_event&) { this_context().close(); });
    });
  });
  w.post_message("connect", {ch.port2()});
  return {rpc::wrap(ch.port1(), timeout), w, service_port};
}

/// Records the outcome of `p` into `log` as "tag=value" or
/// "tag!Name: message".
inline void record(const rpc::promise& p, strings& log, std::string tag) {
  p.then([&log, tag](value& v) { log.push_back(tag + "=" + to_string(v)); },
         [&log, tag](const error_value& e) {
           log.push_back(tag + "!" + e.name + ": " + e.message);
         });
}

/// Every context ended and no port record is left (no leak).
inline void check_all_ended(const testkit& kit) {
  CHECK(kit.live_contexts() == 0);
  CHECK(kit.live_ports() == 0);
}

} // namespace entangle::rpc_test
