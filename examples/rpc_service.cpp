// RPC over ports: a worker exposes a key-value store, a window calls it.
//
// The page window spawns a dedicated worker, creates a MessageChannel and
// transfers port2 to the worker, which exposes a `kv_store` on it
// (rpc::expose). The page wraps port1 (rpc::wrap) and calls the store:
// puts, reads, an update through a callback the worker calls back (an
// rpc::proxy), and three bad calls (a missing key, an unknown method, a
// wrong argument type) that come back as errors while the store keeps
// serving. Every call has a timeout on the page's timers. The page checks
// every answer and exits non-zero on any mismatch, drop or leak. Run:
//   build/examples/rpc_service [--keys=N] [--timeout-ms=MS]

#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include <fmt/format.h>

#include "entangle/all.hpp"

using namespace entangle;

namespace {

std::mutex out_mu;

template <class... Ts>
void say(fmt::format_string<Ts...> f, Ts&&... xs) {
  auto& ctx = this_context();
  std::lock_guard<std::mutex> guard{out_mu};
  fmt::print("[{:<9}] {}\n", ctx.name(),
             fmt::format(f, std::forward<Ts>(xs)...));
  std::fflush(stdout);
}

struct config : runtime_config {
  std::size_t keys = 10;
  std::size_t timeout_ms = 5000;
  config() {
    opt_group{custom_options_, "global"}
      .add(keys, "keys,k", "keys the page stores")
      .add(timeout_ms, "timeout-ms,t", "timeout of each call");
  }
};

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

void kv_worker(context& self) {
  self.on_message([](message_event& ev) {
    auto store = std::make_shared<kv_store>();
    rpc::expose(ev.ports.at(0),
                {{"put", rpc::bind(store, &kv_store::put)},
                 {"get", rpc::bind(store, &kv_store::get)},
                 {"size", rpc::bind(store, &kv_store::size)},
                 {"update", rpc::bind(store, &kv_store::update)}});
    say("exposing the store on the port it was given");
  });
}

// -- the caller (runs in the page window)
// ----------------------------------------

/// What the page checked; the exit status.
struct verdict {
  std::size_t passed = 0;
  std::size_t failed = 0;
};

struct session : std::enable_shared_from_this<session> {
  rpc::remote kv;
  rpc::call_options opts;
  std::size_t keys;
  std::shared_ptr<verdict> result;

  void check(bool ok, const std::string& what) {
    (ok ? result->passed : result->failed)++;
    say("{} {}", ok ? "ok  " : "FAIL", what);
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
            *fresh += v == value{true} ? 1 : 0;
            if (--*left == 0) {
              check(*fresh == keys, fmt::format("put {} new keys", *fresh));
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
    auto plus = rpc::proxy([](double v) {
      say("callback: the worker asked for f({})", v);
      return v + 100;
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
    say("releasing the store; closing the page");
    kv.release();
    this_context().close();
  }
};

void page(context& self, std::size_t keys, std::size_t timeout_ms,
          std::shared_ptr<verdict> result) {
  auto w = self.spawn("kv-worker", kv_worker);
  message_channel channel;
  w.post_message("serve the store on this port", {channel.port2()});
  auto s = std::make_shared<session>();
  s->kv = rpc::wrap(channel.port1());
  s->opts.timeout = std::chrono::milliseconds{timeout_ms};
  s->keys = keys;
  s->result = std::move(result);
  say("calling the store with {} ms per call", timeout_ms);
  s->start(); // the session lives on in the continuations of its calls
}

} // namespace

int main(int argc, char** argv) {
  config cfg;
  if (auto err = cfg.parse(argc, argv)) {
    fmt::print(stderr, "error: {}\n", cfg.render(err));
    return 2;
  }
  if (cfg.cli_helptext_printed)
    return 0;
  auto result = std::make_shared<verdict>();
  runtime rt{cfg};
  rt.open_window("page", "https://app.example", [&cfg, result](context& self) {
    page(self, cfg.keys, cfg.timeout_ms, result);
  });
  if (!rt.run_for(std::chrono::seconds{30})) {
    fmt::print(stderr, "error: the topology did not finish within 30 s\n");
    return 1;
  }
  auto d = rt.drops();
  fmt::print("\nsummary: {} checks passed, {} failed; {} contexts ended; {} "
             "messages dropped; {} port records left\n",
             result->passed, result->failed, rt.exits().size(), d.total(),
             rt.live_ports());
  bool ok = result->failed == 0 && result->passed > 0 && d.total() == 0
            && rt.live_ports() == 0;
  return ok ? 0 : 1;
}
