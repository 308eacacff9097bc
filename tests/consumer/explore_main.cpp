// A Catch2 test of a user's own protocol, built against an installed
// entangle with only its installed headers (tests/check_install.py): it
// explores the protocol's schedules, finds the planted bug, and the replay
// command it prints replays the same schedule in another process.

#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>

#include <entangle/all.hpp>
#include <entangle/testing/catch.hpp>

#include <functional>
#include <iostream>

using namespace entangle;
using namespace entangle::testing;

namespace {

// A page hands a worker a port and posts "stop" on its own end. The
// hasty worker looks once for a "stop" already queued and, finding none,
// works and closes; the patient one listens for it.
std::function<void(testkit&)> protocol(bool hasty) {
  return [hasty](testkit& kit) {
    int stopped = 0;
    kit.spawn("page", [&stopped, hasty](context& self) {
      auto w = self.spawn("worker", [&stopped, hasty](context& me) {
        me.on_message([&stopped, hasty](message_event& ev) {
          auto port = ev.ports.at(0);
          if (!hasty) {
            port.on_message([&stopped](message_event&) { ++stopped; });
            return;
          }
          if (receive_message_on_port(port))
            ++stopped;
          else
            this_context().close();
        });
      });
      message_channel ch;
      w.post_message("port", {ch.port2()});
      ch.port1().post_message("stop");
      self.close();
    });
    kit.run();
    kit.require(stopped == 1, "the worker saw stop");
  };
}

} // namespace

TEST_CASE("consumer: exploring finds the hasty worker's bug") {
  auto result = explore(200, protocol(true));
  std::cout << result.report();
  CHECK_FALSE(result);
}

TEST_CASE("consumer: the patient worker passes every schedule") {
  CHECK(explore(200, protocol(false)));
}
