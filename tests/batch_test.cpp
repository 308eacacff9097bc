// A context takes a whole batch of a shipped port's messages in one lock
// round (context_core::on_ready) and dispatches them one by one. These
// tests change the port's state in the middle of such a batch and check
// that the rest of the batch behaves exactly as if it had still been in
// the queue: SEMANTICS §6 (it moves with a transferred port, in order),
// §8.2 (closing drops and counts it), §13.1 (a context's end drops and
// counts it).

#include "support.hpp"

using namespace entangle;
using namespace entangle::test;

namespace {

constexpr int queued = 200; // more than three batches
constexpr int cut = 10;     // the message whose listener changes the port

/// main posts `queued` numbers on port1, then transfers port2 (with all of
/// them queued on it: a shipped port, so it drains in batches) to a worker
/// running `worker_init`. `on_back` gets what the worker sends back.
void run_queued(harness& h, init_function worker_init,
                std::function<void(message_event&)> on_back = {}) {
  h.run([&, worker_init, on_back](context& page) {
    message_channel ch;
    for (int i = 0; i < queued; ++i)
      ch.port1().post_message(double(i));
    auto w = page.spawn("w", worker_init);
    w.post_message("port", {ch.port2()});
    auto p1 = ch.port1();
    p1.on_close([&h](message_event&) {
      h.log.add("port1 got close");
      this_context().close();
    });
    p1.start();
    if (on_back)
      w.on_message(on_back);
  });
}

} // namespace

TEST_CASE("6.3 a port transferred by its own listener mid-batch takes the "
          "rest of the batch along, in order",
          "[sem6][batch]") {
  harness h{[](runtime_config& c) { c.dispatch_batch = 64; }};
  std::vector<int> got_w, got_back;
  run_queued(
    h,
    [&](context& self) {
      self.on_message([&](message_event& ev) {
        auto port = ev.ports.at(0);
        port.on_message([&, port](message_event& m) {
          auto v = static_cast<int>(m.data.get<double>());
          got_w.push_back(v);
          if (v == cut)
            this_context().post_message("back", {port});
        });
      });
    },
    [&](message_event& ev) {
      auto port = ev.ports.at(0);
      port.on_message([&, port](message_event& m) {
        got_back.push_back(static_cast<int>(m.data.get<double>()));
        if (got_back.size() + got_w.size() == std::size_t{queued})
          port.close();
      });
    });
  std::vector<int> want_w, want_back;
  for (int i = 0; i <= cut; ++i)
    want_w.push_back(i);
  for (int i = cut + 1; i < queued; ++i)
    want_back.push_back(i);
  CHECK(got_w == want_w);
  CHECK(got_back == want_back);
  CHECK(h.log.lines() == lines{"port1 got close"});
  CHECK(h.rt->drops().total() == 0);
  h.require_clean();
}

TEST_CASE("8.2 closing a port from its listener mid-batch drops and counts "
          "the rest of the batch",
          "[sem8][batch]") {
  harness h{[](runtime_config& c) { c.dispatch_batch = 64; }};
  std::vector<int> got;
  run_queued(h, [&](context& self) {
    self.on_message([&](message_event& ev) {
      auto port = ev.ports.at(0);
      port.on_message([&, port](message_event& m) {
        auto v = static_cast<int>(m.data.get<double>());
        got.push_back(v);
        if (v == cut)
          port.close();
      });
    });
  });
  CHECK(got.size() == std::size_t{cut + 1});
  CHECK(got.back() == cut);
  CHECK(h.log.lines() == lines{"port1 got close"});
  CHECK(h.drops(drop_reason::closed) == std::uint64_t{queued - cut - 1});
  CHECK(h.rt->drops().total() == std::uint64_t{queued - cut - 1});
  h.require_clean();
}

TEST_CASE("13.1 a context that ends mid-batch drops and counts the rest of "
          "the batch as context_gone",
          "[sem13][batch]") {
  harness h{[](runtime_config& c) { c.dispatch_batch = 64; }};
  std::vector<int> got;
  run_queued(h, [&](context& self) {
    self.on_message([&](message_event& ev) {
      auto port = ev.ports.at(0);
      port.on_message([&](message_event& m) {
        auto v = static_cast<int>(m.data.get<double>());
        got.push_back(v);
        if (v == cut)
          throw std::runtime_error("listener failed");
      });
    });
  });
  CHECK(got.size() == std::size_t{cut + 1});
  CHECK(h.log.lines() == lines{"port1 got close"});
  CHECK(h.drops(drop_reason::context_gone) == std::uint64_t{queued - cut - 1});
  CHECK(exit_of(h, "w") == "exception");
  h.check_no_leaks();
}
