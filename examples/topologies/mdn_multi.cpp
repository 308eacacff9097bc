// MDN "Using channel messaging", the multi-message example: the page sends
// the iframe 'init' with port2 (targetOrigin "*"), then every form
// submission goes over port1; the iframe appends each to its list and
// answers 'Message received by IFrame: "..."', which the page shows.
//   https://github.com/mdn/dom-examples/tree/main/channel-messaging-multimessage

#include <memory>
#include <mutex>
#include <vector>

#include "common.hpp"

namespace entangle::examples {

namespace {

struct results {
  std::mutex mu;
  std::vector<std::string> list;    // the iframe's <ul>
  std::vector<std::string> replies; // the page's <p> updates
};

// iframe.html: on 'init', keep port2 and answer every message on it.
void iframe(context& self, bool v, std::shared_ptr<results> res,
            progress& prog) {
  self.on_message([v, res, &prog](message_event& ev) {
    if (ev.data != value{"init"} || ev.ports.empty())
      return;
    say(v, "init: got port2");
    auto port2 = ev.ports[0];
    port2.on_message([port2, res, &prog](message_event& m) {
      ++prog.delivered;
      auto text = m.data["text"].as_string();
      {
        std::lock_guard<std::mutex> guard{res->mu};
        res->list.push_back(text);
      }
      port2.post_message("Message received by IFrame: \"" + text + "\"");
    });
  });
}

// The page: each submission is its own task, like a form's submit event.
void page(context& self, const params& p, std::shared_ptr<results> res,
          progress& prog) {
  bool v = p.verbose;
  auto frame = self.open_frame("iframe", "https://iframe.example",
                               [v, res, &prog](context& f) {
                                 iframe(f, v, res, prog);
                               });
  message_channel channel;
  auto port1 = channel.port1();
  frame.post_message("init", "*", {channel.port2()});
  auto total = p.messages;
  port1.on_message([port1, res, total, v, &prog](message_event& ev) {
    ++prog.delivered;
    std::size_t n = 0;
    {
      std::lock_guard<std::mutex> guard{res->mu};
      res->replies.push_back(ev.data.as_string());
      n = res->replies.size();
    }
    say(v && n <= 5, "shows: {}", ev.data.as_string());
    if (n == total) {
      say(v, "all {} answers shown; closing", total);
      port1.close();
      this_context().close();
    }
  });
  auto pad = padding(p.payload);
  for (std::size_t i = 1; i <= total; ++i)
    self.queue_task([port1, i, pad] {
      port1.post_message(
        value::obj({{"text", fmt::format("note {}", i)}, {"pad", pad}}));
    });
  say(v, "queued {} form submissions", total);
}

outcome run(runtime& rt, const params& p, progress& prog) {
  auto res = std::make_shared<results>();
  rt.open_window("page", "https://page.example",
                 [&p, res, &prog](context& self) { page(self, p, res, prog); });
  outcome out;
  out.channels = 1;
  out.expected = 2 * p.messages;
  if (!begin_checks(rt, p, prog, out))
    return out;
  std::lock_guard<std::mutex> guard{res->mu};
  expect(out, res->list.size() == p.messages,
         fmt::format("the iframe listed {} notes, expected {}",
                     res->list.size(), p.messages));
  for (std::size_t i = 0; i < res->list.size(); ++i)
    expect(out, res->list[i] == fmt::format("note {}", i + 1),
           fmt::format("iframe list item {} is {}", i + 1, res->list[i]));
  for (std::size_t i = 0; i < res->replies.size(); ++i)
    expect(out,
           res->replies[i]
             == fmt::format("Message received by IFrame: \"note {}\"", i + 1),
           fmt::format("answer {} is {}", i + 1, res->replies[i]));
  end_checks(rt, out,
             fmt::format("{} submissions listed and answered in order",
                         p.messages));
  return out;
}

} // namespace

topology mdn_multi_topology() {
  return {"mdn-multi",
          "MDN multi-message: every form submission goes over port1, the "
          "iframe lists it and answers",
          "messages: form submissions; payload: bytes of padding per note; "
          "size: unused",
          1, 10, run};
}

} // namespace entangle::examples
