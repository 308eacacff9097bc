// The testkit as a new user meets it ([testkit]): contexts found by name,
// windows and frames opened from the test, injecting into an ended
// context reported, stepping event by event after moving time, typed and
// error expectations, and failure output that names ports and workers.

#include <catch2/catch.hpp>

#include <memory>
#include <stdexcept>
#include <string>

#include "entangle/all.hpp"
#include "entangle/testing/catch.hpp"

using namespace entangle;
using namespace entangle::testing;
using std::chrono::milliseconds;

namespace names_test {

struct ticket {
  std::string what;
  std::uint32_t n = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, ticket& t) {
  return f(caf::meta::type_name("names_test::ticket"), t.what, t.n);
}

} // namespace names_test

using names_test::ticket;

namespace {

/// A page with one worker "w1" that echoes on the port it is handed.
std::uint64_t page_with_echo(testkit& kit, message_port& mine) {
  return kit.spawn("page", [&mine](context& self) {
    auto w = self.spawn("w1", [](context& me) {
      me.on_message([](message_event& ev) {
        auto p = ev.ports.at(0);
        p.on_message([p](message_event& m) { p.post_message(m.data); });
      });
    });
    message_channel ch;
    mine = ch.port1();
    mine.start();
    w.post_message("port", {ch.port2()});
  });
}

} // namespace

TEST_CASE("testkit: contexts are found by name; faults and injections take "
          "names",
          "[testkit]") {
  testkit kit;
  message_port mine;
  auto page = page_with_echo(kit, mine);
  kit.run();
  CHECK(kit.id_of("page") == page);
  auto w1 = kit.id_of("w1");
  CHECK(kit.name_of(w1) == "w1");

  std::string inside;
  CHECK(kit.inject("w1", [&] { inside = this_context().name(); }));
  CHECK(inside == "w1");

  try {
    kit.id_of("w2");
    FAIL("no exception");
  } catch (const std::invalid_argument& e) {
    CHECK(std::string{e.what()}.find("'w2'") != std::string::npos);
    CHECK(std::string{e.what()}.find("page, w1") != std::string::npos);
  }

  // The crash lands in w1: page sees an "error" at the worker object,
  // then its close; w1's name is still known once it ended.
  kit.crash("w1", "boom");
  auto error = kit.step();
  CHECK(error == error_in("page", "boom"));
  REQUIRE(error);
  CHECK(error->worker == "w1");
  CHECK(to_string(*error) == "error at worker w1 (in page): \"boom\"");
  kit.run();
  CHECK(kit.name_of(w1) == "w1");
  bool worker_closed = false;
  for (auto& d : kit.deliveries())
    worker_closed |= d.type == "close" && d.worker == "w1";
  CHECK(worker_closed);
  // Its port's peer died with w1: the page ended too, and is no longer
  // found by name.
  CHECK(kit.live_contexts() == 0);
  CHECK_THROWS_AS(kit.terminate("page"), std::invalid_argument);
  CHECK(kit.name_of(page) == "page");
}

TEST_CASE("testkit: inject into a context that ended says so", "[testkit]") {
  testkit kit;
  auto id = kit.spawn("brief", [](context& self) { self.close(); });
  kit.run();
  CHECK(kit.live_contexts() == 0);
  bool ran = false;
  CHECK_FALSE(kit.inject(id, [&] { ran = true; }));
  CHECK_FALSE(ran);
  CHECK_THROWS_AS(kit.inject("brief", [] {}), std::invalid_argument);
  CHECK(kit.name_of(id) == "brief");
}

TEST_CASE("testkit: windows and frames are opened from the test",
          "[testkit][windows]") {
  testkit kit;
  std::string got;
  auto top = kit.open_window("top", "https://a.example", [](context&) {});
  kit.run();
  auto frame = kit.open_frame("top", "frame", "https://b.example",
                              [&got](context& self) {
                                self.on_message([&got](message_event& ev) {
                                  got = ev.data.as_string() + " from "
                                        + ev.origin;
                                });
                              });
  CHECK(frame != 0);
  CHECK(kit.name_of(frame) == "frame");
  kit.run();
  CHECK(kit.inject(top, [] {
    // The frame is this window's child: reach it through the frames list.
    auto frames = this_context().window().frames();
    REQUIRE(frames.size() == 1);
    frames.at(0).post_message("hi", "https://b.example");
  }));
  CHECK(kit.step() == message_in("frame", "hi"));
  CHECK(got == "hi from https://a.example");
  CHECK_THROWS_AS(kit.open_frame("frame-less", "x", "https://c.example",
                                 [](context&) {}),
                  std::invalid_argument);
  kit.spawn("plain", [](context&) {});
  CHECK_THROWS_AS(kit.open_frame("plain", "x", "https://c.example",
                                 [](context&) {}),
                  std::invalid_argument);
  kit.rt().stop();
}

TEST_CASE("testkit: after moving time, a test still steps one event at a "
          "time",
          "[testkit][timers]") {
  testkit kit;
  message_port mine;
  kit.spawn("ticker", [&mine](context& self) {
    message_channel ch;
    mine = ch.port2();
    mine.start();
    auto out = ch.port1();
    self.set_timeout([out] { out.post_message("at 5"); }, milliseconds{5});
    self.set_timeout(
      [out] {
        out.post_message("at 10");
        out.close();
      },
      milliseconds{10});
  });
  kit.run();
  kit.advance_time(milliseconds{20});
  CHECK(kit.now() == milliseconds{20});
  CHECK(kit.deliveries().empty()); // nothing ran yet
  CHECK(kit.step() == message_at(mine, "at 5"));
  CHECK(kit.deliveries().size() == 1);
  CHECK(kit.step() == message_at(mine, "at 10"));
  CHECK(kit.step() == close_at(mine));
  CHECK_FALSE(kit.step());
}

TEST_CASE("testkit: typed expectations and failure output that names the "
          "port",
          "[testkit][typed]") {
  testkit kit{[](runtime_config& cfg) {
    cfg.add_message_type<ticket>("names_test::ticket");
  }};
  message_port mine;
  kit.spawn("page", [&mine](context& self) {
    message_channel ch;
    mine = ch.port2();
    on_typed<ticket>(mine, [](ticket&) {});
    post_typed(ch.port1(), ticket{"seat", 2});
    ch.port1().post_message("plain");
    self.queue_task([] {});
  });
  kit.run();
  REQUIRE(kit.deliveries().size() == 2);
  auto& typed = kit.deliveries()[0];
  CHECK(std::optional<delivery>{typed} == typed_at<ticket>(mine));
  auto& plain = kit.deliveries()[1];
  CHECK_FALSE(std::optional<delivery>{plain} == typed_at<ticket>(mine));
  CHECK(typed.port_id != 0);
  auto name = "p" + std::to_string(typed.port_id);
  CHECK(to_string(plain) == "message at port " + name + " of page: \"plain\"");
  CHECK(to_string(typed).find("(typed names_test::ticket)")
        != std::string::npos);
  // An expectation names the port it expects, as the delivery does.
  auto expected = Catch::StringMaker<expected_delivery>::convert(
    typed_at<ticket>(mine));
  CHECK(expected == "message of type " + type_display_name(typeid(ticket))
                      + " at port " + name);
  CHECK(port_name(mine) == name);
}
