#pragma once

// Shared helpers for entangle's tests.
//
// Catch2 v2 assertions are not thread-safe, so user code inside contexts
// never asserts: it records what it saw into a `journal`, and the test body
// asserts on the main thread after the runtime ended. No sleeps: runs end
// when every context has ended (bounded by a generous timeout).

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include <unistd.h>

#include "entangle/all.hpp"

namespace entangle::test {

/// Runs `fn` with stderr going to a file; returns what was written
/// (warnings and uncaught-error reports are printed there).
template <class F>
std::string capture_stderr(F fn) {
  std::fflush(stderr);
  auto* tmp = std::tmpfile();
  int saved = ::dup(STDERR_FILENO);
  ::dup2(fileno(tmp), STDERR_FILENO);
  fn();
  std::fflush(stderr);
  ::dup2(saved, STDERR_FILENO);
  ::close(saved);
  std::string out;
  std::rewind(tmp);
  char buf[512];
  while (auto n = std::fread(buf, 1, sizeof buf, tmp))
    out.append(buf, n);
  std::fclose(tmp);
  return out;
}

/// A thread-safe log of strings and named values.
class journal {
public:
  void add(std::string line) {
    std::lock_guard<std::mutex> guard{mu_};
    lines_.push_back(std::move(line));
  }

  std::vector<std::string> lines() const {
    std::lock_guard<std::mutex> guard{mu_};
    return lines_;
  }

  void set(const std::string& key, std::string val) {
    std::lock_guard<std::mutex> guard{mu_};
    values_[key] = std::move(val);
  }

  std::string get(const std::string& key) const {
    std::lock_guard<std::mutex> guard{mu_};
    auto i = values_.find(key);
    return i == values_.end() ? std::string{"<unset>"} : i->second;
  }

private:
  mutable std::mutex mu_;
  std::vector<std::string> lines_;
  std::map<std::string, std::string> values_;
};

using lines = std::vector<std::string>;
using bytes = std::vector<std::uint8_t>;

/// A runtime with warnings off and a bounded run. `tune` adjusts the
/// configuration before the runtime starts.
struct harness {
  explicit harness(const std::function<void(runtime_config&)>& tune = {}) {
    cfg.warnings = false;
    if (tune)
      tune(cfg);
    rt = std::make_unique<runtime>(cfg);
  }

  /// Spawns a top-level context and runs until every context ended.
  void run(init_function init, std::chrono::seconds timeout
                               = std::chrono::seconds{30}) {
    rt->spawn("main", std::move(init));
    wait(timeout);
  }

  void wait(std::chrono::seconds timeout = std::chrono::seconds{30}) {
    bool ended = rt->run_for(timeout);
    REQUIRE(ended);
  }

  /// Asserts that no context ended by an exception (reports the first).
  void require_clean_exits() const {
    for (auto& e : rt->exits()) {
      INFO("context " << e.name << " ended by " << to_string(e.kind) << ": "
                      << e.what);
      CHECK(e.kind != exit_kind::exception);
    }
  }

  /// No context is left and no port record leaked (run() returns only once
  /// every ended context released what it held).
  void check_no_leaks() const {
    CHECK(rt->live_contexts() == 0);
    CHECK(rt->live_ports() == 0);
  }

  /// The usual ending: no context died of an exception, and no leaks.
  void require_clean() const {
    require_clean_exits();
    check_no_leaks();
  }

  std::uint64_t drops(drop_reason r) const {
    return rt->drops()[r];
  }

  runtime_config cfg;
  std::unique_ptr<runtime> rt;
  journal log;
};

/// Renders an event as "type:data" for journals.
inline std::string str(const message_event& ev) {
  return ev.type + ":" + to_string(ev.data);
}

/// The event type for non-message events, else the string data (or its
/// rendering).
inline std::string label(const message_event& ev) {
  if (ev.type != "message")
    return ev.type;
  return ev.data.is_string() ? ev.data.as_string() : to_string(ev.data);
}

inline std::string yes_no(bool b) {
  return b ? "yes" : "no";
}

inline std::string yn(bool b) {
  return b ? "true" : "false";
}

/// The string data of an event, or its rendering.
inline std::string data_of(const message_event& ev) {
  return ev.data.is_string() ? ev.data.as_string() : to_string(ev.data);
}

/// A port's observable state, for journals.
inline std::string state(const message_port& p) {
  return "started=" + yn(p.started()) + " detached=" + yn(p.detached())
         + " closed=" + yn(p.closed());
}

/// `levels` arrays nested around the number 1.
inline value nested(std::size_t levels) {
  value v = 1;
  for (std::size_t i = 0; i < levels; ++i) {
    array a;
    a.push_back(std::move(v));
    v = value{std::move(a)};
  }
  return v;
}

inline lines sorted(lines xs) {
  std::sort(xs.begin(), xs.end());
  return xs;
}

inline void close_all(std::initializer_list<message_port> ports) {
  for (auto& p : ports)
    p.close();
}

/// Runs `f` and returns "ok", the DOMException name, or "type_error:<name>".
template <class F>
std::string outcome(F&& f) {
  try {
    f();
    return "ok";
  } catch (const type_error& e) {
    return "type_error:" + e.name();
  } catch (const dom_exception& e) {
    return e.name();
  }
}

/// Returns how the context named `name` ended ("<none>" if it did not, or
/// "<ambiguous>" if several contexts have that name).
inline std::string exit_of(const harness& h, const std::string& name) {
  std::string out = "<none>";
  for (auto& e : h.rt->exits()) {
    if (e.name != name)
      continue;
    if (out != "<none>")
      return "<ambiguous>";
    out = std::string{to_string(e.kind)};
  }
  return out;
}

inline std::string what_of(const harness& h, const std::string& name) {
  for (auto& e : h.rt->exits())
    if (e.name == name)
      return e.what;
  return "<none>";
}

/// Posts `v` from a page to a dedicated worker; returns what arrived.
inline value clone_via_worker(const value& v) {
  harness h;
  value out{"<nothing arrived>"};
  h.run([&](context& page) {
    auto w = page.spawn("w", [&](context& self) {
      self.on_message([&](message_event& ev) {
        out = std::move(ev.data);
        this_context().close();
      });
    });
    w.post_message(v);
  });
  h.require_clean();
  return out;
}

/// Runs a fresh page <-> worker conversation on the same runtime; returns
/// what the page heard.
inline std::string conversation_after(harness& h) {
  auto heard = std::make_shared<std::string>("<nothing>");
  h.rt->spawn("after", [heard](context& page) {
    message_channel ch;
    auto w = page.spawn("after-worker", [](context& self) {
      self.on_message([](message_event& ev) {
        ev.ports.at(0).post_message("pong");
        this_context().close();
      });
    });
    ch.port1().on_message([heard](message_event& m) { *heard = label(m); });
    w.post_message("ping", {ch.port2()});
  });
  h.wait();
  return *heard;
}

} // namespace entangle::test
