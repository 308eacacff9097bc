// The graph kinds' API: shared_object, shared_array, value_map, value_set
// over the nodes and groups of graph.cpp (every store goes through
// graph_access::adopt inside a `mutation`).

#include <string>

#include <fmt/format.h>

#include "entangle/error.hpp"
#include "values/graph_node.hpp"
#include "values/value_errors.hpp"

namespace entangle {

using detail::array_node;
using detail::graph_access;
using detail::mutation;
using detail::node_kind;
using detail::object_node;
using detail::table_node;

// -- shared_object ------------------------------------------------------------

shared_object::shared_object()
  : node_handle(detail::make_node(node_kind::object)) {
  // nop
}

shared_object::shared_object(object properties) : shared_object() {
  auto& n = node("shared_object");
  value tmp{std::move(properties)};
  graph_access::adopt(n, tmp);
  detail::as<object_node>(n).props = std::move(tmp.get<object>());
}

std::size_t shared_object::size() const {
  return properties().size();
}

bool shared_object::contains(std::string_view key) const {
  return find(key) != nullptr;
}

const value* shared_object::find(std::string_view key) const {
  auto& props = properties();
  auto i = props.find(key);
  return i == props.end() ? nullptr : &i->second;
}

const value& shared_object::at(std::string_view key) const {
  if (auto* v = find(key))
    return *v;
  detail::throw_missing_member(key, properties());
}

void shared_object::set(std::string key, value x) const {
  auto& n = node("shared_object");
  mutation m{n};
  graph_access::adopt(n, x);
  detail::as<object_node>(n).props.insert_or_assign(std::move(key),
                                                    std::move(x));
  m.done();
}

bool shared_object::erase(std::string_view key) const {
  auto& props = detail::as<object_node>(node("shared_object")).props;
  auto i = props.find(key);
  if (i == props.end())
    return false;
  props.erase(i);
  return true;
}

const object& shared_object::properties() const {
  return detail::as<object_node>(node("shared_object")).props;
}

// -- shared_array -------------------------------------------------------------

namespace {

/// JS CanonicalNumericIndexString for array indices: "0" or a digit string
/// without a leading zero below 2^32 - 1.
bool array_index(std::string_view key, std::uint32_t& out) noexcept {
  if (key.empty() || key.size() > 10 || (key.size() > 1 && key[0] == '0'))
    return false;
  std::uint64_t n = 0;
  for (char c : key) {
    if (c < '0' || c > '9')
      return false;
    n = n * 10 + static_cast<std::uint64_t>(c - '0');
  }
  if (n >= shared_array::max_length)
    return false;
  out = static_cast<std::uint32_t>(n);
  return true;
}

} // namespace


shared_array::shared_array()
  : node_handle(detail::make_node(node_kind::array)) {
  // nop
}

shared_array::shared_array(array elements) : shared_array() {
  if (elements.size() >= max_length)
    throw range_error(fmt::format("{} elements exceed the largest array",
                                  elements.size()));
  auto& n = detail::as<array_node>(node("shared_array"));
  value tmp{std::move(elements)};
  graph_access::adopt(n, tmp);
  auto& src = tmp.get<array>();
  for (std::size_t i = 0; i < src.size(); ++i)
    n.elements.emplace_hint(n.elements.end(), static_cast<std::uint32_t>(i),
                            std::move(src[i]));
  n.length = static_cast<std::uint32_t>(src.size());
}

std::uint32_t shared_array::length() const {
  return detail::as<array_node>(node("shared_array")).length;
}

void shared_array::set_length(std::uint32_t len) const {
  auto& n = detail::as<array_node>(node("shared_array"));
  n.elements.erase(n.elements.lower_bound(len), n.elements.end());
  n.length = len;
}

bool shared_array::has(std::uint32_t i) const {
  return find(i) != nullptr;
}

const value* shared_array::find(std::uint32_t i) const {
  auto& elements = this->elements();
  auto it = elements.find(i);
  return it == elements.end() ? nullptr : &it->second;
}

const value& shared_array::at(std::uint32_t i) const {
  static const value hole;
  auto len = length();
  if (i >= len)
    throw range_error(
      fmt::format("index {} is out of range (length {})", i, len));
  auto* v = find(i);
  return v != nullptr ? *v : hole;
}

void shared_array::set(std::uint32_t i, value x) const {
  if (i == max_length)
    throw range_error(fmt::format("{} is not an array index", i));
  auto& n = detail::as<array_node>(node("shared_array"));
  mutation m{n};
  graph_access::adopt(n, x);
  n.elements.insert_or_assign(i, std::move(x));
  if (i >= n.length)
    n.length = i + 1;
  m.done();
}

void shared_array::push(value x) const {
  set(length(), std::move(x));
}

bool shared_array::erase(std::uint32_t i) const {
  return detail::as<array_node>(node("shared_array")).elements.erase(i) > 0;
}

const std::map<std::uint32_t, value>& shared_array::elements() const {
  return detail::as<array_node>(node("shared_array")).elements;
}

const object& shared_array::properties() const {
  return detail::as<array_node>(node("shared_array")).props;
}

void shared_array::set_property(std::string key, value x) const {
  std::uint32_t i = 0;
  if (array_index(key, i)) {
    set(i, std::move(x));
    return;
  }
  if (key == "length")
    throw type_error("an array's length is not a property here: use "
                     "shared_array::set_length");
  auto& n = detail::as<array_node>(node("shared_array"));
  mutation m{n};
  graph_access::adopt(n, x);
  n.props.insert_or_assign(std::move(key), std::move(x));
  m.done();
}

const value* shared_array::find_property(std::string_view key) const {
  std::uint32_t i = 0;
  if (array_index(key, i))
    return find(i);
  auto& props = properties();
  auto it = props.find(key);
  return it == props.end() ? nullptr : &it->second;
}

bool shared_array::erase_property(std::string_view key) const {
  std::uint32_t i = 0;
  if (array_index(key, i))
    return erase(i);
  auto& props = detail::as<array_node>(node("shared_array")).props;
  auto it = props.find(key);
  if (it == props.end())
    return false;
  props.erase(it);
  return true;
}

// -- value_map ----------------------------------------------------------------

namespace {

detail::value_table& table_of(detail::graph_node& n) noexcept {
  return detail::as<table_node>(n).table;
}

} // namespace

} // namespace entangle

namespace entangle::detail {

template <bool Keys>
typename table_iterator<Keys>::reference
table_iterator<Keys>::operator*() const {
  if constexpr (Keys)
    return t_->slot(i_).first;
  else
    return t_->slot(i_);
}

template <bool Keys>
table_iterator<Keys>& table_iterator<Keys>::operator++() {
  i_ = t_->next_live(i_ + 1);
  return *this;
}

template class table_iterator<false>;
template class table_iterator<true>;

} // namespace entangle::detail

namespace entangle {

value_map::value_map() : node_handle(detail::make_node(node_kind::map)) {
  // nop
}

value_map::value_map(std::initializer_list<std::pair<value, value>> entries)
  : value_map() {
  for (auto& [k, v] : entries)
    set(k, v);
}

std::size_t value_map::size() const {
  return table_of(node("value_map")).size();
}

bool value_map::contains(const value& key) const {
  return find(key) != nullptr;
}

const value* value_map::find(const value& key) const {
  auto* e = table_of(node("value_map")).find(key);
  return e != nullptr ? &e->second : nullptr;
}

const value& value_map::at(const value& key) const {
  if (auto* v = find(key))
    return *v;
  throw type_error(fmt::format("the map has no key {}", to_string(key)));
}

void value_map::set(value key, value x) const {
  auto& n = node("value_map");
  mutation m{n};
  graph_access::adopt(n, key);
  graph_access::adopt(n, x);
  table_of(n).assign(std::move(key), std::move(x));
  m.done();
}

bool value_map::erase(const value& key) const {
  return table_of(node("value_map")).erase(key);
}

void value_map::clear() const {
  table_of(node("value_map")).clear();
}

value_map::iterator value_map::begin() const {
  auto& t = table_of(node("value_map"));
  return iterator{&t, t.next_live(0)};
}

value_map::iterator value_map::end() const {
  auto& t = table_of(node("value_map"));
  return iterator{&t, t.slots()};
}

// -- value_set ----------------------------------------------------------------

value_set::value_set() : node_handle(detail::make_node(node_kind::set)) {
  // nop
}

value_set::value_set(std::initializer_list<value> items) : value_set() {
  for (auto& x : items)
    add(x);
}

std::size_t value_set::size() const {
  return table_of(node("value_set")).size();
}

bool value_set::contains(const value& x) const {
  return table_of(node("value_set")).find(x) != nullptr;
}

bool value_set::add(value x) const {
  auto& n = node("value_set");
  mutation m{n};
  graph_access::adopt(n, x);
  auto& t = table_of(n);
  if (t.find(x) != nullptr)
    return false;
  t.assign(std::move(x), value{});
  m.done();
  return true;
}

bool value_set::erase(const value& x) const {
  return table_of(node("value_set")).erase(x);
}

void value_set::clear() const {
  table_of(node("value_set")).clear();
}

value_set::iterator value_set::begin() const {
  auto& t = table_of(node("value_set"));
  return iterator{&t, t.next_live(0)};
}

value_set::iterator value_set::end() const {
  auto& t = table_of(node("value_set"));
  return iterator{&t, t.slots()};
}

} // namespace entangle
