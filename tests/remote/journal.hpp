#pragma once

// What a remote test's contexts saw, one line per event, for the test
// thread (contexts of several runtimes add from their own threads), and
// waiting for a condition the test thread polls.

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace remote_test {

/// Polls `pred` every 10 ms until it holds or `timeout` passed; returns
/// its last answer.
inline bool eventually(const std::function<bool()>& pred,
                       std::chrono::milliseconds timeout
                       = std::chrono::seconds{30}) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred())
      return true;
    std::this_thread::sleep_for(std::chrono::milliseconds{10});
  }
  return pred();
}

struct journal {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::string> lines;

  void add(std::string s) {
    std::lock_guard<std::mutex> guard{mu};
    lines.push_back(std::move(s));
    cv.notify_all();
  }

  /// Waits until `pred(lines)` holds (or `timeout`); returns the lines.
  std::vector<std::string>
  wait(const std::function<bool(const std::vector<std::string>&)>& pred,
       std::chrono::milliseconds timeout = std::chrono::seconds{20}) {
    std::unique_lock<std::mutex> guard{mu};
    cv.wait_for(guard, timeout, [&] { return pred(lines); });
    return lines;
  }

  std::vector<std::string>
  wait_for(std::size_t n,
           std::chrono::milliseconds timeout = std::chrono::seconds{20}) {
    return wait([n](auto& v) { return v.size() >= n; }, timeout);
  }

  /// Waits (generously: ASan on a loaded machine) until `line` was added.
  bool wait_line(const std::string& line,
                 std::chrono::milliseconds timeout = std::chrono::seconds{60}) {
    auto seen = wait(
      [&](auto& v) { return std::find(v.begin(), v.end(), line) != v.end(); },
      timeout);
    return std::find(seen.begin(), seen.end(), line) != seen.end();
  }

  std::vector<std::string> snapshot() {
    std::lock_guard<std::mutex> guard{mu};
    return lines;
  }
  std::size_t size() {
    std::lock_guard<std::mutex> guard{mu};
    return lines.size();
  }
  std::string at(std::size_t i) {
    std::lock_guard<std::mutex> guard{mu};
    return lines.at(i);
  }
};

} // namespace remote_test
