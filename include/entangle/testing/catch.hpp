#pragma once

// Catch2 (v2) helpers for the testkit: expectations that read as sentences
// and print both sides when they fail, and explore() results that print
// their report.
//
//   CHECK(kit.step() == message_at(server_port, "ping"));
//   CHECK(kit.step() == close_at(client_port));
//   CHECK(kit.step() == message_in("worker", value{42}));
//   CHECK(kit.step() == typed_at<order>(port));
//   CHECK(kit.step() == error_in("page"));   // a worker of page failed
//   CHECK_FALSE(kit.step());            // nothing pending
//   CHECK(explore([](testkit& kit) { ... }));
//
// Include it after <catch2/catch.hpp> in test files only.

#include <optional>
#include <string>
#include <typeinfo>

#include <catch2/catch.hpp>

#include "entangle/testing/explore.hpp"
#include "entangle/testing/testkit.hpp"

namespace entangle::testing {

/// What a test expects the next delivery to be. Empty fields match anything.
struct expected_delivery {
  std::string type;
  std::optional<message_port> port;
  std::optional<std::string> context;
  std::optional<value> data;
  /// A typed message's C++ type.
  const std::type_info* typed = nullptr;
  /// The port's name when the expectation was made (for the report).
  std::string port_name;
};

/// A message event at `port`, with `data` if given.
inline expected_delivery message_at(message_port port) {
  auto name = testing::port_name(port);
  return {"message", std::move(port), std::nullopt, std::nullopt,
          nullptr, std::move(name)};
}
inline expected_delivery message_at(message_port port, value data) {
  auto e = message_at(std::move(port));
  e.data = std::move(data);
  return e;
}

/// A typed message (typed.hpp) of type T at `port`.
template <class T>
expected_delivery typed_at(message_port port) {
  auto e = message_at(std::move(port));
  e.typed = &typeid(T);
  return e;
}

/// A message event in the context named `context` (e.g. at a worker's
/// global or worker object, which are not ports), with `data` if given.
inline expected_delivery message_in(std::string context) {
  return {"message", std::nullopt, std::move(context), std::nullopt,
          nullptr, {}};
}
inline expected_delivery message_in(std::string context, value data) {
  auto e = message_in(std::move(context));
  e.data = std::move(data);
  return e;
}

/// The "error" event in the context named `context`: one of its workers
/// ended by an exception (at that worker's object, before its close), with
/// the exception's what() if given.
inline expected_delivery error_in(std::string context) {
  return {"error", std::nullopt, std::move(context), std::nullopt,
          nullptr, {}};
}
inline expected_delivery error_in(std::string context, std::string what) {
  auto e = error_in(std::move(context));
  e.data = value{std::move(what)};
  return e;
}

/// The close event at `port`.
inline expected_delivery close_at(message_port port) {
  auto e = message_at(std::move(port));
  e.type = "close";
  return e;
}

/// A messageerror event at `port`.
inline expected_delivery messageerror_at(message_port port) {
  auto e = message_at(std::move(port));
  e.type = "messageerror";
  return e;
}

inline bool operator==(const std::optional<delivery>& d,
                       const expected_delivery& e) {
  return d && d->type == e.type && (!e.port || d->port == *e.port)
         && (!e.context || d->context == *e.context)
         && (!e.data || d->data == *e.data)
         && (e.typed == nullptr
             || (d->typed_type != nullptr && *d->typed_type == *e.typed));
}

inline std::string describe(const delivery& d) {
  return to_string(d);
}

inline std::string describe(const expected_delivery& e) {
  std::string out = e.type;
  if (e.typed != nullptr)
    out += " of type " + type_display_name(*e.typed);
  if (e.port)
    out += " at port " + e.port_name;
  if (e.context)
    out += " in " + *e.context;
  if (e.data)
    out += ": " + to_string(*e.data);
  return out;
}

namespace detail_catch {

/// explore()'s replay command names the running Catch2 test case.
inline const bool test_names = (set_test_name_source([] {
                                  return Catch::getResultCapture()
                                    .getCurrentTestName();
                                }),
                                true);

} // namespace detail_catch

} // namespace entangle::testing

namespace Catch {

template <>
struct StringMaker<std::optional<entangle::testing::delivery>> {
  static std::string convert(const std::optional<entangle::testing::delivery>& d) {
    return d ? entangle::testing::describe(*d) : std::string{"nothing pending"};
  }
};

template <>
struct StringMaker<entangle::testing::expected_delivery> {
  static std::string convert(const entangle::testing::expected_delivery& e) {
    return entangle::testing::describe(e);
  }
};

template <>
struct StringMaker<entangle::testing::exploration> {
  static std::string convert(const entangle::testing::exploration& r) {
    return "\n" + r.report();
  }
};

} // namespace Catch
