#pragma once

// Values with identity: the objects of a graph (shared references and
// cycles). `value.hpp` includes this header; include either.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <iterator>
#include <map>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace entangle {

class value;

/// An Array as a C++ value (deep-copied, no identity).
using array = std::vector<value>;

/// A plain Object as a C++ value: own, enumerable, string-keyed properties
/// (deep-copied, no identity; kept sorted by key).
using object = std::map<std::string, value, std::less<>>;

namespace detail {

struct graph_node;
struct graph_access;
class value_table;

/// @private Iterates the live slots of a Map's or Set's table in insertion
/// order: a Set (`Keys`) yields each slot's key, a Map the whole entry.
template <bool Keys>
class table_iterator {
public:
  using value_type = std::conditional_t<Keys, value, std::pair<value, value>>;
  using reference = const value_type&;
  using pointer = const value_type*;
  using difference_type = std::ptrdiff_t;
  using iterator_category = std::forward_iterator_tag;

  table_iterator(const value_table* t, std::size_t i) noexcept
    : t_(t), i_(i) {
  }

  reference operator*() const;
  pointer operator->() const {
    return &**this;
  }
  table_iterator& operator++();
  friend bool operator==(const table_iterator& x,
                         const table_iterator& y) noexcept {
    return x.i_ == y.i_;
  }
  friend bool operator!=(const table_iterator& x,
                         const table_iterator& y) noexcept {
    return x.i_ != y.i_;
  }

private:
  const value_table* t_;
  std::size_t i_;
};

extern template class table_iterator<false>;
extern template class table_iterator<true>;

/// @private What every graph handle is: a counted reference to a node.
///
/// A handle is *external* (user code, a message event, a plain value) or
/// *internal* (stored inside a node). Only external handles keep a graph
/// alive and are the roots of its collection, so a cycle held by nothing
/// outside is freed (see docs/architecture.md, "Values and structured
/// clone"). Copying any handle yields an external one.
class node_handle {
public:
  node_handle(const node_handle& other) noexcept;
  node_handle(node_handle&& other) noexcept
    : node_(other.node_), internal_(other.internal_) {
    other.node_ = nullptr;
  }
  node_handle& operator=(const node_handle& other) noexcept;
  node_handle& operator=(node_handle&& other) noexcept;
  ~node_handle() {
    if (node_ != nullptr && !internal_)
      release();
  }

  /// Returns false only for a moved-from handle.
  explicit operator bool() const noexcept {
    return node_ != nullptr;
  }

  /// An address that is the same for every handle to one object (to hash
  /// or order handles by identity; never dereference it).
  const void* identity() const noexcept {
    return node_;
  }

protected:
  explicit node_handle(graph_node* fresh) noexcept : node_(fresh) {
    // nop
  }

  bool same_node(const node_handle& other) const noexcept {
    return node_ == other.node_;
  }

  /// @throws type_error for a moved-from handle.
  graph_node& node(const char* type) const;

private:
  friend struct graph_access;

  void release() noexcept;

  graph_node* node_ = nullptr;
  bool internal_ = false;
};

} // namespace detail

/// A JavaScript Object with identity: the same object wherever it is
/// referenced, also inside one posted message (the receiver gets one object
/// reached as often as the sender's, cycles included).
///
/// A `shared_object` is a reference, like `array_buffer`: copies of the
/// handle refer to one object. Properties are kept sorted by key, like
/// `object`. References returned by the accessors stay valid until that
/// property changes or the graph is released; copy a value to keep it.
///
/// A graph belongs to one context at a time, like a JS object: other
/// threads may read it (and copy handles) only while nobody changes it.
class shared_object : public detail::node_handle {
public:
  /// `{}`: a new empty object.
  shared_object();

  /// A new object with these properties.
  explicit shared_object(object properties);

  /// Returns the number of properties.
  std::size_t size() const;

  /// Returns whether the property `key` exists.
  bool contains(std::string_view key) const;

  /// Returns the property `key`, or nullptr.
  const value* find(std::string_view key) const;

  /// Returns the property `key`. @throws type_error naming a missing key.
  const value& at(std::string_view key) const;
  const value& operator[](std::string_view key) const {
    return at(key);
  }

  /// Sets the property `key` (adds it or replaces its value).
  void set(std::string key, value x) const;

  /// Deletes the property `key`; returns whether it existed.
  bool erase(std::string_view key) const;

  /// The properties, sorted by key.
  const object& properties() const;

  /// Identity, as JS `===`.
  friend bool operator==(const shared_object& x,
                         const shared_object& y) noexcept {
    return x.same_node(y);
  }
  friend bool operator!=(const shared_object& x,
                         const shared_object& y) noexcept {
    return !x.same_node(y);
  }

};

/// A JavaScript Array with identity, which may be sparse: `length()` is
/// the JS length (up to 2^32 - 1), indices without an element are holes
/// (`has(i)` is false and `at(i)` reads undefined), and named properties
/// other than indices ("extra properties") are kept beside the elements.
/// Elements live in an ordered map, so holes cost nothing; for large
/// dense data use `array` or a `typed_array`. A reference like
/// `shared_object`, with the same rules.
class shared_array : public detail::node_handle {
public:
  /// The largest length (indices are 0 to 2^32 - 2).
  static constexpr std::uint32_t max_length = 0xffffffffu;

  /// `[]`: a new empty array.
  shared_array();

  /// A new dense array with these elements.
  explicit shared_array(array elements);

  /// Returns the JS length (one past the last index, holes included).
  std::uint32_t length() const;

  /// `a.length = n`: drops the elements at `n` and above, or adds holes.
  void set_length(std::uint32_t n) const;

  /// Returns whether index `i` holds an element (false for a hole).
  bool has(std::uint32_t i) const;

  /// Returns element `i`, or nullptr for a hole or past the end.
  const value* find(std::uint32_t i) const;

  /// Returns element `i` (undefined for a hole).
  /// @throws range_error if `i >= length()`.
  const value& at(std::uint32_t i) const;
  const value& operator[](std::uint32_t i) const {
    return at(i);
  }

  /// Sets element `i`, extending the length past it if needed.
  /// @throws range_error if `i` is not an index (2^32 - 1).
  void set(std::uint32_t i, value x) const;

  /// Appends an element at index `length()`.
  void push(value x) const;

  /// `delete a[i]`: leaves a hole (the length stays); returns whether
  /// there was an element.
  bool erase(std::uint32_t i) const;

  /// The elements present, by index (holes are missing keys).
  const std::map<std::uint32_t, value>& elements() const;

  /// The named properties that are not indices, sorted by key.
  const object& properties() const;

  /// Sets a named property; a canonical index ("7") sets that element.
  void set_property(std::string key, value x) const;

  /// Returns the named property `key`, or nullptr.
  const value* find_property(std::string_view key) const;

  /// Deletes a named property (or the element, for an index key).
  bool erase_property(std::string_view key) const;

  friend bool operator==(const shared_array& x,
                         const shared_array& y) noexcept {
    return x.same_node(y);
  }
  friend bool operator!=(const shared_array& x,
                         const shared_array& y) noexcept {
    return !x.same_node(y);
  }

};

/// A JavaScript Map: entries in insertion order, any value as a key.
///
/// Keys compare as JS's SameValueZero: primitives by value (NaN equals
/// NaN, -0 equals 0, bigints and strings by content), references
/// (`shared_object`, `shared_array`, `value_map`, `value_set`,
/// `array_buffer`, `message_port`) by identity. A plain C++ value that is
/// an object in JS (`array`, `object`, `date`, a typed array...) stands
/// for a fresh object each time, so as a key it never matches another:
/// such entries are reached by iterating. A reference like
/// `shared_object`, with the same rules.
class value_map : public detail::node_handle {
public:
  using entry = std::pair<value, value>;

  /// Iterates the entries in insertion order.
  using iterator = detail::table_iterator<false>;

  /// `new Map()`.
  value_map();

  /// `new Map([[k, v], ...])` (a later duplicate key replaces the value).
  value_map(std::initializer_list<std::pair<value, value>> entries);

  std::size_t size() const;
  bool contains(const value& key) const;

  /// Returns the value for `key`, or nullptr.
  const value* find(const value& key) const;

  /// Returns the value for `key`. @throws type_error if missing.
  const value& at(const value& key) const;

  /// Adds the entry, or replaces the value of an existing key (which keeps
  /// its place in the order).
  void set(value key, value x) const;

  /// Deletes the entry; returns whether it existed.
  bool erase(const value& key) const;

  void clear() const;

  iterator begin() const;
  iterator end() const;

  friend bool operator==(const value_map& x, const value_map& y) noexcept {
    return x.same_node(y);
  }
  friend bool operator!=(const value_map& x, const value_map& y) noexcept {
    return !x.same_node(y);
  }

};

/// A JavaScript Set: values in insertion order, compared as `value_map`
/// compares keys. A reference like `shared_object`, with the same rules.
class value_set : public detail::node_handle {
public:
  /// Iterates the values in insertion order.
  using iterator = detail::table_iterator<true>;

  /// `new Set()`.
  value_set();

  /// `new Set([a, b, ...])` (duplicates kept once).
  value_set(std::initializer_list<value> items);

  std::size_t size() const;
  bool contains(const value& x) const;

  /// Adds `x` unless present; returns whether it was added.
  bool add(value x) const;

  /// Deletes `x`; returns whether it was present.
  bool erase(const value& x) const;

  void clear() const;

  iterator begin() const;
  iterator end() const;

  friend bool operator==(const value_set& x, const value_set& y) noexcept {
    return x.same_node(y);
  }
  friend bool operator!=(const value_set& x, const value_set& y) noexcept {
    return !x.same_node(y);
  }

};

/// Returns how many graph nodes (`shared_object`, `shared_array`,
/// `value_map`, `value_set`) exist in this process: a leak oracle for
/// tests, like `runtime::live_ports()`.
std::size_t live_graph_nodes() noexcept;

/// Frees the garbage of the graph `x` belongs to now instead of when it
/// next grows: nodes no handle outside the graph can reach. Never needed
/// for correctness (a graph nothing outside references is freed at once,
/// and a growing graph collects itself); a context may call it after
/// dropping a large part of a graph it keeps.
void collect_graph(const detail::node_handle& x);

} // namespace entangle

#include "entangle/value.hpp"
