// The size a message counts for against a port's byte mark
// (include/entangle/flow_control.hpp; flow_state.hpp).

#include "entangle/flow_control.hpp"

#include <vector>

#include "entangle/value.hpp"

namespace entangle {

std::size_t message_size(const value& v) {
  // Iterative: the value is not validated yet (the admission check runs
  // before structured clone rejects a too-deep one), so no recursion.
  std::size_t n = 0;
  std::vector<const value*> todo{&v};
  while (!todo.empty()) {
    const auto* x = todo.back();
    todo.pop_back();
    if (auto* s = x->get_if<std::string>()) {
      n += s->size();
    } else if (auto* b = x->get_if<array_buffer>()) {
      n += b->byte_length();
    } else if (auto* e = x->get_if<error_value>()) {
      n += e->name.size() + e->message.size();
    } else if (auto* a = x->get_if<array>()) {
      n += 8;
      for (auto& y : *a)
        todo.push_back(&y);
    } else if (auto* o = x->get_if<object>()) {
      n += 8;
      for (auto& [key, y] : *o) {
        n += key.size();
        todo.push_back(&y);
      }
    } else {
      n += 8;
    }
  }
  return n;
}

} // namespace entangle
