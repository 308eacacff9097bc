#pragma once

// Shared helpers for entangle's tests.
//
// Catch2 v2 assertions are not thread-safe, so user code inside contexts
// never asserts: it records what it saw into a `journal`, and the test body
// asserts on the main thread after the runtime ended. No sleeps: runs end
// when every context has ended (bounded by a generous timeout).

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "entangle/all.hpp"

namespace entangle::test {

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

/// A runtime with warnings off and a bounded run.
struct harness {
  harness() {
    cfg.warnings = false;
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

} // namespace entangle::test
