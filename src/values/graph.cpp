// Graph nodes and their memory: groups, external/internal handles, merging
// on store, and mark-and-sweep collection inside a group. The rules are at
// the top of graph_node.hpp; docs/architecture.md explains the design.

#include "values/graph_node.hpp"

#include <string>
#include <vector>

#include <fmt/format.h>

#include "entangle/error.hpp"
#include "values/value_index.hpp"

namespace entangle::detail {

namespace {

std::atomic<std::size_t> live_nodes{0};

void push_front(graph_group& g, graph_node& n) noexcept {
  n.group = &g;
  n.prev = nullptr;
  n.next = g.head;
  if (g.head != nullptr)
    g.head->prev = &n;
  g.head = &n;
  ++g.size;
}

void unlink(graph_group& g, graph_node& n) noexcept {
  if (n.prev != nullptr)
    n.prev->next = n.next;
  else
    g.head = n.next;
  if (n.next != nullptr)
    n.next->prev = n.prev;
  --g.size;
}

void destroy_node(graph_node* n) noexcept {
  live_nodes.fetch_sub(1, std::memory_order_relaxed);
  switch (n->kind) {
    case node_kind::object:
      delete static_cast<object_node*>(n);
      break;
    case node_kind::array:
      delete static_cast<array_node*>(n);
      break;
    default:
      delete static_cast<table_node*>(n);
      break;
  }
}

/// Frees a group and all its nodes: a loop, not a recursion, so a long
/// chain or a cycle costs no stack (internal handles free nothing).
void destroy_group(graph_group* g) noexcept {
  for (auto* n = g->head; n != nullptr;) {
    auto* next = n->next;
    destroy_node(n);
    n = next;
  }
  delete g;
}

} // namespace

graph_node* make_node(node_kind k) {
  std::unique_ptr<graph_node> n;
  switch (k) {
    case node_kind::object:
      n = std::make_unique<object_node>();
      break;
    case node_kind::array:
      n = std::make_unique<array_node>();
      break;
    default:
      n = std::make_unique<table_node>(k);
      break;
  }
  auto* g = new graph_group;
  push_front(*g, *n);
  n->ext.store(1, std::memory_order_relaxed); // the creating handle
  g->ext.store(1, std::memory_order_relaxed);
  live_nodes.fetch_add(1, std::memory_order_relaxed);
  return n.release();
}

void acquire(graph_node* n) noexcept {
  n->ext.fetch_add(1, std::memory_order_relaxed);
  n->group->ext.fetch_add(1, std::memory_order_relaxed);
}

void release_node(graph_node* n) noexcept {
  n->ext.fetch_sub(1, std::memory_order_relaxed);
  auto* g = n->group;
  if (g->ext.fetch_sub(1, std::memory_order_acq_rel) == 1)
    destroy_group(g);
}

namespace {

/// Moves the smaller group's nodes into the larger; returns the survivor.
graph_group* merge(graph_group* a, graph_group* b) noexcept {
  if (a == b)
    return a;
  if (a->size < b->size)
    std::swap(a, b);
  graph_node* last = nullptr;
  for (auto* n = b->head; n != nullptr; n = n->next) {
    n->group = a;
    last = n;
  }
  if (last != nullptr) {
    last->next = a->head;
    if (a->head != nullptr)
      a->head->prev = last;
    a->head = b->head;
  }
  a->size += b->size;
  a->live += b->live;
  a->ext.fetch_add(b->ext.load(std::memory_order_relaxed),
                   std::memory_order_relaxed);
  delete b;
  return a;
}

/// Calls `f` with every value stored in `n`.
template <class F>
void for_each_stored(const graph_node& n, F&& f) {
  switch (n.kind) {
    case node_kind::object:
      for (auto& kv : static_cast<const object_node&>(n).props)
        f(kv.second);
      break;
    case node_kind::array: {
      auto& a = static_cast<const array_node&>(n);
      for (auto& kv : a.elements)
        f(kv.second);
      for (auto& kv : a.props)
        f(kv.second);
      break;
    }
    default:
      static_cast<const table_node&>(n).table.for_each_value(f);
      break;
  }
}

} // namespace

void collect(graph_group& g) {
  std::vector<graph_node*> work;
  for (auto* n = g.head; n != nullptr; n = n->next) {
    n->marked = n->ext.load(std::memory_order_relaxed) > 0;
    if (n->marked)
      work.push_back(n);
  }
  std::vector<const value*> values;
  auto scan = [&](const value& root) {
    values.push_back(&root);
    while (!values.empty()) {
      auto* v = values.back();
      values.pop_back();
      if (auto* a = v->get_if<array>()) {
        for (auto& x : *a)
          values.push_back(&x);
      } else if (auto* o = v->get_if<object>()) {
        for (auto& kv : *o)
          values.push_back(&kv.second);
      } else if (auto* m = graph_access::node_of(*v);
                 m != nullptr && !m->marked) {
        m->marked = true;
        work.push_back(m);
      }
    }
  };
  while (!work.empty()) {
    auto* n = work.back();
    work.pop_back();
    for_each_stored(*n, scan);
  }
  for (auto* n = g.head; n != nullptr;) {
    auto* next = n->next;
    if (!n->marked) {
      unlink(g, *n);
      destroy_node(n);
    }
    n = next;
  }
  g.live = g.size;
}

void mutation::done() {
  auto& g = *n_->group;
  if (g.size >= 2 * g.live + 64)
    collect(g);
}

node_handle* graph_access::node_handle_of(value::variant_type& v) noexcept {
  switch (v.index()) {
    case variant_index<shared_object>:
      return std::get_if<shared_object>(&v);
    case variant_index<shared_array>:
      return std::get_if<shared_array>(&v);
    case variant_index<value_map>:
      return std::get_if<value_map>(&v);
    case variant_index<value_set>:
      return std::get_if<value_set>(&v);
    default:
      return nullptr;
  }
}

graph_node* graph_access::node_of(const value& x) noexcept {
  switch (x.var().index()) {
    case variant_index<shared_object>:
      return x.get_if<shared_object>()->node_;
    case variant_index<shared_array>:
      return x.get_if<shared_array>()->node_;
    case variant_index<value_map>:
      return x.get_if<value_map>()->node_;
    case variant_index<value_set>:
      return x.get_if<value_set>()->node_;
    default:
      return nullptr;
  }
}

void graph_access::adopt(graph_node& target, value& x) {
  auto take = [&target](node_handle& h) {
    if (h.node_ == nullptr || h.internal_)
      return;
    auto* g = merge(target.group, h.node_->group);
    // Never reaches 0 here: the target is pinned in the same group.
    h.node_->ext.fetch_sub(1, std::memory_order_relaxed);
    g->ext.fetch_sub(1, std::memory_order_relaxed);
    h.internal_ = true;
  };
  // Most stores are of one leaf: no stack for those.
  auto& top = x.var();
  if (!std::holds_alternative<array>(top)
      && !std::holds_alternative<object>(top)) {
    if (auto* h = node_handle_of(top))
      take(*h);
    return;
  }
  std::vector<value*> todo{&x};
  while (!todo.empty()) {
    auto* v = todo.back();
    todo.pop_back();
    auto& var = v->var();
    if (auto* a = std::get_if<array>(&var)) {
      for (auto& e : *a)
        todo.push_back(&e);
    } else if (auto* o = std::get_if<object>(&var)) {
      for (auto& kv : *o)
        todo.push_back(&kv.second);
    } else if (auto* h = node_handle_of(var)) {
      take(*h);
    }
  }
}

// -- node_handle ---------------------------------------------------------

node_handle::node_handle(const node_handle& other) noexcept
  : node_(other.node_) {
  if (node_ != nullptr)
    acquire(node_); // a copy is always external
}

node_handle& node_handle::operator=(const node_handle& other) noexcept {
  if (this != &other) {
    auto* old = node_;
    bool old_internal = internal_;
    node_ = other.node_;
    internal_ = false;
    if (node_ != nullptr)
      acquire(node_); // first: `old` may be the last hold on this group
    if (old != nullptr && !old_internal)
      release_node(old);
  }
  return *this;
}

node_handle& node_handle::operator=(node_handle&& other) noexcept {
  if (this != &other) {
    auto* old = node_;
    bool old_internal = internal_;
    node_ = other.node_;
    internal_ = other.internal_;
    other.node_ = nullptr;
    if (old != nullptr && !old_internal)
      release_node(old);
  }
  return *this;
}

void node_handle::release() noexcept {
  release_node(node_);
}

graph_node& node_handle::node(const char* type) const {
  if (node_ == nullptr)
    throw type_error(fmt::format("use of a moved-from {}", type));
  return *node_;
}

} // namespace entangle::detail

namespace entangle {

using detail::graph_access;
using detail::mutation;

std::size_t live_graph_nodes() noexcept {
  return detail::live_nodes.load(std::memory_order_relaxed);
}

void collect_graph(const detail::node_handle& x) {
  if (auto* n = graph_access::node(x)) {
    mutation m{*n};
    detail::collect(*n->group);
  }
}

} // namespace entangle
