// Conformance tests for SEMANTICS §12.6 (SharedWorker) as entangle defines
// it (ARCHITECTURE §2): one instance per (origin, script, name), a connect
// event per client, explicit start on both sides, and a defined end.

#include <catch2/catch.hpp>

#include <memory>

#include "entangle/testing/catch.hpp"
#include "support.hpp"

using namespace entangle;
using namespace entangle::test;
using entangle::testing::testkit;

namespace {

/// A chat-like shared worker: answers every message on every client port
/// with "<instance>/<client number>: <data>"; counts its starts in `inits`.
init_function chat(std::shared_ptr<int> inits, std::shared_ptr<lines> log) {
  return [inits, log](context& self) {
    auto instance = ++*inits;
    auto clients = std::make_shared<int>(0);
    self.on_connect([instance, clients, log](message_event& ev) {
      auto n = ++*clients;
      auto port = ev.ports.at(0);
      auto* src = std::get_if<message_port>(&ev.source);
      log->push_back("connect " + std::to_string(n) + " data=" + to_string(ev.data)
                     + " ports=" + std::to_string(ev.ports.size())
                     + (src != nullptr && *src == port ? " source=port" : ""));
      port.on_message([port, instance, n](message_event& m) {
        port.post_message(std::to_string(instance) + "/" + std::to_string(n)
                          + ": " + label(m));
      });
    });
  };
}

/// A window at `origin` that connects to "chat.js" and logs replies.
void client(testkit& kit, const std::string& name, const std::string& origin,
            std::shared_ptr<int> inits, std::shared_ptr<lines> log,
            std::string worker_name = {}) {
  kit.rt().open_window(name, origin, [=](context& self) {
    auto sw = self.connect_shared_worker("chat.js", chat(inits, log),
                                         worker_name);
    auto port = sw.port();
    port.on_message([name, log](message_event& m) {
      log->push_back(name + " got " + label(m));
    });
    port.post_message("hi from " + name);
  });
}

} // namespace

TEST_CASE("12.6 the first client starts a shared worker; later clients of the "
          "same origin, script and name reach the same instance",
          "[sem12]") {
  testkit kit;
  auto inits = std::make_shared<int>(0);
  auto log = std::make_shared<lines>();
  client(kit, "A", "https://a.example", inits, log);
  kit.run();
  client(kit, "B", "https://a.example/other/page", inits, log);
  kit.run();
  CHECK(*inits == 1);
  CHECK(*log
        == lines{"connect 1 data=\"\" ports=1 source=port", "A got 1/1: hi from A",
                 "connect 2 data=\"\" ports=1 source=port",
                 "B got 1/2: hi from B"});
}

TEST_CASE("12.6 another origin or another name is another instance",
          "[sem12]") {
  testkit kit;
  auto inits = std::make_shared<int>(0);
  auto log = std::make_shared<lines>();
  client(kit, "A", "https://a.example", inits, log);
  client(kit, "C", "https://c.example", inits, log);
  client(kit, "A2", "https://a.example", inits, log, "room 2");
  kit.run();
  CHECK(*inits == 3);
  lines replies;
  for (auto& l : *log)
    if (l.find(" got ") != std::string::npos)
      replies.push_back(l);
  CHECK(sorted(replies)
        == lines{"A got 1/1: hi from A", "A2 got 3/1: hi from A2",
                 "C got 2/1: hi from C"});
}

TEST_CASE("12.6 both ends start explicitly: a client's messages wait for the "
          "worker's start, the replies for the client's",
          "[sem12]") {
  testkit kit;
  auto log = std::make_shared<lines>();
  message_port worker_end, client_end;
  auto first_id = kit.rt().open_window("page", "https://a.example", [&](context& self) {
    auto sw = self.connect_shared_worker("lazy.js", [&](context& w) {
      w.on_connect([&](message_event& ev) {
        worker_end = ev.ports.at(0);
        // Starts its end only later (the timer keeps the worker alive).
        this_context().set_timeout(
          [&] {
            worker_end.on_message([&](message_event& m) {
              log->push_back("worker got " + label(m));
              worker_end.post_message("pong");
            });
          },
          std::chrono::milliseconds{10});
      });
    });
    client_end = sw.port();
    client_end.add_event_listener("message", [log](message_event& m) {
      log->push_back("page got " + label(m));
    });
    client_end.post_message("ping");
  });
  kit.run();
  REQUIRE(worker_end);
  CHECK(kit.queued(worker_end) == 1); // held: the worker did not start it
  kit.advance(std::chrono::milliseconds{10});
  CHECK(*log == lines{"worker got ping"});
  CHECK(kit.queued(client_end) == 1); // held: a listener does not start
  kit.inject(first_id, [&] { client_end.start(); });
  kit.run();
  CHECK(*log == lines{"worker got ping", "page got pong"});
}

TEST_CASE("12.6 a shared worker ends when no client is left; its clients saw "
          "close, and a later client starts a new instance",
          "[sem12][context]") {
  testkit kit;
  auto inits = std::make_shared<int>(0);
  auto log = std::make_shared<lines>();
  message_port port;
  auto first_id = kit.rt().open_window("page", "https://a.example", [&](context& self) {
    port = self.connect_shared_worker("chat.js", chat(inits, log)).port();
    port.start();
  });
  kit.run();
  CHECK(kit.live_contexts() == 2);
  kit.close_port(port); // the only client leaves
  kit.run();
  CHECK(kit.live_contexts() == 1); // just the page: the worker ended
  std::string ended;
  for (auto& e : kit.rt().exits())
    ended += e.name + ":" + std::string{to_string(e.kind)};
  CHECK(ended == "chat.js:normal");
  kit.inject(first_id, [&] {
    auto again = this_context().connect_shared_worker("chat.js",
                                                      chat(inits, log));
    again.port().start();
  });
  kit.run();
  CHECK(*inits == 2);
}

TEST_CASE("12.6 a shared worker that closes itself: its clients' ports get "
          "close and new clients get a new instance",
          "[sem12][context]") {
  testkit kit;
  auto log = std::make_shared<lines>();
  auto inits = std::make_shared<int>(0);
  kit.rt().open_window("page", "https://a.example", [&](context& self) {
    auto sw = self.connect_shared_worker("quits.js", [inits](context& w) {
      ++*inits;
      w.on_connect([](message_event& ev) {
        ev.ports.at(0).post_message("bye");
        this_context().close();
      });
    });
    auto p = sw.port();
    p.on_message([log](message_event& m) { log->push_back(label(m)); });
    p.on_close([log, p](message_event&) {
      log->push_back("close");
      // Reconnecting now starts a fresh instance.
      auto again = this_context().connect_shared_worker(
        "quits.js", [](context&) {});
      (void)again;
    });
  });
  kit.run();
  CHECK(*log == lines{"bye", "close"});
  CHECK(*inits == 1); // the second init is a different function here
  // The first instance ended; the second lives on, since the page (a
  // window) still holds its connection.
  REQUIRE(kit.rt().exits().size() == 1);
  CHECK(kit.rt().exits()[0].name == "quits.js");
  CHECK(kit.live_contexts() == 2);
}
