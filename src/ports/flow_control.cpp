// The size a message counts for against a port's byte mark
// (include/entangle/flow_control.hpp; flow_state.hpp).

#include "entangle/flow_control.hpp"

#include <unordered_set>
#include <vector>

#include "entangle/graph.hpp"
#include "entangle/typed_array.hpp"
#include "entangle/value.hpp"

namespace entangle {

std::size_t message_size(const value& v) {
  // Iterative: the value is not validated yet (the admission check runs
  // before structured clone rejects a too-deep one), so no recursion. What
  // the clone copies is what counts: buffers whole (a view copies its whole
  // buffer), and each graph node once however often it is reached (cycles
  // included). Buffers reached twice count twice: an upper bound is safe.
  std::size_t n = 0;
  std::vector<const value*> todo{&v};
  std::unordered_set<const void*> seen; // graph nodes already counted
  auto first_visit = [&](const detail::node_handle& h) {
    return seen.insert(h.identity()).second;
  };
  while (!todo.empty()) {
    const auto* x = todo.back();
    todo.pop_back();
    if (auto* s = x->get_if<std::string>()) {
      n += s->size();
    } else if (auto* b = x->get_if<array_buffer>()) {
      n += b->byte_length();
    } else if (auto* t = x->get_if<typed_array>()) {
      n += 8 + t->buffer().byte_length();
    } else if (auto* d = x->get_if<data_view>()) {
      n += 8 + d->buffer().byte_length();
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
    } else if (auto* so = x->get_if<shared_object>()) {
      n += 8;
      if (*so && first_visit(*so))
        for (auto& [key, y] : so->properties()) {
          n += key.size();
          todo.push_back(&y);
        }
    } else if (auto* sa = x->get_if<shared_array>()) {
      n += 8;
      if (*sa && first_visit(*sa)) {
        for (auto& [i, y] : sa->elements()) {
          n += 8;
          todo.push_back(&y);
        }
        for (auto& [key, y] : sa->properties()) {
          n += key.size();
          todo.push_back(&y);
        }
      }
    } else if (auto* m = x->get_if<value_map>()) {
      n += 8;
      if (*m && first_visit(*m))
        for (auto& entry : *m) {
          todo.push_back(&entry.first);
          todo.push_back(&entry.second);
        }
    } else if (auto* st = x->get_if<value_set>()) {
      n += 8;
      if (*st && first_visit(*st))
        for (auto& y : *st)
          todo.push_back(&y);
    } else {
      n += 8;
    }
  }
  return n;
}

} // namespace entangle
