#include "entangle/array_buffer.hpp"

namespace entangle {

namespace {

const std::vector<std::uint8_t>& empty_bytes() {
  static const std::vector<std::uint8_t> empty;
  return empty;
}

} // namespace

array_buffer::array_buffer() : state_(std::make_shared<state>()) {
  // nop
}

array_buffer::array_buffer(std::size_t n) : state_(std::make_shared<state>()) {
  state_->bytes.resize(n);
}

array_buffer::array_buffer(std::vector<std::uint8_t> bytes)
  : state_(std::make_shared<state>()) {
  state_->bytes = std::move(bytes);
}

std::size_t array_buffer::byte_length() const noexcept {
  return state_->bytes.size();
}

bool array_buffer::detached() const noexcept {
  return state_->detached;
}

const std::vector<std::uint8_t>& array_buffer::bytes() const noexcept {
  return state_->detached ? empty_bytes() : state_->bytes;
}

std::vector<std::uint8_t>& array_buffer::bytes() noexcept {
  // A detached buffer's vector is empty (moved out and cleared on detach).
  return state_->bytes;
}

} // namespace entangle
