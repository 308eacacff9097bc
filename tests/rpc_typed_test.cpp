// RPC you can ship (issue #15, point 4): typed arguments and results (any
// type post_typed accepts), cancellation that reaches the service (an abort
// signal in the call, the handler observes it, its late result is
// discarded and counted), a timeout that cancels the call, promise chains
// and combinators over calls, and a method returning a stream.

#include "rpc_support.hpp"

#include <cstdint>

using namespace entangle;
using namespace entangle::rpc_test;

namespace rpc_types {

struct vec2 {
  double x = 0;
  double y = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, vec2& v) {
  return f(caf::meta::type_name("rpc_types::vec2"), v.x, v.y);
}

struct tag {
  std::string name;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, tag& t) {
  return f(caf::meta::type_name("rpc_types::tag"), t.name);
}

// Inspectable, never registered.
struct unlisted {
  std::int32_t n = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, unlisted& u) {
  return f(caf::meta::type_name("rpc_types::unlisted"), u.n);
}

} // namespace rpc_types

using rpc_types::tag;
using rpc_types::unlisted;
using rpc_types::vec2;

namespace {

void register_types(runtime_config& cfg) {
  cfg.add_message_type<vec2>("rpc_types::vec2");
  cfg.add_message_type<tag>("rpc_types::tag");
}

std::string show(const vec2& v) {
  return "(" + std::to_string(static_cast<int>(v.x)) + ","
         + std::to_string(static_cast<int>(v.y)) + ")";
}

template <class T>
void record_as(const promise<T>& p, strings& log, std::string what,
               std::function<std::string(T&)> render) {
  p.then([&log, what, render](T& v) { log.push_back(what + "=" + render(v)); },
         [&log, what](const error_value& e) {
           log.push_back(what + "!" + e.name + ": " + e.message);
         });
}

/// A method answering after `ms` (virtual time) with `x`, recording what
/// its abort signal says into `seen`.
rpc::methods slow_service(std::shared_ptr<strings> seen) {
  return {
    {"work",
     [seen](double ms, abort_signal sig) {
       auto p = promise<value>::make();
       sig.on_abort([seen](const error_value& e) {
         seen->push_back("service saw " + e.name + ": " + e.message);
       });
       this_context().set_timeout([p] { p.resolve("done"); },
                                  milliseconds{static_cast<long>(ms)});
       return p;
     }},
    {"oblivious",
     [](double ms) {
       auto p = promise<value>::make();
       this_context().set_timeout([p] { p.resolve("done"); },
                                  milliseconds{static_cast<long>(ms)});
       return p;
     }},
  };
}

/// A connection whose service handle the test can read.
struct served {
  rpc::remote remote;
  std::shared_ptr<rpc::service> service = std::make_shared<rpc::service>();
};

served serve(context& self, std::function<rpc::methods()> make) {
  message_channel ch;
  served s;
  auto handle = s.service;
  auto w = self.spawn("service", [make, handle](context& ws) {
    ws.on_message([make, handle](message_event& ev) {
      auto port = ev.ports.at(0);
      *handle = rpc::expose(port, make());
      port.add_event_listener("close",
                              [](message_event&) { this_context().close(); });
    });
  });
  w.post_message("connect", {ch.port2()});
  s.remote = rpc::wrap(ch.port1());
  return s;
}

} // namespace

TEST_CASE("rpc: typed arguments and results travel as the caller's and the "
          "service's own C++ types",
          "[rpc][typed]") {
  testkit kit{register_types};
  strings log;
  kit.spawn("main", [&](context& self) {
    auto c = connect(self, [] {
      return rpc::methods{
        {"scale", [](vec2 v, double k) { return vec2{v.x * k, v.y * k}; }},
        {"label", [](vec2 v, tag t) { return t.name + show(v); }},
        {"norm1", [](vec2 v) { return v.x + v.y; }},
      };
    });
    auto r = c.remote;
    record_as<vec2>(r.call<vec2>("scale", {vec2{1, 2}, 3}), log, "scale",
                    show);
    record_as<std::string>(r.call<std::string>("label",
                                               {vec2{4, 5}, tag{"p"}}),
                           log, "label", [](std::string& s) { return s; });
    record_as<double>(r.call<double>("norm1", {vec2{6, 7}}), log, "norm1",
                      [](double& d) { return std::to_string(int(d)); });
    // Wrong types: a TypeError naming what was expected and what came.
    record_as<double>(r.call<double>("scale", {vec2{1, 1}, 2}), log,
                      "scale as number",
                      [](double& d) { return std::to_string(d); });
    record_as<vec2>(r.call<vec2>("scale", {tag{"x"}, 2}), log,
                    "scale(tag)", show);
    record_as<vec2>(r.call<vec2>("scale", {unlisted{1}, 2}), log,
                    "scale(unlisted)", show);
    r.call("norm1", {vec2{0, 1}}).then([&log, r](value&) {
      log.push_back("still serving");
      r.release();
    });
  });
  kit.run();
  CHECK(log
        == strings{
          "scale(unlisted)!DataCloneError: call 'scale': an argument could "
          "not be encoded: rpc_types.unlisted is not registered as a message "
          "type: call runtime_config::add_message_type<T>(\"portable::name\") "
          "before starting the runtime",
          "scale=(3,6)", "label=p(4,5)", "norm1=13",
          "scale as number!TypeError: the result of 'scale' must be a "
          "number, got a typed rpc_types::vec2",
          "scale(tag)!TypeError: argument 1 of 'scale' must be a typed "
          "rpc_types::vec2, got a typed rpc_types::tag",
          "still serving"});
  check_all_ended(kit);
}

TEST_CASE("rpc: an abort signal cancels the call; the service's handler "
          "sees the reason and its late result is discarded and counted",
          "[rpc][cancel]") {
  testkit kit;
  strings log;
  auto seen = std::make_shared<strings>();
  served s;
  abort_controller ctl;
  auto main_id = kit.spawn("main", [&](context& self) {
    s = serve(self, [seen] { return slow_service(seen); });
    rpc::call_options opts;
    opts.signal = ctl.signal();
    record(s.remote.call("work", {100}, opts), log, "work");
    rpc::call_options quiet;
    quiet.signal = ctl.signal();
    record(s.remote.call("oblivious", {100}, quiet), log, "oblivious");
    // An already aborted signal sends nothing.
    rpc::call_options dead;
    dead.signal = abort_signal::aborted_with(
      error_value{"AbortError", "never mind"});
    record(s.remote.call("work", {1}, dead), log, "dead");
  });
  kit.run();
  CHECK(log == strings{"dead!AbortError: never mind"});
  CHECK(s.remote.pending_calls() == 2);
  CHECK(s.service->active_calls() == 2);
  kit.advance(milliseconds{10});
  kit.inject(main_id, [&] {
    ctl.abort(error_value{"AbortError", "the user left"});
  });
  kit.run();
  CHECK(log
        == strings{"dead!AbortError: never mind",
                   "work!AbortError: the user left",
                   "oblivious!AbortError: the user left"});
  CHECK(*seen == strings{"service saw AbortError: the user left"});
  CHECK(s.service->cancelled_calls() == 2);
  CHECK(s.service->active_calls() == 0);
  CHECK(s.service->discarded_results() == 0);
  kit.advance(milliseconds{100}); // both results come: discarded there
  CHECK(s.service->discarded_results() == 2);
  CHECK(s.remote.late_answers() == 0); // nothing was sent
  CHECK(log.size() == 3);
  kit.inject(main_id, [&] { s.remote.release(); });
  kit.run();
  check_all_ended(kit);
}

TEST_CASE("rpc: a call that times out cancels itself at the service",
          "[rpc][cancel]") {
  testkit kit;
  strings log;
  auto seen = std::make_shared<strings>();
  served s;
  auto main_id = kit.spawn("main", [&](context& self) {
    s = serve(self, [seen] { return slow_service(seen); });
    record(s.remote.call("work", {200}, {milliseconds{50}, {}, {}}), log,
           "work");
    record(s.remote.call("work", {20}, {milliseconds{50}, {}, {}}), log,
           "quick");
  });
  kit.run();
  kit.advance(milliseconds{50});
  CHECK(log
        == strings{"quick=\"done\"",
                   "work!TimeoutError: call 'work' got no answer within 50 "
                   "ms"});
  CHECK(*seen
        == strings{"service saw TimeoutError: call 'work' got no answer "
                   "within 50 ms"});
  CHECK(s.service->cancelled_calls() == 1);
  kit.advance(milliseconds{200});
  CHECK(s.service->discarded_results() == 1);
  CHECK(s.remote.late_answers() == 0);
  kit.inject(main_id, [&] { s.remote.release(); });
  kit.run();
  check_all_ended(kit);
}

TEST_CASE("rpc: an answer that crosses the cancel is discarded at the caller "
          "and counted",
          "[rpc][cancel]") {
  testkit kit;
  strings log;
  served s;
  auto main_id = kit.spawn("main", [&](context& self) {
    s = serve(self, [] {
      return rpc::methods{{"now", [] { return 1; }}};
    });
    abort_controller ctl;
    rpc::call_options opts;
    opts.signal = ctl.signal();
    record(s.remote.call("now", {}, opts), log, "now");
    // Aborted in the same task: the service answers before it reads the
    // cancel, and the answer finds the call gone.
    ctl.abort();
  });
  kit.run();
  CHECK(log == strings{"now!AbortError: the operation was aborted"});
  CHECK(s.remote.late_answers() == 1);
  CHECK(s.service->cancelled_calls() == 0); // it had answered already
  kit.inject(main_id, [&] { s.remote.release(); });
  kit.run();
  check_all_ended(kit);
}

TEST_CASE("rpc: typed results chain with then and combine with all, race "
          "and any",
          "[rpc][promise]") {
  testkit kit{register_types};
  strings log;
  kit.spawn("main", [&](context& self) {
    auto r = connect(self, [] {
               return rpc::methods{
                 {"add", [](double a, double b) { return a + b; }},
                 {"fail", []() -> value { throw std::runtime_error("no"); }},
                 {"origin", [] { return vec2{0, 0}; }},
               };
             }).remote;
    r.call<double>("add", {1, 2})
      .then([r](double& x) { return r.call<double>("add", {x, 10}); })
      .then([](double& x) { return vec2{x, -x}; })
      .then([&log, r](vec2& v) {
        log.push_back("chain " + show(v));
        r.release();
      });
    r.call<vec2>("fail")
      .then([&log](vec2&) { log.push_back("not reached"); })
      .then([](value&) {},
            [&log](const error_value& e) {
              log.push_back("propagated " + e.name + ": " + e.message);
            });
    all(std::vector<promise<double>>{r.call<double>("add", {1, 1}),
                                     r.call<double>("add", {2, 2})})
      .then([&log](std::vector<double>& xs) {
        log.push_back("all " + std::to_string(int(xs[0])) + ","
                      + std::to_string(int(xs[1])));
      });
    any(std::vector<promise<double>>{
          r.call<double>("fail"), r.call<double>("add", {5, 5})})
      .then([&log](double& x) {
        log.push_back("any " + std::to_string(int(x)));
      });
    race(std::vector<promise<double>>{r.call<double>("fail"),
                                      r.call<double>("add", {0, 0})})
      .then([&log](double&) { log.push_back("race won by a value"); },
            [&log](const error_value& e) {
              log.push_back("race lost: " + e.message);
            });
  });
  kit.run();
  CHECK(log
        == strings{"propagated Error: no", "all 2,4", "any 10",
                   "race lost: no", "chain (13,-13)"});
  check_all_ended(kit);
}

TEST_CASE("rpc: a method returns a stream for a long result, written as "
          "the caller's credit allows",
          "[rpc][stream]") {
  testkit kit{register_types};
  std::vector<double> got;
  std::vector<std::string> points;
  strings log;
  kit.spawn("main", [&](context& self) {
    auto r = connect(self, [] {
               return rpc::methods{
                 {"count",
                  [](double n) {
                    auto s = make_stream<value>({high_water_mark{4}});
                    auto w = s.writable;
                    auto pump = std::make_shared<std::function<void(int)>>();
                    std::weak_ptr<std::function<void(int)>> weak = pump;
                    *pump = [w, weak, n](int i) {
                      while (i < n)
                        if (!w.write(i++)) {
                          w.ready().then([again = weak.lock(), i](value&) {
                            (*again)(i);
                          });
                          return;
                        }
                      w.close();
                    };
                    (*pump)(0);
                    return s.readable;
                  }},
                 {"path",
                  [](double n) {
                    auto s = make_stream<vec2>({high_water_mark{2}});
                    for (int i = 0; i < n; ++i)
                      s.writable.write(vec2{double(i), double(i * i)});
                    s.writable.close();
                    return s.readable;
                  }},
               };
             }).remote;
    r.call<readable_stream<value>>("count", {1000})
      .then([&](readable_stream<value>& in) {
        return in.for_each([&](value& v) { got.push_back(v.as_number()); });
      })
      .then([&, r](value&) {
        log.push_back("count closed");
        return r.call<readable_stream<vec2>>("path", {3});
      })
      .then([&](readable_stream<vec2>& in) {
        return in.for_each([&](vec2& v) { points.push_back(show(v)); });
      })
      .then([&log, r](value&) {
        log.push_back("path closed");
        r.release();
      });
  });
  kit.run();
  CHECK(log == strings{"count closed", "path closed"});
  REQUIRE(got.size() == 1000);
  for (int i = 0; i < 1000; ++i)
    CHECK(got[i] == i);
  CHECK(points == strings{"(0,0)", "(1,1)", "(2,4)"});
  check_all_ended(kit);
}

TEST_CASE("rpc: a stream argument of a call that could not be sent stays "
          "the caller's",
          "[rpc][stream]") {
  // The stream is encoded first (its port handed out), then the second
  // argument fails to encode: nothing is sent, and the stream is readable
  // again -- here it goes with the next call, which sums it.
  testkit kit{register_types};
  strings log;
  kit.spawn("main", [&](context& self) {
    auto r = connect(self, [] {
               return rpc::methods{
                 {"sum",
                  [](readable_stream<value> in, double k) {
                    auto total = std::make_shared<double>(0);
                    return in
                      .for_each([total](value& v) { *total += v.as_number(); })
                      .then([total, k](value&) { return value{*total * k}; });
                  }},
               };
             }).remote;
    auto s = make_stream<value>({high_water_mark{8}});
    record_as<double>(r.call<double>("sum", {s.readable, unlisted{1}}), log,
                      "bad", [](double& d) { return std::to_string(int(d)); });
    log.push_back("locked " + std::string{s.readable.locked() ? "yes" : "no"});
    r.call<double>("sum", {s.readable, 2}).then([&log, r](double& d) {
      log.push_back("sum=" + std::to_string(int(d)));
      r.release();
    });
    for (int i = 1; i <= 3; ++i)
      s.writable.write(i);
    s.writable.close();
  });
  kit.run();
  REQUIRE(log.size() == 3);
  CHECK(log[0] == "locked no"); // the rejection is reported later
  CHECK(log[1].rfind("bad!DataCloneError: call 'sum': an argument could not "
                     "be encoded",
                     0)
        == 0);
  CHECK(log[2] == "sum=12");
  check_all_ended(kit);
}
