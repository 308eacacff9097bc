#pragma once

// The live progress line of entangle-run: on stderr, only when stderr is a
// terminal, only for runs longer than a second, rewritten in place and
// erased when the run ends.

#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <string>
#include <thread>

#include <fmt/format.h>

#include "topologies/topology.hpp"

namespace entangle::examples {

class progress_line {
public:
  progress_line(std::string name, const progress& prog, std::size_t messages)
    : name_(std::move(name)), prog_(prog), messages_(messages) {
    if (isatty(STDERR_FILENO) == 1)
      thread_ = std::thread{[this] { loop(); }};
  }

  ~progress_line() {
    if (!thread_.joinable())
      return;
    {
      std::lock_guard<std::mutex> guard{mu_};
      done_ = true;
    }
    cv_.notify_all();
    thread_.join();
    if (shown_)
      std::fprintf(stderr, "\r\033[K"); // erase it: the summary follows
  }

  progress_line(const progress_line&) = delete;
  progress_line& operator=(const progress_line&) = delete;

private:
  void loop() {
    using namespace std::chrono;
    auto t0 = steady_clock::now();
    std::unique_lock<std::mutex> guard{mu_};
    while (!cv_.wait_for(guard, milliseconds{250}, [this] { return done_; })) {
      double s = duration<double>(steady_clock::now() - t0).count();
      if (s < 1.0)
        continue;
      auto n = prog_.delivered.load(std::memory_order_relaxed);
      std::fprintf(stderr, "\r\033[K%s",
                   fmt::format("[{}] {:.1f} s  {} messages delivered  "
                               "{:.1f} k msg/s  (--messages={})",
                               name_, s, n, static_cast<double>(n) / s / 1e3,
                               messages_)
                     .c_str());
      std::fflush(stderr);
      shown_ = true;
    }
  }

  std::string name_;
  const progress& prog_;
  std::size_t messages_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  bool shown_ = false;
  std::thread thread_;
};

} // namespace entangle::examples
