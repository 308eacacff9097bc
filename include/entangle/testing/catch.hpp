#pragma once

// Catch2 (v2) helpers for the testkit: expectations that read as sentences
// and print both sides when they fail.
//
//   CHECK(kit.step() == message_at(server_port, "ping"));
//   CHECK(kit.step() == close_at(client_port));
//   CHECK(kit.step() == message_in("worker", value{42}));
//   CHECK_FALSE(kit.step());            // nothing pending
//
// Include it after <catch2/catch.hpp> in test files only.

#include <optional>
#include <string>

#include <catch2/catch.hpp>

#include "entangle/testing/testkit.hpp"

namespace entangle::testing {

/// What a test expects the next delivery to be. Empty fields match anything.
struct expected_delivery {
  std::string type;
  std::optional<message_port> port;
  std::optional<std::string> context;
  std::optional<value> data;
};

/// A message event at `port`, with `data` if given.
inline expected_delivery message_at(message_port port) {
  return {"message", std::move(port), std::nullopt, std::nullopt};
}
inline expected_delivery message_at(message_port port, value data) {
  return {"message", std::move(port), std::nullopt, std::move(data)};
}

/// A message event in the context named `context` (e.g. at a worker's
/// global or worker object, which are not ports), with `data` if given.
inline expected_delivery message_in(std::string context) {
  return {"message", std::nullopt, std::move(context), std::nullopt};
}
inline expected_delivery message_in(std::string context, value data) {
  return {"message", std::nullopt, std::move(context), std::move(data)};
}

/// The close event at `port`.
inline expected_delivery close_at(message_port port) {
  return {"close", std::move(port), std::nullopt, std::nullopt};
}

/// A messageerror event at `port`.
inline expected_delivery messageerror_at(message_port port) {
  return {"messageerror", std::move(port), std::nullopt, std::nullopt};
}

inline bool operator==(const std::optional<delivery>& d,
                       const expected_delivery& e) {
  return d && d->type == e.type && (!e.port || d->port == *e.port)
         && (!e.context || d->context == *e.context)
         && (!e.data || d->data == *e.data);
}

inline std::string describe(const delivery& d) {
  return d.type + " in " + d.context
         + (d.port ? std::string{" at a port"} : std::string{" at its global"})
         + ": " + to_string(d.data)
         + (d.ports > 0 ? " (+" + std::to_string(d.ports) + " ports)" : "");
}

inline std::string describe(const expected_delivery& e) {
  std::string out = e.type;
  if (e.context)
    out += " in " + *e.context;
  if (e.port)
    out += " at the expected port";
  if (e.data)
    out += ": " + to_string(*e.data);
  return out;
}

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

} // namespace Catch
