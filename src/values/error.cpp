#include "entangle/error.hpp"

namespace entangle {

dom_exception::dom_exception(std::string name, const std::string& message)
  : std::runtime_error(name + ": " + message), name_(std::move(name)) {
  // nop
}

type_error::type_error(const std::string& message)
  : dom_exception(std::string{error_name::type}, message) {
  // nop
}

range_error::range_error(const std::string& message)
  : dom_exception(std::string{error_name::range}, message) {
  // nop
}

} // namespace entangle
