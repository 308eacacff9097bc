#pragma once

// A child node's remote::stats (tests/remote/test_node.cpp's `stats`
// service), read from the test's runtime.

#include <memory>

#include <catch2/catch.hpp>

#include "entangle/all.hpp"
#include "remote/child.hpp"
#include "remote/journal.hpp"

namespace remote_test {

/// A child's remote::stats, through its `stats` service.
inline entangle::object child_stats(entangle::runtime& rt, const child& c) {
  using namespace entangle;
  journal j;
  auto url = c.url("stats");
  auto out = std::make_shared<object>();
  rt.spawn("stats", [&j, url, out](context&) {
    auto p = remote::connect(url);
    p.on_message([&j, out](message_event& ev) {
      if (auto* o = ev.data.get_if<object>())
        *out = *o;
      j.add("stats");
    });
    p.start();
  });
  REQUIRE(j.wait_line("stats"));
  return *out;
}

inline double num(const entangle::object& o, const char* key) {
  return o.at(key).as_number();
}

} // namespace remote_test
