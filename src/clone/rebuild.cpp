// StructuredDeserialize: the receiver's half of a structured clone. The
// in-flight form is a tree (src/values/clone_def.hpp); this walks it in
// the order the sender wrote it, numbering graph nodes and buffers as the
// sender did, and turns it back into a graph: definitions into fresh nodes
// and views, references into the object of that number.

#include <fmt/format.h>

#include "clone/structured_clone.hpp"
#include "entangle/error.hpp"
#include "values/clone_def.hpp"

namespace entangle::detail {

namespace {

[[noreturn]] void malformed(const std::string& what) {
  // Only a corrupt form gets here (a wire decoder's input, later): the
  // receiver then fires messageerror.
  throw dom_exception(std::string{error_name::data_clone},
                      "malformed message: " + what);
}

/// Recursion depth is that of the form, which the sender bounded by
/// max_clone_depth; a reference is never followed, so a cycle ends.
class rebuilder {
public:
  explicit rebuilder(const std::vector<message_port>& ports)
    : ports_(ports) {
    // nop
  }

  void walk(value& x) {
    auto& v = x.var();
    if (auto* slot = std::get_if<port_slot>(&v)) {
      if (slot->index >= ports_.size())
        malformed(fmt::format("port slot {} of {}", slot->index,
                              ports_.size()));
      x = value{ports_[slot->index]};
    } else if (auto* b = std::get_if<array_buffer>(&v)) {
      defined_.emplace_back(*b); // the buffer itself is the receiver's
    } else if (auto* a = std::get_if<array>(&v)) {
      for (auto& e : *a)
        walk(e);
    } else if (auto* o = std::get_if<object>(&v)) {
      for (auto& kv : *o)
        walk(kv.second);
    } else if (auto* r = std::get_if<clone_ref>(&v)) {
      if (r->id >= defined_.size())
        malformed(fmt::format("reference {} before its definition", r->id));
      x = defined_[r->id];
    } else if (auto* d = std::get_if<clone_def_box>(&v)) {
      x = build(d->get());
    }
  }

private:
  value build(clone_def& d) {
    switch (d.kind) {
      case def_kind::object: {
        shared_object o;
        defined_.emplace_back(o); // before the contents: they may refer back
        for (auto& [k, v] : d.props) {
          walk(v);
          o.set(std::move(k), std::move(v));
        }
        return value{std::move(o)};
      }
      case def_kind::array: {
        shared_array a;
        defined_.emplace_back(a);
        if (d.length > shared_array::max_length || d.items.size() % 2 != 0)
          malformed("array shape");
        a.set_length(static_cast<std::uint32_t>(d.length));
        for (std::size_t i = 0; i < d.items.size(); i += 2) {
          auto index = d.items[i].as_integer<std::uint32_t>();
          walk(d.items[i + 1]);
          a.set(index, std::move(d.items[i + 1]));
        }
        for (auto& [k, v] : d.props) {
          walk(v);
          a.set_property(std::move(k), std::move(v));
        }
        return value{std::move(a)};
      }
      case def_kind::map: {
        value_map m;
        defined_.emplace_back(m);
        if (d.items.size() % 2 != 0)
          malformed("map shape");
        for (std::size_t i = 0; i < d.items.size(); i += 2) {
          walk(d.items[i]);
          walk(d.items[i + 1]);
          m.set(std::move(d.items[i]), std::move(d.items[i + 1]));
        }
        return value{std::move(m)};
      }
      case def_kind::set: {
        value_set s;
        defined_.emplace_back(s);
        for (auto& v : d.items) {
          walk(v);
          s.add(std::move(v));
        }
        return value{std::move(s)};
      }
      case def_kind::typed_array:
        return value{typed_array{d.element, view_buffer(d), d.offset,
                                 d.length}};
      case def_kind::data_view:
        return value{data_view{view_buffer(d), d.offset, d.length}};
    }
    malformed("unknown definition");
  }

  array_buffer view_buffer(clone_def& d) {
    if (d.items.size() != 1)
      malformed("view shape");
    walk(d.items[0]);
    auto* b = d.items[0].get_if<array_buffer>();
    if (b == nullptr)
      malformed("a view over something other than an ArrayBuffer");
    return *b;
  }

  const std::vector<message_port>& ports_;
  /// The receiver's object for each number, in definition order.
  std::vector<value> defined_;
};

/// A copy of `form` whose buffers are fresh (same bytes, new identity).
value copy_form(const value& x) {
  if (auto* b = x.get_if<array_buffer>())
    return value{array_buffer{b->bytes()}};
  if (auto* a = x.get_if<array>()) {
    array out;
    out.reserve(a->size());
    for (auto& e : *a)
      out.push_back(copy_form(e));
    return value{std::move(out)};
  }
  if (auto* o = x.get_if<object>()) {
    object out;
    for (auto& [k, v] : *o)
      out.emplace_hint(out.end(), k, copy_form(v));
    return value{std::move(out)};
  }
  if (auto* box = x.get_if<clone_def_box>()) {
    auto& d = box->get();
    auto out = std::make_unique<clone_def>();
    out->kind = d.kind;
    out->element = d.element;
    out->offset = d.offset;
    out->length = d.length;
    out->items.reserve(d.items.size());
    for (auto& v : d.items)
      out->items.push_back(copy_form(v));
    for (auto& [k, v] : d.props)
      out->props.emplace_back(k, copy_form(v));
    return value{clone_def_box{std::move(out)}};
  }
  return x;
}

void mark_slots(const value& x, std::vector<bool>& used) {
  if (auto* s = x.get_if<port_slot>()) {
    if (s->index < used.size())
      used[s->index] = true;
  } else if (auto* a = x.get_if<array>()) {
    for (auto& e : *a)
      mark_slots(e, used);
  } else if (auto* o = x.get_if<object>()) {
    for (auto& kv : *o)
      mark_slots(kv.second, used);
  } else if (auto* box = x.get_if<clone_def_box>()) {
    for (auto& e : box->get().items)
      mark_slots(e, used);
    for (auto& kv : box->get().props)
      mark_slots(kv.second, used);
  }
}

} // namespace

void rebuild(value& data, const std::vector<message_port>& ports) {
  rebuilder{ports}.walk(data);
}

value rebuild_copy(const value& form) {
  static const std::vector<message_port> no_ports;
  auto out = copy_form(form);
  rebuilder{no_ports}.walk(out);
  return out;
}

std::optional<std::string> check_form(const value& form, std::size_t ports) {
  std::vector<message_port> none(ports);
  try {
    auto out = copy_form(form);
    rebuilder{none}.walk(out);
  } catch (const std::exception& e) {
    return std::string{e.what()};
  }
  return std::nullopt;
}

std::vector<bool> referenced_port_slots(const value& form,
                                        std::size_t count) {
  std::vector<bool> used(count, false);
  mark_slots(form, used);
  return used;
}

} // namespace entangle::detail
