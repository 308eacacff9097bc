#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <map>

#include "entangle/graph.hpp"
#include "values/value_table.hpp"

namespace entangle::detail {

enum class node_kind : std::uint8_t { object, array, map, set };

struct graph_group;

/// A graph node: one JS object with identity (its storage is in the
/// derived structs below).
///
/// Invariants (graph memory is owned by groups, not by handles):
/// - Every node is in exactly one group's list, the one `group` names.
/// - `ext` counts the external handles to the node; its group's `ext` is
///   their sum over the group. A group whose sum reaches 0 is freed with
///   all its nodes at once: nothing outside can reach any of them.
/// - Every handle inside a node's storage is internal and refers to a node
///   of the same group (storing one merges the groups first). Internal
///   handles count nothing, so no cycle of counts can keep garbage alive.
/// - Only the group frees a node: when the group dies, or when a
///   collection finds it unreachable from the nodes with `ext > 0`.
struct graph_node {
  explicit graph_node(node_kind k) noexcept : kind(k) {
    // nop
  }
  graph_group* group = nullptr;
  graph_node* prev = nullptr;
  graph_node* next = nullptr;
  std::atomic<std::size_t> ext{0};
  node_kind kind;
  bool marked = false;
};

struct object_node : graph_node {
  object_node() noexcept : graph_node(node_kind::object) {
    // nop
  }
  object props;
};

struct array_node : graph_node {
  array_node() noexcept : graph_node(node_kind::array) {
    // nop
  }
  std::uint32_t length = 0;
  std::map<std::uint32_t, value> elements;
  object props;
};

struct table_node : graph_node {
  explicit table_node(node_kind k) noexcept : graph_node(k) {
    // nop
  }
  value_table table;
};

/// A set of nodes that live and die together (see graph_node).
///
/// Invariants: `size` is the length of the list from `head`; `live` is the
/// size after the last collection (the next one runs once the group has
/// grown well past it, so collections cost O(1) per node added).
struct graph_group {
  graph_node* head = nullptr;
  std::size_t size = 0;
  std::size_t live = 0;
  std::atomic<std::size_t> ext{0};
};

/// Creates a node of kind `k` in a group of its own, with one external
/// handle: the caller's (a handle constructed from it adopts that count).
graph_node* make_node(node_kind k);

/// Counts one more external handle to `n`.
void acquire(graph_node* n) noexcept;

/// Counts one external handle to `n` less; frees the group when that was
/// the last one outside it.
void release_node(graph_node* n) noexcept;

/// Mark and sweep inside one group: the roots are the nodes with external
/// handles; the nodes they cannot reach are freed. Explicit stacks, no
/// recursion.
void collect(graph_group& g);

/// Holds an external reference to a node for the length of a mutation (a
/// store may turn the caller's last external handle into an internal one)
/// and collects the group afterwards if it has grown enough.
class mutation {
public:
  explicit mutation(graph_node& n) noexcept : n_(&n) {
    acquire(n_);
  }
  ~mutation() {
    release_node(n_);
  }
  mutation(const mutation&) = delete;
  mutation& operator=(const mutation&) = delete;

  /// The mutation succeeded: collect if due (before the pin goes, so the
  /// node being changed counts as a root).
  void done();

private:
  graph_node* n_;
};

template <class Node>
Node& as(graph_node& n) noexcept {
  return static_cast<Node&>(n);
}

/// The graph internals other files of values/ and clone/ need.
struct graph_access {
  static graph_node* node(const node_handle& h) noexcept {
    return h.node_;
  }

  /// The handle a graph-kind alternative holds, or nullptr.
  static node_handle* node_handle_of(value::variant_type& v) noexcept;

  /// The node a graph-kind value refers to, or nullptr.
  static graph_node* node_of(const value& x) noexcept;

  /// Makes every external handle in `x` (not looking into other nodes) an
  /// internal handle of `target`'s group, merging groups as needed.
  /// `target` must be pinned (an external handle held meanwhile).
  static void adopt(graph_node& target, value& x);
};

} // namespace entangle::detail
