// SEMANTICS §12.5/§12.6, a shared worker's lifetime (issue 16, point 2): a
// shared worker stays alive while any client still holds an entangled port
// to it, whether or not the worker started its end of that connection, and
// every client meanwhile reaches that one instance. It ends once every
// connection is gone (closed on either side, its client ended, or the
// worker gave the port away) and nothing else keeps it alive.

#include <catch2/catch.hpp>

#include <memory>

#include "entangle/testing/catch.hpp"
#include "support.hpp"

using namespace entangle;
using namespace entangle::test;
using entangle::testing::testkit;

namespace {

/// A lobby that only listens on each connection (add_event_listener does
/// not start a port) and starts every port it holds once `quorum` clients
/// have connected; it answers "<instance>: <data>". Counts its starts.
init_function lobby(std::shared_ptr<int> inits, std::shared_ptr<lines> log,
                    int quorum) {
  return [inits, log, quorum](context& self) {
    auto instance = ++*inits;
    auto held = std::make_shared<std::vector<message_port>>();
    self.on_connect([instance, held, log, quorum](message_event& ev) {
      auto port = ev.ports.at(0);
      port.add_event_listener("message", [port, instance](message_event& m) {
        port.post_message(std::to_string(instance) + ": " + label(m));
      });
      held->push_back(port);
      log->push_back("connect " + std::to_string(held->size()));
      if (static_cast<int>(held->size()) == quorum)
        for (auto& p : *held)
          p.start();
    });
  };
}

/// Opens a window at https://a.example that connects to "lobby.js", posts
/// a greeting and logs the replies; returns its id.
std::uint64_t client(testkit& kit, const std::string& name,
                     std::shared_ptr<int> inits, std::shared_ptr<lines> log,
                     int quorum, message_port* keep = nullptr) {
  return kit.rt().open_window(name, "https://a.example", [=](context& self) {
    auto port = self.connect_shared_worker("lobby.js",
                                           lobby(inits, log, quorum))
                  .port();
    port.on_message([name, log](message_event& m) {
      log->push_back(name + " got " + label(m));
    });
    port.post_message("hi from " + name);
    if (keep != nullptr)
      *keep = port;
  });
}

std::string ended(testkit& kit) {
  std::string out;
  for (auto& e : kit.rt().exits())
    out += e.name + ":" + std::string{to_string(e.kind)} + " ";
  return out;
}

} // namespace

TEST_CASE("12.6 a shared worker whose connect handler only added a listener "
          "stays alive for its client; a later client reaches the same "
          "instance, which then starts both ports",
          "[sem12][context]") {
  testkit kit;
  auto inits = std::make_shared<int>(0);
  auto log = std::make_shared<lines>();
  client(kit, "A", inits, log, 2);
  kit.run();
  // Nothing started on the worker's side, yet A still holds an entangled
  // port to it: the worker must not end.
  CHECK(*log == lines{"connect 1"});
  CHECK(kit.live_contexts() == 2);
  CHECK(kit.rt().exits().empty());
  client(kit, "B", inits, log, 2);
  kit.run();
  CHECK(*inits == 1);
  CHECK(sorted(*log)
        == lines{"A got 1: hi from A", "B got 1: hi from B", "connect 1",
                 "connect 2"});
}

TEST_CASE("12.6 a shared worker ends once its only client closes its port, "
          "even though the worker never started its end",
          "[sem12][context]") {
  testkit kit;
  auto inits = std::make_shared<int>(0);
  auto log = std::make_shared<lines>();
  message_port port;
  client(kit, "A", inits, log, 2, &port);
  kit.run();
  REQUIRE(kit.live_contexts() == 2);
  kit.close_port(port);
  kit.run();
  CHECK(kit.live_contexts() == 1); // the window stays; the worker ended
  CHECK(ended(kit) == "lobby.js:normal ");
  // The next client starts a new instance.
  client(kit, "B", inits, log, 1);
  kit.run();
  CHECK(*inits == 2);
  CHECK(log->back() == "B got 2: hi from B");
}

TEST_CASE("12.5 a shared worker ends when its client's context ends: the "
          "client's ports close and the unstarted connection goes with them",
          "[sem12][context]") {
  testkit kit;
  auto inits = std::make_shared<int>(0);
  auto log = std::make_shared<lines>();
  auto a = client(kit, "A", inits, log, 3);
  auto b = client(kit, "B", inits, log, 3);
  kit.run();
  CHECK(*inits == 1);
  CHECK(kit.live_contexts() == 3);
  kit.terminate(a);
  kit.run();
  CHECK(kit.live_contexts() == 2); // B still holds a connection
  kit.terminate(b);
  kit.run();
  CHECK(kit.live_contexts() == 0);
  CHECK(ended(kit) == "A:terminated B:terminated lobby.js:normal ");
  CHECK(kit.live_ports() == 0);
  // The two greetings were held by ports nobody started: dropped with them.
  CHECK(kit.drops()[drop_reason::context_gone] == 2);
}

TEST_CASE("12.6 a connection the worker gave away no longer keeps it alive",
          "[sem12][context]") {
  testkit kit;
  auto log = std::make_shared<lines>();
  kit.rt().open_window("page", "https://a.example", [log](context& self) {
    auto port = self.connect_shared_worker("forward.js", [log](context& w) {
      auto helper = w.spawn("helper", [log](context& h) {
        h.on_message([log](message_event& ev) {
          auto p = ev.ports.at(0);
          p.on_message([p, log](message_event& m) {
            log->push_back("helper got " + label(m));
            p.close();
          });
        });
      });
      w.on_connect([helper](message_event& ev) {
        // Hands the client's port on without starting it, then lets go of
        // the helper: nothing of the worker's own waits any more.
        helper.post_message("yours", {ev.ports.at(0)});
        helper.terminate();
      });
    }).port();
    port.post_message("for whoever holds the other end");
  });
  kit.run();
  // The helper was terminated before it could take the port: the message
  // carrying it was dropped, the port closed, and the worker ended.
  CHECK(ended(kit).find("forward.js:normal") != std::string::npos);
  CHECK(kit.live_contexts() == 1);
}

TEST_CASE("12.6 threaded: clients come and go; one instance serves them all "
          "and ends after the last one left",
          "[sem12][context]") {
  harness h;
  auto inits = std::make_shared<int>(0);
  auto worker_log = std::make_shared<lines>(); // the worker's thread only
  // Each client connects, waits for its answer, then closes its port and
  // ends; the worker starts the ports only on the second connect, so the
  // first client's connection stays unstarted until then.
  for (int i = 0; i < 2; ++i) {
    auto name = "client" + std::to_string(i);
    h.rt->spawn(name, "https://a.example", [&, inits, worker_log,
                                            name](context& self) {
      auto port = self.connect_shared_worker("lobby.js",
                                             lobby(inits, worker_log, 2))
                    .port();
      port.on_message([&, port, name](message_event& m) {
        h.log.add(name + " got " + label(m));
        port.close();
      });
      port.post_message("hi from " + name);
    });
  }
  h.wait();
  CHECK(*inits == 1);
  CHECK(sorted(h.log.lines())
        == lines{"client0 got 1: hi from client0",
                 "client1 got 1: hi from client1"});
  CHECK(exit_of(h, "lobby.js") == "normal");
  h.require_clean();
}
