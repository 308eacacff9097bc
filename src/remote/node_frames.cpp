// Delivery between two nodes (see node.hpp, struct peer, and
// docs/architecture.md, "Delivery between nodes"): the numbered, acked
// stream of sequenced frames to each peer, greetings, and what happens
// when CAF drops the connection a peer's handle routes over.
//
// Why: when two nodes dial each other at once, CAF 0.17 keeps one of the
// two BASP connections and may kill the proxy that routed over the other
// (down_msg remote_link_unreachable) although the node is alive; frames
// sent to it meanwhile are gone, and so is anything sent to the dead proxy
// later. So a node dials a peer whose handle died again, and on the new
// handle sends again every frame the peer has not acked. The receiver
// takes frames only in stream order and drops duplicates, so each frame
// is taken once and in order whatever was lost or sent twice.

#include <algorithm>
#include <charconv>
#include <new>
#include <utility>

#include <caf/actor_cast.hpp>
#include <caf/send.hpp>
#include <fmt/format.h>

#include "contexts/world.hpp"
#include "remote/node.hpp"
#include "remote/node_actor.hpp"

namespace entangle::detail::remote {

namespace {

/// The receiver acks after this many frames, or this long after the first
/// frame it has not acked, whichever comes first (acks also ride on every
/// sequenced frame it sends): the sender's unacked frames are what is in
/// flight plus at most this much.
constexpr std::uint32_t ack_every = 256;
constexpr std::chrono::milliseconds ack_delay{10};

/// A dropped connection is dialed again this many times, 100 ms apart,
/// before the node counts as lost.
constexpr int max_redials = 5;

/// No ack for this long while frames are unacked: send them again (the
/// period doubles while nothing is acked, up to rto_max). Far above an
/// ack's delay, so that only a loss (or a stalled peer) triggers it.
constexpr std::chrono::milliseconds rto_min{250};
constexpr std::chrono::milliseconds rto_max{2000};

/// A peer that holds this many of our frames unacked, or this many bytes
/// of them, is lost: a live peer acks every 256 frames or 10 ms, so only
/// one that takes frames and never acks (or a reconnect that lasts while
/// the sender posts on) gets there, and memory stays bounded.
constexpr std::size_t max_unacked_frames = std::size_t{1} << 16;
constexpr std::size_t max_unacked_bytes = std::size_t{64} << 20;

/// Reconnects (third silent resend period) in a row without any ack
/// before the peer is lost: it answers greetings but acks nothing.
constexpr int max_silent_reconnects = 3;

std::uint64_t mint_session() {
  return port_name::mint().lo | 1; // never 0 ("none yet")
}

/// CAF compares handles by actor id and node; a proxy CAF made anew after
/// it killed the old one has the same of both, so compare the objects.
/// (A null handle is no object: CAF's cast would call through null.)
const void* object_of(const caf::actor& x) {
  return x ? caf::actor_cast<caf::abstract_actor*>(x) : nullptr;
}
const void* object_of(const caf::actor_addr& x) {
  return x ? caf::actor_cast<caf::abstract_actor*>(x) : nullptr;
}

/// Splits a listen key "host:port" (port 1..65535). False if malformed: a
/// peer's key is checked when its greeting comes, so a redial never fails
/// on it (nor throws in a timer).
bool split_key(const std::string& key, std::string& host,
               std::uint16_t& port) {
  auto colon = key.rfind(':');
  if (colon == std::string::npos || colon == 0)
    return false;
  const char* first = key.data() + colon + 1;
  const char* last = key.data() + key.size();
  unsigned long n = 0;
  auto [end, ec] = std::from_chars(first, last, n);
  if (ec != std::errc{} || end != last || first == last || n == 0
      || n > 65535)
    return false;
  host = key.substr(0, colon);
  port = static_cast<std::uint16_t>(n);
  return true;
}

bool streaming(peer::state st) {
  return st == peer::state::up || st == peer::state::reconnecting;
}

} // namespace

bool split_listen_key(const std::string& key, std::string& host,
                      std::uint16_t& port) {
  return split_key(key, host, port);
}

void node_state::send(const caf::node_id& node, frame& f) {
  if (node == self_) {
    loop(f, {}); // a link with both ends here (node_loop.cpp)
    return;
  }
  auto i = peers_.find(node);
  if (i == peers_.end() || !streaming(i->second.st))
    return; // lost meanwhile: its links are being closed
  auto& p = i->second;
  f.pseq = p.next_out;
  f.ack = p.next_in - 1;
  f.echo = p.their_session;
  // Encoding may throw: nothing is numbered or kept before it succeeded.
  auto bytes = encode(f);
  auto size = bytes.size();
  auto msg = caf::make_message(frame_atom::value, std::move(bytes));
  ++p.next_out;
  p.unacked_in = 0; // this frame carries the ack
  if (p.st == peer::state::up) {
    ++frames_out;
    caf::send_as(actor, p.hdl, msg);
  }
  // The message CAF sends is shared, not copied, until the ack frees it.
  p.unacked.emplace_back(f.pseq, std::move(msg));
  p.unacked_bytes += size;
  if ((p.unacked.size() > max_unacked_frames
       || p.unacked_bytes > max_unacked_bytes)
      && !p.overflow) {
    // Not at once: the caller may still hold one of its links.
    p.overflow = true;
    auto self = shared_from_this();
    current_core()->set_timer(
      [self, node] {
        auto i = self->peers_.find(node);
        if (i != self->peers_.end() && i->second.overflow)
          self->node_down(node, "it acks nothing (too many frames unacked)");
      },
      std::chrono::milliseconds{0}, false);
  }
  if (!p.rto_timer)
    arm_rto(node, p);
}

void node_state::arm_rto(const caf::node_id& node, peer& p) {
  p.rto_timer = true;
  if (p.rto.count() == 0)
    p.rto = rto_min;
  p.rto_acked = p.acked;
  auto self = shared_from_this();
  current_core()->set_timer(
    [self, node, epoch = p.epoch] {
      auto i = self->peers_.find(node);
      if (i == self->peers_.end() || i->second.epoch != epoch)
        return; // its streams ended meanwhile (and took the timer's flag)
      auto& p = i->second;
      p.rto_timer = false;
      if (p.unacked.empty() || !streaming(p.st)) {
        p.rto = rto_min;
        return;
      }
      if (p.acked == p.rto_acked) {
        if (p.rto >= 4 * rto_min && p.st == peer::state::up
            && ++p.silent_reconnects >= max_silent_reconnects) {
          // It answers greetings (and heartbeats) but acks nothing, not
          // even after a reconnect (whose greeting carries its ack).
          self->node_down(node, "it acks nothing");
          return;
        }
        if (p.rto >= 4 * rto_min && p.st == peer::state::up
            && !p.key.empty()) {
          // Sent twice more and still nothing acked, while its own frames
          // may well arrive: our handle may be dead without telling (a
          // killed proxy we got back from CAF's cache before dial_node
          // asked again). Dialing gets a live one (a peer we cannot dial
          // just gets the frames again).
          p.st = peer::state::reconnecting;
          p.redials = max_redials;
          p.redial_until = std::chrono::steady_clock::now()
                           + self->w_.cfg.remote_connect_timeout;
          ++self->reconnects;
          self->redial(node);
        } else {
          self->resend_after(p, p.acked);
        }
        p.rto = std::min(p.rto * 2, rto_max);
      } else {
        p.rto = rto_min;
      }
      self->arm_rto(node, p);
    },
    p.rto, false);
}

bool node_state::take_seq(const caf::node_id& node, peer& p, const frame& f) {
  if (f.pseq < p.next_in) {
    // A duplicate: our ack may be what got lost; say it again (soon,
    // once for a burst of them).
    p.unacked_in = std::max<std::uint32_t>(p.unacked_in, 1);
    arm_ack(node, p);
    return false;
  }
  if (f.pseq != p.next_in) {
    // A duplicate (sent again after a reconnect) or one after a gap: the
    // gap's frames come again, this one behind them. Ask once per gap, in
    // case the sender saw nothing go wrong.
    if (f.pseq > p.next_in && p.nacked_at != p.next_in) {
      p.nacked_at = p.next_in;
      send_ack(node, p, true);
    }
    return false;
  }
  ++p.next_in;
  if (++p.unacked_in >= ack_every)
    send_ack(node, p, false);
  else
    arm_ack(node, p);
  return true;
}

void node_state::arm_ack(const caf::node_id& node, peer& p) {
  if (!p.ack_timer) {
    p.ack_timer = true;
    auto self = shared_from_this();
    current_core()->set_timer(
      [self, node, epoch = p.epoch] {
        auto i = self->peers_.find(node);
        if (i == self->peers_.end() || i->second.epoch != epoch)
          return;
        i->second.ack_timer = false;
        if (i->second.unacked_in > 0)
          self->send_ack(node, i->second, false);
      },
      ack_delay, false);
  }
}

bool node_state::on_ack(const caf::node_id& node, peer& p,
                        std::uint64_t ack) {
  if (ack >= p.next_out) {
    violation(node, "an ack for a frame never sent");
    return false;
  }
  while (!p.unacked.empty() && p.unacked.front().first <= ack) {
    p.unacked_bytes -= p.unacked.front().second.get_as<std::string>(1).size();
    p.unacked.pop_front();
  }
  if (ack > p.acked) {
    p.acked = ack;
    p.silent_reconnects = 0;
  }
  return true;
}

void node_state::send_ack(const caf::node_id&, peer& p, bool resend) {
  if (p.st != peer::state::up)
    return;
  frame f;
  f.kind = frame_kind::ack;
  f.ack = p.next_in - 1;
  f.echo = p.their_session;
  f.resend = resend;
  p.unacked_in = 0;
  send(p.hdl, f);
}

void node_state::resend_asked(peer& p, std::uint64_t ack) {
  // Honoured once per gap, or again after rto_min: each one resends all
  // that is unacked, so a peer repeating a tiny frame cannot make us flood
  // the connection.
  auto now = std::chrono::steady_clock::now();
  if (ack == p.resend_ack && now < p.resend_at + rto_min)
    return;
  p.resend_ack = ack;
  p.resend_at = now;
  resend_after(p, ack);
}

void node_state::resend_after(peer& p, std::uint64_t ack) {
  if (p.st != peer::state::up)
    return;
  for (auto& [pseq, msg] : p.unacked)
    if (pseq > ack) {
      ++frames_out;
      ++resent;
      caf::send_as(actor, p.hdl, msg);
    }
}

void node_state::reset_streams(peer& p) {
  p.session = mint_session();
  p.next_out = 1;
  p.acked = 0;
  p.unacked.clear();
  p.unacked_bytes = 0;
  p.overflow = false;
  p.silent_reconnects = 0;
  p.resend_ack = 0;
  p.next_in = 1;
  p.unacked_in = 0;
  p.nacked_at = 0;
  // Timers still pending see another epoch and do nothing.
  ++p.epoch;
  p.ack_timer = false;
  p.rto_timer = false;
  p.rto_acked = 0;
  p.rto = std::chrono::milliseconds{0};
}

frame node_state::hello_frame(frame_kind kind, const peer& p) {
  frame f;
  f.kind = kind;
  f.magic = wire_magic;
  f.version = p.version;
  f.session = p.session;
  f.echo = p.their_session;
  f.ack = p.next_in - 1;
  std::lock_guard<std::mutex> guard{mu};
  f.text = listen_key;
  return f;
}

peer& node_state::peer_of(const caf::node_id& node, const caf::actor& hdl) {
  auto [i, fresh] = peers_.emplace(node, peer{});
  if (fresh) {
    i->second.hdl = hdl;
    i->second.session = mint_session();
  }
  return i->second;
}

bool node_state::on_greeting(const caf::node_id& node, peer& p,
                             const frame& f) {
  if (f.magic == wire_magic
      && (f.version < wire_version_min || f.version > wire_version)) {
    // Another entangle whose frames could be misread: refused here, before
    // any link frame (disconnected, as for a bad frame; the log says why).
    violation(node, fmt::format("wire version {} (this node speaks {} to {})",
                                f.version, wire_version_min, wire_version));
    return false;
  }
  if (f.magic != wire_magic || f.session == 0) {
    violation(node, "bad hello");
    return false;
  }
  std::string host;
  std::uint16_t port = 0;
  if (!f.text.empty() && !split_key(f.text, host, port)) {
    violation(node, "a listen key that is not host:port");
    return false;
  }
  if (p.their_session != 0 && f.session != p.their_session
      && streaming(p.st)) {
    // It lost us and started over: so do we (our links with it are gone
    // on its side), without a new session of ours (it expects a fresh
    // stream from us, and knows our session).
    auto keep = p.session;
    node_down(node, "it started over");
    p.session = keep;
  }
  p.their_session = f.session;
  // An older peer is greeted in its version from now on, and gets no frame
  // it does not know (node_splice.cpp asks splice_capable).
  p.version = f.version;
  if (!f.text.empty())
    p.key = f.text;
  return true;
}

void node_state::greeted(const caf::node_id& node, peer& p, const frame& f,
                         const caf::actor& from) {
  // A greeting on a new handle, or after a reconnect, may follow a loss:
  // the peer gets again what it did not ack. (Repeated greetings on the
  // same handle do not: what is unacked then is just in flight.)
  bool again = p.st == peer::state::reconnecting;
  if (object_of(from) != object_of(p.hdl)) {
    again = again || streaming(p.st);
    p.hdl = from;
    watch(p, from);
  } else if (p.st == peer::state::hello_sent) {
    watch(p, from);
  }
  if (!streaming(p.st))
    ++peers_up;
  p.st = peer::state::up;
  p.redials = 0;
  // Its ack is meaningful only if it speaks of our current stream: a
  // greeting sent before it knew our new session (stale, in flight, or
  // before it learned we started over) echoes an old one.
  if (f.echo == p.session && f.ack < p.next_out && f.ack >= p.acked) {
    on_ack(node, p, f.ack);
    if (again)
      resend_after(p, f.ack);
  }
}

bool node_state::from_lost(peer& p, const caf::actor& from,
                           const std::string& bytes) {
  if (!bytes.empty()
      && (bytes[0] == static_cast<char>(frame_kind::hello)
          || bytes[0] == static_cast<char>(frame_kind::welcome)))
    return true; // a new session (a welcome must echo ours: on_frame)
  // Sent before the connection went, or it never learned we lost it (an
  // idle peer would keep its links forever): our hello tells it, at most
  // every 100 ms.
  ++stale;
  auto now = std::chrono::steady_clock::now();
  if (now >= p.poked_at + std::chrono::milliseconds{100}) {
    p.poked_at = now;
    send(from, hello_frame(frame_kind::hello, p));
  }
  return false;
}

void node_state::watch(peer& p, const caf::actor& hdl) {
  // One monitor per proxy: a second would deliver a second down, and each
  // down starts a reconnect with a fresh redial budget.
  if (object_of(hdl) == object_of(p.watched))
    return;
  p.watched = hdl;
  watch_node(actor, hdl);
}

void node_state::use_handle(peer& p, const caf::actor& from) {
  if (object_of(from) == object_of(p.hdl))
    return;
  // Its frames come from a proxy CAF made anew: the one we held is dead
  // (its down_msg may not have come yet). Send on the live one.
  p.hdl = from;
  watch(p, from);
}

void node_state::peer_down(const caf::actor_addr& who, bool unreachable,
                           const std::string& why) {
  auto node = who.node();
  auto i = peers_.find(node);
  if (i == peers_.end())
    return;
  auto& p = i->second;
  if (object_of(who) != object_of(p.hdl))
    return; // an old handle (replaced by a reconnect)
  if (p.st == peer::state::lost || p.st == peer::state::banned)
    return;
  if (unreachable && p.st == peer::state::reconnecting)
    return; // redialing already (its budget is not renewed)
  if (!unreachable || p.key.empty()) {
    // Its node actor ended (or the runtime stopped), or we cannot dial
    // it: a dead process closes its socket, so this is node loss.
    node_down(node, why);
    return;
  }
  // CAF dropped the connection: the node may be alive (two nodes dialed
  // each other) or gone (its socket closed). Dialing it again tells.
  if (p.st == peer::state::up)
    p.st = peer::state::reconnecting;
  p.redials = max_redials;
  p.redial_until =
    std::chrono::steady_clock::now() + w_.cfg.remote_connect_timeout;
  ++reconnects;
  redial(node);
}

void node_state::redial(const caf::node_id& node) {
  auto i = peers_.find(node);
  if (i == peers_.end())
    return;
  std::string host;
  std::uint16_t port = 0;
  if (!split_key(i->second.key, host, port)) {
    node_down(node, "cannot dial it again");
    return;
  }
  dial_node(shared_from_this(), host, port, w_.cfg.remote_connect_timeout,
            [node](node_state& st, const caf::actor& hdl,
                   const std::string& err) { st.redialed(node, hdl, err); });
}

void node_state::redialed(const caf::node_id& node, const caf::actor& hdl,
                          const std::string& err) {
  auto i = peers_.find(node);
  if (i == peers_.end())
    return;
  auto& p = i->second;
  if (p.st == peer::state::lost || p.st == peer::state::banned
      || p.st == peer::state::up)
    return; // decided meanwhile (its hello came first)
  if (!err.empty() || !hdl || hdl.node() != node) {
    // Tried again even when refused: under load a live node's listen
    // queue can refuse a connect (seen under ASan in the simultaneous-dial
    // test: a live node lost, its frames then violations), and a dead one
    // costs only the 5 tries, 100 ms apart.
    if (--p.redials > 0
        && std::chrono::steady_clock::now() < p.redial_until) {
      auto self = shared_from_this();
      current_core()->set_timer([self, node] { self->redial(node); },
                                std::chrono::milliseconds{100}, false);
    } else {
      // Out of redials: lost, also if it never answered our hello (left
      // in hello_sent, later dials would neither greet it nor take their
      // handle, and time out).
      node_down(node, "connection lost: " + err);
    }
    return;
  }
  p.hdl = hdl;
  watch(p, hdl);
  send(hdl, hello_frame(frame_kind::hello, p));
  resend_hello(node, hello_tries());
}

void node_state::on_senderless(const std::string& bytes) {
  // After two crossing connections CAF may deliver one node's frames to
  // the other without a sender, for good (its broker has no route for a
  // proxy of the sender; seen about once in 25-50 runs of the
  // simultaneous-dial test under ASan with the CPU saturated: that node's
  // welcome never counted, and it was lost after 5 s). Every frame but a
  // first hello echoes our session with its sender, 64 random bits told
  // to that peer alone: that names the sender as well as CAF would. Our
  // answers go to the handle we have for it, which still works.
  std::string why;
  auto f = decode_frame(bytes, why);
  if (f && f->echo != 0)
    for (auto& [node, p] : peers_)
      if (p.session == f->echo && p.hdl && p.st != peer::state::banned) {
        ++frames_in;
        auto from = p.hdl; // on_frame may replace it
        on_frame(from, bytes, &f);
        return;
      }
  unattributed_frame("no sender");
}

void node_state::unattributed_frame(const char* why) {
  // Nobody to ban. Logged at 1, 2, 4, ... so a flood stays quiet.
  auto n = ++unattributed;
  if ((n & (n - 1)) == 0 && w_.cfg.warnings)
    fmt::print(stderr,
               "entangle: remote: {} frame(s) without a remote sender "
               "dropped ({})\n",
               n, why);
}

int node_state::hello_tries() const {
  // As long as a peer may be silent before it counts as hung (the
  // heartbeat rule: max(5 s, 5 heartbeats)), and a connect may take.
  auto wait = std::max({caf::timespan{std::chrono::seconds{5}},
                        5 * w_.cfg.remote_heartbeat,
                        w_.cfg.remote_connect_timeout});
  return static_cast<int>(
    std::chrono::duration_cast<std::chrono::milliseconds>(wait).count()
    / 100);
}

void node_state::resend_hello(const caf::node_id& node, int left) {
  // When two nodes dial each other at once, a hello sent to a handle CAF
  // is about to drop is gone: say it again until the peer answers (a
  // greeting is idempotent). A reconnect that gets no answer is loss.
  auto self = shared_from_this();
  current_core()->set_timer(
    [self, node, left] {
      auto p = self->peers_.find(node);
      if (p == self->peers_.end())
        return;
      auto st = p->second.st;
      if (st != peer::state::hello_sent && st != peer::state::reconnecting)
        return;
      if (left <= 0) {
        // No answer: lost (from hello_sent too, so that a later dial
        // starts over with a hello instead of waiting on this peer).
        self->node_down(node, st == peer::state::reconnecting
                                ? "no answer after a reconnect"
                                : "no answer to hello");
        return;
      }
      self->send(p->second.hdl, self->hello_frame(frame_kind::hello,
                                                  p->second));
      self->resend_hello(node, left - 1);
    },
    std::chrono::milliseconds{100}, false);
}

} // namespace entangle::detail::remote
