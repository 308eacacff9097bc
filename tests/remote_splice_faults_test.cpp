// Bad input from a peer, proxy collapse (docs/architecture.md "Proxy
// collapse"): a raw BASP peer (tests/remote/raw_peer.hpp) forges a relay's
// or an endpoint's splice frames. Frames that do not add up disconnect
// their node and touch only the ports it was given; a splice the endpoint
// cannot take is refused; a splice dial is ready only at the node the
// relay named; credit across a splice must add up in the rebased
// numbers. [remote]

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "entangle/all.hpp"
#include "remote/raw_peer.hpp"

// raw_peer, server, user_frame, honest_round_trip, journal, eventually
// and `wire` (entangle::detail::remote) come from remote_test.
using namespace entangle;
using namespace remote_test;

TEST_CASE("splice frames that do not add up disconnect their node; the "
          "port it was given only closes (node loss)",
          "[remote]") {
  server s;
  raw_peer peer{s.port};
  auto open = peer.hello_and_open("echo");
  wire::frame f;
  f.dst = open.dst;
  SECTION("splice_end with no splice") {
    f.kind = wire::frame_kind::splice_end;
    f.seq = 0;
  }
  SECTION("splice_last with no splice") {
    f.kind = wire::frame_kind::splice_last;
    f.seq = 0;
  }
  SECTION("splice_ready with no splice") {
    f.kind = wire::frame_kind::splice_ready;
    f.seq = 1;
  }
  SECTION("splice_go for a port it was never given") {
    f.kind = wire::frame_kind::splice_go;
    f.dst = wire::port_name::mint();
  }
  SECTION("splice_abort for a port it was never given") {
    f.kind = wire::frame_kind::splice_abort;
    f.dst = wire::port_name::mint();
  }
  SECTION("splice_prepare whose successor name is in use") {
    f.kind = wire::frame_kind::splice_prepare;
    f.src = open.dst;
    f.peer = wire::port_name::mint();
    f.text = "nobody";
  }
  peer.send(f);
  expect_one_violation(s);
  // Its port got nothing but its close.
  CHECK(eventually([&] { return s.served.size() == 1; }));
  CHECK(s.served.at(0) == "close");
  CHECK(remote::stats(*s.rt).links == 0);
  honest_round_trip(s.port, "unharmed");
}

TEST_CASE("a splice the endpoint cannot take is refused, an unknown "
          "splice_drop answered, and a version 4 peer greeted in version 4: "
          "none is a violation",
          "[remote]") {
  server s;
  SECTION("a splice to a node it does not know: refused") {
    raw_peer peer{s.port};
    auto open = peer.hello_and_open("echo");
    peer.send(splice_prepare(open.dst, "a node it never met"));
    CHECK(peer.frame_from_node([&](const wire::frame& w) {
      return w.kind == wire::frame_kind::splice_ready && w.dst == open.src
             && w.seq == 0;
    }));
  }
  SECTION("a splice from a version 5 relay (its splice_end carries no "
          "credit): refused") {
    raw_peer other{s.port};
    other.hello();
    raw_peer peer{s.port};
    peer.hello("", true, 5);
    auto open = peer.open("echo");
    peer.send(splice_prepare(open.dst, caf::to_string(other.sys->node())));
    CHECK(peer.frame_from_node([&](const wire::frame& w) {
      return w.kind == wire::frame_kind::splice_ready && w.dst == open.src
             && w.seq == 0;
    }));
  }
  SECTION("a splice_drop for a name it never registered: answered") {
    raw_peer peer{s.port};
    peer.hello();
    wire::frame f;
    f.kind = wire::frame_kind::splice_drop;
    f.dst = wire::port_name::mint();
    f.src = wire::port_name::mint();
    peer.send(f);
    CHECK(peer.frame_from_node([&](const wire::frame& w) {
      return w.kind == wire::frame_kind::splice_drop && w.dst == f.src
             && w.src == f.dst && w.resend;
    }));
  }
  SECTION("a version 4 hello") {
    raw_peer peer{s.port};
    wire::frame f;
    f.kind = wire::frame_kind::hello;
    f.magic = wire::wire_magic;
    f.version = 4;
    f.session = 1;
    peer.send(f);
    CHECK(peer.frame_from_node([](const wire::frame& w) {
      return w.kind == wire::frame_kind::welcome && w.version == 4;
    }));
  }
  std::this_thread::sleep_for(100ms);
  CHECK(remote::stats(*s.rt).violations == 0);
  honest_round_trip(s.port, "unharmed");
}

TEST_CASE("a splice dial that reaches the node the relay named is ready; "
          "one that fails, or reaches another node, is refused and greets "
          "nobody there; no violation anywhere, the relayed link goes on",
          "[remote]") {
  server s;
  // The relay: it names a node and where that node listens.
  raw_peer relay{s.port};
  auto open = relay.hello_and_open("echo");
  auto f = splice_prepare(open.dst, ""); // the sections name the node
  // A real node id the endpoint never met (a third CAF node, not running).
  caf::actor_system_config named_cfg;
  named_cfg.load<caf::io::middleman>();
  caf::actor_system named{named_cfg};
  auto named_id = caf::to_string(named.node());
  std::unique_ptr<server> other;
  std::uint64_t ready = 0;
  SECTION("the named node listens there") {
    other = std::make_unique<server>();
    raw_peer probe{other->port}; // only to learn its node id
    f.text = caf::to_string(probe.node.node()) + " 127.0.0.1:"
             + std::to_string(other->port);
    ready = 1;
  }
  SECTION("another node listens there") {
    other = std::make_unique<server>();
    f.text = named_id + " 127.0.0.1:" + std::to_string(other->port);
  }
  SECTION("nothing listens there") {
    // A port that was just free: a runtime listened there and stopped.
    std::uint16_t port = 0;
    {
      server gone;
      port = gone.port;
    }
    f.text = named_id + " 127.0.0.1:" + std::to_string(port);
  }
  relay.send(f);
  CHECK(relay.frame_from_node([&](const wire::frame& w) {
    return w.kind == wire::frame_kind::splice_ready && w.dst == open.src
           && w.seq == ready;
  }));
  if (ready == 1) {
    // The endpoint greeted the named node; the relay calls it off.
    CHECK(eventually([&] { return remote::stats(*other->rt).peers == 1; }));
    wire::frame abort;
    abort.kind = wire::frame_kind::splice_abort;
    abort.dst = open.dst;
    relay.send(abort);
  }
  // The link through the relay goes on.
  relay.send(user_frame(open.dst, 1, value{"still here"}));
  CHECK(relay.user_from_node());
  auto st = remote::stats(*s.rt);
  CHECK(st.violations == 0);
  CHECK(st.nodes_lost == 0);
  if (other && ready == 0) {
    // The endpoint said no hello there: the other node has no peer.
    std::this_thread::sleep_for(200ms);
    CHECK(remote::stats(*other->rt).peers == 0);
    CHECK(remote::stats(*other->rt).violations == 0);
  }
  honest_round_trip(s.port, "unharmed");
}

TEST_CASE("a splice that waits on a dial that hangs is not answered "
          "until the dial ends; a splice_abort ends it with its one answer "
          "(ready{0}) at once, the relay's loss with none; the dial's end "
          "later finds nothing, and no link is left",
          "[remote]") {
  server s{[](runtime_config& c) {
    c.remote_connect_timeout = std::chrono::seconds{2};
  }};
  // An address that takes TCP connections and never answers BASP's
  // handshake: the dial hangs until the connect timeout.
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  REQUIRE(::listen(fd, 16) == 0);
  socklen_t len = sizeof addr;
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  auto hung = ntohs(addr.sin_port);
  auto relay = std::make_unique<raw_peer>(s.port);
  auto open = relay->hello_and_open("echo");
  caf::actor_system_config named_cfg;
  named_cfg.load<caf::io::middleman>();
  caf::actor_system named{named_cfg};
  relay->send(splice_prepare(open.dst, caf::to_string(named.node())
                                          + " 127.0.0.1:"
                                          + std::to_string(hung)));
  auto is_ready = [&](const wire::frame& w) {
    return w.kind == wire::frame_kind::splice_ready;
  };
  // Dialing: no answer yet (the endpoint is prepared-but-not-ready).
  CHECK_FALSE(relay->frame_from_node(is_ready, 500ms));
  SECTION("splice_abort") {
    wire::frame abort;
    abort.kind = wire::frame_kind::splice_abort;
    abort.dst = open.dst;
    relay->send(abort);
    // The answer the prepare is owed, now: a relay tries again only once
    // every attempt it stopped was answered (so no late answer is taken
    // for a later attempt's).
    std::uint64_t answer = 0;
    CHECK(relay->frame_from_node(
      [&](const wire::frame& w) {
        answer = w.pseq;
        return is_ready(w) && w.seq == 0;
      },
      10s));
    relay->send(user_frame(open.dst, 1, value{"after the abort"}));
    CHECK(relay->user_from_node());
    // The dial ends (the connect timeout): no splice waits, no second
    // answer (the same one sent again, unacked here, is not another).
    CHECK_FALSE(relay->frame_from_node(
      [&](const wire::frame& w) { return is_ready(w) && w.pseq != answer; },
      2500ms));
    wire::frame close;
    close.kind = wire::frame_kind::close;
    close.dst = open.dst;
    close.seq = 1;
    relay->send(close);
  }
  SECTION("the relay goes") {
    relay.reset();
    CHECK(eventually([&] { return remote::stats(*s.rt).nodes_lost == 1; }));
    std::this_thread::sleep_for(2500ms); // past the dial's end
  }
  CHECK(eventually([&] { return remote::stats(*s.rt).links == 0; }));
  ::close(fd);
  CHECK(remote::stats(*s.rt).violations == 0);
}

namespace {

/// As relay A, splices the server's end `dst` of A's link onto a link with
/// the node `other` (the successor names `mine` at the server, `theirs` at
/// `other`): prepare, its ready{1}, go, and the endpoint's splice_last,
/// which must say `last`. The server is `switched` after.
void splice_until_switched(raw_peer& relay, wire::port_name dst,
                           const raw_peer& other, wire::port_name mine,
                           wire::port_name theirs, std::uint64_t last) {
  relay.send(
    splice_prepare(dst, caf::to_string(other.sys->node()), mine, theirs));
  REQUIRE(relay.frame_from_node([&](const wire::frame& w) {
    return w.kind == wire::frame_kind::splice_ready && w.seq == 1;
  }));
  wire::frame f;
  f.kind = wire::frame_kind::splice_go;
  f.dst = dst;
  relay.send(f);
  REQUIRE(relay.frame_from_node([&](const wire::frame& w) {
    return w.kind == wire::frame_kind::splice_last && w.seq == last;
  }));
}

} // namespace

TEST_CASE("credit across a splice: the successor takes over the relay's "
          "count, and credit beyond it, or for the old link after the "
          "swap, disconnects its node",
          "[remote][flow]") {
  server s;
  raw_peer other{s.port}; // the other endpoint, F
  other.hello();
  raw_peer relay{s.port}; // A
  auto open = relay.hello_and_open("echo");
  // Credit in use on the old link: a mark for what the echo sends back,
  // two messages echoed and not credited.
  wire::frame m;
  m.kind = wire::frame_kind::mark;
  m.dst = open.dst;
  m.marks = high_water_mark{4};
  relay.send(m);
  relay.send(user_frame(open.dst, 1, value{"one"}));
  relay.send(user_frame(open.dst, 2, value{"two"}));
  REQUIRE(relay.user_from_node());
  REQUIRE(relay.user_from_node());
  // Splice it onto a link with F: prepare, go, the endpoint's last.
  auto mine = wire::port_name::mint();
  auto theirs = wire::port_name::mint();
  splice_until_switched(relay, open.dst, other, mine, theirs, 2);
  // The swap: 5 messages the relay sent on to F and F did not credit (3
  // of its own before the endpoint's 2, say), F's mark 4.
  wire::frame f;
  f.kind = wire::frame_kind::splice_end;
  f.dst = open.dst;
  f.seq = 2;
  f.marks = high_water_mark{4};
  f.unread = 5;
  relay.send(f);
  REQUIRE(relay.frame_from_node([&](const wire::frame& w) {
    return w.kind == wire::frame_kind::close && w.dst == open.src;
  }));
  REQUIRE(eventually([&] { return remote::stats(*s.rt).swaps == 1; }));
  // F credits the 5 on the successor, then talks on it: honest.
  wire::frame c;
  c.kind = wire::frame_kind::credit;
  c.dst = mine;
  c.seq = 5;
  other.send(c);
  other.send(user_frame(mine, 1, value{"three"}));
  REQUIRE(other.user_from_node()); // the echo, on the successor: sent 6
  CHECK(remote::stats(*s.rt).violations == 0);
  SECTION("credit beyond the relay's count and what was sent since") {
    c.seq = 7;
    other.send(c);
  }
  SECTION("a count that goes back") {
    c.seq = 4;
    other.send(c);
  }
  SECTION("credit for the old link after the swap") {
    c.dst = open.dst;
    c.seq = 2;
    relay.send(c);
  }
  expect_one_violation(s);
  honest_round_trip(s.port, "unharmed");
}

namespace {

/// The node under test relays: what P sends to "hub" carrying a port goes
/// on to Q's connection (the one that said "sink"), so the node holds two
/// link ends entangled in-process with each other: `x_s` (to P, whose end
/// is `x_p`) and `y_s` (to Q, whose end is `y_q`). P and Q play the
/// endpoints of its splices.
struct relayed_pair {
  server s;
  std::unique_ptr<raw_peer> p;
  std::unique_ptr<raw_peer> q;
  wire::port_name x_p = wire::port_name::mint();
  wire::port_name x_s = wire::port_name::mint();
  wire::port_name y_s;
  wire::port_name y_q;
  /// Successor names of the prepares P and Q got so far (the node sends
  /// unacked frames again: a repeat is not a new attempt).
  std::vector<wire::port_name> seen;

  relayed_pair() {
    auto hub = s.rt->spawn("hub", [](context& self) {
      auto sink = std::make_shared<message_port>();
      self.on_connect([sink](message_event& ev) {
        auto c = ev.ports.at(0);
        c.on_message([c, sink](message_event& m) {
          if (m.ports.empty()) {
            *sink = c;
            c.post_message("sink ok");
            return;
          }
          std::vector<transferable> t(m.ports.begin(), m.ports.end());
          sink->post_message(m.data, t);
        });
        c.start();
      });
    });
    remote::offer(*s.rt, "hub", hub);
    q = std::make_unique<raw_peer>(s.port);
    auto qopen = q->hello_and_open("hub");
    q->send(user_frame(qopen.dst, 1, value{"sink"}));
    REQUIRE(q->user_from_node());
    p = std::make_unique<raw_peer>(s.port);
    auto popen = p->hello_and_open("hub");
    auto carry = user_frame(popen.dst, 1, value{"carry"});
    carry.ports.emplace_back(x_p, x_s);
    p->send(carry);
    REQUIRE(q->frame_from_node([&](const wire::frame& w) {
      if (w.kind != wire::frame_kind::user || w.ports.size() != 1)
        return false;
      y_s = w.ports[0].first;
      y_q = w.ports[0].second;
      return true;
    }));
  }

  /// Waits for a prepare of a new attempt at P (`at_p`) or Q; then both
  /// ack what they took (the node loses a peer that acks nothing for a
  /// few seconds).
  bool prepared(bool at_p, std::chrono::milliseconds timeout = 10s) {
    auto dst = at_p ? x_p : y_q;
    auto got = (at_p ? p : q)->frame_from_node(
      [&](const wire::frame& w) {
        if (w.kind != wire::frame_kind::splice_prepare || w.dst != dst
            || std::find(seen.begin(), seen.end(), w.src) != seen.end())
          return false;
        seen.push_back(w.src);
        return true;
      },
      timeout);
    p->ack();
    q->ack();
    return got;
  }

  /// The node made `splices` splices, counted no violation, lost no node
  /// and still serves an honest client.
  void end_clean(std::uint64_t splices) {
    CHECK(eventually([&] { return remote::stats(*s.rt).splices == splices; }));
    auto st = remote::stats(*s.rt);
    CHECK(st.violations == 0);
    CHECK(st.nodes_lost == 0);
    honest_round_trip(s.port, "unharmed");
  }

  /// P (`at_p`) or Q answers the node's prepare (or go).
  void answer(bool at_p, bool ok) {
    wire::frame ready;
    ready.kind = wire::frame_kind::splice_ready;
    ready.dst = at_p ? x_s : y_s;
    ready.seq = ok ? 1 : 0;
    (at_p ? p : q)->send(ready);
  }
};

} // namespace

TEST_CASE("a relay whose splice was refused tries again after a backoff, "
          "only once every answer to the stopped attempt came (a late one "
          "is not taken for the next attempt's), and then splices",
          "[remote]") {
  relayed_pair f;
  auto& p = *f.p;
  auto& q = *f.q;
  // Attempt 1: prepare to both. P refuses; Q holds its answer back.
  REQUIRE(f.prepared(true));
  REQUIRE(f.prepared(false));
  f.answer(true, false);
  REQUIRE(q.frame_from_node([&](const wire::frame& w) {
    return w.kind == wire::frame_kind::splice_abort && w.dst == f.y_q;
  }));
  // Q's answer to attempt 1 is owed: no attempt 2 before it comes, however
  // many backoff periods pass.
  CHECK_FALSE(f.prepared(true, 300ms));
  f.answer(false, true); // late: the node must take it for attempt 1's
  // Attempt 2, with new successor names; both ready now.
  REQUIRE(f.prepared(true));
  REQUIRE(f.prepared(false));
  f.answer(true, true);
  f.answer(false, true);
  // Go to both, and on to the end: nothing was sent on the old links (so
  // each splice_end says 0).
  auto both_get = [&](wire::frame_kind kind) {
    for (auto* peer : {&p, &q}) {
      auto dst = peer == &p ? f.x_p : f.y_q;
      REQUIRE(peer->frame_from_node([&](const wire::frame& w) {
        return w.kind == kind && w.dst == dst && w.seq == 0;
      }));
    }
  };
  both_get(wire::frame_kind::splice_go);
  wire::frame last;
  last.kind = wire::frame_kind::splice_last;
  last.seq = 0;
  last.dst = f.x_s;
  p.send(last);
  last.dst = f.y_s;
  q.send(last);
  both_get(wire::frame_kind::splice_end);
  f.end_clean(1);
}

TEST_CASE("a relay refused every time makes 6 attempts in all, each after "
          "a longer backoff (one retry per refusal, however its answers "
          "arrive), then relays for good",
          "[remote]") {
  relayed_pair f;
  auto first = std::chrono::steady_clock::now();
  auto sixth = first;
  for (int k = 1; k <= 6; ++k) {
    REQUIRE(f.prepared(true));
    REQUIRE(f.prepared(false));
    if (k == 1)
      first = std::chrono::steady_clock::now();
    sixth = std::chrono::steady_clock::now();
    // Q agrees, P refuses; in either order the node stops the attempt
    // and arms one retry, whether Q's answer came first or comes after.
    if (k % 2 == 0) {
      f.answer(false, true);
      f.answer(true, false);
    } else {
      f.answer(true, false);
      std::this_thread::sleep_for(10ms);
      f.answer(false, true);
    }
  }
  // The backoffs before attempts 2 to 6 are at least 40, 80, 160, 320 and
  // 640 ms: a second retry armed for one refusal would cut them short.
  CHECK(sixth - first >= 1000ms);
  // No seventh attempt: the pair is relayed for good. (Waiting at both
  // takes what the node sends each, the last abort too, and acks it.)
  for (int k = 0; k < 6; ++k) {
    CHECK_FALSE(f.prepared(true, 250ms));
    CHECK_FALSE(f.prepared(false, 250ms));
  }
  f.end_clean(0);
}

TEST_CASE("an endpoint that has not swapped yet holds a splice of its "
          "successor by the other endpoint (which swapped first) and takes "
          "it after its own swap; a second one before disconnects",
          "[remote]") {
  server s;
  raw_peer other{s.port}; // the other endpoint, F, which swapped first
  other.hello();
  raw_peer relay{s.port}; // A
  auto open = relay.hello_and_open("echo");
  auto mine = wire::port_name::mint();
  auto theirs = wire::port_name::mint();
  splice_until_switched(relay, open.dst, other, mine, theirs, 0);
  // F relays the successor on already (to A, say): a prepare on our
  // successor's name, before our splice_end.
  auto prepare = splice_prepare(mine, caf::to_string(relay.sys->node()));
  other.send(prepare);
  SECTION("held, then taken after the swap") {
    auto is_answer = [&](const wire::frame& w) {
      return w.kind == wire::frame_kind::splice_ready && w.dst == theirs;
    };
    CHECK_FALSE(other.frame_from_node(is_answer, 300ms));
    CHECK(remote::stats(*s.rt).violations == 0);
    wire::frame f;
    f.kind = wire::frame_kind::splice_end;
    f.dst = open.dst;
    f.seq = 0;
    relay.send(f);
    REQUIRE(eventually([&] { return remote::stats(*s.rt).swaps == 1; }));
    // Taken as a prepare of the link the successor now is: A is up here,
    // so ready{1}.
    CHECK(other.frame_from_node([&](const wire::frame& w) {
      return is_answer(w) && w.seq == 1;
    }));
    CHECK(remote::stats(*s.rt).violations == 0);
    honest_round_trip(s.port, "unharmed");
  }
  SECTION("a second prepare before the swap") {
    other.send(splice_prepare(mine, caf::to_string(relay.sys->node())));
    expect_one_violation(s);
    honest_round_trip(s.port, "unharmed");
  }
}
