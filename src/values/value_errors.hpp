#pragma once

#include <string_view>

#include "entangle/value.hpp"

namespace entangle::detail {

/// Throws the type_error for reading a missing member: it names the key
/// and the keys there are (up to eight).
[[noreturn]] void throw_missing_member(std::string_view key,
                                       const object& props);

} // namespace entangle::detail
