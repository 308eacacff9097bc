// explore(): one test body under many schedules; the first failing one is
// shrunk (its non-default choices made few) and described in words.

#include "entangle/testing/explore.hpp"

#include <chrono>
#include <cstdlib>
#include <optional>
#include <unistd.h>

#include "entangle/testing/testkit.hpp"
#include "testing/explorer.hpp"

namespace entangle::testing {

namespace internal {

/// The explore driver's way into a testkit's explorer.
struct kit_access {
  static explorer& of(testkit& kit) {
    return *kit.explorer_;
  }
};

} // namespace internal

namespace {

using body_fn = std::function<void(testkit&)>;
using choices = std::vector<std::uint32_t>;
using clock_type = std::chrono::steady_clock;

std::function<std::string()>& name_source() {
  static std::function<std::string()> fn;
  return fn;
}

std::optional<std::string> env(const char* name) {
  if (const char* v = std::getenv(name); v != nullptr && *v != '\0')
    return std::string{v};
  return std::nullopt;
}

/// What one run of the body under one schedule did.
struct outcome {
  std::string failure; // "" if it passed
  choices taken;       // the option of every decision, in order
  std::vector<std::string> steps;
  std::vector<std::string> events;
};

outcome run_one(const schedule& s, const explore_options& opts,
                const body_fn& body, bool describing) {
  outcome out;
  testkit kit{s, opts.tune};
  auto& ex = internal::kit_access::of(kit);
  ex.set_budget(opts.max_decisions);
  ex.set_describing(describing);
  try {
    body(kit);
  } catch (const schedule_failure& e) {
    out.failure = e.what();
  } catch (const std::exception& e) {
    out.failure = std::string{"exception: "} + e.what();
  } catch (...) {
    out.failure = "an exception that is not a std::exception escaped the "
                  "body (a Catch2 REQUIRE? inside explore() use "
                  "kit.require)";
  }
  if (kit.failed()) // the first failure recorded wins
    out.failure = kit.failure();
  for (auto& d : ex.decisions())
    out.taken.push_back(d.chosen);
  if (describing) {
    out.steps = ex.steps();
    for (auto& d : kit.deliveries())
      out.events.push_back(to_string(d));
  }
  return out;
}

schedule to_schedule(const choices& c) {
  std::vector<schedule::choice> cs;
  for (std::size_t i = 0; i < c.size(); ++i)
    if (c[i] != 0)
      cs.push_back(schedule::choice{i, c[i]});
  return schedule::choices(std::move(cs));
}

std::size_t non_default(const choices& c) {
  std::size_t n = 0;
  for (auto x : c)
    n += x != 0;
  return n;
}

/// Makes the failing choices `c` few: sets chunks of them to the default
/// (halves, quarters, ... of the non-default ones, ddmin-like), removes
/// single decisions (which shifts the later ones, for when an earlier
/// change moved where they are met), and lowers option numbers; until
/// nothing helps or the budget is spent. Each trial replays the body.
choices shrink(choices c, const std::function<bool(const choices&)>& fails,
               std::size_t budget, clock_type::time_point deadline) {
  std::size_t trials = 0;
  auto spent = [&] {
    return trials >= budget || clock_type::now() >= deadline;
  };
  auto attempt = [&](const choices& candidate) {
    ++trials;
    if (!fails(candidate))
      return false;
    c = candidate;
    while (!c.empty() && c.back() == 0)
      c.pop_back();
    return true;
  };
  while (!c.empty() && c.back() == 0)
    c.pop_back();
  for (bool progress = true; progress && !spent();) {
    progress = false;
    // 1. Chunks of non-default choices to the default.
    for (auto chunk = std::max<std::size_t>(non_default(c) / 2, 1);
         chunk >= 1 && !spent(); chunk /= 2) {
      std::vector<std::size_t> nz;
      for (std::size_t i = 0; i < c.size(); ++i)
        if (c[i] != 0)
          nz.push_back(i);
      for (std::size_t k = 0; k < nz.size() && !spent();) {
        auto candidate = c;
        for (std::size_t j = k; j < k + chunk && j < nz.size(); ++j)
          if (nz[j] < candidate.size())
            candidate[nz[j]] = 0;
        if (attempt(candidate)) {
          progress = true;
          nz.clear();
          for (std::size_t i = 0; i < c.size(); ++i)
            if (c[i] != 0)
              nz.push_back(i);
        } else {
          k += chunk;
        }
      }
      if (chunk == 1)
        break;
    }
    // 2. Remove one decision (everything after it moves one earlier).
    for (std::size_t i = c.size(); i-- > 0 && !spent();) {
      if (i >= c.size())
        continue;
      auto candidate = c;
      candidate.erase(candidate.begin() + static_cast<std::ptrdiff_t>(i));
      if (attempt(candidate))
        progress = true;
    }
    // 3. Lower option numbers (a nearer alternative reads simpler).
    for (std::size_t i = 0; i < c.size() && !spent(); ++i) {
      while (i < c.size() && c[i] > 1 && !spent()) {
        auto candidate = c;
        --candidate[i];
        if (!attempt(candidate))
          break;
        progress = true;
      }
    }
  }
  return c;
}

std::string self_exe() {
  char buf[4096];
  auto n = ::readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n <= 0)
    return "<test executable>";
  std::string path(buf, static_cast<std::size_t>(n));
  char cwd[4096];
  if (::getcwd(cwd, sizeof(cwd)) != nullptr) {
    std::string dir = std::string{cwd} + "/";
    if (path.compare(0, dir.size(), dir) == 0)
      path = path.substr(dir.size());
  }
  return path;
}

std::string replay_command(const schedule& s, const std::string& test) {
  auto out = "ENTANGLE_SCHEDULE=" + s.to_string() + " " + self_exe();
  if (!test.empty())
    out += " \"" + test + "\"";
  return out;
}

void describe_failure(exploration& r, const explore_options& opts,
                      const body_fn& body, const outcome& first,
                      bool shrinking) {
  auto test = opts.test_name;
  if (test.empty() && name_source())
    test = name_source()();
  r.failed = true;
  r.failure = first.failure;
  r.choices_before = non_default(first.taken);
  r.replay = replay_command(r.failing, test);
  auto best = first.taken;
  if (shrinking) {
    auto fails = [&](const choices& c) {
      return !run_one(to_schedule(c), opts, body, false).failure.empty();
    };
    best = shrink(best, fails, opts.shrink_budget,
                  clock_type::now() + std::chrono::seconds{60});
  }
  r.shrunk = shrinking ? to_schedule(best) : r.failing;
  auto described = run_one(r.shrunk, opts, body, true);
  if (described.failure.empty()) { // cannot happen: replay is exact
    r.shrunk = r.failing;
    described = run_one(r.failing, opts, body, true);
  }
  r.shrunk_failure = described.failure;
  r.steps = std::move(described.steps);
  r.events = std::move(described.events);
  r.replay_shrunk = replay_command(r.shrunk, test);
}

} // namespace

void set_test_name_source(std::function<std::string()> fn) {
  name_source() = std::move(fn);
}

exploration replay(const schedule& s, const explore_options& options,
                   const body_fn& body) {
  exploration r;
  r.schedules = 1;
  r.failing = s;
  auto first = run_one(s, options, body, false);
  if (first.failure.empty())
    return r;
  describe_failure(r, options, body, first, false);
  return r;
}

exploration explore(const explore_options& options, const body_fn& body) {
  auto opts = options;
  if (auto v = env("ENTANGLE_SHRINK"); v && *v == "0")
    opts.shrink = false;
  if (auto v = env("ENTANGLE_SCHEDULE")) {
    // Exactly this schedule, as printed by a failing run.
    auto s = schedule::parse(*v);
    auto r = replay(s, opts, body);
    if (r.failed && s.is_random() && opts.shrink) {
      auto first = run_one(s, opts, body, false);
      describe_failure(r, opts, body, first, true);
    }
    return r;
  }
  auto count = opts.schedules;
  if (count == 0) {
    count = 100;
    if (auto v = env("ENTANGLE_SCHEDULES"))
      count = std::stoull(*v);
  }
  exploration r;
  for (std::uint64_t i = 0; i < count; ++i) {
    auto s = schedule::random(opts.first_seed + i);
    ++r.schedules;
    auto first = run_one(s, opts, body, false);
    if (first.failure.empty())
      continue;
    r.failing = s;
    describe_failure(r, opts, body, first, opts.shrink);
    break;
  }
  return r;
}

exploration explore(std::uint64_t schedules, const body_fn& body) {
  explore_options opts;
  opts.schedules = schedules;
  return explore(opts, body);
}

exploration explore(const body_fn& body) {
  return explore(explore_options{}, body);
}

std::string exploration::report() const {
  if (!failed)
    return "explore: " + std::to_string(schedules) + " schedule"
           + (schedules == 1 ? "" : "s") + " passed";
  std::string out = "explore: schedule " + failing.to_string() + " failed";
  if (schedules > 1)
    out += " (" + std::to_string(schedules) + " tried)";
  out += ": " + failure + "\n";
  out += "  replay it:   " + replay + "\n";
  out += "  shrunk from " + std::to_string(choices_before)
         + " non-default choices to " + std::to_string(steps.size())
         + (steps.size() == 1 ? " step" : " steps");
  if (shrunk_failure != failure)
    out += ", which fails with: " + shrunk_failure;
  out += "\n  replay that: " + replay_shrunk + "\n";
  out += "  steps (#decision; every other choice at its default: the "
         "oldest ready context runs, turns are not interrupted, time "
         "stands still while anything can run):\n";
  for (std::size_t i = 0; i < steps.size(); ++i)
    out += "    " + std::to_string(i + 1) + ". " + steps[i] + "\n";
  if (steps.empty())
    out += "    (none: the default schedule fails)\n";
  out += "  events in that schedule:\n";
  for (auto& e : events)
    out += "    " + e + "\n";
  return out;
}

} // namespace entangle::testing
