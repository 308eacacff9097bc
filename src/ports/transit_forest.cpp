#include "ports/transit_forest.hpp"

#include <cassert>

#include "ports/port_record.hpp"

namespace entangle::detail {

transit_forest::~transit_forest() {
  // Every record detaches its node before it dies and every node of a dead
  // record is freed by the last cut below it, so nothing is left here once
  // the records are gone (internals_test checks nodes() == 0).
}

transit_forest::node* transit_forest::node_of(port_record& rec) {
  auto* x = rec.transit(std::memory_order_relaxed);
  if (x == nullptr) {
    x = new node;
    x->rec = &rec;
    ++nodes_;
    rec.set_transit(x, std::memory_order_release);
  }
  return x;
}

void transit_forest::release_if_unused(node* x) noexcept {
  // Unused: no holder and no children, so its splay tree is just itself
  // (its preferred path has no node above or below it) and nothing points
  // at it.
  if (x->holder != nullptr || x->children != 0)
    return;
  if (x->rec != nullptr)
    x->rec->set_transit(nullptr, std::memory_order_release);
  delete x;
  --nodes_;
}

bool transit_forest::is_splay_root(const node* x) noexcept {
  return x->parent == nullptr
         || (x->parent->left != x && x->parent->right != x);
}

void transit_forest::rotate(node* x) noexcept {
  node* p = x->parent;
  node* g = p->parent;
  bool p_was_root = is_splay_root(p);
  if (p->left == x) {
    p->left = x->right;
    if (x->right != nullptr)
      x->right->parent = p;
    x->right = p;
  } else {
    p->right = x->left;
    if (x->left != nullptr)
      x->left->parent = p;
    x->left = p;
  }
  p->parent = x;
  x->parent = g; // keeps p's path-parent when p was the splay root
  if (!p_was_root) {
    if (g->left == p)
      g->left = x;
    else
      g->right = x;
  }
}

void transit_forest::splay(node* x) noexcept {
  while (!is_splay_root(x)) {
    node* p = x->parent;
    if (!is_splay_root(p)) {
      node* g = p->parent;
      bool zigzig = (g->left == p) == (p->left == x);
      rotate(zigzig ? p : x);
    }
    rotate(x);
  }
}

void transit_forest::access(node* x) noexcept {
  // Standard access: splay x, drop its deeper part from the preferred
  // path, then splice x's path into each path-parent's in turn.
  splay(x);
  x->right = nullptr;
  while (x->parent != nullptr) {
    node* w = x->parent;
    splay(w);
    w->right = x;
    splay(x);
  }
}

void transit_forest::link(port_record& child, port_record& holder) {
  node* c = node_of(child);
  node* h = node_of(holder);
  assert(c->holder == nullptr && c != h);
  // `child` is a root of its tree: after access it is the splay root with
  // no left (shallower) part, so hanging it under `h` by a path-parent
  // pointer is a link of represented trees.
  access(c);
  c->parent = h;
  c->holder = h;
  ++h->children;
}

void transit_forest::cut(port_record& rec) {
  if (node* x = rec.transit(std::memory_order_relaxed))
    detach(x);
}

void transit_forest::detach(node* x) noexcept {
  if (node* h = x->holder) {
    // After access, x's left part is the path above it: split it off.
    access(x);
    x->left->parent = nullptr;
    x->left = nullptr;
    x->holder = nullptr;
    --h->children;
    release_if_unused(h);
  }
  release_if_unused(x);
}

port_record* transit_forest::find_root(port_record& rec) {
  node* x = rec.transit(std::memory_order_relaxed);
  if (x == nullptr || x->holder == nullptr)
    return &rec;
  access(x);
  node* r = x;
  while (r->left != nullptr)
    r = r->left;
  splay(r); // keeps the amortized bound
  return r->rec;
}

void transit_forest::forget(port_record& rec) noexcept {
  node* x = rec.transit(std::memory_order_relaxed);
  if (x == nullptr)
    return;
  x->rec = nullptr;
  rec.set_transit(nullptr, std::memory_order_relaxed);
  detach(x); // normally already cut: a record dies closed

}

} // namespace entangle::detail
