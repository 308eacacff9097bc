// MDN "Using channel messaging", the basic example: a page opens an iframe,
// creates a MessageChannel, transfers port2 to the iframe with
// window.postMessage and a targetOrigin, and talks over port1. The iframe
// checks the sender's origin, answers every message on port2, and sees the
// close event when the page closes port1.
//   https://developer.mozilla.org/docs/Web/API/Channel_Messaging_API

#include <memory>
#include <mutex>
#include <vector>

#include "common.hpp"

namespace entangle::examples {

namespace {

constexpr const char* page_origin = "https://page.example";
constexpr const char* frame_origin = "https://frame.example";

struct results {
  std::mutex mu;
  std::vector<std::string> replies; // what port1 received, in order
  bool frame_saw_close = false;
  bool greeting_ok = false;
};

// iframe.html: wait for the port, then answer everything on it.
void frame(context& self, bool v, std::shared_ptr<results> res,
           progress& prog) {
  say(v, "loaded with origin {}", self.origin().serialize());
  self.on_message([v, res, &prog](message_event& ev) {
    if (ev.origin != page_origin) { // as MDN advises: check the sender
      say(v, "ignored a message from {}", ev.origin);
      return;
    }
    say(v, "received {} from {} with {} port(s)", to_string(ev.data),
        ev.origin, ev.ports.size());
    {
      std::lock_guard<std::mutex> guard{res->mu};
      res->greeting_ok = ev.data.as_string() == "Hello from the main page!"
                         && ev.ports.size() == 1;
    }
    auto port2 = ev.ports.at(0);
    port2.on_message([port2, v, &prog](message_event& m) {
      ++prog.delivered;
      say(v, "port2 <- {}", to_string(m.data));
      port2.post_message("Message received by the frame: "
                         + m.data.as_string());
    });
    port2.on_close([v, res](message_event&) {
      say(v, "port2 got close: the page closed the channel");
      std::lock_guard<std::mutex> guard{res->mu};
      res->frame_saw_close = true;
    });
  });
}

// page.html: create the channel, hand port2 over, converse, close.
void page(context& self, const params& p, std::shared_ptr<results> res,
          progress& prog) {
  bool v = p.verbose;
  auto iframe = self.open_frame("frame", frame_origin,
                                [v, res, &prog](context& f) {
                                  frame(f, v, res, prog);
                                });
  message_channel channel;
  auto port1 = channel.port1();
  auto sent = std::make_shared<std::size_t>(0);
  auto total = p.messages;
  auto send_next = [port1, sent, total, v] {
    ++*sent;
    auto text = fmt::format("Message {} of {} from the page", *sent, total);
    say(v && *sent <= 10, "port1 -> \"{}\"", text);
    port1.post_message(text);
  };
  port1.on_message([port1, sent, total, send_next, res, v,
                    &prog](message_event& ev) {
    ++prog.delivered;
    say(v && *sent <= 10, "port1 <- {}", to_string(ev.data));
    {
      std::lock_guard<std::mutex> guard{res->mu};
      res->replies.push_back(ev.data.as_string());
    }
    if (*sent < total) {
      send_next();
    } else {
      say(v, "closing port1 and the page");
      port1.close();
      this_context().close();
    }
  });
  iframe.post_message("Hello from the main page!", frame_origin,
                      {channel.port2()});
  say(v, "posted the greeting and port2 to the frame (targetOrigin {}); "
         "port2 is detached here: {}",
      frame_origin, channel.port2().detached());
  send_next();
}

outcome run(runtime& rt, const params& p, progress& prog) {
  auto res = std::make_shared<results>();
  rt.open_window("page", page_origin,
                 [&p, res, &prog](context& self) { page(self, p, res, prog); });
  outcome out;
  out.channels = 1;
  out.expected = 2 * p.messages; // each message and its reply
  if (!begin_checks(rt, p, prog, out))
    return out;
  std::lock_guard<std::mutex> guard{res->mu};
  expect(out, res->greeting_ok, "the frame did not get the greeting and port");
  expect(out, res->replies.size() == p.messages,
         fmt::format("the page got {} replies, expected {}",
                     res->replies.size(), p.messages));
  for (std::size_t i = 0; i < res->replies.size(); ++i)
    expect(out,
           res->replies[i]
             == fmt::format("Message received by the frame: Message {} of {} "
                            "from the page",
                            i + 1, p.messages),
           fmt::format("reply {} is wrong: {}", i + 1, res->replies[i]));
  expect(out, res->frame_saw_close, "the frame never saw port2's close");
  end_checks(rt, out,
             fmt::format("{} replies in order, the greeting's origin "
                         "checked, close seen by the frame",
                         p.messages));
  return out;
}

} // namespace

topology mdn_basic_topology() {
  return {"mdn-basic",
          "MDN basic: a page hands an iframe port2 of a MessageChannel "
          "(window.postMessage, targetOrigin) and converses over port1",
          "messages: messages the page sends, one at a time; size, payload: "
          "unused",
          1, 3, run};
}

} // namespace entangle::examples
