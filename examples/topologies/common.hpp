#pragma once

// Helpers shared by the topology implementations (not by their callers).

#include <chrono>
#include <cstdio>
#include <mutex>
#include <string>
#include <utility>

#include <fmt/format.h>

#include "entangle/all.hpp"
#include "topology.hpp"

namespace entangle::examples {

/// Prints one story line tagged with the running context's name (or
/// "main"), when `on`. Serialized: contexts run on several threads.
template <class... Ts>
void say(bool on, fmt::format_string<Ts...> f, Ts&&... xs) {
  if (!on)
    return;
  static std::mutex mu;
  auto* ctx = current_context();
  auto line = fmt::format(f, std::forward<Ts>(xs)...);
  std::lock_guard<std::mutex> guard{mu};
  fmt::print("[{:<9}] {}\n", ctx ? ctx->name() : std::string{"main"}, line);
  std::fflush(stdout);
}

/// `n` bytes of padding for the payload knob (empty string for 0).
inline std::string padding(std::size_t n) {
  return std::string(n, 'x');
}

/// Runs `rt` to its end within `p.timeout` and starts the checks: `out.ok`
/// is set and `out.delivered` read. On a timeout, stops the runtime, fails
/// `out` and returns false.
inline bool begin_checks(runtime& rt, const params& p, const progress& prog,
                         outcome& out) {
  bool done = rt.run_for(p.timeout);
  if (!done)
    rt.stop();
  out.ok = done;
  out.delivered = prog.delivered.load();
  if (!done)
    out.verdict = fmt::format("did not finish within {} ms",
                              p.timeout.count());
  return done;
}

/// Fails `out` with `why` unless `cond` (the first failure is the
/// verdict); returns `cond`.
inline bool expect(outcome& out, bool cond, std::string why) {
  if (!cond && out.ok) {
    out.ok = false;
    out.verdict = std::move(why);
  }
  return cond;
}

/// The checks every topology ends with -- every expected message
/// delivered, nothing dropped, no port leaked, every context ended
/// normally -- then `success` as the verdict if everything passed.
void end_checks(runtime& rt, outcome& out, std::string success);

} // namespace entangle::examples
