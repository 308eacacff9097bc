// The MDN "channel messaging" example as an entangle topology.
//
// A page window (https://page.example) opens a frame (https://frame.example),
// creates a MessageChannel, keeps port1, and transfers port2 to the frame
// with window.postMessage and a targetOrigin. The frame checks the sender's
// origin, answers every message on port2; the page sends a few, then closes
// port1; the frame sees the close event. Run:
//   build/examples/mdn_basic [--messages=N]
//
// Mirrors https://developer.mozilla.org/docs/Web/API/Channel_Messaging_API
// (page.html + iframe.html), with the iframe as a context of its own.

#include <atomic>
#include <cstdio>
#include <mutex>
#include <string>
#include <thread>

#include <fmt/format.h>

#include "entangle/all.hpp"

using namespace entangle;

namespace {

std::mutex out_mu;

/// One line per step, tagged with the context it happened in.
template <class... Ts>
void say(fmt::format_string<Ts...> f, Ts&&... xs) {
  auto& ctx = this_context();
  std::lock_guard<std::mutex> guard{out_mu};
  fmt::print("[{:<5}] {}\n", ctx.name(),
             fmt::format(f, std::forward<Ts>(xs)...));
  std::fflush(stdout);
}

struct config : runtime_config {
  std::size_t messages = 3;
  config() {
    opt_group{custom_options_, "global"}.add(
      messages, "messages,m", "messages the page sends before closing");
  }
};

constexpr const char* page_origin = "https://page.example";
constexpr const char* frame_origin = "https://frame.example";

// iframe.html: wait for the port, then answer everything on it.
void frame(context& self) {
  say("loaded with origin {}", self.origin().serialize());
  self.on_message([](message_event& ev) {
    if (ev.origin != page_origin) { // as MDN advises: check the sender
      say("ignored a message from {}", ev.origin);
      return;
    }
    say("received {} from {} with {} port(s)", to_string(ev.data), ev.origin,
        ev.ports.size());
    auto port2 = ev.ports.at(0);
    port2.on_message([port2](message_event& m) {
      say("port2 <- {}", to_string(m.data));
      auto reply = "Message received by the frame: " + m.data.as_string();
      say("port2 -> \"{}\"", reply);
      port2.post_message(reply);
    });
    port2.on_close([](message_event&) {
      say("port2 got close: the page closed the channel");
    });
  });
}

// page.html: create the channel, hand port2 over, converse, close.
void page(context& self, std::size_t total) {
  auto iframe = self.open_frame("frame", frame_origin, frame);
  message_channel channel;
  say("opened a frame at {}; created a MessageChannel; keeping port1, "
      "transferring port2",
      frame_origin);
  auto port1 = channel.port1();
  auto sent = std::make_shared<std::size_t>(0);
  auto send_next = [port1, sent, total] {
    ++*sent;
    auto text = fmt::format("Message {} of {} from the page", *sent, total);
    say("port1 -> \"{}\"", text);
    port1.post_message(text);
  };
  port1.on_message([port1, sent, total, send_next](message_event& ev) {
    say("port1 <- {}", to_string(ev.data));
    if (*sent < total) {
      send_next();
    } else {
      say("closing port1");
      port1.close();
      this_context().close();
    }
  });
  iframe.post_message("Hello from the main page!", frame_origin,
                      {channel.port2()});
  say("posted the greeting and port2 to the frame (targetOrigin {}); port2 "
      "is now detached here: {}",
      frame_origin, channel.port2().detached());
  send_next();
}

} // namespace

int main(int argc, char** argv) {
  config cfg;
  if (auto err = cfg.parse(argc, argv)) {
    fmt::print(stderr, "error: {}\n", cfg.render(err));
    return 2;
  }
  if (cfg.cli_helptext_printed)
    return 0;
  auto total = cfg.messages;
  runtime rt{cfg};
  rt.open_window("page", page_origin,
                 [total](context& self) { page(self, total); });
  if (!rt.run_for(std::chrono::seconds{30})) {
    fmt::print(stderr, "error: the topology did not finish within 30 s\n");
    return 1;
  }
  fmt::print("\nsummary: {} contexts ended", rt.exits().size());
  for (auto& e : rt.exits())
    fmt::print(", {} ({})", e.name, to_string(e.kind));
  auto d = rt.drops();
  fmt::print("; {} messages dropped; {} port records left\n", d.total(),
             rt.live_ports());
  return d.total() == 0 && rt.live_ports() == 0 ? 0 : 1;
}
