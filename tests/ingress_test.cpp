// The way in from threads that are not contexts (issue #19, point 1):
// runtime::connect and outside_port.

#include <atomic>
#include <memory>
#include <thread>

#include "support.hpp"

using namespace entangle;
using namespace entangle::test;
using std::chrono::milliseconds;
using std::chrono::seconds;

namespace {

/// A context that answers every message on its first connection with the
/// same data; it listens until then, and ends when that connection goes.
void echo_service(context& self) {
  self.on_connect([](message_event& ev) {
    this_context().on_connect({}); // one client: stop listening
    auto port = ev.ports.at(0);
    port.on_message([port](message_event& m) { port.post_message(m.data); });
  });
}

runtime_config quiet() {
  runtime_config cfg;
  cfg.warnings = false;
  return cfg;
}

} // namespace

TEST_CASE("an outside thread posts 100000 messages and receives the replies "
          "in order",
          "[ingress]") {
  auto cfg = quiet();
  runtime rt{cfg};
  auto id = rt.spawn("echo", echo_service);
  auto port = rt.connect(id);
  constexpr int n = 100000;
  for (int i = 0; i < n; ++i)
    port.post_message(i);
  int in_order = 0;
  for (int i = 0; i < n; ++i) {
    auto m = port.receive(seconds{30});
    if (!m || m->data.as_number() != i)
      break;
    ++in_order;
  }
  CHECK(in_order == n);
  port.close();
  CHECK(port.closed());
  CHECK(rt.run_for(seconds{30})); // the connection was all that kept it
  CHECK(rt.live_ports() == 0);
}

TEST_CASE("posts from several outside threads keep each thread's order",
          "[ingress]") {
  auto cfg = quiet();
  runtime rt{cfg};
  auto seen = std::make_shared<std::vector<double>>();
  auto done = std::make_shared<std::atomic<int>>(0);
  constexpr int threads = 4, each = 5000;
  auto id = rt.spawn("sink", [seen](context& self) {
    self.on_connect([seen](message_event& ev) {
      auto port = ev.ports.at(0);
      port.on_message([seen, port](message_event& m) {
        seen->push_back(m.data.as_number());
        if (seen->size() == threads * each)
          this_context().close();
      });
    });
  });
  auto port = rt.connect(id);
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t)
    ts.emplace_back([port, t] {
      for (int i = 0; i < each; ++i)
        port.post_message(t * 1000000 + i);
    });
  for (auto& t : ts)
    t.join();
  REQUIRE(rt.run_for(seconds{30}));
  REQUIRE(seen->size() == threads * each);
  std::vector<int> next(threads, 0);
  bool ordered = true;
  for (auto x : *seen) {
    auto t = static_cast<int>(x) / 1000000;
    auto i = static_cast<int>(x) % 1000000;
    ordered = ordered && i == next[static_cast<std::size_t>(t)]++;
  }
  CHECK(ordered);
  // The close reaches the outside end asynchronously (through the
  // runtime's gateway): receive() returns once it did.
  CHECK_FALSE(port.receive(std::chrono::seconds{10}));
  CHECK(port.closed());
}

TEST_CASE("outside ports: next() completes from the event loop, close "
          "reaches the outside after the messages, ports travel both ways",
          "[ingress]") {
  auto cfg = quiet();
  runtime rt{cfg};
  auto id = rt.spawn("svc", [](context& self) {
    self.on_connect([](message_event& ev) {
      auto port = ev.ports.at(0);
      port.on_message([port](message_event& m) {
        if (m.data.as_string() == "give me a port") {
          message_channel ch;
          ch.port1().on_message([p = ch.port1()](message_event& x) {
            p.post_message("side: " + x.data.as_string());
          });
          port.post_message("here", {ch.port2()});
        } else if (m.data.as_string() == "take this") {
          auto carried = m.ports.at(0);
          carried.post_message("hello from inside");
          carried.close();
          port.post_message("last");
          port.close();
          this_context().on_connect({}); // the second connection remains
        }
      });
    });
  });
  auto port = rt.connect(id);
  auto first = port.next(); // claimed before anything arrives
  port.post_message("give me a port");
  auto got = first.get();
  CHECK(got.data.as_string() == "here");
  REQUIRE(got.ports.size() == 1);
  auto side = got.ports[0];
  side.post_message("ping");
  auto answer = side.receive(seconds{10});
  REQUIRE(answer);
  CHECK(answer->data.as_string() == "side: ping");
  side.close();
  // An outside port goes in: a port the context gave us on a second
  // connection travels back to it through the first (a capability's
  // round trip); it is inert here afterwards.
  auto again = rt.connect(id);
  again.post_message("give me a port");
  auto other = again.receive(seconds{10});
  REQUIRE(other);
  REQUIRE(other->ports.size() == 1);
  port.post_message("take this", {other->ports[0]});
  CHECK(other->ports[0].closed()); // transferred away: inert here
  CHECK_FALSE(again.receive(milliseconds{50})); // nothing more on `again`
  auto last = port.receive(seconds{10});
  REQUIRE(last);
  CHECK(last->data.as_string() == "last");
  CHECK_FALSE(port.receive(milliseconds{0}));
  CHECK(port.closed());
  CHECK_THROWS_AS(port.next().get(), dom_exception);
  again.close();
  CHECK(rt.run_for(seconds{30}));
}

TEST_CASE("outside ports: clone errors throw at the outside post; connect to "
          "an unknown context is closed; inside a context it is refused",
          "[ingress]") {
  auto cfg = quiet();
  runtime rt{cfg};
  auto id = rt.spawn("echo", echo_service);
  auto port = rt.connect(id);
  std::string name;
  try {
    port.post_message(value{host_object{"a function"}});
  } catch (const dom_exception& e) {
    name = e.name();
  }
  CHECK(name == "DataCloneError");
  port.post_message("still fine");
  auto m = port.receive(seconds{10});
  REQUIRE(m);
  CHECK(m->data.as_string() == "still fine");
  CHECK(rt.connect(987654321).closed());
  std::string inside_error;
  rt.spawn("inside", [&](context&) {
    try {
      (void) port.try_receive();
    } catch (const dom_exception& e) {
      inside_error = e.name();
    }
  });
  port.close();
  CHECK(rt.run_for(seconds{30}));
  CHECK(inside_error == "InvalidStateError");
}

TEST_CASE("an outside port outlives its runtime: it reads as closed and "
          "does nothing",
          "[ingress][handles]") {
  outside_port port;
  {
    auto cfg = quiet();
    runtime rt{cfg};
    port = rt.connect(rt.spawn("echo", echo_service));
    port.post_message(1);
    REQUIRE(port.receive(seconds{10}));
    rt.stop(); // the connection ends with the runtime
    CHECK(rt.live_contexts() == 0);
  }
  CHECK(port.closed());
  port.post_message("nobody");
  CHECK_FALSE(port.receive(milliseconds{1}));
  port.close();
}
