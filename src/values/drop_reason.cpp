#include "entangle/drop_reason.hpp"

namespace entangle {

std::string_view to_string(drop_reason r) noexcept {
  switch (r) {
    case drop_reason::closed:
      return "closed";
    case drop_reason::doomed:
      return "doomed";
    case drop_reason::unentangled:
      return "unentangled";
    case drop_reason::context_gone:
      return "context_gone";
    case drop_reason::detached:
      return "detached";
    case drop_reason::foreign_context:
      return "foreign_context";
    case drop_reason::messageerror:
      return "messageerror";
    case drop_reason::origin_mismatch:
      return "origin_mismatch";
    case drop_reason::unreachable:
      return "unreachable";
    case drop_reason::ineligible:
      return "ineligible";
    case drop_reason::node_lost:
      return "node_lost";
  }
  return "unknown";
}

} // namespace entangle
