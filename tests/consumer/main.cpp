// A program built against an installed entangle (tests/check_install.py):
// a page hands a worker a port and gets its message back over it.

#include <entangle/all.hpp>

#include <iostream>
#include <memory>
#include <string>

using namespace entangle;

int main() {
  auto got = std::make_shared<std::string>();
  runtime rt;
  rt.spawn("page", [got](context& self) {
    auto w = self.spawn("echo", [](context& c) {
      c.on_message([](message_event& ev) {
        auto port = ev.ports.at(0);
        port.on_message([port](message_event& m) {
          port.post_message("pong: " + m.data.as_string());
          port.close();
        });
      });
    });
    message_channel ch;
    auto port = ch.port1();
    port.on_message([got](message_event& m) { *got = m.data.as_string(); });
    port.on_close([](message_event&) { this_context().close(); });
    w.post_message("port", {ch.port2()});
    port.post_message("ping");
  });
  rt.run();
  std::cout << "consumer: " << *got << '\n';
  return *got == "pong: ping" && rt.live_ports() == 0 ? 0 : 1;
}
