// Port introduction: a broker spawns pairs of client workers that do not
// know each other, creates a fresh MessageChannel per pair and hands one
// end to each ("alice, meet bob"). From then on the two clients talk
// directly -- the broker is not on the path. Alice asks M questions, Bob
// answers each; Alice reports the tally to the broker over her worker port.

#include <memory>

#include "common.hpp"

namespace entangle::examples {

namespace {

struct results {
  std::atomic<std::uint64_t> reports{0};
  std::atomic<std::uint64_t> answered{0};
  std::atomic<bool> all_correct{true};
};

// Bob: answer every question {q: n} on the introduced port with n * 3.
void bob(context& self, progress& prog) {
  self.on_message([&prog](message_event& ev) {
    auto peer = ev.ports.at(0); // "introduce": the end of a fresh channel
    peer.on_message([peer, &prog](message_event& m) {
      ++prog.delivered;
      peer.post_message(value::obj({{"a", m.data["q"].as_number() * 3}}));
    });
    peer.on_close([](message_event&) { this_context().close(); });
  });
}

// Alice: ask M questions on the introduced port, check each answer, then
// report to the broker and hang up.
void alice(context& self, std::size_t questions, progress& prog) {
  self.on_message([questions, &prog](message_event& ev) {
    auto peer = ev.ports.at(0);
    auto got = std::make_shared<std::size_t>(0);
    auto right = std::make_shared<std::size_t>(0);
    peer.on_message([peer, got, right, questions, &prog](message_event& m) {
      ++prog.delivered;
      ++*got;
      if (m.data["a"].as_number() == static_cast<double>(*got * 3))
        ++*right;
      if (*got == questions) {
        this_context().post_message(value::obj(
          {{"answered", *got}, {"right", *right}}));
        peer.close();
      }
    });
    for (std::size_t q = 1; q <= questions; ++q)
      peer.post_message(value::obj({{"q", q}}));
  });
}

void broker(context& self, const params& p, std::shared_ptr<results> res,
            progress& prog) {
  bool v = p.verbose;
  auto pairs = p.size;
  auto questions = p.messages;
  for (std::size_t i = 1; i <= pairs; ++i) {
    auto a = self.spawn(fmt::format("alice-{}", i),
                        [questions, &prog](context& c) {
                          alice(c, questions, prog);
                        });
    auto b = self.spawn(fmt::format("bob-{}", i),
                        [&prog](context& c) { bob(c, prog); });
    message_channel intro;
    a.post_message("introduce", {intro.port1()});
    b.post_message("introduce", {intro.port2()});
    a.on_message([res, pairs, questions, v, &prog](message_event& ev) {
      ++prog.delivered;
      res->answered += static_cast<std::uint64_t>(ev.data["answered"].as_number());
      if (ev.data["right"].as_number() != static_cast<double>(questions))
        res->all_correct = false;
      if (++res->reports == pairs) {
        say(v, "all {} pairs reported; closing", pairs);
        this_context().close();
      }
    });
  }
  say(v, "introduced {} pairs; each talks directly now", pairs);
}

outcome run(runtime& rt, const params& p, progress& prog) {
  auto res = std::make_shared<results>();
  rt.spawn("broker", [&p, res, &prog](context& c) { broker(c, p, res, prog); });
  outcome out;
  out.channels = 3 * p.size; // introductions and two worker pairs each
  out.expected = p.size * (2 * p.messages + 1);
  if (!begin_checks(rt, p, prog, out))
    return out;
  expect(out, res->reports == p.size,
         fmt::format("{} of {} pairs reported", res->reports.load(), p.size));
  expect(out, res->answered == p.size * p.messages,
         fmt::format("{} questions answered, expected {}",
                     res->answered.load(), p.size * p.messages));
  expect(out, res->all_correct, "some answer was wrong");
  end_checks(rt, out,
             fmt::format("{} introduced pairs, {} questions each "
                         "answered directly and correctly",
                         p.size, p.messages));
  return out;
}

} // namespace

topology port_introduction_topology() {
  return {"port-introduction",
          "port introduction: a broker hands two clients the two ends of a "
          "fresh channel; they then talk directly",
          "size: client pairs; messages: questions per pair; payload: unused",
          2, 100, run};
}

} // namespace entangle::examples
