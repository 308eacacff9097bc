#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace entangle {

namespace detail {
struct clone_access;
} // namespace detail

/// A byte buffer with the reference semantics of JavaScript's `ArrayBuffer`.
///
/// Copies of an `array_buffer` handle refer to the *same* bytes (like two JS
/// variables holding one ArrayBuffer). Posting a buffer copies its bytes;
/// listing it in a transfer list moves them into the message and *detaches*
/// the source: every handle to it then reports `detached()` and a
/// `byte_length()` of 0.
///
/// Thread affinity: a buffer belongs to the context that created or received
/// it; the bytes travel between contexts only inside messages.
class array_buffer {
public:
  /// Creates an empty (0-byte) buffer.
  array_buffer();

  /// Creates a zero-filled buffer of `n` bytes.
  explicit array_buffer(std::size_t n);

  /// Creates a buffer that owns `bytes`.
  explicit array_buffer(std::vector<std::uint8_t> bytes);

  /// Returns the size in bytes; 0 once detached.
  std::size_t byte_length() const noexcept;

  /// Returns whether the buffer was transferred away.
  bool detached() const noexcept;

  /// Returns the bytes (empty once detached).
  const std::vector<std::uint8_t>& bytes() const noexcept;

  /// Returns the bytes for writing (empty once detached).
  std::vector<std::uint8_t>& bytes() noexcept;

  /// Returns whether both handles refer to the same buffer.
  bool same_buffer(const array_buffer& other) const noexcept {
    return state_ == other.state_;
  }

  /// Compares contents (not identity); a detached buffer equals an empty one.
  friend bool operator==(const array_buffer& x, const array_buffer& y) {
    return x.bytes() == y.bytes();
  }
  friend bool operator!=(const array_buffer& x, const array_buffer& y) {
    return !(x == y);
  }

private:
  friend struct detail::clone_access;

  struct state {
    std::vector<std::uint8_t> bytes;
    bool detached = false;
  };

  std::shared_ptr<state> state_;
};

} // namespace entangle
