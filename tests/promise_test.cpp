// Promises and abort signals ([promise], include/entangle/promise.hpp and
// abort.hpp): then returns a new promise (transformations, chaining,
// errors propagated and recovered), all/race/any, unhandled rejections,
// and the web's AbortController.

#include "support.hpp"

#include "entangle/testing/catch.hpp"

using namespace entangle;
using namespace entangle::test;
using entangle::testing::testkit;
using std::chrono::milliseconds;

namespace {

/// Records how `p` settles into `log`.
template <class T>
void record(const promise<T>& p, std::vector<std::string>& log,
            std::string tag) {
  p.then(
    [&log, tag](T& v) {
      if constexpr (std::is_same_v<T, value>) {
        log.push_back(tag + "=" + to_string(v));
      } else if constexpr (std::is_arithmetic_v<T>) {
        log.push_back(tag + "=" + std::to_string(v));
      } else {
        std::string s;
        for (auto x : v)
          s += std::to_string(x);
        log.push_back(tag + "=" + s);
      }
    },
    [&log, tag](const error_value& e) {
      log.push_back(tag + "!" + e.name + ": " + e.message);
    });
}

} // namespace

TEST_CASE("promise: then returns a new promise; values transform down the "
          "chain and promises returned are followed",
          "[promise]") {
  testkit kit;
  std::vector<std::string> log;
  kit.spawn("main", [&](context& self) {
    auto p = promise<int>::make();
    auto doubled = p.then([](int& x) { return x * 2; });
    auto text = doubled.then([](int& x) { return "n=" + std::to_string(x); });
    auto later = text.then([&self](std::string& s) {
      auto q = promise<value>::make();
      self.set_timeout([q, s] { q.resolve(s + "!"); }, milliseconds{5});
      return q;
    });
    auto nothing = later.then([](value&) {});
    record(doubled, log, "doubled");
    later.then([&log](value& v) { log.push_back("later=" + to_string(v)); });
    nothing.then([&log](value& v) { log.push_back("void=" + to_string(v)); });
    p.resolve(21);
  });
  kit.run();
  CHECK(log == lines{"doubled=42"});
  kit.advance(milliseconds{5});
  CHECK(log == lines{"doubled=42", "later=\"n=42!\"", "void=undefined"});
}

TEST_CASE("promise: errors propagate to the first error continuation, "
          "which may recover; exceptions reject the derived promise",
          "[promise]") {
  testkit kit;
  std::vector<std::string> log;
  kit.spawn("main", [&](context&) {
    auto p = promise<int>::make();
    auto skipped = p.then([&log](int& x) {
      log.push_back("never");
      return x + 1;
    });
    auto recovered = skipped.on_error([&log](const error_value& e) {
      log.push_back("caught " + e.name);
      return -1;
    });
    record(recovered, log, "recovered");
    auto thrown = recovered.then([](int&) -> int {
      throw dom_exception("DataError", "cannot use -1");
    });
    record(thrown, log, "thrown");
    auto std_thrown = recovered.then([](int&) -> int {
      throw std::runtime_error("plain");
    });
    record(std_thrown, log, "plain");
    // An error continuation returning nothing recovers with T{}.
    auto blank = promise<int>::rejected(error_value{"Error", "x"})
                   .then([](int& x) { return x; },
                         [](const error_value&) {});
    record(blank, log, "blank");
    p.reject(error_value{"RangeError", "bad"});
  });
  kit.run();
  CHECK(log
        == lines{"caught RangeError", "recovered=-1",
                 "thrown!DataError: cannot use -1", "plain!Error: plain",
                 "blank=0"});
}

TEST_CASE("promise: all, race and any", "[promise]") {
  testkit kit;
  std::vector<std::string> log;
  kit.spawn("main", [&](context& self) {
    auto later = [&self](int v, int ms, bool fail = false) {
      auto p = promise<int>::make();
      self.set_timeout(
        [p, v, fail] {
          if (fail)
            p.reject(error_value{"Error", "no " + std::to_string(v)});
          else
            p.resolve(v);
        },
        milliseconds{ms});
      return p;
    };
    all({later(1, 30), later(2, 10), later(3, 20)})
      .then([&log](std::vector<int>& xs) {
        std::string s;
        for (auto x : xs)
          s += std::to_string(x);
        log.push_back("all=" + s);
      });
    record(all({later(1, 5), later(2, 15, true), later(3, 25, true)}), log,
           "all-failed");
    record(race({later(7, 12), later(8, 8)}), log, "race");
    record(any({later(4, 3, true), later(5, 40), later(6, 35)}), log, "any");
    record(any({later(9, 1, true), later(10, 2, true)}), log, "none");
    record(any(std::vector<promise<int>>{}), log, "any-empty");
    all(std::vector<promise<value>>{}).then([&log](array& xs) {
      log.push_back("all-empty=" + std::to_string(xs.size()));
    });
  });
  kit.run();
  kit.advance(milliseconds{50});
  CHECK(log
        == lines{"any-empty!AggregateError: no promise to wait for",
                 "all-empty=0",
                 "none!AggregateError: every promise was rejected: "
                 "[Error: no 9] [Error: no 10]",
                 "race=8", "all-failed!Error: no 2", "all=123", "any=6"});
}

TEST_CASE("promise: a rejection nobody observes is reported; then on a "
          "null promise is a TypeError",
          "[promise]") {
  harness h{[](runtime_config& c) { c.warnings = true; }};
  h.run([&h](context&) {
    h.log.add(outcome([] { promise<value>{}.then([](value&) {}); }));
    // Observed: no report. Unobserved: one (checked by its not crashing:
    // the report goes to stderr).
    promise<value>::rejected(error_value{"Error", "seen"})
      .on_error([&h](const error_value& e) { h.log.add(e.message); });
    promise<value>::rejected(error_value{"Error", "unseen"});
  });
  CHECK(h.log.lines() == lines{"type_error:TypeError", "seen"});
  h.require_clean();
}

TEST_CASE("abort: a controller aborts its signal once, with a reason; "
          "listeners run in order; timeout signals use the context's timers",
          "[promise][abort]") {
  testkit kit;
  std::vector<std::string> log;
  abort_signal t; // a signal nobody holds is gone, listeners and all
  kit.spawn("main", [&](context&) {
    abort_controller c;
    auto sig = c.signal();
    log.push_back(yn(sig.aborted()));
    sig.on_abort([&log](const error_value& e) {
      log.push_back("1 " + e.name);
    });
    auto id = sig.on_abort([&log](const error_value&) { log.push_back("x"); });
    sig.on_abort([&log](const error_value& e) {
      log.push_back("2 " + e.message);
    });
    sig.remove_listener(id);
    c.abort(error_value{"AbortError", "stop"});
    c.abort(error_value{"Error", "ignored"});
    log.push_back(sig.reason()->message);
    log.push_back(outcome([&] { sig.throw_if_aborted(); }));
    log.push_back(std::to_string(sig.on_abort([](const error_value&) {})));
    log.push_back(yn(abort_signal{}.aborted()));
    this_context().set_timeout([] {}, milliseconds{100}); // keeps it alive
    t = abort_signal::timeout(milliseconds{20}); // (does not)
    t.on_abort([&log](const error_value& e) { log.push_back(e.name); });
  });
  kit.run();
  kit.advance(milliseconds{20});
  CHECK(log
        == lines{"false", "1 AbortError", "2 stop", "stop", "AbortError", "0",
                 "false", "TimeoutError"});
}

TEST_CASE("abort: a listener that throws does not keep the others from "
          "running; its exception is reported afterwards",
          "[promise][abort]") {
  testkit kit{[](runtime_config& cfg) { cfg.warnings = false; }};
  std::vector<std::string> log;
  kit.spawn("main", [&](context&) {
    abort_controller c;
    c.signal().on_abort([&log](const error_value&) {
      log.push_back("first");
      throw std::runtime_error("listener failed");
    });
    c.signal().on_abort([&log](const error_value&) { log.push_back("second"); });
    try {
      c.abort(error_value{"AbortError", "stop"});
    } catch (const std::runtime_error& e) {
      log.push_back(std::string{"caught "} + e.what());
    }
    log.push_back(yn(c.signal().aborted()));
  });
  kit.run();
  CHECK(log == lines{"first", "second", "caught listener failed", "true"});
}
