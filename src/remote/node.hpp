#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include <deque>

#include <caf/actor.hpp>
#include <caf/actor_addr.hpp>
#include <caf/message.hpp>
#include <caf/node_id.hpp>

#include "contexts/context_core.hpp"
#include "entangle/message_port.hpp"
#include "remote/codec.hpp"
#include "remote/link.hpp"

namespace entangle::detail {
struct world;
} // namespace entangle::detail

namespace entangle::detail::remote {

/// The payload of the stand-in for a message another node could not
/// encode (`why`, from its frame): fires messageerror (node_guard.cpp).
std::unique_ptr<typed_payload> stand_in(const std::string& why);

/// A connected (or connecting) runtime, and the reliable stream of
/// sequenced frames to and from it (node_frames.cpp; docs/architecture.md,
/// "Delivery between nodes").
///
/// Invariants (node-context thread):
/// - `unacked` holds, in pseq order, exactly the sequenced frames sent with
///   pseq in (acked, next_out), as the CAF messages that were sent (shared,
///   not copied); it empties as acks come, so it holds what is in flight;
/// - frames from the node are taken only in pseq order: next_in - 1 were
///   taken, one with another number is dropped (a duplicate, or one after
///   a gap: the sender sends the gap again on a reconnect or a resend ack);
/// - `st == up` or `reconnecting` keeps both streams; `lost` and `banned`
///   end them (the links with the node are closed; a new hello starts a new
///   session with fresh numbers).
struct peer {
  /// hello_sent -> up (welcome or their hello) -> reconnecting (its handle
  /// died with a dropped connection; dialing it again) -> up, or lost
  /// (connection gone for good: what it still sends is ignored until a new
  /// hello) or banned (it misbehaved: ignored for good).
  enum class state { hello_sent, up, reconnecting, lost, banned };
  caf::actor hdl;
  /// The last proxy monitored (each one once: see node_state::watch).
  caf::actor watched;
  state st = state::hello_sent;
  /// Where it listens ("host:port", from its hello or welcome, or the
  /// address we dialed): a dropped connection is dialed again there.
  std::string key;
  /// This node's session with it (random, new after each loss), and the
  /// last one it told us (0: none yet).
  std::uint64_t session = 0;
  std::uint64_t their_session = 0;
  /// Outgoing: the next pseq, the highest acked one, the frames in flight.
  std::uint64_t next_out = 1;
  std::uint64_t acked = 0;
  std::deque<std::pair<std::uint64_t, caf::message>> unacked;
  /// The encoded size of `unacked`; over a bound (node_frames.cpp) it is
  /// set to be lost (`overflow`).
  std::size_t unacked_bytes = 0;
  bool overflow = false;
  /// Reconnects in a row without an ack; the last resend request honoured.
  int silent_reconnects = 0;
  std::uint64_t resend_ack = 0;
  std::chrono::steady_clock::time_point resend_at;
  /// Incoming: the next pseq taken; frames taken since our last ack; an
  /// ack timer is pending; next_in when we last asked for a resend.
  std::uint64_t next_in = 1;
  std::uint32_t unacked_in = 0;
  bool ack_timer = false;
  std::uint64_t nacked_at = 0;
  /// Redials left before a dropped connection counts as node loss, and
  /// the time after which none is tried (a hung peer's connect times out:
  /// node loss within one connect timeout, as without redials).
  int redials = 0;
  std::chrono::steady_clock::time_point redial_until;
  /// The resend timer: pending; `acked` when it last looked; its period.
  bool rto_timer = false;
  std::uint64_t rto_acked = 0;
  std::chrono::milliseconds rto{0};
  /// When we last answered a frame of its, while `lost`, with a hello.
  std::chrono::steady_clock::time_point poked_at;
  /// Bumped when the streams end: timers armed before do nothing.
  std::uint64_t epoch = 0;
  /// Live links it made here (link::theirs); with its tombstones at most
  /// runtime_config::remote_max_links (node_guard.cpp).
  std::size_t made = 0;
  /// The wire version of its greeting (ours, until it greeted us).
  std::uint16_t version = wire_version;
  /// Dials in flight that splices it relays made this node start (at
  /// most max_splice_dials: node_splice_dial.cpp).
  std::size_t splice_dials = 0;
};

/// Splits a listen key "host:port" (port 1..65535); false if malformed
/// (node_frames.cpp).
bool split_listen_key(const std::string& key, std::string& host,
                      std::uint16_t& port);

/// Ends this node closed and erased, or opens it refused, whose peer may
/// still send on them (until the peer's close, or node loss), with their
/// number per node (for the caps, node_guard.cpp).
class tombstone_set {
public:
  using key = std::pair<caf::node_id, port_name>;

  void emplace(const caf::node_id& node, port_name name) {
    if (set_.emplace(node, name).second)
      ++per_node_[node];
  }
  std::size_t erase(const key& k) {
    if (set_.erase(k) == 0)
      return 0;
    auto i = per_node_.find(k.first);
    if (i != per_node_.end() && --i->second == 0)
      per_node_.erase(i);
    return 1;
  }
  std::size_t count(const key& k) const {
    return set_.count(k);
  }
  /// Forgets every tombstone of `node` (it was lost).
  void erase_node(const caf::node_id& node) {
    auto first = set_.lower_bound({node, port_name{}});
    auto last = first;
    while (last != set_.end() && last->first == node)
      ++last;
    set_.erase(first, last);
    per_node_.erase(node);
  }
  std::size_t of(const caf::node_id& node) const {
    auto i = per_node_.find(node);
    return i == per_node_.end() ? 0 : i->second;
  }

private:
  std::set<key> set_;
  std::map<caf::node_id, std::size_t> per_node_;
};

/// A splice at the relay (node_splice.cpp): its two ends, [0] and [1],
/// each a link end entangled in-process with the other.
struct relay_splice {
  port_name end[2];
  bool ready[2] = {false, false};
  bool go = false;
  /// The marker posted on end[i] (behind the last frame its endpoint sent)
  /// reached end[1 - i]'s sink: all of i's messages left on end[1 - i].
  bool drained[2] = {false, false};
};

/// Fault injection for tests only (null otherwise): called with every
/// user frame a loop takes, before its checks, so a test can put one out
/// of order and see the loop end instead of wedge
/// (tests/remote_home_test.cpp). Any thread may set it. Meant for a loop
/// whose ends have both swapped: a frame for an end still waiting for its
/// swap goes to `sp_early` unchecked.
extern std::atomic<void (*)(frame&)> loop_frame_hook;

/// The remote node of one runtime (issue #14): the network-facing CAF
/// actor (the only actor handle that ever crosses the wire) and the hidden
/// node context that owns the local end of every cross-process link. The
/// actor checks where a frame comes from and hands it to the context; the
/// context validates it, routes it, and sends frames back as the actor
/// (`caf::send_as`), so that peers can tell nodes apart by CAF sender.
///
/// Invariants (node-context thread, all of `links`, `peers`, `dialing`):
/// - every entry of `links` has a live `end` owned by the node context,
///   with this node's sink installed, started unless `pending`;
/// - a link whose `node` is lost or banned is closed and erased at once,
///   so no frame of that node ever reaches a port again;
/// - `early` holds only sequence numbers > next_recv, all <= last_recv once
///   `got_close`; next_recv - 1 messages were delivered, in order;
/// - a frame naming an end of `links` is accepted only from that link's
///   node; any other frame naming an unknown end, from a node that is up,
///   is a violation (the node is banned), unless it is in `tombstones`
///   (an end this node closed, or an open it refused, whose peer may still
///   be sending), or a successor name (below);
/// - a peer's `made` is the number of links in `links` with `theirs` and
///   that node; `made` + its tombstones <= remote_max_links, and every
///   `early` holds at most remote_max_early_frames frames, once a frame
///   was handled (what would exceed a cap is a violation, before anything
///   of it is made);
/// - proxy collapse (node_splice.cpp): `successors_` maps exactly the
///   `sp_local` of the links in `dialing`, `prepared` or `switched` to
///   their key, and a frame naming one is taken only from that link's
///   `sp_node`, only once `prepared` (node_splice_dial.cpp: a link
///   `dialing` is in the `splicing` list of `dialing_[sp_key]`, whose dial
///   is in progress, or answered before the list is looked at); every
///   entry of `relays_` names two live links whose `relay` is its id, and
///   a link with `relay` set is in `relays_`; the splice marker is posted
///   only on a relay end, once per direction; a relay starts only on two
///   ends with `sp_owed` 0 (so each answer is the current attempt's),
///   and an honest endpoint answers each prepare and each go once.
class node_state : public std::enable_shared_from_this<node_state> {
public:
  explicit node_state(world& w);

  /// Creates (once) the node of `w`'s runtime. @throws InvalidStateError
  /// when remoting is off (runtime_config::remote), in deterministic mode,
  /// or when the runtime stops.
  static std::shared_ptr<node_state> of(world& w);

  world& w() noexcept {
    return w_;
  }

  caf::actor actor; // the network face (set once at creation)
  caf::actor ctx;   // the node context (set once at creation)

  // -- any thread ------------------------------------------------------------

  /// Runs `fn` in the node context (exceptions are caught and logged).
  void in_ctx(std::function<void()> fn);

  std::mutex mu;
  /// Offered services: name -> context id (guarded by mu).
  std::map<std::string, std::uint64_t> services;

  std::atomic<std::uint64_t> frames_in{0};
  std::atomic<std::uint64_t> frames_out{0};
  std::atomic<std::uint64_t> violations{0};
  std::atomic<std::uint64_t> internal_errors{0};
  std::atomic<std::uint64_t> unattributed{0};
  std::atomic<std::uint64_t> nodes_lost{0};
  std::atomic<std::uint64_t> peers_up{0};
  std::atomic<std::uint64_t> live_links{0};
  std::atomic<std::uint64_t> reconnects{0};
  std::atomic<std::uint64_t> resent{0};
  std::atomic<std::uint64_t> stale{0};
  std::atomic<std::uint64_t> credits_out{0};
  std::atomic<std::uint64_t> credits_in{0};
  /// Proxy collapse: splices finished here as the relay; links moved here
  /// onto their successor (as an endpoint).
  std::atomic<std::uint64_t> splices{0};
  std::atomic<std::uint64_t> swaps{0};
  std::atomic<std::uint16_t> listening{0};
  /// "host:port" this node listens on (told to peers in hello/welcome, so
  /// a connect to it finds the peer up instead of dialing it again).
  /// Written by listen() before any peer can know it; guarded by mu.
  std::string listen_key;

  // -- node-context thread ---------------------------------------------------

  /// A context asked for `host:port/service`; `end` is the node's end of
  /// the fresh channel (its other end is the context's port).
  void connect(std::string host, std::uint16_t port, std::string service,
               std::string url, record_ptr end, caf::actor requester,
               std::weak_ptr<port_object> requester_port);

  /// A frame from node actor `from` (already known to be remote).
  /// `decoded`: the frame already decoded from `bytes` (on_senderless),
  /// taken from there instead of decoding it again.
  void on_frame(const caf::actor& from, const std::string& bytes,
                std::optional<frame>* decoded = nullptr);

  /// `bytes` as a frame, or nullopt with `why` (also when decoding it
  /// would not fit in memory: the sender's doing).
  std::optional<frame> decode_frame(const std::string& bytes,
                                    std::string& why) const;

  /// A frame without a sender: taken as from the peer whose session with
  /// us its `echo` names (and sent to the handle we have for it), else
  /// dropped as unattributed (node_frames.cpp).
  void on_senderless(const std::string& bytes);
  /// Counts (and logs at 1, 2, 4, ...) a frame nobody can be blamed for.
  void unattributed_frame(const char* why);

  /// The middleman connected to `key` ("host:port"): `hdl` is the actor
  /// published there (null with `err` set on failure).
  void dialed(const std::string& key, const caf::actor& hdl,
              const std::string& err);

  /// A connect to `key` took too long.
  void dial_timeout(const std::string& key);
  /// Calls dial_timeout(key) a little after `timeout` (the dial's own).
  void arm_dial_timeout(const std::string& key,
                        std::chrono::nanoseconds timeout);

  /// The node actor saw a peer go down (connection lost, process died,
  /// heartbeats missed).
  void node_down(const caf::node_id& node, const std::string& why);

  /// The node actor saw the handle `who` of a peer go down; `unreachable`:
  /// CAF dropped the connection (the node may still be there: try again).
  void peer_down(const caf::actor_addr& who, bool unreachable,
                 const std::string& why);

  /// A redial of `node` (peer_down) reached `hdl` (null with `err` set).
  void redialed(const caf::node_id& node, const caf::actor& hdl,
                const std::string& err);

private:
  link* make_link(port_name local, port_name remote, const caf::node_id& node,
                  record_ptr rec, bool start);
  void install_sink(port_name local);
  void on_local(port_name local, envelope&& e);
  /// Message `e` cannot be encoded (`why`): sends the stand-in for it (a
  /// user frame without payload: messageerror at the receiving port, in
  /// its place); its carried ports close here (node_guard.cpp).
  void cannot_cross(link& l, envelope&& e, std::string why);
  void send(const caf::actor& to, const frame& f);
  /// Sends sequenced frame `f` to `node` (numbered, kept until acked; held
  /// while the node reconnects). @throws what encode throws, before any
  /// state changed.
  void send(const caf::node_id& node, frame& f);
  /// Sends this end's close of `l` (after the last frame sent on it), once.
  void send_close(link& l);
  /// Checks a sequenced frame's place in the stream from `p`: true if it is
  /// the next one (then taken), false if it is to be dropped.
  bool take_seq(const caf::node_id& node, peer& p, const frame& f);
  /// Sends an ack within ack_delay (unless one is due already).
  void arm_ack(const caf::node_id& node, peer& p);
  /// The peer acked everything up to `ack`: frees those frames.
  bool on_ack(const caf::node_id& node, peer& p, std::uint64_t ack);
  void send_ack(const caf::node_id& node, peer& p, bool resend);
  /// Sends again every unacked frame after `ack` (a reconnect, a gap).
  void resend_after(peer& p, std::uint64_t ack);
  /// The peer asked for a resend after `ack` (at most once per rto_min).
  void resend_asked(peer& p, std::uint64_t ack);
  /// Ends both streams with the peer: a fresh session, numbers from 1.
  void reset_streams(peer& p);
  /// A hello or welcome of `p`'s (session, ack): starts a new session if
  /// it changed, resends what it did not get. False if it was banned.
  bool on_greeting(const caf::node_id& node, peer& p, const frame& f);
  void redial(const caf::node_id& node);
  /// While frames are unacked: if no ack came for a while, sends them
  /// again (a loss nothing else revealed), backing off.
  void arm_rto(const caf::node_id& node, peer& p);
  void violation(const caf::node_id& node, const std::string& why);
  /// Our own state does not add up (a bug, never a peer's doing): logged
  /// and counted (node_stats::internal_errors); the caller drops what it
  /// concerned. Any thread.
  void internal_error(const std::string& what);
  /// `from` would make `n` more links here: true if its cap allows,
  /// otherwise a violation, reported (node_guard.cpp).
  bool admit_links(const caf::node_id& from, std::size_t n);
  /// Whether frame `f` may wait in `l`'s reorder buffer (the caps); a
  /// violation, reported, if not.
  bool admit_early(const caf::node_id& from, link& l, const frame& f);
  void deliver(link& l, serialized_message&& msg);
  void finish_if_done(port_name local);
  void close_link(port_name local, drop_reason why);
  /// The user's port behind end `l` closed (or its context ended): the
  /// peer gets this end's close, and the end goes (`l` is erased).
  void user_closed(link& l);
  /// `l` stops counting toward its node's `made` (it is erased, or moves
  /// to another node by a splice).
  void unmade(link& l);
  void fail_pending(const std::string& key, const std::string& err_name,
                    const std::string& why);
  void fail_link(link& l, const std::string& err_name, const std::string& why);
  void flush_pending(const std::string& key);
  void handle_user(const caf::node_id& from, frame& f);
  void handle_open(const caf::node_id& from, frame& f);
  void handle_close(const caf::node_id& from, frame& f);
  void handle_refuse(const caf::node_id& from, frame& f);
  // -- credit (node_credit.cpp) --
  /// The ready notice reached end `l`: its user's port changed its marks
  /// or read; tells the peer (mark or credit frame, batched).
  void on_ready(link& l);
  void handle_mark(const caf::node_id& from, frame& f);
  void handle_credit(const caf::node_id& from, frame& f);
  /// The link a mark or credit frame names, or null (ignored when it names
  /// a tombstone; otherwise a violation, reported).
  link* credit_link(const caf::node_id& from, const frame& f);
  /// The peer consumed `consumed` messages of this end's in all.
  void take_credit(link& l, std::uint64_t consumed);
  /// A message of `bytes` left on link `l` (sent: true) or was dropped
  /// before it could (false): a mirror counts it until credited.
  void user_left(link& l, std::uint32_t bytes, bool sent);
  /// The marks that travel with carried port `rec` (in transit).
  carried_flow carried_marks(port_record& rec);
  /// The successor's credit takes over from endpoint `l`'s old link at its
  /// swap (`end`: the relay's splice_end; `l` not re-keyed yet).
  void rebase_credit(link& l, const frame& end);
  /// The relay's splice_end for its end `to`, whose in-process peer is
  /// its end `other`: what `to`'s endpoint takes over (rebase_credit).
  frame splice_end_for(port_name to, port_name other);
  /// After make_link for a carried port: at its sender (`out`), the new end
  /// mirrors the port's marks; at its receiver, the new port `user` gets
  /// them and the end mirrors its peer's.
  void carried_out(link& l, const carried_flow& cf);
  void carried_in(link& l, port_record& user, const carried_flow& cf);
  frame hello_frame(frame_kind kind, const peer& p);
  /// How many hellos (100 ms apart) a peer gets before it is lost:
  /// max(5 s, 5 heartbeats, the connect timeout).
  int hello_tries() const;
  /// Says hello to `node` again every 100 ms until it answers.
  void resend_hello(const caf::node_id& node, int left);
  /// The peer record of `node`, made (with a fresh session) if new.
  peer& peer_of(const caf::node_id& node, const caf::actor& hdl);
  /// A valid greeting from `from`: the peer is up on that handle, and gets
  /// again what it did not ack.
  void greeted(const caf::node_id& node, peer& p, const frame& f,
               const caf::actor& from);
  /// A frame from a `lost` peer: true if it is a greeting to look at;
  /// otherwise dropped, and answered with our hello (rate-limited).
  bool from_lost(peer& p, const caf::actor& from, const std::string& bytes);
  /// Monitors `hdl` for `p` unless it is the proxy monitored last.
  void watch(peer& p, const caf::actor& hdl);
  /// A sequenced frame of `p` came from `from`: sends go there from now.
  void use_handle(peer& p, const caf::actor& from);
  /// A peer told us where it listens: connects to `key` go to it.
  void learn_key(const std::string& key, const caf::node_id& node);
  // -- proxy collapse (node_splice.cpp) --
  /// If `local`'s end is entangled in-process with another link's end,
  /// starts a splice of the two (prepare to both endpoints); where only
  /// something passing stands in the way, tries again later (splice_later,
  /// or after_splice when one end was busy in another splice).
  void consider_splice(port_name local);
  /// Arms consider_splice for `l`'s pair after a backoff that doubles
  /// with its tries (jittered, so two relays refusing each other part
  /// ways); not if one is armed, an answer is still owed, or the tries
  /// are spent.
  void splice_later(link& l);
  /// The link end entangled in-process with `l`'s end (this node relays
  /// the two), or null.
  link* relay_partner(const link& l);
  void handle_splice(const caf::node_id& from, frame& f);
  void splice_prepare(const caf::node_id& from, frame& f);
  void splice_ready(const caf::node_id& from, frame& f);
  void splice_go(const caf::node_id& from, frame& f);
  void splice_last(const caf::node_id& from, frame& f);
  void splice_end(const caf::node_id& from, frame& f);
  void splice_drop(const caf::node_id& from, frame& f);
  /// A relay end's sink reached the marker: the other end is drained.
  void relay_marker(link& l);
  /// Ends the relay splice `id` without a collapse (refused, a close, a
  /// loss); `abort`: tells the endpoints that were prepared.
  void relay_stop(std::uint64_t id, bool abort);
  /// The successor link of endpoint `l` if a frame names it: the old link.
  link* successor_of(const caf::node_id& from, port_name name);
  /// The endpoint `l` forgets its successor (not a swap): tells the other
  /// endpoint (splice_drop) and keeps a tombstone until its answer.
  void drop_successor(link& l, drop_reason why, bool tell);
  /// After the splice ends at endpoint `l` (swapped or not): its deferred
  /// close and marks go on the current link, and, the end free again, a
  /// relay of it is considered (a chain's next relay waited for this).
  void after_splice(port_name local);
  /// `node` was lost: the splices whose successor leads there end.
  void splice_lost(const caf::node_id& node);
  /// Whether `node` is up and knows the splice frames.
  bool splice_capable(const caf::node_id& node);
  /// As an endpoint: whether `node` is up or reconnecting (its frames are
  /// kept and sent again, as for a connect) and knows the splice frames.
  bool splice_reachable(const caf::node_id& node);
  /// Endpoint `l` answers its relay `to` (a prepare, or a go it cannot
  /// take): splice_ready{1} (`ok`) or {0}.
  void answer_splice(const link& l, const caf::node_id& to, bool ok);
  /// Endpoint `l`, its successor names set and in successors_, takes
  /// `other` as the successor's node: `prepared`, ready{1} to relay `from`.
  void splice_accept(link& l, const caf::node_id& from,
                     const caf::node_id& other);
  // -- a link with both ends on this node (node_loop.cpp) --
  /// Sends `f` (with `msg`, for a user frame) on the loop: taken in a
  /// later turn, in order (`now`: at once, unless a drain is under way).
  void loop(frame f, serialized_message msg, bool now = false);
  void drain_loop();
  /// One frame of a drain, to its handler (from = this node).
  void take_looped(frame& f, serialized_message&& msg);
  /// Sends user message `msg` of end `l` (on its successor if `succ`),
  /// whose other end is on this node.
  void loop_out(link& l, bool succ, serialized_message&& msg,
                std::uint32_t bytes);
  void loop_user(frame& f, serialized_message&& msg);
  /// Loop end `end`'s frames do not add up (an internal error): it closes
  /// as if its user had closed it (user_closed), so the other end hears
  /// the close and follows, instead of both waiting for a number that will
  /// never come; the tombstone takes what the other sent meanwhile.
  void loop_broken(port_name end, const std::string& why);
  /// Endpoint `l`, prepared with this node as its successor's node by
  /// relay `relay`: whether its successor's other end is ours too, named
  /// by the same relay, each the other's successor.
  bool loop_pair(const link& l, const caf::node_id& relay);
  // -- a splice to a node not connected yet (node_splice_dial.cpp) --
  /// A relay's prepare for `l` names node `named`, not up here, listening
  /// at `key`: dials it (or waits on a dial in progress there). False if
  /// it may not (then refused at once).
  bool splice_dial(const caf::node_id& from, link& l, const frame& f,
                   const std::string& named, const std::string& key);
  /// A dial at `key` ended (`dialing_[key]` up, or `failed`): each splice
  /// waiting on it gets ready{1} if the node there is the one its relay
  /// named, else ready{0}.
  void splice_dial_ended(const std::string& key, bool failed);
  /// A dial at `key` that only splices wait on failed: true if it is made
  /// again (100 ms later, while the connect timeout allows).
  bool splice_redial(const std::string& key);
  /// Before a dial at `key` that only splices wait on greets `node`:
  /// whether some waiting splice named it (else no hello goes there).
  bool splice_dial_may_greet(const std::string& key,
                             const caf::node_id& node);

  world& w_;
  /// This node (the actor system's id): a link to it is a loop.
  caf::node_id self_;
  /// Frames sent on loops, not taken yet, and a drain is armed.
  struct looped {
    frame f;
    serialized_message msg;
  };
  std::vector<looped> loop_;
  bool loop_armed_ = false;
  bool draining_ = false;
  std::unordered_map<port_name, link, port_name_hash> links_;
  std::map<caf::node_id, peer> peers_;
  /// Dials in progress or done, by "host:port": the node it reached (once
  /// it did) and the pending links waiting for it.
  struct dial {
    caf::node_id node;
    bool up = false;
    bool in_progress = false;
    std::vector<port_name> waiting;
    /// Endpoint links whose splice waits for this dial (`dialing`), and
    /// until when a failed dial is made again for them (node_splice_dial).
    std::vector<port_name> splicing;
    std::chrono::steady_clock::time_point splice_until;
  };
  std::map<std::string, dial> dialing_;
  tombstone_set tombstones_;
  /// Relay splices in progress, by id; successor names -> the endpoint's
  /// old link name (while prepared or switched).
  std::map<std::uint64_t, relay_splice> relays_;
  std::uint64_t next_relay_ = 1;
  /// Jitter for splice_later.
  std::minstd_rand splice_rng_{std::random_device{}()};
  std::unordered_map<port_name, port_name, port_name_hash> successors_;
  /// Each link's end record (link::rec_key) -> its name: how a relay finds
  /// the link whose end a carried port is entangled with, in O(1)
  /// (consider_splice runs for every carried port).
  std::unordered_map<const port_record*, port_name> by_record_;
};

} // namespace entangle::detail::remote
