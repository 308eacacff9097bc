#pragma once

// Typed messages the remote tests send between processes: `point` is
// registered under the same name in the test and in the test node;
// `only_here` only in the test (so it arrives as messageerror).

#include <cstdint>
#include <string>
#include <vector>

#include <caf/meta/type_name.hpp>

namespace remote_types {

struct point {
  std::int32_t x = 0;
  std::int32_t y = 0;
  std::string label;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, point& p) {
  return f(caf::meta::type_name("remote_types::point"), p.x, p.y, p.label);
}

struct only_here {
  std::string text;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, only_here& s) {
  return f(caf::meta::type_name("remote_types::only_here"), s.text);
}

} // namespace remote_types
