// The value API itself (no messaging): member and integer accessors, their
// errors, BigInt arithmetic and conversions, typed-array element
// conversions as ECMAScript defines them, rendering of graphs.

#include <cmath>
#include <limits>

#include "support.hpp"

using namespace entangle;
using namespace entangle::test;

namespace {

/// Runs `f`; returns "ok" or "<name>: <message>" of what it threw.
template <class F>
std::string error_of(F&& f) {
  try {
    f();
    return "ok";
  } catch (const dom_exception& e) {
    return e.what();
  }
}

} // namespace

TEST_CASE("5.2 ergonomics: contains, find and get_or read objects and "
          "shared objects alike",
          "[sem5]") {
  shared_object shared{object{{"n", 7}, {"s", "x"}}};
  for (auto& v : {value::obj({{"n", 7}, {"s", "x"}, {"u", undefined}}),
                  value{shared}}) {
    INFO(to_string(v));
    CHECK(v.is_object());
    CHECK(v.contains("n"));
    CHECK_FALSE(v.contains("missing"));
    REQUIRE(v.find("s") != nullptr);
    CHECK(v.find("s")->as_string() == "x");
    CHECK(v.find("missing") == nullptr);
    CHECK(v.get_or("n", 0) == 7);
    CHECK(v.get_or("missing", 3) == 3);
    CHECK(v.get_or("u", 4) == 4); // undefined reads as missing
    CHECK(v.get_or("s", "fallback") == "x");
    CHECK(v.get_or("missing", "fallback") == "fallback");
    CHECK(v.get_or("n", 0.5) == 7.0);
    CHECK(v.get_or("n", value{}).as_number() == 7);
    CHECK(error_of([&] { v.get_or("s", 1); })
          == "TypeError: member 's': value holds string, not number or "
             "bigint");
    CHECK(error_of([&] { v.get_or<std::uint8_t>("n", 1); }) == "ok");
  }
  value number = 3;
  CHECK_FALSE(number.contains("n"));
  CHECK(number.find("n") == nullptr);
  CHECK(error_of([&] { number.get_or("n", 1); })
        == "TypeError: cannot read member 'n' of a number");
}

TEST_CASE("5.2 ergonomics: a missing key is an error that names it and the "
          "keys there are",
          "[sem5]") {
  auto v = value::obj({{"alpha", 1}, {"beta", 2}});
  CHECK(error_of([&] { v["gamma"]; })
        == "TypeError: object has no member 'gamma' (it has: alpha, beta)");
  CHECK(error_of([&] { value::obj({})["x"]; })
        == "TypeError: object has no member 'x' (it has none)");
  shared_object o;
  CHECK(error_of([&] { value{o}.at("x"); })
        == "TypeError: object has no member 'x' (it has none)");
  CHECK(error_of([&] { value::arr({1})[std::size_t{1}]; })
        == "RangeError: index 1 out of range (length 1)");
  CHECK(error_of([&] { value{"s"}[std::size_t{0}]; })
        == "TypeError: cannot read index 0 of a string");
}

TEST_CASE("5.2 ergonomics: integer accessors check integrality and range",
          "[sem5]") {
  CHECK(value{3.0}.as_int32() == 3);
  CHECK(value{-0.0}.as_uint32() == 0);
  CHECK(value{4294967295.0}.as_uint32() == 4294967295u);
  CHECK(value{9007199254740992.0}.as_int64() == 9007199254740992);
  CHECK(value{bigint::parse("18446744073709551615")}.as_uint64()
        == std::numeric_limits<std::uint64_t>::max());
  CHECK(value{bigint{-5}}.as_integer<short>() == -5);
  CHECK(error_of([] { value{3.5}.as_int32(); })
        == "RangeError: 3.5 is not an integer that fits in a 32-bit signed "
           "integer");
  CHECK(error_of([] { value{2147483648.0}.as_int32(); }) != "ok");
  CHECK(error_of([] { value{-1.0}.as_size(); }) != "ok");
  CHECK(error_of([] { value{std::nan("")}.as_int64(); }) != "ok");
  CHECK(error_of([] { value{9223372036854775808.0}.as_int64(); }) != "ok");
  CHECK(error_of([] { value{bigint::parse("18446744073709551616")}
                        .as_uint64(); })
        == "RangeError: 18446744073709551616n does not fit in a 64-bit "
           "unsigned integer");
  CHECK(error_of([] { value{"7"}.as_int32(); })
        == "TypeError: value holds string, not number or bigint");
}

TEST_CASE("BigInt: parsing, printing, arithmetic and conversions",
          "[values]") {
  auto x = bigint::parse("  -123456789012345678901234567890 ");
  CHECK(x.to_string() == "-123456789012345678901234567890");
  CHECK(bigint::parse("0x1F").to_string() == "31");
  CHECK(bigint::parse("0b101").to_string() == "5");
  CHECK(bigint::parse("0o17").to_string() == "15");
  CHECK(bigint::parse("").sign() == 0);
  CHECK(bigint::parse("007").to_string() == "7"); // decimal, not octal
  CHECK(error_of([] { bigint::parse("1.5"); }).rfind("SyntaxError", 0) == 0);
  CHECK(error_of([] { bigint::parse("-0x1"); }).rfind("SyntaxError", 0) == 0);
  CHECK(bigint::parse("255").to_string(16) == "ff");
  CHECK(bigint::parse("-35").to_string(36) == "-z");
  auto two64 = bigint::parse("18446744073709551616");
  CHECK(two64 - bigint{1} == bigint{std::numeric_limits<std::uint64_t>::max()});
  CHECK(bigint{std::numeric_limits<std::int64_t>::max()} + bigint{1}
        == bigint::parse("9223372036854775808"));
  CHECK(two64 * two64
        == bigint::parse("340282366920938463463374607431768211456"));
  CHECK(x / bigint{7} == bigint::parse("-17636684144620811271604938270"));
  CHECK(x % bigint{7} == bigint{0});
  CHECK(bigint{-7} / bigint{2} == bigint{-3}); // truncates toward zero
  CHECK(bigint{-7} % bigint{2} == bigint{-1}); // the dividend's sign
  CHECK(bigint{std::numeric_limits<std::int64_t>::min()} / bigint{-1}
        == bigint::parse("9223372036854775808"));
  CHECK(error_of([] { bigint{1} / bigint{}; })
        == "RangeError: BigInt division by zero");
  CHECK(x < bigint{0});
  CHECK(two64 > bigint{std::numeric_limits<std::int64_t>::max()});
  CHECK(bigint::from_magnitude(true, x.magnitude()) == x);
  CHECK(two64.magnitude() == bytes{1, 0, 0, 0, 0, 0, 0, 0, 0});
  CHECK(two64.hash() == bigint::parse("0x10000000000000000").hash());
  CHECK(two64.to_double() == 18446744073709551616.0);
  // 2^64 + 2^11 + 1 rounds up to 2^64 + 2^12; 2^64 + 2^11 ties to even.
  CHECK(bigint::parse("18446744073709553665").to_double()
        == 18446744073709555712.0);
  CHECK(bigint::parse("18446744073709553664").to_double()
        == 18446744073709551616.0);
  CHECK(std::isinf(bigint::parse("1" + std::string(400, '0')).to_double()));
}

TEST_CASE("typed arrays convert elements as ECMAScript does", "[values]") {
  typed_array i8{element_kind::int8, 1}, u8c{element_kind::uint8_clamped, 1},
    u32{element_kind::uint32, 1}, f16{element_kind::float16, 1},
    b64{element_kind::bigint64, 1}, bu64{element_kind::biguint64, 1};
  auto put = [](typed_array& t, double x) {
    t.set(0, x);
    return t.get(0);
  };
  CHECK(put(i8, 200) == -56);
  CHECK(put(i8, -129.9) == 127);
  CHECK(put(i8, std::nan("")) == 0);
  CHECK(put(i8, HUGE_VAL) == 0);
  CHECK(put(u8c, 1.5) == 2);
  CHECK(put(u8c, 2.5) == 2); // half to even
  CHECK(put(u8c, -3) == 0);
  CHECK(put(u8c, 300) == 255);
  CHECK(put(u32, -1) == 4294967295.0);
  CHECK(put(u32, 4294967296.0 + 5) == 5);
  CHECK(put(f16, 1.0 / 3) == 0.333251953125);
  CHECK(put(f16, 65519) == 65504);
  CHECK(std::isinf(put(f16, 65520)));
  CHECK(put(f16, std::ldexp(1.0, -24)) == std::ldexp(1.0, -24));
  CHECK(put(f16, 2.9e-8) == 0);
  CHECK(std::isnan(put(f16, std::nan(""))));
  b64.set(0, bigint::parse("18446744073709551621")); // 2^64 + 5
  CHECK(b64.get_bigint(0) == bigint{5});
  bu64.set(0, bigint{-1});
  CHECK(bu64.get_bigint(0).to_string() == "18446744073709551615");
  CHECK(error_of([&] { b64.set(0, 1.0); }).rfind("TypeError", 0) == 0);
  CHECK(error_of([&] { i8.get_bigint(0); }).rfind("TypeError", 0) == 0);
  CHECK(error_of([&] { i8.get(1); }).rfind("RangeError", 0) == 0);
  CHECK(error_of([] {
          typed_array{element_kind::int32, array_buffer{8}, 2};
        }).rfind("RangeError", 0)
        == 0);
  data_view dv{array_buffer{4}};
  CHECK(error_of([&] { dv.get(element_kind::int32, 1); })
          .rfind("RangeError", 0)
        == 0);
  CHECK(error_of([&] { dv.get(element_kind::uint8_clamped, 0); })
          .rfind("TypeError", 0)
        == 0);
}

TEST_CASE("to_string renders shared objects once and cycles as references",
          "[values]") {
  shared_object a;
  shared_array list{array{a, a}};
  a.set("list", list);
  CHECK(to_string(list)
        == "<ref *1> [<ref *2> {list: [Circular *1]}, [Ref *2]]");
  value_map m{{"k", value_set{1, "two"}}};
  CHECK(to_string(m) == "Map(1) {\"k\" => Set(2) {1, \"two\"}}");
  CHECK(to_string(boxed_primitive{false}) == "[Boolean: false]");
}

TEST_CASE("an Error held by a value reads, copies and moves like any "
          "alternative, and costs no value more than an object does",
          "[values]") {
  // The Error sits behind a pointer (detail::error_box) so that its two
  // strings do not set every value's size; its API is unchanged.
  static_assert(sizeof(value) < sizeof(error_value) + sizeof(std::size_t),
                "an Error held inline would set every value's size");
  value v{error_value{"TypeError", "bad"}};
  CHECK(v.is<error_value>());
  CHECK_FALSE(v.is<std::string>());
  CHECK(std::string{v.type_name()} == "error");
  REQUIRE(v.get_if<error_value>() != nullptr);
  CHECK(v.get<error_value>().name == "TypeError");
  CHECK(value{1.0}.get_if<error_value>() == nullptr);
  CHECK(error_of([] { (void) value{1.0}.get<error_value>(); })
        == "TypeError: value holds number, not error");
  // A copy is deep: changing it leaves the original alone.
  value c = v;
  c.get<error_value>().message = "changed";
  CHECK(v.get<error_value>().message == "bad");
  CHECK(c != v);
  c.get<error_value>().message = "bad";
  CHECK(c == v);
  // A moved-from value still reads as an Error (a default one), no crash.
  value m = std::move(v);
  CHECK(m.get<error_value>().message == "bad");
  CHECK(v.is<error_value>()); // NOLINT(bugprone-use-after-move)
  CHECK(v.get<error_value>().name == "Error");
  v.get<error_value>().message = "again"; // writable: boxed anew
  CHECK(v.get<error_value>().message == "again");
  CHECK(to_string(value::obj({{"e", error_value{"RangeError", "r"}}}))
        == "{e: RangeError: r}");
}
