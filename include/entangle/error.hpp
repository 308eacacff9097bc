#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

namespace entangle {

/// The exception the web platform calls a `DOMException`: a spec-defined
/// error name (`DataCloneError`, `InvalidStateError`, `SyntaxError`, ...)
/// plus a human-readable message. Thrown synchronously by the operations the
/// HTML standard says throw; never thrown across a context boundary.
///
/// Invariant: a call that throws a `dom_exception` changed nothing (no port
/// shipped, no buffer detached, no message queued).
class dom_exception : public std::runtime_error {
public:
  dom_exception(std::string name, const std::string& message);

  /// The spec's error name, e.g. "DataCloneError".
  const std::string& name() const noexcept {
    return name_;
  }

  /// The message alone (`what()` is "Name: message").
  const char* message() const noexcept {
    return what() + name_.size() + 2;
  }

private:
  std::string name_;
};

/// WebIDL's `TypeError` (wrong argument shape, e.g. a null transfer item).
/// Distinct from `dom_exception` as in JavaScript; `name()` is "TypeError".
class type_error : public dom_exception {
public:
  explicit type_error(const std::string& message);
};

/// ECMAScript's `RangeError`: a number or index outside what an operation
/// accepts (an integer accessor given 3.5 or 2^40 for an int32, a typed
/// array index past its length, a BigInt division by zero). `name()` is
/// "RangeError".
class range_error : public dom_exception {
public:
  explicit range_error(const std::string& message);
};

namespace error_name {
inline constexpr std::string_view data_clone = "DataCloneError";
inline constexpr std::string_view invalid_state = "InvalidStateError";
inline constexpr std::string_view syntax = "SyntaxError";
inline constexpr std::string_view type = "TypeError";
inline constexpr std::string_view quota_exceeded = "QuotaExceededError";
inline constexpr std::string_view abort = "AbortError";
inline constexpr std::string_view timeout = "TimeoutError";
inline constexpr std::string_view range = "RangeError";
} // namespace error_name

} // namespace entangle
