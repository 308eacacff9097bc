// Ping-pong: a page and a dedicated worker bounce a counter over a
// MessageChannel until it reaches N. The page hands the worker port2 with
// worker.postMessage(..., [port2]); from then on the two talk over the
// channel, each answering the other's message with the next number.

#include <memory>

#include "common.hpp"

namespace entangle::examples {

namespace {

struct results {
  std::atomic<std::uint64_t> ping_seen{0}; // numbers the worker got
  std::atomic<std::uint64_t> pong_seen{0}; // numbers the page got
  std::atomic<bool> in_order{true};
  std::atomic<double> last{0};
};

value ball(double n, const std::string& pad) {
  return pad.empty() ? value{n} : value::obj({{"n", n}, {"pad", pad}});
}

double number(const value& v) {
  return v.is_number() ? v.as_number() : v["n"].as_number();
}

// worker.js: answer n with n + 1 on the port it is given.
void ponger(context& self, std::shared_ptr<results> res, std::string pad,
            progress& prog) {
  self.on_message([res, pad, &prog](message_event& ev) {
    auto port = ev.ports.at(0);
    auto expected = std::make_shared<double>(1);
    port.on_message([port, res, pad, expected, &prog](message_event& m) {
      ++prog.delivered;
      ++res->ping_seen;
      auto n = number(m.data);
      if (n != *expected)
        res->in_order = false;
      *expected = n + 2;
      port.post_message(ball(n + 1, pad));
    });
    port.on_close([](message_event&) { this_context().close(); });
  });
}

void pinger(context& self, const params& p, std::shared_ptr<results> res,
            progress& prog) {
  auto pad = padding(p.payload);
  auto w = self.spawn("ponger", [res, pad, &prog](context& c) {
    ponger(c, res, pad, prog);
  });
  message_channel ch;
  auto port = ch.port1();
  w.post_message("here is your port", {ch.port2()});
  auto rounds = static_cast<double>(p.messages);
  auto expected = std::make_shared<double>(2);
  bool v = p.verbose;
  port.on_message([port, res, pad, rounds, expected, v,
                   &prog](message_event& m) {
    ++prog.delivered;
    ++res->pong_seen;
    auto n = number(m.data);
    if (n != *expected)
      res->in_order = false;
    *expected = n + 2;
    if (n >= 2 * rounds) {
      res->last = n;
      say(v, "got {} back: {} round trips done, closing", n, n / 2);
      port.close();
      this_context().close();
      return;
    }
    port.post_message(ball(n + 1, pad));
  });
  say(v, "serving 1 to the worker over a fresh channel");
  port.post_message(ball(1, pad));
}

outcome run(runtime& rt, const params& p, progress& prog) {
  auto res = std::make_shared<results>();
  rt.spawn("pinger", [&p, res, &prog](context& c) { pinger(c, p, res, prog); });
  outcome out;
  out.channels = 2; // the MessageChannel and the worker's implicit pair
  out.expected = 2 * p.messages;
  if (!begin_checks(rt, p, prog, out))
    return out;
  expect(out, res->ping_seen == p.messages && res->pong_seen == p.messages,
         fmt::format("worker got {}, page got {}; expected {} each",
                     res->ping_seen.load(), res->pong_seen.load(),
                     p.messages));
  expect(out, res->in_order, "a number arrived out of order");
  expect(out, res->last == 2.0 * static_cast<double>(p.messages),
         fmt::format("the last number was {}", res->last.load()));
  end_checks(rt, out,
             fmt::format("{} round trips, every number in order",
                         p.messages));
  return out;
}

} // namespace

topology ping_pong_topology() {
  return {"ping-pong",
          "ping-pong: a page and its worker bounce a counter over a "
          "transferred port",
          "messages: round trips; payload: bytes of padding per message; "
          "size: unused",
          2, 1000, run};
}

} // namespace entangle::examples
