// to_string(value): JSON-like text for logs, safe on graphs. A node
// reached again prints as Node's inspector prints it ("<ref *1>" where it
// is first shown, "[Circular *1]" inside itself, "[Ref *1]" elsewhere),
// and nesting past a fixed depth prints "[...]", so neither a cycle nor a
// deep value can exhaust the stack.

#include <cmath>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <fmt/format.h>

#include "entangle/value.hpp"
#include "values/clone_def.hpp"
#include "values/graph_node.hpp"

namespace entangle {

namespace {

constexpr std::size_t max_render_depth = 200;

std::string number_text(double d) {
  if (std::isnan(d))
    return "NaN";
  if (std::isinf(d))
    return d > 0 ? "Infinity" : "-Infinity";
  return fmt::format("{}", d);
}

/// Counts how often each node is reached (each node's contents once).
void count_refs(const value& root,
                std::unordered_map<const void*, int>& seen) {
  std::vector<std::pair<const value*, std::size_t>> todo{{&root, 0}};
  auto push_stored = [&](const detail::graph_node& n, std::size_t depth) {
    auto push = [&](const value& v) { todo.emplace_back(&v, depth + 1); };
    switch (n.kind) {
      case detail::node_kind::object:
        for (auto& kv : static_cast<const detail::object_node&>(n).props)
          push(kv.second);
        break;
      case detail::node_kind::array: {
        auto& a = static_cast<const detail::array_node&>(n);
        for (auto& kv : a.elements)
          push(kv.second);
        for (auto& kv : a.props)
          push(kv.second);
        break;
      }
      default:
        static_cast<const detail::table_node&>(n).table.for_each_value(push);
        break;
    }
  };
  while (!todo.empty()) {
    auto [v, depth] = todo.back();
    todo.pop_back();
    if (depth > max_render_depth)
      continue;
    if (auto* a = v->get_if<array>()) {
      for (auto& x : *a)
        todo.emplace_back(&x, depth + 1);
    } else if (auto* o = v->get_if<object>()) {
      for (auto& kv : *o)
        todo.emplace_back(&kv.second, depth + 1);
    } else if (auto* n = detail::graph_access::node_of(*v)) {
      if (seen[n]++ == 0)
        push_stored(*n, depth);
    }
  }
}

class renderer {
public:
  explicit renderer(std::string& out) : out_(out) {
    // nop
  }

  std::unordered_map<const void*, int> seen;

  void render(const value& x, std::size_t depth) {
    if (depth > max_render_depth) {
      out_ += "[...]";
      return;
    }
    std::visit([&](const auto& v) { show(v, depth); }, x.var());
  }

private:
  void show(undefined_t, std::size_t) {
    out_ += "undefined";
  }
  void show(null_t, std::size_t) {
    out_ += "null";
  }
  void show(bool b, std::size_t) {
    out_ += b ? "true" : "false";
  }
  void show(double d, std::size_t) {
    out_ += number_text(d);
  }
  void show(const bigint& b, std::size_t) {
    out_ += b.to_string();
    out_ += 'n';
  }
  void show(const std::string& s, std::size_t) {
    out_ += '"';
    out_ += s;
    out_ += '"';
  }
  void show(date d, std::size_t) {
    out_ += fmt::format("Date({})", d.time_value);
  }
  void show(const regexp& r, std::size_t) {
    out_ += fmt::format("/{}/{}", r.source(), r.flags());
  }
  void show(const boxed_primitive& b, std::size_t) {
    std::visit(
      [&](const auto& p) {
        using T = std::decay_t<decltype(p)>;
        if constexpr (std::is_same_v<T, bool>)
          out_ += fmt::format("[Boolean: {}]", p);
        else if constexpr (std::is_same_v<T, double>)
          out_ += fmt::format("[Number: {}]", number_text(p));
        else if constexpr (std::is_same_v<T, bigint>)
          out_ += fmt::format("[BigInt: {}n]", p.to_string());
        else
          out_ += fmt::format("[String: \"{}\"]", p);
      },
      b.value_of());
  }
  void show(const detail::error_box& box, std::size_t) {
    out_ += fmt::format("{}: {}", box.get().name, box.get().message);
  }
  void show(const array_buffer& b, std::size_t) {
    out_ += b.detached() ? std::string{"ArrayBuffer(detached)"}
                         : fmt::format("ArrayBuffer({})", b.byte_length());
  }
  void show(const typed_array& t, std::size_t) {
    out_ += fmt::format("{}({}) [", to_string(t.kind()), t.length());
    auto n = std::min<std::size_t>(t.length(), 16);
    for (std::size_t i = 0; i < n; ++i) {
      if (i > 0)
        out_ += ", ";
      if (is_bigint_kind(t.kind()))
        out_ += t.get_bigint(i).to_string() + "n";
      else
        out_ += number_text(t.get(i));
    }
    if (t.length() > n)
      out_ += ", ...";
    out_ += ']';
  }
  void show(const data_view& v, std::size_t) {
    out_ += fmt::format("DataView({})", v.byte_length());
  }
  void show(const array& a, std::size_t depth) {
    out_ += '[';
    for (std::size_t i = 0; i < a.size(); ++i) {
      if (i > 0)
        out_ += ", ";
      render(a[i], depth + 1);
    }
    out_ += ']';
  }
  void members(const object& o, std::size_t depth, bool first) {
    for (auto& [k, v] : o) {
      if (!first)
        out_ += ", ";
      first = false;
      out_ += k;
      out_ += ": ";
      render(v, depth + 1);
    }
  }
  void show(const object& o, std::size_t depth) {
    out_ += '{';
    members(o, depth, true);
    out_ += '}';
  }
  /// Prints a node's reference label; returns false when it was shown
  /// already (only the label then).
  bool enter(const detail::node_handle& h) {
    auto* n = detail::graph_access::node(h);
    if (n == nullptr) {
      out_ += "<moved-from>";
      return false;
    }
    auto i = labels_.find(n);
    if (i != labels_.end()) {
      bool circular = open_.count(n) > 0;
      out_ += fmt::format("[{} *{}]", circular ? "Circular" : "Ref",
                          i->second);
      return false;
    }
    if (seen[n] > 1) {
      auto label = static_cast<int>(labels_.size()) + 1;
      labels_.emplace(n, label);
      out_ += fmt::format("<ref *{}> ", label);
    } else {
      labels_.emplace(n, 0);
    }
    open_.insert(n);
    return true;
  }
  void leave(const detail::node_handle& h) {
    open_.erase(detail::graph_access::node(h));
  }
  void show(const shared_object& o, std::size_t depth) {
    if (!enter(o))
      return;
    out_ += '{';
    members(o.properties(), depth, true);
    out_ += '}';
    leave(o);
  }
  void show(const shared_array& a, std::size_t depth) {
    if (!enter(a))
      return;
    out_ += '[';
    bool first = true;
    auto sep = [&] {
      if (!first)
        out_ += ", ";
      first = false;
    };
    std::uint64_t next = 0;
    auto holes = [&](std::uint64_t upto) {
      if (upto > next) {
        sep();
        auto n = upto - next;
        out_ += fmt::format("<{} empty item{}>", n, n == 1 ? "" : "s");
      }
    };
    for (auto& [i, v] : a.elements()) {
      holes(i);
      sep();
      render(v, depth + 1);
      next = std::uint64_t{i} + 1;
    }
    holes(a.length());
    members(a.properties(), depth, first);
    out_ += ']';
    leave(a);
  }
  void show(const value_map& m, std::size_t depth) {
    if (!enter(m))
      return;
    out_ += fmt::format("Map({}) {{", m.size());
    bool first = true;
    for (auto& [k, v] : m) {
      out_ += first ? "" : ", ";
      first = false;
      render(k, depth + 1);
      out_ += " => ";
      render(v, depth + 1);
    }
    out_ += '}';
    leave(m);
  }
  void show(const value_set& s, std::size_t depth) {
    if (!enter(s))
      return;
    out_ += fmt::format("Set({}) {{", s.size());
    bool first = true;
    for (auto& v : s) {
      out_ += first ? "" : ", ";
      first = false;
      render(v, depth + 1);
    }
    out_ += '}';
    leave(s);
  }
  void show(const message_port& p, std::size_t) {
    out_ += p ? "MessagePort" : "MessagePort(null)";
  }
  void show(const host_object& h, std::size_t) {
    out_ += fmt::format("[{}]", h.kind);
  }
  void show(detail::port_slot s, std::size_t) {
    out_ += fmt::format("<port #{}>", s.index);
  }
  void show(detail::clone_ref r, std::size_t) {
    out_ += fmt::format("<ref #{}>", r.id);
  }
  void show(const detail::clone_def_box&, std::size_t) {
    out_ += "<in flight>";
  }

  std::string& out_;
  std::unordered_map<const void*, int> labels_;
  std::unordered_set<const void*> open_;
};

} // namespace

std::string to_string(const value& x) {
  std::string out;
  renderer r{out};
  count_refs(x, r.seen);
  r.render(x, 0);
  return out;
}

} // namespace entangle
