#pragma once

#include <cstddef>
#include <type_traits>
#include <variant>

#include "entangle/value.hpp"

namespace entangle::detail {

template <class T, class... Ts>
constexpr std::size_t index_in(const std::variant<Ts...>*) noexcept {
  std::size_t i = 0;
  bool found = false;
  ((found = found || std::is_same_v<T, Ts>, i += found ? 0 : 1), ...);
  return i;
}

/// The index of alternative `T` in `value::variant_type` (a constant, for
/// `switch` on `var().index()`); `error_value`'s is its box's.
template <class T>
inline constexpr std::size_t variant_index = index_in<value_slot_t<T>>(
  static_cast<const value::variant_type*>(nullptr));

static_assert(variant_index<undefined_t> == 0);
static_assert(variant_index<boxed_primitive> == value::last_simple_index);

} // namespace entangle::detail
