// A worker pool: the page spawns W dedicated workers, deals M jobs out
// round-robin with worker.postMessage (fan-out) and collects the answers
// on the workers' own message events (fan-in). Each job {id, n} is
// answered with {id, n*n}; every id must come back exactly once with the
// right square.

#include <memory>
#include <vector>

#include "common.hpp"

namespace entangle::examples {

namespace {

struct results {
  std::vector<bool> seen;
  std::uint64_t answers = 0;
  std::uint64_t duplicates = 0;
  std::uint64_t wrong = 0;
  double sum = 0;
  std::vector<std::uint64_t> per_worker;
};

// worker.js: square what you are given.
void squarer(context& self, progress& prog) {
  self.on_message([&prog](message_event& ev) {
    ++prog.delivered;
    auto n = ev.data["n"].as_number();
    this_context().post_message(value::obj(
      {{"id", ev.data["id"]}, {"square", n * n}, {"pad", ev.data["pad"]}}));
  });
}

void page(context& self, const params& p, std::shared_ptr<results> res,
          progress& prog) {
  auto jobs = p.messages;
  res->seen.assign(jobs, false);
  res->per_worker.assign(p.size, 0);
  bool v = p.verbose;
  std::vector<worker> pool;
  for (std::size_t w = 0; w < p.size; ++w) {
    auto wk = self.spawn(fmt::format("worker-{}", w + 1),
                         [&prog](context& c) { squarer(c, prog); });
    wk.on_message([res, w, jobs, v, &prog](message_event& ev) {
      ++prog.delivered;
      auto id = static_cast<std::size_t>(ev.data["id"].as_number());
      auto sq = ev.data["square"].as_number();
      auto n = static_cast<double>(id + 1);
      if (id >= jobs || res->seen[id]) {
        ++res->duplicates;
      } else {
        res->seen[id] = true;
        if (sq != n * n)
          ++res->wrong;
        res->sum += sq;
      }
      ++res->per_worker[w];
      if (++res->answers == jobs) {
        say(v, "all {} answers in; closing the pool", jobs);
        this_context().close(); // the workers close with their owner
      }
    });
    pool.push_back(wk);
  }
  auto pad = padding(p.payload);
  for (std::size_t id = 0; id < jobs; ++id)
    pool[id % pool.size()].post_message(
      value::obj({{"id", id}, {"n", id + 1}, {"pad", pad}}));
  say(v, "dealt {} jobs to {} workers", jobs, pool.size());
}

outcome run(runtime& rt, const params& p, progress& prog) {
  auto res = std::make_shared<results>();
  rt.spawn("page", [&p, res, &prog](context& c) { page(c, p, res, prog); });
  outcome out;
  out.channels = p.size; // one implicit pair per worker
  out.expected = 2 * p.messages;
  if (!begin_checks(rt, p, prog, out))
    return out;
  // The page context has ended: its results are ours now.
  double m = static_cast<double>(p.messages);
  double want = m * (m + 1) * (2 * m + 1) / 6;
  expect(out, res->answers == p.messages,
         fmt::format("{} answers, expected {}", res->answers, p.messages));
  expect(out, res->duplicates == 0 && res->wrong == 0,
         fmt::format("{} duplicate and {} wrong answers", res->duplicates,
                     res->wrong));
  expect(out, res->sum == want,
         fmt::format("sum of squares {}, expected {}", res->sum, want));
  for (std::size_t w = 0; w < p.size; ++w) {
    auto fair = p.messages / p.size + (w < p.messages % p.size ? 1 : 0);
    expect(out, res->per_worker[w] == fair,
           fmt::format("worker {} answered {}, was dealt {}", w + 1,
                       res->per_worker[w], fair));
  }
  end_checks(rt, out,
             fmt::format("{} jobs answered once each by {} workers, "
                         "sum of squares {}",
                         p.messages, p.size, want));
  return out;
}

} // namespace

topology worker_pool_topology() {
  return {"worker-pool",
          "worker pool: fan jobs out to W dedicated workers, fan the answers "
          "back in; every job answered once, correctly",
          "size: workers; messages: jobs; payload: bytes of padding per job",
          4, 1000, run};
}

} // namespace entangle::examples
