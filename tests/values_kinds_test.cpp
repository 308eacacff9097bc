// SEMANTICS §5.2-§5.5 for the value kinds beyond trees: BigInt beyond 64
// bits, boxed primitives, RegExp, every typed-array kind, DataView, views
// sharing a buffer, views over detached or transferred buffers.

#include <cmath>

#include "graph_support.hpp"
#include "support.hpp"

using namespace entangle;
using namespace entangle::test;

// -- BigInt, wrappers, RegExp -------------------------------------------------

TEST_CASE("5.2 BigInts beyond 64 bits arrive exact, negative and zero "
          "included",
          "[sem5]") {
  auto huge = bigint::parse("1" + std::string(60, '0'));
  auto got = clone_via_worker(value::arr({
    bigint{}, -huge, huge, bigint::parse("18446744073709551616"),
    bigint::parse("-9223372036854775809"),
    bigint{std::numeric_limits<std::int64_t>::min()}}));
  CHECK(got[0].as_bigint().sign() == 0);
  CHECK(got[1].as_bigint() == -huge);
  CHECK(got[1].as_bigint().to_string() == "-1" + std::string(60, '0'));
  CHECK(got[2].as_bigint() == huge);
  CHECK(got[3].as_bigint().to_string(16) == "10000000000000000");
  CHECK(got[4].as_bigint() + bigint{1}
        == bigint{std::numeric_limits<std::int64_t>::min()});
  CHECK(got[5].as_bigint().fits<std::int64_t>());
  CHECK_FALSE(got[4].as_bigint().fits<std::int64_t>());
}

TEST_CASE("5.2 boxed primitives arrive as wrappers of the same primitive",
          "[sem5]") {
  auto got = clone_via_worker(value::arr({
    boxed_primitive{true}, boxed_primitive{-0.0}, boxed_primitive{"s"},
    boxed_primitive{bigint::parse("-99999999999999999999")}}));
  CHECK(got[0].get<boxed_primitive>() == boxed_primitive{true});
  auto& n = std::get<double>(got[1].get<boxed_primitive>().value_of());
  CHECK((n == 0 && std::signbit(n)));
  CHECK(got[2].get<boxed_primitive>() == boxed_primitive{"s"});
  CHECK(to_string(got[3]) == "[BigInt: -99999999999999999999n]");
}

TEST_CASE("5.2 a RegExp keeps its source and flags", "[sem5]") {
  auto got = clone_via_worker(
    value::arr({regexp{"^a+(b|c)$", "yig"}, regexp{"", "v"}}));
  auto& r = got[0].get<regexp>();
  CHECK(r.source() == "^a+(b|c)$");
  CHECK(r.flags() == "giy"); // canonical order
  CHECK(r.has_flag('y'));
  CHECK(got[1].get<regexp>().source() == "(?:)");
  CHECK(to_string(got[1]) == "/(?:)/v");
  CHECK(outcome([] { regexp{"x", "gg"}; }) == "SyntaxError");
  CHECK(outcome([] { regexp{"x", "q"}; }) == "SyntaxError");
  CHECK(outcome([] { regexp{"x", "uv"}; }) == "SyntaxError");
}

// -- typed arrays and DataView ------------------------------------------------

TEST_CASE("5.2 every typed-array kind arrives as that kind, over a copy of "
          "its whole buffer, with its window",
          "[sem5]") {
  array sent;
  for (auto kind : all_element_kinds) {
    array_buffer b{64};
    auto size = element_size(kind);
    typed_array t{kind, b, 2 * size, 3}; // a window inside the buffer
    for (std::size_t i = 0; i < 3; ++i) {
      if (is_bigint_kind(kind))
        t.set(i, bigint{-static_cast<int>(i) - 1});
      else
        t.set(i, static_cast<double>(i + 1) * 1.5);
    }
    sent.push_back(t);
  }
  auto got = clone_via_worker(sent).get<array>();
  REQUIRE(got.size() == std::size(all_element_kinds));
  for (std::size_t k = 0; k < got.size(); ++k) {
    auto& s = sent[k].get<typed_array>();
    auto& t = got[k].get<typed_array>();
    INFO(to_string(s.kind()));
    CHECK(t.kind() == s.kind());
    CHECK(t.byte_offset() == s.byte_offset());
    CHECK(t.length() == 3);
    CHECK(t.buffer().byte_length() == 64); // the whole buffer travels
    CHECK_FALSE(t.buffer().same_buffer(s.buffer()));
    CHECK(t == s);
  }
  CHECK(to_string(got[0]) == "Int8Array(3) [1, 3, 4]");
  CHECK(to_string(got[2]) == "Uint8ClampedArray(3) [2, 3, 4]");
  CHECK(to_string(got[11]) == "BigUint64Array(3) [18446744073709551615n, "
                              "18446744073709551614n, 18446744073709551613n]");
}

TEST_CASE("5.2 a DataView arrives over a copy of its buffer with its window",
          "[sem5]") {
  array_buffer b{16};
  data_view v{b, 4, 8};
  v.set(element_kind::int32, 0, -2, true);
  v.set(element_kind::float32, 4, 1.5);
  auto got = clone_via_worker(v).get<data_view>();
  CHECK(got.byte_offset() == 4);
  CHECK(got.byte_length() == 8);
  CHECK(got.buffer().byte_length() == 16);
  CHECK(got.get(element_kind::int32, 0, true) == -2);
  CHECK(got.get(element_kind::uint32, 0, false) == 0xfeffffff);
  CHECK(got.get(element_kind::float32, 4) == 1.5);
  CHECK(got == v);
}

TEST_CASE("5.2 views sharing one buffer still share it after cloning",
          "[sem5]") {
  array_buffer b{8};
  typed_array bytes_view{element_kind::uint8, b};
  typed_array words{element_kind::uint16, b, 2, 2};
  data_view dv{b, 1};
  auto got = clone_via_worker(value::obj(
    {{"bytes", bytes_view}, {"words", words}, {"dv", dv}, {"buffer", b}}));
  auto rb = got["bytes"].get<typed_array>();
  auto rw = got["words"].get<typed_array>();
  auto rd = got["dv"].get<data_view>();
  CHECK(rb.buffer().same_buffer(rw.buffer()));
  CHECK(rb.buffer().same_buffer(rd.buffer()));
  CHECK(rb.buffer().same_buffer(got["buffer"].get<array_buffer>()));
  rw.set(0, 0x0102); // seen through every view of the received buffer
  CHECK(rb.get(2) == 2);
  CHECK(rd.get(element_kind::uint8, 2) == 1);
  CHECK(bytes_view.get(2) == 0); // the sender's buffer is another one
}

TEST_CASE("5.3 a view over a transferred (detached) buffer, or out of its "
          "bounds, throws DataCloneError and posts nothing",
          "[sem5]") {
  harness h;
  h.run([&](context&) {
    message_channel ch, sink;
    array_buffer b{8};
    typed_array t{element_kind::int16, b};
    data_view v{b};
    array_buffer shrunk{8};
    typed_array tail{element_kind::uint8, shrunk, 4, 4};
    shrunk.bytes().resize(6); // the view no longer fits
    auto p = ch.port1();
    ch.port2().on_message([&, ch, sink](message_event& ev) {
      h.log.add("got " + label(ev));
      close_all({ch.port1(), ch.port2(), sink.port1(), sink.port2()});
    });
    sink.port1().post_message(b, {b}); // b is detached now
    h.log.add(outcome([&] { p.post_message(t); }));
    h.log.add(outcome([&] { p.post_message(value::arr({1, v})); }));
    h.log.add(outcome([&] { p.post_message(tail); }));
    h.log.add("t.length=" + std::to_string(t.length()));
    p.post_message("end");
  });
  CHECK(h.log.lines()
        == lines{"DataCloneError", "DataCloneError", "DataCloneError",
                 "t.length=0", "got end"});
  h.require_clean();
}

TEST_CASE("5.5 a view over a buffer in the transfer list arrives over the "
          "transferred buffer",
          "[sem5]") {
  harness h;
  value got;
  array_buffer b{bytes{1, 2, 3, 4}};
  typed_array t{element_kind::uint8, b, 1, 2};
  h.run([&](context& page) {
    auto w = page.spawn("w", [&](context& self) {
      self.on_message([&](message_event& ev) {
        got = std::move(ev.data);
        this_context().close();
      });
    });
    w.post_message(value::arr({t, t}), {b});
  });
  h.require_clean();
  CHECK(b.detached());
  CHECK(t.length() == 0); // the sender's view is out of bounds now
  auto r = got[0].get<typed_array>();
  CHECK(r.length() == 2);
  CHECK(r.get(0) == 2);
  CHECK(r.buffer().bytes() == bytes{1, 2, 3, 4});
  CHECK(got[1].get<typed_array>().buffer().same_buffer(r.buffer()));
}
