#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "entangle/value.hpp"

namespace entangle::detail {

/// What a `clone_def` describes.
enum class def_kind : std::uint8_t {
  object,
  array,
  map,
  set,
  typed_array,
  data_view,
};

/// The in-flight form of a graph node or a buffer view: plain, acyclic data
/// that a wire encoder can write field by field (src/clone/ makes and reads
/// it). Within one message, graph nodes and buffers are numbered in
/// preorder as they are first met (a node before its contents); a later
/// occurrence is a `clone_ref` to that number, which is how sharing and
/// cycles travel as a tree (V8's ValueSerializer does the same).
///
/// Fields by kind:
/// - object: `props` are its properties.
/// - array: `length` is the JS length, `items` are (index as a Number,
///   element) pairs in index order (holes are absent indices), `props`
///   the extra named properties.
/// - map: `items` are (key, value) pairs in insertion order.
/// - set: `items` are the values in insertion order.
/// - typed_array: `element`, `offset` (bytes) and `length` (elements);
///   `items[0]` is the buffer (its first occurrence or a `clone_ref`).
/// - data_view: `offset` and `length` (bytes); `items[0]` the buffer.
struct clone_def {
  def_kind kind = def_kind::object;
  element_kind element = element_kind::uint8;
  std::uint64_t offset = 0;
  std::uint64_t length = 0;
  std::vector<value> items;
  std::vector<std::pair<std::string, value>> props;

  friend bool operator==(const clone_def& x, const clone_def& y) {
    return x.kind == y.kind && x.element == y.element
           && x.offset == y.offset && x.length == y.length
           && x.items == y.items && x.props == y.props;
  }
};

} // namespace entangle::detail
