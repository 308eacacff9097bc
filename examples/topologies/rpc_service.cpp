// RPC over ports: a worker exposes a key-value store, a window calls it.
//
// The page window spawns a dedicated worker, creates a MessageChannel and
// transfers port2 to the worker, which exposes a `kv_store` on it
// (rpc::expose). The page wraps port1 (rpc::wrap) and calls the store:
// puts, reads, an update through a callback the worker calls back (an
// rpc::proxy), and three bad calls (a missing key, an unknown method, a
// wrong argument type) that come back as errors while the store keeps
// serving. Every call has a timeout on the page's timers, and the page
// checks every answer. Run:
//   build/examples/entangle-run rpc-service --messages=N
//   build/examples/rpc_service --messages=N

#include <atomic>
#include <map>
#include <memory>
#include <string>

#include "common.hpp"

namespace entangle::examples {

namespace {

/// Calls the page makes besides one put per key: size, get, update, three
/// bad calls and the final get.
constexpr std::uint64_t other_calls = 7;

// -- the service (runs in the worker)
// ------------------------------------------

/// A key-value store; its methods are exposed one by one.
class kv_store : public std::enable_shared_from_this<kv_store> {
public:
  /// Returns whether `key` is new.
  bool put(const std::string& key, value v) {
    return entries_.insert_or_assign(key, std::move(v)).second;
  }

  value get(const std::string& key) const {
    auto i = entries_.find(key);
    if (i == entries_.end())
      throw dom_exception("NotFoundError", fmt::format("no key '{}'", key));
    return i->second;
  }

  double size() const {
    return static_cast<double>(entries_.size());
  }

  /// Replaces the value of `key` with what the caller's `fn` makes of it
  /// (a callback: it runs in the caller's context) and returns it.
  rpc::promise update(const std::string& key, rpc::remote fn) {
    auto current = get(key);
    auto done = rpc::promise::make();
    fn({current}).then(
      [this, keep = shared_from_this(), key, fn, done](value& v) {
        entries_[key] = v;
        fn.release();
        done.resolve(v);
      },
      [fn, done](const error_value& e) {
        fn.release();
        done.reject(e);
      });
    return done;
  }

private:
  std::map<std::string, value> entries_;
};

void kv_worker(context& self, bool v) {
  self.on_message([v](message_event& ev) {
    auto store = std::make_shared<kv_store>();
    rpc::expose(ev.ports.at(0),
                {{"put", rpc::bind(store, &kv_store::put)},
                 {"get", rpc::bind(store, &kv_store::get)},
                 {"size", rpc::bind(store, &kv_store::size)},
                 {"update", rpc::bind(store, &kv_store::update)}});
    say(v, "exposing the store on the port it was given");
  });
}

// -- the caller (runs in the page window)
// ----------------------------------------

/// What the page checked (read after the run).
struct verdict {
  std::atomic<std::size_t> passed{0};
  std::atomic<std::size_t> failed{0};
  std::atomic<bool> finished{false};
};

struct session : std::enable_shared_from_this<session> {
  rpc::remote kv;
  rpc::call_options opts;
  std::size_t keys = 0;
  std::shared_ptr<verdict> result;
  progress* prog = nullptr;
  bool verbose = true;

  /// One answered call (a value, or the error it should be), checked;
  /// `answered` is false for a check over answers counted already.
  void check(bool ok, const std::string& what, bool answered = true) {
    if (answered)
      ++prog->delivered;
    (ok ? result->passed : result->failed)++;
    say(verbose || !ok, "{} {}", ok ? "ok  " : "FAIL", what);
  }

  rpc::promise call(std::string_view method, std::vector<rpc::argument> args) {
    return kv.call(method, std::move(args), opts);
  }

  /// Fails the check if the call errs where it should have answered.
  rpc::promise::error_fn unexpected(std::string what) {
    return [this, keep = shared_from_this(), what](const error_value& e) {
      check(false, fmt::format("{}: {}: {}", what, e.name, e.message));
      finish();
    };
  }

  void start() {
    auto left = std::make_shared<std::size_t>(keys);
    auto fresh = std::make_shared<std::size_t>(0);
    for (std::size_t i = 0; i < keys; ++i)
      call("put", {fmt::format("key{}", i), static_cast<double>(i * i)})
        .then(
          [this, keep = shared_from_this(), left, fresh](value& v) {
            ++prog->delivered;
            *fresh += v == value{true} ? 1 : 0;
            if (--*left == 0) {
              check(*fresh == keys, fmt::format("put {} new keys", *fresh),
                    false);
              read_back();
            }
          },
          unexpected("put"));
  }

  void read_back() {
    call("size", {})
      .then(
        [this, keep = shared_from_this()](value& n) {
          check(n == value{keys}, "size() = " + to_string(n));
          auto k = keys / 2;
          call("get", {fmt::format("key{}", k)})
            .then(
              [this, keep = shared_from_this(), k](value& v) {
                check(v == value{k * k},
                      fmt::format("get(key{}) = {}", k, to_string(v)));
                update();
              },
              unexpected("get"));
        },
        unexpected("size"));
  }

  void update() {
    auto plus = rpc::proxy([v = verbose](double x) {
      say(v, "callback: the worker asked for f({})", x);
      return x + 100;
    });
    call("update", {"key2", plus})
      .then(
        [this, keep = shared_from_this()](value& v) {
          check(v == value{104}, "update(key2, v + 100) = " + to_string(v));
          bad_calls();
        },
        unexpected("update"));
  }

  void bad_calls() {
    auto left = std::make_shared<int>(3);
    auto expect_error = [this, keep = shared_from_this(),
                         left](std::string what, std::string name) {
      return [this, keep = shared_from_this(), left, what,
              name](const error_value& e) {
        check(e.name == name,
              fmt::format("{} fails: {}: {}", what, e.name, e.message));
        if (--*left == 0)
          still_serving();
      };
    };
    auto unexpected_value
      = [this, keep = shared_from_this()](std::string what) {
          return [this, keep = shared_from_this(), what](value& v) {
            check(false, what + " answered " + to_string(v));
            finish();
          };
        };
    call("get", {"nope"})
      .then(unexpected_value("get(nope)"),
            expect_error("get(nope)", "NotFoundError"));
    call("drop_table", {})
      .then(unexpected_value("drop_table()"),
            expect_error("drop_table()", "TypeError"));
    call("put", {42, "x"})
      .then(unexpected_value("put(42, x)"),
            expect_error("put(42, x)", "TypeError"));
  }

  void still_serving() {
    call("get", {"key2"})
      .then(
        [this, keep = shared_from_this()](value& v) {
          check(v == value{104},
                "the store still serves: get(key2) = " + to_string(v));
          finish();
        },
        unexpected("get after errors"));
  }

  void finish() {
    result->finished = true;
    say(verbose, "releasing the store; closing the page");
    kv.release();
    this_context().close();
  }
};

void page(context& self, const params& p, std::shared_ptr<verdict> result,
          progress& prog) {
  bool v = p.verbose;
  auto w = self.spawn("kv-worker", [v](context& c) { kv_worker(c, v); });
  message_channel channel;
  w.post_message("serve the store on this port", {channel.port2()});
  auto s = std::make_shared<session>();
  s->kv = rpc::wrap(channel.port1());
  // Each call times out well before the whole run would.
  s->opts.timeout = p.timeout / 2;
  s->keys = p.messages;
  s->result = std::move(result);
  s->prog = &prog;
  s->verbose = v;
  say(v, "calling the store with {} ms per call", s->opts.timeout.count());
  s->start(); // the session lives on in the continuations of its calls
}

outcome run(runtime& rt, const params& p, progress& prog) {
  auto result = std::make_shared<verdict>();
  rt.open_window("page", "https://app.example",
                 [&p, result, &prog](context& self) {
                   page(self, p, result, prog);
                 });
  outcome out;
  out.channels = 3; // the store's channel, the callback's, the worker's
  out.expected = p.messages + other_calls;
  if (!begin_checks(rt, p, prog, out))
    return out;
  expect(out, result->finished, "the page never finished its calls");
  expect(out, result->failed == 0,
         fmt::format("{} of {} checks failed", result->failed.load(),
                     result->passed + result->failed));
  end_checks(rt, out,
             fmt::format("{} calls answered, {} checks passed (3 expected "
                         "errors the store survived)",
                         out.delivered, result->passed.load()));
  return out;
}

} // namespace

topology rpc_service_topology() {
  return {"rpc-service",
          "rpc-service: a worker exposes a key-value store over RPC, a "
          "window calls it (callbacks, errors, timeouts)",
          "messages: keys the page puts; size and payload: unused", 2, 10,
          run};
}

} // namespace entangle::examples
