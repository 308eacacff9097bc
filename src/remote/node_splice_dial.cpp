// Proxy collapse without a prior connection (docs/architecture.md, "Proxy
// collapse"; Mojo's node introduction): a relay's splice_prepare names the
// other endpoint's node and, when the relay knows it, where that node
// listens ("<node id> <host:port>"). An endpoint that is not up with that
// node dials it there with the dialer every connect uses (dialing_,
// dial_node: the simultaneous-dial handling, the connect timeout), and
// answers the relay only when the dial ended:
//
//   the node there is the one the relay named, up, version >= 5: ready{1}
//   anything else (refused, timed out, another node, one lost or banned
//   here, version 4, the old link closing meanwhile): ready{0}, and the
//   relay keeps relaying (it may try again later: node_splice.cpp)
//   a splice_abort first: ready{0} then (every prepare gets one answer)
//
// Invariants (node-context thread):
// - a link `dialing` has its successor name in successors_ (reserved, so
//   no other prepare takes it) but is not registered: successor_of does
//   not return it, so no frame on that name is taken; it has sent no
//   answer (a splice_abort gets it one: ready{0}); sp_node is unset;
// - it is in dialing_[sp_key].splicing, and that dial is in progress (its
//   timer armed; a refused dial made again 100 ms later counts) or
//   answered (splice_dial_ended runs right after): so the relay gets its
//   answer within one connect timeout;
// - the node id the relay named is the capability: a dial that only
//   splices wait on greets the node it reaches only if some waiting splice
//   named it (splice_dial_may_greet), so a relay cannot make this node
//   talk to a third node as if it were the one named (BASP trusts peers;
//   the entangle greeting is where trust starts here);
// - a relay makes this node start at most max_splice_dials dials at a
//   time (peer::splice_dials); waiting on a dial in progress at the same
//   address starts none. The splices waiting are bounded by the relay's
//   links (remote_max_links).

#include "remote/node.hpp"

#include <chrono>
#include <utility>

#include <caf/node_id.hpp>
#include <fmt/format.h>

#include "contexts/world.hpp"
#include "remote/node_actor.hpp"

namespace entangle::detail::remote {

namespace {

/// Splice dials one relay may have this node run at once.
constexpr std::size_t max_splice_dials = 4;

} // namespace

bool node_state::splice_reachable(const caf::node_id& node) {
  // Reconnecting counts as up: two nodes that just dialed each other
  // often are, while CAF keeps one of the two connections.
  auto i = peers_.find(node);
  return i != peers_.end()
         && (i->second.st == peer::state::up
             || i->second.st == peer::state::reconnecting)
         && i->second.version >= wire_version_splice_credit;
}

bool node_state::splice_dial(const caf::node_id& from, link& l,
                             const frame& f, const std::string& named,
                             const std::string& key) {
  std::string host;
  std::uint16_t port = 0;
  if (!split_listen_key(key, host, port) || named.empty()
      || named == caf::to_string(from) || named == caf::to_string(actor.node()))
    return false;
  // A node known here that is not up (banned, lost) or too old is not
  // dialed: only a node that greets us anew is trusted, and a lost or
  // banned one is not brought back by a relay's word.
  for (auto& [node, p] : peers_)
    if (caf::to_string(node) == named && p.st != peer::state::hello_sent)
      return false;
  auto& d = dialing_[key];
  if (d.up && caf::to_string(d.node) != named)
    return false; // another node answers there
  if (!d.in_progress) {
    auto& relay = peers_.at(from);
    if (relay.splice_dials >= max_splice_dials)
      return false;
    ++relay.splice_dials;
    d.in_progress = true;
    auto timeout = w_.cfg.remote_connect_timeout;
    d.splice_until = std::chrono::steady_clock::now() + timeout;
    dial_node(shared_from_this(), host, port, timeout,
              [key, from](node_state& st, const caf::actor& hdl,
                          const std::string& err) {
                if (auto p = st.peers_.find(from);
                    p != st.peers_.end() && p->second.splice_dials > 0)
                  --p->second.splice_dials;
                st.dialed(key, hdl, err);
              });
    arm_dial_timeout(key, timeout);
  }
  l.sp = link::splice::dialing;
  l.sp_local = f.src;
  l.sp_remote = f.peer;
  l.sp_node = caf::node_id{};
  l.sp_named = named;
  l.sp_key = key;
  successors_[f.src] = l.local;
  d.splicing.push_back(l.local);
  return true;
}

bool node_state::splice_redial(const std::string& key) {
  // Under load a live node's listen queue can refuse a connect, most of
  // all while it dials us too (the other endpoint of the same splice):
  // dialed again, as a redial is, until the connect timeout; its own
  // greeting, if it comes first, ends the wait (learn_key).
  auto& d = dialing_[key];
  bool live = false;
  for (auto local : d.splicing)
    if (auto i = links_.find(local);
        i != links_.end() && i->second.sp == link::splice::dialing)
      live = true;
  auto pause = std::chrono::milliseconds{100};
  if (!live || std::chrono::steady_clock::now() + pause >= d.splice_until)
    return false;
  d.in_progress = true; // connects and splices join it meanwhile
  auto self = shared_from_this();
  current_core()->set_timer(
    [self, key] {
      auto& e = self->dialing_[key];
      std::string host;
      std::uint16_t port = 0;
      if (e.up || !e.in_progress || !split_listen_key(key, host, port))
        return; // ended meanwhile (its greeting, the timer)
      dial_node(self, host, port,
                std::chrono::duration_cast<caf::timespan>(
                  e.splice_until - std::chrono::steady_clock::now()),
                [key](node_state& st, const caf::actor& hdl,
                      const std::string& err) { st.dialed(key, hdl, err); });
    },
    pause, false);
  return true;
}

bool node_state::splice_dial_may_greet(const std::string& key,
                                       const caf::node_id& node) {
  auto name = caf::to_string(node);
  if (auto p = peers_.find(node);
      p != peers_.end()
      && (p->second.st == peer::state::lost
          || p->second.st == peer::state::banned))
    return false;
  auto& d = dialing_[key];
  for (auto local : d.splicing)
    if (auto i = links_.find(local);
        i != links_.end() && i->second.sp == link::splice::dialing
        && i->second.sp_key == key && i->second.sp_named == name)
      return true;
  return false;
}

void node_state::splice_dial_ended(const std::string& key, bool failed) {
  auto& d = dialing_[key];
  if (d.splicing.empty())
    return;
  auto waiting = std::move(d.splicing);
  d.splicing.clear();
  auto node = d.up && !failed ? d.node : caf::node_id{};
  for (auto local : waiting) {
    auto i = links_.find(local);
    if (i == links_.end() || i->second.sp != link::splice::dialing
        || i->second.sp_key != key)
      continue; // ended meanwhile (abort, close, loss)
    auto& l = i->second;
    bool ok = node && caf::to_string(node) == l.sp_named && node != l.node
              && splice_reachable(node) && !l.got_close && l.early.empty();
    if (ok) {
      splice_accept(l, l.node, node);
      continue;
    }
    successors_.erase(l.sp_local);
    l.sp = link::splice::none;
    answer_splice(l, l.node, false);
    after_splice(local); // a close or marks deferred while dialing
  }
}

} // namespace entangle::detail::remote
