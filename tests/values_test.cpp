// Conformance tests for SEMANTICS §5 (structured serialization, cloning and
// transfer). Contexts only record (journal, or test-scope variables that one
// context alone writes); the test body asserts after the run.

#include <cmath>
#include <limits>
#include <memory>
#include <variant>

#include "support.hpp"

using namespace entangle;
using namespace entangle::test;

namespace {

std::size_t depth_of(const value& v) {
  std::size_t n = 0;
  for (auto* p = &v; p->is<array>(); p = &p->get<array>().at(0))
    ++n;
  return n;
}

} // namespace

// -- §5.1 StructuredSerializeWithTransfer ---------------------------------------

TEST_CASE("5.1 duplicate ports or buffers in the transfer list throw "
          "DataCloneError",
          "[sem5]") {
  harness h;
  h.run([&](context&) {
    message_channel ch, x;
    array_buffer b{bytes{1, 2, 3}};
    array_buffer same_b = b; // another handle to the same buffer
    auto p = ch.port1();
    h.log.add(outcome([&] { p.post_message(1, {x.port1(), x.port1()}); }));
    message_port same_port = x.port1();
    h.log.add(outcome([&] { p.post_message(1, {x.port1(), same_port}); }));
    h.log.add(outcome([&] { p.post_message(1, {b, same_b}); }));
    h.log.add("x.port1 detached=" + yn(x.port1().detached()) + " b="
              + std::to_string(b.byte_length()));
  });
  CHECK(h.log.lines()
        == lines{"DataCloneError", "DataCloneError", "DataCloneError",
                 "x.port1 detached=false b=3"});
  h.require_clean();
}

TEST_CASE("5.1 transferred, closed or detached items in the transfer list "
          "throw DataCloneError",
          "[sem5]") {
  harness h;
  h.run([&](context&) {
    message_channel ch, gone, closed, fresh;
    array_buffer moved{bytes{1}}, ok{bytes{4, 5}};
    auto p = ch.port1();
    p.post_message(1, {gone.port2(), moved}); // now both are detached
    closed.port1().close();
    h.log.add(outcome([&] { p.post_message(1, {gone.port2()}); }));
    h.log.add(outcome([&] { p.post_message(1, {closed.port1()}); }));
    h.log.add(outcome([&] { p.post_message(1, {moved}); }));
    h.log.add(outcome(
      [&] { p.post_message(1, {fresh.port1(), ok, closed.port1()}); }));
    h.log.add("fresh.port1 detached=" + yn(fresh.port1().detached())
              + " ok=" + std::to_string(ok.byte_length()));
  });
  CHECK(h.log.lines()
        == lines{"DataCloneError", "DataCloneError", "DataCloneError",
                 "DataCloneError", "fresh.port1 detached=false ok=2"});
  h.require_clean();
}

TEST_CASE("5.1 a port owned by another context in the transfer list throws "
          "DataCloneError",
          "[sem5]") {
  harness h;
  h.run([&](context& page) {
    message_channel ch;
    auto w = page.spawn("w", [&, ch](context& self) {
      h.log.add("w: " + outcome([&] { self.post_message(1, {ch.port2()}); }));
      self.post_message("done");
      this_context().close();
    });
    w.on_message([&, ch](message_event& ev) {
      h.log.add("main got " + to_string(ev.data) + " ports="
                + std::to_string(ev.ports.size()) + ", port2 detached="
                + yn(ch.port2().detached()));
    });
  });
  CHECK(h.log.lines()
        == lines{"w: DataCloneError",
                 "main got \"done\" ports=0, port2 detached=false"});
  h.require_clean();
}

TEST_CASE("5.1 a failed post changes nothing: the same ports and buffers "
          "transfer fine afterwards",
          "[sem5]") {
  harness h;
  h.run([&](context&) {
    message_channel ch, x, sink;
    array_buffer b{bytes{1, 2, 3, 4}}, dead{bytes{9}};
    sink.port1().post_message(0, {dead});
    x.port2().on_close([&](message_event&) { h.log.add("x.port2 got close"); });
    x.port2().on_message([&, x](message_event& ev) {
      h.log.add("x.port2 got " + to_string(ev.data));
      x.port2().close();
    });
    ch.port2().on_message([&, ch](message_event& ev) {
      h.log.add("got " + to_string(ev.data) + " ports="
                + std::to_string(ev.ports.size()) + " bytes intact="
                + yn(ev.data[0].get<array_buffer>().bytes() == bytes{1, 2, 3, 4}));
      ev.ports.at(0).post_message("through the moved port");
      ev.ports.at(0).close();
      close_all({ch.port1(), ch.port2()});
    });
    auto p = ch.port1();
    auto state = [&] {
      return "x.port1 detached=" + yn(x.port1().detached()) + " b="
             + std::to_string(b.byte_length());
    };
    auto fail = [&](value data, transfer_list extra) {
      transfer_list t{x.port1(), b};
      t.insert(t.end(), extra.begin(), extra.end());
      h.log.add(outcome([&] { p.post_message(std::move(data), t); }));
    };
    fail(value::arr({b, host_object{"Symbol"}}), {});
    fail(nested(300), {});
    fail(x.port2(), {});
    fail(1, {x.port1()});
    fail(1, {dead});
    fail(1, {message_port{}});
    fail(1, {p});
    h.log.add("after failures: " + state());
    h.log.add(outcome([&] {
      p.post_message(value::arr({b, x.port1()}), {x.port1(), b});
    }));
    h.log.add("after success: " + state());
  });
  CHECK(h.log.lines()
        == lines{"DataCloneError", "DataCloneError", "DataCloneError",
                 "DataCloneError", "DataCloneError", "type_error:TypeError",
                 "DataCloneError", "after failures: x.port1 detached=false b=4",
                 "ok", "after success: x.port1 detached=true b=0",
                 "got [ArrayBuffer(4), MessagePort] ports=1 bytes intact=true",
                 "x.port2 got \"through the moved port\""});
  h.require_clean();
}

TEST_CASE("5.1 a transferred buffer referenced twice arrives as that one "
          "buffer, with its bytes",
          "[sem5]") {
  harness h;
  h.run([&](context&) {
    message_channel ch;
    array_buffer b{bytes{7, 8}};
    ch.port2().on_message([&, ch](message_event& ev) {
      auto& first = ev.data[0].get<array_buffer>();
      auto& again = ev.data[1]["again"].get<array_buffer>();
      h.log.add("same=" + yn(first.same_buffer(again))
                + " bytes=" + yn(first.bytes() == bytes{7, 8}));
      close_all({ch.port1(), ch.port2()});
    });
    ch.port1().post_message(value::arr({b, value::obj({{"again", b}})}), {b});
    h.log.add("sender detached=" + yn(b.detached()));
  });
  CHECK(h.log.lines() == lines{"sender detached=true", "same=true bytes=true"});
  h.require_clean();
}

// -- §5.2 what serializes ------------------------------------------------------

TEST_CASE("5.2 undefined, null, booleans and bigints survive the clone",
          "[sem5]") {
  constexpr auto lo = std::numeric_limits<std::int64_t>::min();
  constexpr auto hi = std::numeric_limits<std::int64_t>::max();
  auto got = clone_via_worker(
    value::arr({undefined, null, true, false, bigint{0}, bigint{lo},
                bigint{hi}}));
  REQUIRE(got.is<array>());
  auto& a = got.get<array>();
  REQUIRE(a.size() == 7);
  CHECK(a[0].is_undefined());
  CHECK(a[1].is_null());
  CHECK(a[2] == value{true});
  CHECK(a[3] == value{false});
  CHECK(a[4].get<bigint>() == bigint{0});
  CHECK(a[5].get<bigint>() == bigint{lo});
  CHECK(a[6].get<bigint>() == bigint{hi});
  CHECK(clone_via_worker(undefined).is_undefined());
  CHECK(clone_via_worker(null).is_null());
}

TEST_CASE("5.2 numbers keep NaN, -0 and the infinities", "[sem5]") {
  constexpr auto inf = std::numeric_limits<double>::infinity();
  auto got = clone_via_worker(value::arr(
    {std::numeric_limits<double>::quiet_NaN(), -0.0, 0.0, inf, -inf, 0.1,
     std::numeric_limits<double>::denorm_min(),
     std::numeric_limits<double>::max(), 42}));
  auto& a = got.get<array>();
  REQUIRE(a.size() == 9);
  CHECK(std::isnan(a[0].as_number()));
  CHECK(a[1].as_number() == 0.0);
  CHECK(std::signbit(a[1].as_number()));
  CHECK_FALSE(std::signbit(a[2].as_number()));
  CHECK(a[3].as_number() == inf);
  CHECK(a[4].as_number() == -inf);
  CHECK(a[5].as_number() == 0.1);
  CHECK(a[6].as_number() == std::numeric_limits<double>::denorm_min());
  CHECK(a[7].as_number() == std::numeric_limits<double>::max());
  CHECK(a[8].is_number());
  CHECK(a[8].as_number() == 42.0);
}

TEST_CASE("5.2 strings keep embedded NULs and arbitrary bytes", "[sem5]") {
  const std::string nul{"a\0b", 3};
  const std::string raw{"\xff\xfe\x00\x80", 4};
  const std::string lone_surrogate{"\xed\xa0\x80"}; // WTF-8 of U+D800
  const std::string big(100000, 'x');
  auto got = clone_via_worker(value::arr({nul, raw, lone_surrogate, "", big}));
  auto& a = got.get<array>();
  REQUIRE(a.size() == 5);
  CHECK(a[0].as_string() == nul);
  CHECK(a[0].as_string().size() == 3);
  CHECK(a[1].as_string() == raw);
  CHECK(a[2].as_string() == lone_surrogate);
  CHECK(a[3].as_string().empty());
  CHECK(a[4].as_string() == big);
}

TEST_CASE("5.2 a date keeps its time value, even an invalid one", "[sem5]") {
  auto got = clone_via_worker(value::arr(
    {date{0}, date{-8.64e15}, date{8.64e15}, date{1717171717171.0},
     date{std::numeric_limits<double>::quiet_NaN()}}));
  auto& a = got.get<array>();
  REQUIRE(a.size() == 5);
  CHECK(a[0].get<date>().time_value == 0);
  CHECK(a[1].get<date>().time_value == -8.64e15);
  CHECK(a[2].get<date>().time_value == 8.64e15);
  CHECK(a[3].get<date>().time_value == 1717171717171.0);
  CHECK(std::isnan(a[4].get<date>().time_value));
}

TEST_CASE("5.2 an error's name is normalised to the seven standard names and "
          "its message kept",
          "[sem5]") {
  const std::vector<std::pair<std::string, std::string>> cases{
    {"Error", "Error"},           {"EvalError", "EvalError"},
    {"RangeError", "RangeError"}, {"ReferenceError", "ReferenceError"},
    {"SyntaxError", "SyntaxError"}, {"TypeError", "TypeError"},
    {"URIError", "URIError"},     {"CustomError", "Error"},
    {"typeerror", "Error"},       {"", "Error"},
    {"DataCloneError", "Error"},
  };
  array sent;
  for (auto& [name, expected] : cases)
    sent.push_back(error_value{name, "msg of " + name});
  sent.push_back(error_value{"RangeError", std::string{"nul\0inside", 10}});
  auto got = clone_via_worker(value{sent});
  auto& a = got.get<array>();
  REQUIRE(a.size() == cases.size() + 1);
  for (std::size_t i = 0; i < cases.size(); ++i) {
    INFO("sent name '" << cases[i].first << "'");
    CHECK(a[i].get<error_value>().name == cases[i].second);
    CHECK(a[i].get<error_value>().message == "msg of " + cases[i].first);
  }
  CHECK(a.back().get<error_value>().message == std::string{"nul\0inside", 10});
}

TEST_CASE("5.2 arrays keep length and order, objects keep every key, nested "
          "to any shape",
          "[sem5]") {
  const value sent = value::obj({
    {"", "empty key"},
    {std::string{"k\0ey", 4}, 1},
    {"holes", value::arr({undefined, undefined, 3})},
    {"empty", value::arr({})},
    {"nested", value::obj({{"deep", value::arr({value::arr({value::arr(
                                      {"x", value::obj({})})})})}})},
    {"mixed", value::arr({1, "two", null, true, bigint{3}, date{4},
                          error_value{"TypeError", "e"}})},
  });
  auto got = clone_via_worker(sent);
  CHECK(got == sent);
  CHECK(got["holes"].get<array>().size() == 3);
  CHECK(got["holes"][std::size_t{0}].is_undefined());
  CHECK(got.get<object>().size() == 6);
}

TEST_CASE("5.2 a posted buffer is copied at post time: sender and receiver "
          "own independent bytes",
          "[sem5]") {
  harness h;
  array_buffer sent;
  value received{"<nothing arrived>"};
  h.run([&](context&) {
    message_channel ch;
    sent = array_buffer{bytes{1, 2, 3}};
    ch.port2().on_message([&, ch](message_event& ev) {
      received = ev.data;
      ev.data.get<array_buffer>().bytes()[0] = 9;
      close_all({ch.port1(), ch.port2()});
    });
    ch.port1().post_message(sent);
    sent.bytes()[1] = 7; // after the post: not seen by the receiver
  });
  REQUIRE(received.is<array_buffer>());
  auto& r = received.get<array_buffer>();
  CHECK_FALSE(r.same_buffer(sent));
  CHECK(r.bytes() == bytes{9, 2, 3});
  CHECK(sent.bytes() == bytes{1, 7, 3});
  CHECK_FALSE(sent.detached());
  h.require_clean();
}

TEST_CASE("5.2 a buffer reached twice in one message arrives as one buffer "
          "reached twice, but not across messages",
          "[sem5]") {
  harness h;
  array_buffer b, twin;
  std::vector<value> got;
  h.run([&](context&) {
    message_channel ch;
    b = array_buffer{bytes{1, 2}};
    twin = array_buffer{bytes{1, 2}};
    ch.port2().on_message([&, ch](message_event& ev) {
      got.push_back(ev.data);
      if (got.size() == 2)
        close_all({ch.port1(), ch.port2()});
    });
    ch.port1().post_message(value::arr({b, b, value::obj({{"x", b}}), twin}));
    ch.port1().post_message(value::arr({b}));
  });
  REQUIRE(got.size() == 2);
  auto buf = [&](std::size_t msg, std::size_t i) -> array_buffer {
    return got[msg][i].get<array_buffer>();
  };
  auto x = got[0][2]["x"].get<array_buffer>();
  CHECK(buf(0, 0).same_buffer(buf(0, 1)));
  CHECK(buf(0, 0).same_buffer(x));
  CHECK_FALSE(buf(0, 0).same_buffer(buf(0, 3))); // equal bytes, other buffer
  CHECK(buf(0, 0) == buf(0, 3));
  CHECK_FALSE(buf(1, 0).same_buffer(buf(0, 0)));
  CHECK_FALSE(buf(0, 0).same_buffer(b));
  buf(0, 0).bytes()[0] = 5;
  CHECK(x.bytes() == bytes{5, 2});
  CHECK(b.bytes() == bytes{1, 2});
  h.require_clean();
}

// -- §5.3 what throws DataCloneError ---------------------------------------------

/// Posts each of `bad` on a fresh channel, then "end"; returns the outcomes
/// and what arrived.
template <class Make>
lines post_each(Make make_bad) {
  harness h;
  h.run([&](context&) {
    message_channel ch;
    ch.port2().on_message([&, ch](message_event& ev) {
      h.log.add("got " + to_string(ev.data));
      close_all({ch.port1(), ch.port2()});
    });
    for (auto& post : make_bad(ch))
      h.log.add(outcome(post));
    ch.port1().post_message("end");
  });
  h.require_clean();
  CHECK(h.drops(drop_reason::doomed) == 0);
  return h.log.lines();
}

TEST_CASE("5.3 a host_object anywhere in the message throws DataCloneError "
          "and posts nothing",
          "[sem5]") {
  auto got = post_each([](const message_channel& ch) {
    auto p = ch.port1();
    return std::vector<std::function<void()>>{
      [p] { p.post_message(host_object{"function"}); },
      [p] { p.post_message(value::arr({1, host_object{"Symbol"}})); },
      [p] {
        p.post_message(value::obj(
          {{"a", value::obj({{"b", value::arr({2, host_object{}})}})}}));
      },
    };
  });
  CHECK(got
        == lines{"DataCloneError", "DataCloneError", "DataCloneError",
                 "got \"end\""});
}

TEST_CASE("5.3 a port in the message but not in the transfer list throws "
          "DataCloneError",
          "[sem5]") {
  auto got = post_each([](const message_channel& ch) {
    auto p = ch.port1();
    auto q = ch.port2();
    return std::vector<std::function<void()>>{
      [p] { p.post_message(p); },
      [p, q] { p.post_message(value::arr({q})); }, // the peer: not doomed
      [p, q] { p.post_message(value::obj({{"peer", q}}), transfer_list{}); },
      [p, q] { p.post_message(value::arr({q, 1}), {array_buffer{1}}); },
    };
  });
  CHECK(got
        == lines{"DataCloneError", "DataCloneError", "DataCloneError",
                 "DataCloneError", "got \"end\""});
}

TEST_CASE("5.3 a detached buffer in the message throws DataCloneError",
          "[sem5]") {
  auto got = post_each([](const message_channel& ch) {
    auto p = ch.port1();
    array_buffer b{bytes{1, 2}};
    message_channel sink;
    sink.port1().post_message(0, {b}); // b is now detached
    return std::vector<std::function<void()>>{
      [p, b] { p.post_message(b); },
      [p, b] { p.post_message(value::obj({{"deep", value::arr({b})}})); },
    };
  });
  CHECK(got == lines{"DataCloneError", "DataCloneError", "got \"end\""});
}

TEST_CASE("5.3 nesting deeper than max_clone_depth (default 256) throws "
          "DataCloneError",
          "[sem5]") {
  harness h;
  std::size_t depth = 0;
  h.run([&](context&) {
    message_channel ch;
    ch.port2().on_message([&, ch](message_event& ev) {
      depth = depth_of(ev.data);
      close_all({ch.port1(), ch.port2()});
    });
    auto p = ch.port1();
    h.log.add(outcome([&] { p.post_message(nested(257)); }));
    h.log.add(outcome([&] { p.post_message(value::obj({{"k", nested(256)}})); }));
    h.log.add(outcome([&] { p.post_message(nested(256)); }));
  });
  CHECK(h.log.lines() == lines{"DataCloneError", "DataCloneError", "ok"});
  CHECK(depth == 256);
  h.require_clean();
}

TEST_CASE("5.3 runtime_config::max_clone_depth sets the nesting limit",
          "[sem5]") {
  harness h{[](runtime_config& c) { c.max_clone_depth = 3; }};
  h.run([&](context&) {
    message_channel ch;
    auto p = ch.port1();
    auto objs = [](value leaf) {
      return value::obj(
        {{"a", value::obj({{"b", value::obj({{"c", std::move(leaf)}})}})}});
    };
    h.log.add(outcome([&] { p.post_message(nested(3)); }));
    h.log.add(outcome([&] { p.post_message(nested(4)); }));
    h.log.add(outcome([&] { p.post_message(objs(1)); }));
    h.log.add(outcome([&] { p.post_message(objs(value::arr({1}))); }));
    close_all({ch.port1(), ch.port2()});
  });
  CHECK(h.log.lines() == lines{"ok", "DataCloneError", "ok", "DataCloneError"});
  h.require_clean();
}

// -- §5.4 deserialization failures ---------------------------------------------

TEST_CASE("5.4 a receiver that cannot deserialize gets messageerror; the "
          "sender sees no error",
          "[sem5][sem9]") {
  harness h{[](runtime_config& c) { c.max_buffer_bytes = 8; }};
  h.run([&](context& page) {
    auto w = page.spawn("w", [&](context& self) {
      self.on_message([&](message_event&) { h.log.add("w got message"); });
      self.on_messageerror([&](message_event&) {
        h.log.add("w got messageerror");
        this_context().close();
      });
    });
    // (The worker may fire before this line runs: a separate record.)
    h.log.set("post", outcome([&] { w.post_message(array_buffer{16}); }));
  });
  CHECK(h.log.get("post") == "ok");
  CHECK(h.log.lines() == lines{"w got messageerror"});
  h.require_clean();
}

// -- §5.5 transfer effects -------------------------------------------------------

TEST_CASE("5.5 a transferred buffer arrives with its bytes; every sender "
          "handle is detached and empty",
          "[sem5]") {
  harness h;
  array_buffer sent, alias;
  value received{"<nothing arrived>"};
  h.run([&](context&) {
    message_channel ch;
    sent = array_buffer{bytes{1, 2, 3}};
    alias = sent;
    ch.port2().on_message([&, ch](message_event& ev) {
      received = ev.data;
      close_all({ch.port1(), ch.port2()});
    });
    ch.port1().post_message(sent, {sent});
  });
  REQUIRE(received.is<array_buffer>());
  CHECK(received.get<array_buffer>().bytes() == bytes{1, 2, 3});
  CHECK_FALSE(received.get<array_buffer>().same_buffer(sent));
  for (auto* b : {&sent, &alias}) {
    CHECK(b->detached());
    CHECK(b->byte_length() == 0);
    CHECK(b->bytes().empty());
  }
  h.require_clean();
}

TEST_CASE("5.5 a transferred port the message does not mention still "
          "appears in ports",
          "[sem5]") {
  harness h;
  h.run([&](context&) {
    message_channel ch, x;
    ch.port2().on_message([&, ch](message_event& ev) {
      h.log.add(to_string(ev.data) + " ports="
                + std::to_string(ev.ports.size()));
      ev.ports.at(0).post_message("hi");
      ev.ports.at(0).close();
      close_all({ch.port1(), ch.port2()});
    });
    x.port2().on_message([&, x](message_event& ev) {
      h.log.add("x.port2 got " + to_string(ev.data));
      x.port2().close();
    });
    ch.port1().post_message("no port in here", {x.port1()});
  });
  CHECK(h.log.lines()
        == lines{"\"no port in here\" ports=1", "x.port2 got \"hi\""});
  h.require_clean();
}

TEST_CASE("5.5 a transferred buffer the message does not mention is detached "
          "and lost",
          "[sem5]") {
  harness h;
  h.run([&](context&) {
    message_channel ch;
    array_buffer b{bytes{1, 2, 3}};
    ch.port2().on_message([&, ch](message_event& ev) {
      h.log.add("got " + to_string(ev.data) + " ports="
                + std::to_string(ev.ports.size()));
      close_all({ch.port1(), ch.port2()});
    });
    ch.port1().post_message("just text", {b});
    h.log.add("b detached=" + yn(b.detached()) + " length="
              + std::to_string(b.byte_length()));
  });
  CHECK(h.log.lines()
        == lines{"b detached=true length=0", "got \"just text\" ports=0"});
  h.require_clean();
}

TEST_CASE("5.5 a transferred port referenced in the data is the same handle "
          "as in ports",
          "[sem5]") {
  harness h;
  h.run([&](context&) {
    message_channel ch, x;
    ch.port2().on_message([&, ch, x](message_event& ev) {
      auto& in_data = ev.data["p"].get<message_port>();
      auto& in_list = ev.data["list"][std::size_t{0}].get<message_port>();
      h.log.add("data is ports[0]: " + yn(in_data == ev.ports.at(0)));
      h.log.add("list is ports[0]: " + yn(in_list == ev.ports.at(0)));
      h.log.add("not the sender's: " + yn(in_data != x.port1()));
      in_data.close();
      close_all({ch.port1(), ch.port2()});
    });
    ch.port1().post_message(
      value::obj({{"p", x.port1()}, {"list", value::arr({x.port1()})}}),
      {x.port1()});
  });
  CHECK(h.log.lines()
        == lines{"data is ports[0]: true", "list is ports[0]: true",
                 "not the sender's: true"});
  h.require_clean();
}
