// RPC over ports (include/entangle/rpc.hpp), driven by the deterministic
// testkit: calls, errors, bad input, timeouts in virtual time, transfers and
// callbacks. Faults (a service that dies, release, misuse) are in
// rpc_faults_test.cpp.

#include "rpc_support.hpp"

#include <stdexcept>

using namespace entangle;
using namespace entangle::rpc_test;

namespace {

rpc::methods calculator() {
  return {
    {"add", [](double a, double b) { return a + b; }},
    {"concat",
     [](std::string a, std::int32_t n) {
       std::string out;
       for (std::int32_t i = 0; i < n; ++i)
         out += a;
       return out;
     }},
    {"fail", []() -> value { throw std::runtime_error("boom"); }},
    {"range",
     [](double x) -> value {
       throw dom_exception("RangeError", "out of range: " + std::to_string(x));
     }},
    {"host", [] { return value{host_object{"a socket"}}; }},
    {"where", [] { return this_context().name(); }},
  };
}

} // namespace

TEST_CASE("rpc: a call returns its result on the caller's event loop",
          "[rpc]") {
  testkit kit;
  strings log;
  kit.spawn("main", [&](context& self) {
    auto c = connect(self, calculator);
    auto calc = c.remote;
    calc.call("add", {2, 3}).then([&log, calc](value& v) {
      log.push_back("add=" + to_string(v) + " in " + this_context().name());
      calc.call("where").then([&log, calc](value& w) {
        log.push_back("where=" + to_string(w));
        calc.release();
      });
    });
    log.push_back("pending " + std::to_string(calc.pending_calls()));
  });
  kit.run();
  CHECK(log == strings{"pending 1", "add=5 in main", "where=\"service\""});
  check_all_ended(kit);
  CHECK(kit.drops().total() == 0);
}

TEST_CASE("rpc: errors from the service arrive with name and message, and "
          "it keeps serving",
          "[rpc]") {
  testkit kit;
  strings log;
  kit.spawn("main", [&](context& self) {
    auto calc = connect(self, calculator).remote;
    record(calc.call("fail"), log, "fail");
    record(calc.call("range", {7}), log, "range");
    record(calc.call("nope", {1}), log, "nope");
    record(calc.call("add", {1, "two"}), log, "add(1,'two')");
    record(calc.call("add", {1}), log, "add(1)");
    record(calc.call("concat", {"ab", 1.5}), log, "concat(ab,1.5)");
    record(calc.call("host"), log, "host");
    record(calc.call("concat", {"ab", 2}), log, "concat(ab,2)");
    calc.call("add", {20, 22}).then([&log, calc](value& v) {
      log.push_back("still serving: " + to_string(v));
      calc.release();
    });
  });
  kit.run();
  CHECK(log
        == strings{
          "fail!Error: boom",
          "range!RangeError: out of range: 7.000000",
          "nope!TypeError: 'nope' is not a method of this service (it has: "
          "add, concat, fail, host, range, where)",
          "add(1,'two')!TypeError: argument 2 of 'add' must be a number, got "
          "string",
          "add(1)!TypeError: 'add' takes 2 arguments, got 1",
          "concat(ab,1.5)!TypeError: argument 2 of 'concat' must be an "
          "integer in range, got number",
          "host!DataCloneError: the result of 'host' could not be sent: a "
          "socket could not be cloned",
          "concat(ab,2)=\"abab\"",
          "still serving: 42",
        });
  check_all_ended(kit);
}

TEST_CASE("rpc: arguments that cannot be posted reject the call and change "
          "nothing",
          "[rpc]") {
  testkit kit;
  strings log;
  kit.spawn("main", [&](context& self) {
    auto calc = connect(self, calculator).remote;
    message_channel kept;
    // A port in the arguments but not in the transfer list.
    record(calc.call("add", {kept.port2(), 1}), log, "port");
    record(calc.call("add", {host_object{"a file"}, 1}), log, "host");
    log.push_back(std::string{"kept usable: "}
                  + (kept.port2().detached() ? "no" : "yes"));
    kept.port1().close();
    calc.call("add", {1, 1}).then([&log, calc](value& v) {
      log.push_back("then " + to_string(v));
      calc.release();
    });
  });
  kit.run();
  REQUIRE(log.size() == 4);
  CHECK(log[0] == "kept usable: yes");
  CHECK(log[1].rfind("port!DataCloneError: call 'add' could not be sent: ", 0)
        == 0);
  CHECK(log[2]
        == "host!DataCloneError: call 'add' could not be sent: a file could "
           "not be cloned");
  CHECK(log[3] == "then 2");
  CHECK(kit.live_ports() == 0);
}

TEST_CASE("rpc: a call times out in virtual time; the late answer is "
          "discarded",
          "[rpc]") {
  testkit kit;
  strings log;
  rpc::remote calc;
  auto main_id = kit.spawn("main", [&](context& self) {
    calc
      = connect(self, [] {
          return rpc::methods{
            {"slow",
             [](double ms) {
               // Answers after `ms` of the service's own (virtual) time.
               auto p = rpc::promise::make();
               this_context().set_timeout([p] { p.resolve("late"); },
                                          milliseconds{static_cast<long>(ms)});
               return p;
             }},
          };
        }).remote;
    record(calc.call("slow", {200}, {milliseconds{100}, {}}), log, "slow");
    record(calc.call("slow", {50}, {milliseconds{100}, {}}), log, "quick");
  });
  kit.run();
  CHECK(log.empty());
  CHECK(calc.pending_calls() == 2);
  kit.advance(milliseconds{50});
  CHECK(log == strings{"quick=\"late\""});
  kit.advance(milliseconds{49});
  CHECK(log.size() == 1);
  kit.advance(milliseconds{1});
  CHECK(log
        == strings{"quick=\"late\"",
                   "slow!TimeoutError: call 'slow' got no answer within 100 "
                   "ms"});
  CHECK(calc.pending_calls() == 0);
  // The timeout cancelled the call at the service too: its late answer is
  // discarded there, never sent (rpc_typed_test.cpp, [cancel]).
  kit.advance(milliseconds{100});
  CHECK(log.size() == 2);
  CHECK(kit.deliveries().back().data["rpc"] == value{"cancel"});
  CHECK(kit.live_contexts() == 2); // main still holds the remote
  kit.inject(main_id, [&] { calc.release(); });
  kit.run();
  check_all_ended(kit);
}

TEST_CASE("rpc: arguments and results transfer buffers and ports", "[rpc]") {
  testkit kit;
  strings log;
  kit.spawn("main", [&](context& self) {
    auto svc = connect(self, [] {
                 return rpc::methods{
                   {"reverse",
                    [](array_buffer b) {
                      std::vector<std::uint8_t> r(b.bytes().rbegin(),
                                                  b.bytes().rend());
                      array_buffer out{std::move(r)};
                      return rpc::transfer(out, {out});
                    }},
                   {"greet",
                    [](message_port p, std::string who) {
                      p.post_message("hello " + who);
                      p.close();
                    }},
                 };
               }).remote;
    array_buffer buf{std::vector<std::uint8_t>{1, 2, 3}};
    svc.call("reverse", {buf}, {milliseconds{0}, {buf}}).then([&log](value& v) {
      auto& b = v.get<array_buffer>();
      log.push_back("reversed " + std::to_string(b.bytes().at(0))
                    + std::to_string(b.bytes().at(2)));
    });
    log.push_back(std::string{"sender's buffer detached: "}
                  + (buf.detached() ? "yes" : "no"));
    message_channel ch;
    ch.port1().on_message([&log, p = ch.port1()](message_event& ev) {
      log.push_back("port got " + to_string(ev.data));
      p.close();
    });
    svc.call("greet", {ch.port2(), "port"}, {milliseconds{0}, {ch.port2()}})
      .then([svc](value&) { svc.release(); });
  });
  kit.run();
  CHECK(log
        == strings{"sender's buffer detached: yes", "reversed 31",
                   "port got \"hello port\""});
  check_all_ended(kit);
  CHECK(kit.drops().total() == 0);
}

TEST_CASE("rpc: a callback argument is a proxy over a fresh channel", "[rpc]") {
  testkit kit;
  strings log;
  kit.spawn("main", [&](context& self) {
    auto svc = connect(self, [] {
                 return rpc::methods{
                   // Calls back twice, answers with the callbacks' sum.
                   {"twice",
                    [](rpc::remote cb, double x) {
                      auto out = rpc::promise::make();
                      cb({x}).then([cb, out, x](value& a) {
                        cb({x + 1}).then(
                          [cb, out, a](value& b) {
                            cb.release();
                            out.resolve(a.as_number() + b.as_number());
                          },
                          [cb, out](const error_value& e) {
                            cb.release();
                            out.reject(e);
                          });
                      });
                      return out;
                    }},
                   {"ignore",
                    [](rpc::invocation& inv) {
                      return inv.is_callback(0) ? "a callback" : "no";
                    }},
                 };
               }).remote;
    auto square = rpc::proxy([&log](double v) {
      log.push_back("callback(" + to_string(value{v}) + ") in "
                    + this_context().name());
      return v * v;
    });
    svc.call("twice", {square, 3}).then([&log, svc](value& v) {
      log.push_back("twice=" + to_string(v));
      svc.release();
    });
    // A callback the method does not take is released when it returns.
    svc.call("ignore", {rpc::proxy([] { return 0; })}).then([&log](value& v) {
      log.push_back("ignore=" + to_string(v));
    });
  });
  kit.run();
  CHECK(log
        == strings{"callback(3) in main", "ignore=\"a callback\"",
                   "callback(4) in main", "twice=25"});
  check_all_ended(kit);
}

TEST_CASE("rpc: a message that is not a call gets a TypeError when it has "
          "an id",
          "[rpc]") {
  testkit kit;
  strings log;
  kit.spawn("main", [&](context& self) {
    message_channel ch;
    auto w = self.spawn("service", [](context& ws) {
      ws.on_message([](message_event& ev) {
        rpc::expose(ev.ports.at(0), {{"one", [] { return 1; }}});
        ev.ports.at(0).add_event_listener(
          "close", [](message_event&) { this_context().close(); });
      });
    });
    w.post_message("connect", {ch.port2()});
    auto raw = ch.port1();
    raw.on_message([&log, raw](message_event& ev) {
      auto& d = ev.data;
      auto kind = d["rpc"].as_string();
      log.push_back(kind + " " + to_string(d["id"]) + " "
                    + (kind == "throw" ? d["error"]["name"].as_string() + ": "
                                           + d["error"]["message"].as_string()
                                       : to_string(d["value"])));
      if (ev.data["id"] == value{2})
        raw.close();
    });
    raw.post_message("just a string");                          // ignored
    raw.post_message(value::obj({{"rpc", "call"}, {"id", 1}})); // no method
    raw.post_message(value::obj({{"rpc", "call"},
                                 {"id", 2},
                                 {"method", "one"},
                                 {"args", value::arr({})}}));
  });
  kit.run();
  CHECK(log
        == strings{"throw 1 TypeError: malformed rpc call (expected {rpc: "
                   "\"call\", id: number, method: string, args: array})",
                   "return 2 1"});
  check_all_ended(kit);
}

TEST_CASE("rpc: promises settle once; continuations run in order, and after "
          "settlement as a task",
          "[rpc]") {
  testkit kit;
  strings log;
  kit.spawn("main", [&](context& self) {
    auto p = rpc::promise::make();
    p.then([&](value& v) { log.push_back("first " + to_string(v)); });
    p.then([&](value& v) { log.push_back("second " + to_string(v)); },
           [&](const error_value&) { log.push_back("never"); });
    log.push_back(std::string{"pending "} + (p.pending() ? "yes" : "no"));
    p.resolve(1); // runs both, here, in order
    p.resolve(2); // ignored: the first settlement wins
    p.reject(error_value{"Error", "late"});
    log.push_back("fulfilled with " + to_string(*p.result()));
    p.then([&](value& v) { log.push_back("late then " + to_string(v)); });
    log.push_back("after then"); // the late continuation runs as a task
    auto r = rpc::promise::make_rejected(error_value{"RangeError", "no"});
    r.on_error([&](const error_value& e) {
      log.push_back("rejected " + e.name + " " + e.message);
    });
    log.push_back(std::string{"rejected "} + (r.rejected() ? "yes" : "no")
                  + ", error " + r.error()->message);
    self.queue_task([&] { log.push_back("queued task"); });
  });
  kit.run();
  CHECK(log
        == strings{"pending yes", "first 1", "second 1", "fulfilled with 1",
                   "after then", "rejected yes, error no", "late then 1",
                   "rejected RangeError no", "queued task"});
  check_all_ended(kit);
}

TEST_CASE("rpc: answers are not refused by the caller's hard limit: a caller "
          "with a mark of 1 that makes 10 calls in one task gets 10 answers",
          "[rpc][flow]") {
  testkit kit;
  strings log;
  kit.spawn("main", [&](context& self) {
    message_channel ch;
    // The caller reads answers on port1: at most one unread, hard limit 1.
    ch.port1().set_high_water_mark(high_water_mark{1, 0, 1});
    auto w = self.spawn("service", [](context& ws) {
      ws.on_message([](message_event& ev) {
        auto port = ev.ports.at(0);
        rpc::expose(port, calculator());
        port.add_event_listener("close",
                                [](message_event&) { this_context().close(); });
      });
    });
    w.post_message("connect", {ch.port2()});
    auto calc = rpc::wrap(ch.port1());
    auto left = std::make_shared<int>(10);
    for (int i = 0; i < 10; ++i)
      calc.call("add", {i, 100}).then(
        [&log, calc, left](value& v) {
          log.push_back(to_string(v));
          if (--*left == 0)
            calc.release();
        },
        [&log](const error_value& e) { log.push_back(e.name); });
  });
  kit.run();
  CHECK(log
        == strings{"100", "101", "102", "103", "104", "105", "106", "107",
                   "108", "109"});
  for (auto& e : kit.rt().exits())
    CHECK(e.kind != exit_kind::exception);
  check_all_ended(kit);
}
