// A pipeline of N stages: each stage is a dedicated worker that receives
// an input port and an output port (transferred by the page), adds 1 to
// every number on its input and posts it on its output. The page feeds
// 1..M into the first channel and reads the last one: it must see
// i + N for every i, in order (per-port FIFO through every stage).
// Closing the source closes the pipeline stage by stage.

#include <memory>
#include <vector>

#include "common.hpp"

namespace entangle::examples {

namespace {

struct results {
  std::atomic<std::uint64_t> received{0};
  std::atomic<double> sum{0};
  std::atomic<bool> in_order{true};
};

double number(const value& v) {
  return v.is_number() ? v.as_number() : v["n"].as_number();
}

// A stage: "ports" message = [input, output]; forward x + 1.
void stage(context& self, std::string pad, progress& prog) {
  self.on_message([pad, &prog](message_event& ev) {
    auto in = ev.ports.at(0);
    auto out = ev.ports.at(1);
    in.on_message([out, pad, &prog](message_event& m) {
      ++prog.delivered;
      auto n = number(m.data) + 1;
      out.post_message(pad.empty() ? value{n}
                                   : value::obj({{"n", n}, {"pad", pad}}));
    });
    // Upstream closed: pass the close on and end this stage.
    in.on_close([out](message_event&) {
      out.close();
      this_context().close();
    });
  });
}

void page(context& self, const params& p, std::shared_ptr<results> res,
          progress& prog) {
  auto stages = p.size;
  auto pad = padding(p.payload);
  std::vector<message_channel> links(stages + 1);
  for (std::size_t i = 0; i < stages; ++i) {
    auto w = self.spawn(fmt::format("stage-{}", i + 1),
                        [pad, &prog](context& c) { stage(c, pad, prog); });
    w.post_message("ports", {links[i].port2(), links[i + 1].port1()});
  }
  auto source = links.front().port1();
  auto sink = links.back().port2();
  auto total = p.messages;
  auto next = std::make_shared<double>(1 + static_cast<double>(stages));
  bool v = p.verbose;
  sink.on_message([sink, source, res, next, total, v,
                   &prog](message_event& m) {
    ++prog.delivered;
    auto n = number(m.data);
    if (n != *next)
      res->in_order = false;
    *next = n + 1;
    res->sum = res->sum + n;
    if (++res->received == total) {
      say(v, "sink got all {} items; closing the source", total);
      source.close(); // the close ripples down the stages to the sink
    }
  });
  sink.on_close([v](message_event&) {
    say(v, "the close reached the sink: pipeline drained");
    this_context().close();
  });
  say(v, "{} stages wired; feeding 1..{}", stages, total);
  for (std::size_t i = 1; i <= total; ++i)
    source.post_message(pad.empty() ? value{static_cast<double>(i)}
                                    : value::obj({{"n", i}, {"pad", pad}}));
}

outcome run(runtime& rt, const params& p, progress& prog) {
  auto res = std::make_shared<results>();
  rt.spawn("page", [&p, res, &prog](context& c) { page(c, p, res, prog); });
  outcome out;
  out.channels = 2 * p.size + 1; // links and the workers' implicit pairs
  out.expected = p.messages * (p.size + 1);
  if (!begin_checks(rt, p, prog, out))
    return out;
  double m = static_cast<double>(p.messages);
  double want = m * (m + 1) / 2 + m * static_cast<double>(p.size);
  expect(out, res->received == p.messages,
         fmt::format("the sink got {} items, expected {}",
                     res->received.load(), p.messages));
  expect(out, res->sum == want,
         fmt::format("sum {} at the sink, expected {}", res->sum.load(), want));
  expect(out, res->in_order, "items reached the sink out of order");
  end_checks(rt, out,
             fmt::format("sum {} = M(M+1)/2 + M*N, all {} items in "
                         "order through {} stages",
                         want, p.messages, p.size));
  return out;
}

} // namespace

topology pipeline_topology() {
  return {"pipeline",
          "pipeline: N worker stages chained by transferred ports, each "
          "adds 1; the sum at the sink is checked",
          "size: stages; messages: items fed in; payload: bytes of padding "
          "per item",
          4, 1000, run};
}

} // namespace entangle::examples
