// The remote node, guarding the links (see node.hpp and
// docs/architecture.md, "Across processes"): a message that cannot cross
// (it has no wire form) goes as a stand-in that fires `messageerror` at
// the receiving port, in its place; and what one peer can make this node
// keep is capped (runtime_config::remote_max_links, remote_max_early_*);
// a peer whose frame does not add up is banned (violation). Split from
// node.cpp, which keeps the link table and the frame handlers.

#include "remote/node.hpp"

#include <memory>
#include <string_view>
#include <utility>

#include <caf/node_id.hpp>
#include <fmt/format.h>

#include "contexts/world.hpp"

namespace entangle::detail::remote {

namespace {

/// The longest reason a stand-in carries (the rest is cut).
constexpr std::size_t max_why = 256;

} // namespace

std::unique_ptr<typed_payload> stand_in(const std::string& why) {
  constexpr std::string_view said = "a message from another process could "
                                    "not be sent: ";
  auto p = std::make_unique<typed_payload>();
  p->undeliverable = why.rfind(said, 0) == 0 ? why // relayed as it was
                                             : fmt::format("{}{}", said, why);
  return p;
}

void node_state::cannot_cross(link& l, envelope&& e, std::string why) {
  if (w_.cfg.warnings)
    fmt::print(stderr, "entangle: remote: a message cannot cross: {}\n", why);
  if (why.size() > max_why)
    why.resize(max_why);
  // Switched (a splice): the stand-in goes where user frames go now.
  bool succ = l.sp == link::splice::switched;
  auto node = succ ? l.sp_node : l.node;
  auto p = peers_.find(node);
  if (p == peers_.end() || p->second.version < wire_version_splice) {
    // A version 4 peer knows no stand-in: dropped and counted here, as
    // before version 5.
    user_left(l, e.bytes, false);
    current_core()->sched().drop(std::move(e.msg), drop_reason::messageerror);
    return;
  }
  frame f;
  f.kind = frame_kind::user;
  f.dst = succ ? l.sp_remote : l.remote;
  f.seq = succ ? l.sp_next_send : l.next_send;
  f.unencodable = true;
  f.text = std::move(why);
  send(node, f); // nothing in it that could fail to encode
  ++(succ ? l.sp_next_send : l.next_send);
  // Sent: numbered like any message, so order and credit hold; it is
  // counted (messageerror) where it fires, once.
  user_left(l, e.bytes, true);
  // Its ports do not cross: they close here (their peers get close), what
  // was queued on them counted as messageerror.
  serialized_message doomed = std::move(e.msg);
  doomed.fate = drop_reason::messageerror;
}

bool node_state::admit_links(const caf::node_id& from, std::size_t n) {
  if (n == 0)
    return true;
  auto p = peers_.find(from);
  auto held = (p == peers_.end() ? 0 : p->second.made) + tombstones_.of(from);
  auto cap = w_.cfg.remote_max_links;
  if (held <= cap && n <= cap - held)
    return true;
  violation(from, fmt::format("{} new links over the cap of {} ({} held)",
                              n, cap, held));
  return false;
}

bool node_state::admit_early(const caf::node_id& from, link& l,
                             const frame& f) {
  if (l.early.size() < w_.cfg.remote_max_early_frames
      && f.wire_size <= w_.cfg.remote_max_early_bytes
      && l.early_bytes <= w_.cfg.remote_max_early_bytes - f.wire_size)
    return true;
  violation(from, fmt::format("more frames ahead of number {} than a link "
                              "holds ({} frames, {} bytes; caps {}, {})",
                              l.next_recv, l.early.size() + 1,
                              l.early_bytes + f.wire_size,
                              w_.cfg.remote_max_early_frames,
                              w_.cfg.remote_max_early_bytes));
  return false;
}

void node_state::violation(const caf::node_id& node, const std::string& why) {
  if (node == self_) {
    // From a loop (node_loop.cpp): our own bug, never a reason to ban
    // ourselves.
    internal_error(why);
    return;
  }
  fmt::print(stderr,
             "entangle: remote: node {} sent a bad frame ({}); disconnected\n",
             caf::to_string(node), why);
  auto& p = peers_[node];
  if (p.st == peer::state::up || p.st == peer::state::reconnecting)
    --peers_up;
  p.st = peer::state::banned;
  p.unacked.clear();
  node_down(node, "protocol violation");
  // Counted last: whoever sees the violation (remote::stats) sees the node
  // loss it caused too.
  ++violations;
}

void node_state::internal_error(const std::string& what) {
  // Always logged (warnings or not): it is a bug to report.
  fmt::print(stderr, "entangle: remote: internal error: {}\n", what);
  ++internal_errors;
}

} // namespace entangle::detail::remote
