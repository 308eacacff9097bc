// The remote node, guarding the links (see node.hpp and
// docs/architecture.md, "Across processes"): a message that cannot cross
// (it has no wire form) goes as a stand-in that fires `messageerror` at
// the receiving port, in its place. Split from node.cpp, which keeps the
// link table and the frame handlers.

#include "remote/node.hpp"

#include <utility>

#include <fmt/format.h>

#include "contexts/world.hpp"

namespace entangle::detail::remote {

namespace {

/// The longest reason a stand-in carries (the rest is cut).
constexpr std::size_t max_why = 256;

} // namespace

void node_state::cannot_cross(link& l, envelope&& e, std::string why) {
  if (w_.cfg.warnings)
    fmt::print(stderr, "entangle: remote: a message cannot cross: {}\n", why);
  if (why.size() > max_why)
    why.resize(max_why);
  frame f;
  f.kind = frame_kind::user;
  f.dst = l.remote;
  f.seq = l.next_send;
  f.unencodable = true;
  f.text = std::move(why);
  send(l.node, f); // nothing in it that could fail to encode
  ++l.next_send;
  // Sent: numbered like any message, so order and credit hold; it is
  // counted (messageerror) where it fires, once.
  user_left(l, e.bytes, true);
  // Its ports do not cross: they close here (their peers get close), what
  // was queued on them counted as messageerror.
  serialized_message doomed = std::move(e.msg);
  doomed.fate = drop_reason::messageerror;
}

} // namespace entangle::detail::remote
