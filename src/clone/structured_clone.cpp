#include "clone/structured_clone.hpp"

#include <unordered_map>

#include <fmt/format.h>

#include "base/list_index.hpp"
#include "entangle/error.hpp"
#include "ports/port_object.hpp"
#include "values/buffer_access.hpp"
#include "values/clone_def.hpp"
#include "values/graph_node.hpp"

namespace entangle::detail {

namespace {

[[noreturn]] void data_clone_error(const std::string& what) {
  throw dom_exception(std::string{error_name::data_clone}, what);
}

const char* normalized_error_name(const std::string& name) {
  static constexpr const char* known[] = {
    "Error",          "EvalError", "RangeError", "ReferenceError",
    "SyntaxError",    "TypeError", "URIError",
  };
  for (auto* k : known)
    if (name == k)
      return k;
  return "Error";
}

/// StructuredSerializeInternal's memory: the first occurrence of a graph
/// node or a buffer gets the next number (preorder, a node before its
/// contents, so a cycle finds its own number); a later one is written as a
/// reference to it. Recursion is bounded by `max_depth`; a node reached
/// again is not entered again, so cycles end.
struct serializer {
  const list_index<const port_object*>& ports;
  const list_index<clone_access::state*>& transferred_buffers;
  std::size_t max_depth;

  struct buffer_copy {
    std::uint32_t id;
    array_buffer fresh; // the message's copy (transferred bytes at commit)
  };
  std::unordered_map<clone_access::state*, buffer_copy> buffers;
  std::unordered_map<const graph_node*, std::uint32_t> nodes;
  std::uint32_t next_id = 0;
  std::size_t buffer_bytes = 0;
  bool needs_rebuild = false;

  bool is_transferred(clone_access::state* s) const {
    return transferred_buffers.contains(s);
  }

  value copy(const value& x, std::size_t depth);

  std::unique_ptr<clone_def> def(def_kind k) {
    needs_rebuild = true;
    auto d = std::make_unique<clone_def>();
    d->kind = k;
    return d;
  }

  /// A graph node: its definition the first time, a reference after.
  template <class Handle, class Fill>
  value node(const Handle& h, const char* type, def_kind k, Fill&& fill) {
    auto* n = graph_access::node(h);
    if (n == nullptr)
      data_clone_error(fmt::format("a moved-from {} could not be cloned",
                                   type));
    needs_rebuild = true;
    if (auto i = nodes.find(n); i != nodes.end())
      return value{clone_ref{i->second}};
    nodes.emplace(n, next_id++); // before the contents: cycles refer back
    auto d = def(k);
    fill(*d);
    return value{clone_def_box{std::move(d)}};
  }

  value copy_buffer(const array_buffer& b) {
    auto* st = clone_access::get(b);
    if (auto i = buffers.find(st); i != buffers.end()) {
      needs_rebuild = true;
      return value{clone_ref{i->second.id}};
    }
    if (b.detached())
      data_clone_error("an ArrayBuffer is detached");
    array_buffer fresh;
    if (!is_transferred(st))
      fresh.bytes() = b.bytes(); // copy; transferred bytes move at commit
    buffer_bytes += b.byte_length();
    buffers.emplace(st, buffer_copy{next_id++, fresh});
    return value{std::move(fresh)};
  }

  /// A view: its kind and window, and its buffer (shared as buffers are).
  value view(def_kind k, const array_buffer& b, const char* what,
             bool out_of_bounds, std::size_t depth) {
    if (b.detached())
      data_clone_error(fmt::format("a {} views a detached (transferred) "
                                   "ArrayBuffer",
                                   what));
    if (out_of_bounds)
      data_clone_error(
        fmt::format("a {} is out of bounds of its ArrayBuffer", what));
    auto d = def(k);
    d->items.push_back(copy(value{b}, depth + 1));
    return value{clone_def_box{std::move(d)}};
  }

  value port_reference(const message_port& p) {
    if (!p)
      data_clone_error("a null MessagePort could not be cloned");
    if (auto i = ports.find(p.object().get()); i != ports.npos) {
      needs_rebuild = true;
      return value{detail::port_slot{static_cast<std::uint32_t>(i)}};
    }
    data_clone_error(
      "a MessagePort in the message is not in the transfer list (ports "
      "can only be transferred, never cloned)");
  }
};

struct copy_visitor {
  serializer& s;
  std::size_t depth;

  value operator()(const detail::error_box& box) {
    auto& e = box.get();
    return value{error_value{normalized_error_name(e.name), e.message}};
  }
  value operator()(const array_buffer& b) {
    return s.copy_buffer(b);
  }
  value operator()(const typed_array& t) {
    auto name = std::string{to_string(t.kind())};
    auto out = s.view(def_kind::typed_array, t.buffer(), name.c_str(),
                      t.out_of_bounds(), depth);
    auto& d = out.get<clone_def_box>().get();
    d.element = t.kind();
    d.offset = t.byte_offset();
    d.length = t.length();
    return out;
  }
  value operator()(const data_view& v) {
    auto out = s.view(def_kind::data_view, v.buffer(), "DataView",
                      v.out_of_bounds(), depth);
    auto& d = out.get<clone_def_box>().get();
    d.offset = v.byte_offset();
    d.length = v.byte_length();
    return out;
  }
  value operator()(const array& a) {
    array out;
    out.reserve(a.size());
    for (auto& v : a)
      out.push_back(s.copy(v, depth + 1));
    return value{std::move(out)};
  }
  value operator()(const object& o) {
    object out;
    for (auto& [k, v] : o)
      out.emplace_hint(out.end(), k, s.copy(v, depth + 1));
    return value{std::move(out)};
  }
  value operator()(const shared_object& o) {
    return s.node(o, "shared_object", def_kind::object, [&](clone_def& d) {
      for (auto& [k, v] : o.properties())
        d.props.emplace_back(k, s.copy(v, depth + 1));
    });
  }
  value operator()(const shared_array& a) {
    return s.node(a, "shared_array", def_kind::array, [&](clone_def& d) {
      d.length = a.length();
      for (auto& [i, v] : a.elements()) {
        d.items.emplace_back(static_cast<double>(i));
        d.items.push_back(s.copy(v, depth + 1));
      }
      for (auto& [k, v] : a.properties())
        d.props.emplace_back(k, s.copy(v, depth + 1));
    });
  }
  value operator()(const value_map& m) {
    return s.node(m, "value_map", def_kind::map, [&](clone_def& d) {
      for (auto& [k, v] : m) {
        d.items.push_back(s.copy(k, depth + 1));
        d.items.push_back(s.copy(v, depth + 1));
      }
    });
  }
  value operator()(const value_set& set) {
    return s.node(set, "value_set", def_kind::set, [&](clone_def& d) {
      for (auto& v : set)
        d.items.push_back(s.copy(v, depth + 1));
    });
  }
  value operator()(const message_port& p) {
    return s.port_reference(p);
  }
  value operator()(const host_object& h) {
    data_clone_error(fmt::format("{} could not be cloned",
                                 h.kind.empty() ? "a host object" : h.kind));
  }
  value operator()(detail::port_slot) {
    data_clone_error("an internal port slot could not be cloned");
  }
  value operator()(detail::clone_ref) {
    data_clone_error("an internal clone reference could not be cloned");
  }
  value operator()(const detail::clone_def_box&) {
    data_clone_error("an internal clone definition could not be cloned");
  }
  /// Primitives and plain data (serializer::copy returns them first).
  template <class T>
  value operator()(const T& x) {
    return value{x};
  }
};

value serializer::copy(const value& x, std::size_t depth) {
  if (depth > max_depth)
    data_clone_error(
      fmt::format("the message nests deeper than {} levels", max_depth));
  if (x.var().index() <= value::last_simple_index)
    return x; // primitives and plain data: the copy is the clone
  return std::visit(copy_visitor{*this, depth}, x.var());
}

} // namespace

/// Whether `x` is a plain tree within `max_depth`: primitives, Arrays and
/// Objects only (no buffer, view, shared node, port, error or host
/// object). Such a value shares nothing with the sender once copied, and
/// needs no memo, no validation and no rebuild: its C++ copy is its clone.
/// Allocates nothing (a walk, then one copy, is cheaper than the visitor's
/// node-by-node rebuild: a map's copy clones its tree without comparing
/// keys). A value nested too deep is not plain: the full path reports it.
bool plain_tree(const value& x, std::size_t depth, std::size_t max_depth) {
  if (depth > max_depth)
    return false;
  auto& v = x.var();
  if (v.index() <= value::last_simple_index)
    return true;
  if (auto* a = std::get_if<array>(&v)) {
    for (auto& e : *a)
      if (!plain_tree(e, depth + 1, max_depth))
        return false;
    return true;
  }
  if (auto* o = std::get_if<object>(&v)) {
    for (auto& [k, e] : *o)
      if (!plain_tree(e, depth + 1, max_depth))
        return false;
    return true;
  }
  return false;
}

serialized_message serialize_with_transfer(const clone_sender& from,
                                           const value& message,
                                           const transfer_list& transfer,
                                           const port_object* source,
                                           std::size_t max_depth) {
  // Fast path: nothing to transfer and a primitive value (the commonest
  // post) needs no validation, memo or commit: the copy is the clone.
  // So does a plain tree of Arrays and Objects (plain_tree).
  if (transfer.empty() && clones_as_copy(message, max_depth))
    return serialized_message{message};
  // -- WebIDL: the whole sequence is converted (nulls rejected) first ------
  for (std::size_t i = 0; i < transfer.size(); ++i)
    if (auto* p = transfer[i].port(); p != nullptr && !*p)
      throw type_error(
        fmt::format("transfer list item {} is a null MessagePort", i));

  // -- validate the transfer list before serializing anything --------------
  list_index<const port_object*> ports;
  list_index<clone_access::state*> buffers;
  std::vector<array_buffer> buffer_handles;
  for (std::size_t i = 0; i < transfer.size(); ++i) {
    auto& item = transfer[i];
    if (auto* p = item.port()) {
      auto* obj = p->object().get();
      if (obj == source)
        data_clone_error("the source port is in its own transfer list");
      if (ports.contains(obj))
        data_clone_error(fmt::format(
          "transfer list item {} is a duplicate MessagePort", i));
      if (obj->ctx_id != from.context_id)
        data_clone_error(fmt::format(
          "transfer list item {} is a MessagePort owned by another context",
          i));
      if (obj->detached.load(std::memory_order_relaxed))
        data_clone_error(fmt::format(
          "transfer list item {} is a detached MessagePort (already "
          "transferred or closed)",
          i));
      ports.insert(obj);
    } else {
      auto& b = *item.buffer();
      auto* st = clone_access::get(b);
      if (buffers.contains(st))
        data_clone_error(fmt::format(
          "transfer list item {} is a duplicate ArrayBuffer", i));
      if (b.detached())
        data_clone_error(
          fmt::format("transfer list item {} is a detached ArrayBuffer", i));
      buffers.insert(st);
      buffer_handles.push_back(b);
    }
  }

  // -- serialize: no side effect until this succeeded ----------------------
  serializer s{ports, buffers, max_depth, {}, {}};
  serialized_message out;
  out.data = s.copy(message, 0);
  out.buffer_bytes = s.buffer_bytes;
  out.needs_rebuild = s.needs_rebuild;

  // -- commit --------------------------------------------------------------
  for (auto& b : buffer_handles) {
    auto* st = clone_access::get(b);
    auto i = s.buffers.find(st);
    if (i != s.buffers.end()) {
      clone_access::move_bytes(b, i->second.fresh);
    } else {
      // Transferred but not referenced by the message: detached and lost,
      // as on the web.
      array_buffer sink;
      clone_access::move_bytes(b, sink);
    }
  }
  out.ports.reserve(ports.size());
  for (auto* obj : ports.items())
    out.ports.push_back(
      from.ship(from.context, const_cast<port_object&>(*obj)));
  return out;
}

std::optional<std::string> check_receivable(std::size_t buffer_bytes,
                                            std::size_t max_buffer_bytes) {
  if (max_buffer_bytes > 0 && buffer_bytes > max_buffer_bytes)
    return fmt::format("could not allocate {} bytes of ArrayBuffer data "
                       "(limit {})",
                       buffer_bytes, max_buffer_bytes);
  return std::nullopt;
}

} // namespace entangle::detail
