#pragma once

#include <cstddef>
#include <cstdint>

namespace entangle::detail {

struct port_record;

/// A port record's node in the transit forest (see transit_forest).
struct transit_node {
  transit_node* parent = nullptr; // splay parent, or a splay root's path-parent
  transit_node* left = nullptr;   // shallower part of the preferred path
  transit_node* right = nullptr;  // deeper part
  transit_node* holder = nullptr; // the represented parent (null: a root)
  port_record* rec = nullptr;     // null once the record died
  std::uint32_t children = 0;     // represented children
};

/// How ports in transit are nested: record C is a child of record H while C
/// travels inside a message queued on H (H "holds" C). Roots are owned
/// ports, closed ones, and ports in transit that no queue holds (a message
/// being posted, or a window/connect message). A post into H that carries
/// a port R closes a cycle nothing can ever deliver exactly when R is the
/// root of H's tree (port_scheduler::closes_cycle).
///
/// A link-cut tree (Sleator and Tarjan): `find_root` costs O(log n)
/// amortized however deep the nesting, where walking up the holders costs
/// the depth on every post (building a nest of N ports top-down was
/// quadratic: 2.6 s at N = 16 000). Each node is a splay tree node whose
/// in-order is the preferred path from the top down; `parent` is either
/// the splay parent or, for a splay root, the path-parent.
///
/// Ownership: a record's node exists only while the record takes part in
/// a link (as child or as holder), so an idle port pays one null pointer
/// (`port_record::transit`). A node outlives its record while children are
/// still linked below it (a closed holder whose dropped queue's ports are
/// still being closed); the last cut frees it. `rec` is cleared when the
/// record dies, so a recycled address can never match.
///
/// Not thread-safe: every call runs under port_scheduler::transit_mu_.
class transit_forest {
public:
  transit_forest() = default;
  transit_forest(const transit_forest&) = delete;
  transit_forest& operator=(const transit_forest&) = delete;
  ~transit_forest();

  /// Makes `child` (a root) a child of `holder`.
  void link(port_record& child, port_record& holder);

  /// Detaches `rec` from its holder, if it has one (it was adopted or
  /// closed); frees nodes nobody needs any more.
  void cut(port_record& rec);

  /// The root of `rec`'s tree (`rec` itself when it has no holder). May
  /// return nullptr for a root whose record already died.
  port_record* find_root(port_record& rec);

  /// `rec` is being destroyed.
  void forget(port_record& rec) noexcept;

  /// Nodes alive (internals test: they return once links are gone).
  std::size_t nodes() const noexcept {
    return nodes_;
  }

private:
  using node = transit_node;

  node* node_of(port_record& rec);
  void release_if_unused(node* x) noexcept;
  void detach(node* x) noexcept;
  static bool is_splay_root(const node* x) noexcept;
  static void rotate(node* x) noexcept;
  static void splay(node* x) noexcept;
  /// Makes the path from the root to `x` preferred, with `x` the deepest
  /// node and the root of its splay tree.
  static void access(node* x) noexcept;

  std::size_t nodes_ = 0;
};

} // namespace entangle::detail
