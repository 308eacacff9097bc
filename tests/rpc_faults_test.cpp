// RPC faults (include/entangle/rpc.hpp): a service that ends or closes
// mid-call, release, misuse from the wrong context, and calls over the
// threaded runtime.

#include "rpc_support.hpp"

#include <atomic>
#include <mutex>

using namespace entangle;
using namespace entangle::rpc_test;

namespace {

rpc::methods hanging() {
  return {{"hang", [] { return rpc::promise::make(); }}}; // never answers
}

constexpr const char* service_gone
  = "call 'hang' was aborted: the service's port closed (released by the "
    "service, or its context ended)";

} // namespace

TEST_CASE("rpc: a service that ends or closes mid-call fails every pending "
          "call",
          "[rpc]") {
  testkit kit;
  strings log;
  connection c;
  kit.spawn("main", [&](context& self) {
    c = connect(self, hanging);
    record(c.remote.call("hang"), log, "first");
    record(c.remote.call("hang"), log, "second");
  });
  kit.run();
  CHECK(c.remote.pending_calls() == 2);
  CHECK(log.empty());
  SECTION("terminated") {
    kit.terminate(c.service.id());
  }
  SECTION("crashed") {
    kit.crash(c.service.id(), "out of memory");
  }
  SECTION("its port closed") {
    kit.close_port(*c.service_port);
  }
  kit.run();
  CHECK(log
        == strings{std::string{"first!AbortError: "} + service_gone,
                   std::string{"second!AbortError: "} + service_gone});
  CHECK(c.remote.closed());
  CHECK(c.remote.pending_calls() == 0);
  // With only its port closed the worker lives on (it is its parent's).
  kit.terminate(c.service.id());
  kit.run();
  check_all_ended(kit);
}

TEST_CASE("rpc: release aborts pending calls, closes the port, and later "
          "calls fail",
          "[rpc]") {
  testkit kit;
  strings log;
  kit.spawn("main", [&](context& self) {
    auto calc = connect(self, hanging).remote;
    record(calc.call("hang"), log, "hang");
    calc.release();
    calc.release(); // idempotent
    record(calc.call("hang"), log, "after");
    log.push_back(std::string{"closed "} + (calc.closed() ? "yes" : "no"));
  });
  kit.run();
  CHECK(log
        == strings{"hang!AbortError: call 'hang' was aborted: the remote was "
                   "released",
                   "closed yes",
                   "after!InvalidStateError: call 'hang' on a closed remote "
                   "(it was released, or its service's port closed)"});
  // The service saw the close and ended with its worker.
  CHECK(kit.deliveries().back().type == "close");
  check_all_ended(kit);
}

TEST_CASE("rpc: a caller that ends with calls pending leaves nothing behind",
          "[rpc]") {
  testkit kit;
  auto sentinel = std::make_shared<int>(0);
  std::weak_ptr<int> watch = sentinel;
  connection c;
  auto main_id = kit.spawn("main", [&, sentinel](context& self) {
    c = connect(self, hanging);
    auto calc = c.remote;
    // The continuation holds the remote and the sentinel: no cycle through
    // the remote's own pending calls may keep them once main is gone.
    calc.call("hang").then([calc, sentinel](value&) { calc.release(); },
                           [calc, sentinel](const error_value&) {});
  });
  kit.run();
  CHECK(c.remote.pending_calls() == 1);
  kit.terminate(main_id); // the worker goes with its parent
  kit.run();
  CHECK(c.remote.closed());
  CHECK(c.remote.pending_calls() == 0);
  sentinel.reset();
  CHECK(watch.expired());
  check_all_ended(kit);
}

TEST_CASE("rpc: a remote and its port are capabilities of one context",
          "[rpc]") {
  testkit kit;
  strings log;
  rpc::remote calc;
  message_port foreign;
  auto main_id = kit.spawn("main", [&](context& self) {
    auto c = connect(self, [] {
      return rpc::methods{{"one", [] { return 1; }}};
    });
    calc = c.remote;
    message_channel ch;
    foreign = ch.port1();
    ch.port2().close();
    self.spawn("other", [&](context&) {
      // Another context may neither call main's remote nor wrap or expose
      // main's port.
      record(calc.call("one"), log, "foreign call");
      for (auto op : {"wrap", "expose"}) {
        try {
          if (std::string{op} == "wrap")
            rpc::wrap(foreign);
          else
            rpc::expose(foreign, {});
        } catch (const dom_exception& e) {
          log.push_back(std::string{op} + ": " + e.what());
        }
      }
    });
    try {
      rpc::wrap(message_port{});
    } catch (const type_error& e) {
      log.push_back(e.what());
    }
  });
  kit.run();
  CHECK(log
        == strings{"TypeError: rpc::wrap: null message_port",
                   "wrap: InvalidStateError: rpc::wrap: the port belongs to "
                   "another context",
                   "expose: InvalidStateError: rpc::expose: the port belongs "
                   "to another context",
                   "foreign call!InvalidStateError: call 'one' from a context "
                   "that does not own the remote"});
  // The remote still works for its owner.
  kit.inject(main_id, [&] {
    calc.call("one").then([&](value& v) {
      log.push_back("owner call=" + to_string(v));
      calc.release();
      foreign.close();
      this_context().close(); // and "other", its worker, with it
    });
  });
  kit.run();
  CHECK(log.back() == "owner call=1");
  check_all_ended(kit);
}

TEST_CASE("rpc: concurrent calls over the threaded runtime", "[rpc]") {
  runtime_config cfg;
  cfg.warnings = false;
  runtime rt{cfg};
  constexpr int calls = 200;
  std::mutex mu;
  std::vector<double> answers;
  std::atomic<int> errors{0};
  rt.spawn("main", [&](context& self) {
    auto calc = connect(self, [] {
                  return rpc::methods{
                    {"square", [](double x) { return x * x; }},
                  };
                }, milliseconds{10000}).remote;
    auto left = std::make_shared<int>(calls);
    for (int i = 0; i < calls; ++i)
      calc.call("square", {i}).then(
        [&, calc, left](value& v) {
          {
            std::lock_guard<std::mutex> guard{mu};
            answers.push_back(v.as_number());
          }
          if (--*left == 0)
            calc.release();
        },
        [&, calc, left](const error_value&) {
          ++errors;
          if (--*left == 0)
            calc.release();
        });
  });
  REQUIRE(rt.run_for(std::chrono::seconds{30}));
  CHECK(errors == 0);
  REQUIRE(answers.size() == static_cast<std::size_t>(calls));
  // Answers come back in call order: one port, FIFO both ways.
  for (int i = 0; i < calls; ++i)
    CHECK(answers[static_cast<std::size_t>(i)] == double(i) * i);
  CHECK(rt.live_ports() == 0);
  CHECK(rt.drops().total() == 0);
}
