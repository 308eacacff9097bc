// Bad input from a peer (issue #14 point 8): a CAF node that speaks BASP
// with entangle's app identifier but sends malformed or unexpected frames
// is disconnected and counted; it never touches ports it was not given,
// and honest peers go on. Two runtimes in this one process stand for two
// nodes (they connect over loopback like separate processes). Splice
// frames: remote_splice_faults_test.cpp. [remote]

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>

#include "contexts/context_core.hpp"
#include "entangle/all.hpp"
#include "remote/raw_peer.hpp"

// raw_peer, server, user_frame, honest_round_trip, journal, eventually
// and `wire` (entangle::detail::remote) come from remote_test.
using namespace entangle;
using namespace remote_test;

TEST_CASE("an undecodable frame disconnects its node, counted; others go on",
          "[remote]") {
  server s;
  raw_peer bad{s.port};
  bad.send(std::string{"\x05garbage", 8});
  CHECK(eventually([&] { return remote::stats(*s.rt).violations == 1; }));
  CHECK(remote::stats(*s.rt).nodes_lost == 1);
  // Banned: what it sends now is not even looked at.
  bad.hello("", false);
  bad.send(std::string{"\xff", 1});
  std::this_thread::sleep_for(100ms);
  CHECK(remote::stats(*s.rt).violations == 1);
  honest_round_trip(s.port, "still here");
}

TEST_CASE("frames before hello, for names never given, with a wrong "
          "sequence number: each disconnects its node",
          "[remote]") {
  server s;
  // Alive until the checks below: a peer torn down at once may take its
  // last frames with it (its middleman never writes them).
  std::unique_ptr<raw_peer> peer;
  SECTION("a frame before hello") {
    peer = std::make_unique<raw_peer>(s.port);
    auto& bad = *peer;
    wire::frame f;
    f.kind = wire::frame_kind::close;
    f.dst = wire::port_name::mint();
    bad.send(f);
  }
  SECTION("a message for a port it was never given") {
    peer = std::make_unique<raw_peer>(s.port);
    auto& bad = *peer;
    bad.hello();
    auto f = user_frame(wire::port_name::mint(), 1, value{"hi"});
    bad.send(f);
  }
  SECTION("a sequence number it already used, on a port it was given") {
    peer = std::make_unique<raw_peer>(s.port);
    auto& bad = *peer;
    auto open = bad.hello_and_open("echo");
    auto f = user_frame(open.dst, 1, value{"hi"});
    bad.send(f);
    bad.send(f); // seq 1 again: a duplicate (later numbers may come early:
                 // the reorder buffer holds them; earlier ones never)
    // The one port it was given closes (node loss); nothing else does.
    CHECK(eventually([&] { return s.served.size() == 1; }));
    CHECK(remote::stats(*s.rt).links == 0);
  }
  SECTION("a gap it never fills, then more early frames than the reorder "
          "buffer holds") {
    peer = std::make_unique<raw_peer>(s.port);
    auto& bad = *peer;
    auto open = bad.hello_and_open("echo");
    auto f = user_frame(open.dst, 0, value{"early"});
    // Number 1 never comes; 2..1025 wait in the reorder buffer (1024 is its
    // bound), and the next one is a violation instead of more memory.
    for (std::uint64_t seq = 2; seq <= 1026; ++seq) {
      f.seq = seq;
      bad.send(f);
    }
  }
  SECTION("a number too far ahead of the next expected one") {
    peer = std::make_unique<raw_peer>(s.port);
    auto& bad = *peer;
    auto open = bad.hello_and_open("echo");
    auto f = user_frame(open.dst, std::uint64_t{1} << 20, value{"far"});
    bad.send(f);
  }
  SECTION("a payload that does not rebuild (a reference to nothing)") {
    peer = std::make_unique<raw_peer>(s.port);
    auto& bad = *peer;
    auto open = bad.hello_and_open("echo");
    auto f = user_frame(open.dst, 1, value{detail::clone_ref{42}});
    bad.send(f);
  }
  CHECK(eventually([&] { return remote::stats(*s.rt).violations >= 1; }));
  CHECK(remote::stats(*s.rt).violations == 1);
  CHECK(remote::stats(*s.rt).nodes_lost == 1);
  honest_round_trip(s.port, "unharmed");
}

TEST_CASE("a hello whose listen key is not host:port disconnects its node "
          "at once (it is never dialed)",
          "[remote]") {
  server s;
  std::string key;
  SECTION("not a number") {
    key = "a:b";
  }
  SECTION("beyond any integer") {
    key = "h:99999999999999999999";
  }
  SECTION("beyond a port") {
    key = "h:70000";
  }
  SECTION("port 0") {
    key = "h:0";
  }
  SECTION("no port") {
    key = "nocolon";
  }
  SECTION("trailing junk") {
    key = "h:80x";
  }
  raw_peer bad{s.port};
  bad.hello(key, false);
  expect_one_violation(s);
  honest_round_trip(s.port, "unharmed");
}

TEST_CASE("frames of a session the node does not know (stale, in flight "
          "when one side lost the other) are dropped, counted, not banned",
          "[remote]") {
  server s;
  raw_peer peer{s.port};
  auto open = peer.hello_and_open("echo");
  CHECK(eventually([&] { return remote::stats(*s.rt).links == 1; }));
  auto node_echo = peer.echo;
  peer.echo = node_echo ^ 2; // another session of the node's
  auto f = user_frame(open.dst, 1, value{"stale"});
  peer.send(f);
  // An ack for frames the node never sent in its current session.
  wire::frame a;
  a.kind = wire::frame_kind::ack;
  a.ack = 1000;
  peer.send(a);
  CHECK(eventually([&] { return remote::stats(*s.rt).stale >= 2; }));
  CHECK(remote::stats(*s.rt).violations == 0);
  CHECK(remote::stats(*s.rt).links == 1);
  honest_round_trip(s.port, "unharmed");
  CHECK(remote::stats(*s.rt).violations == 0);
}

TEST_CASE("a peer that takes frames but never acks them is lost, not "
          "resent to forever",
          "[remote]") {
  server s;
  raw_peer peer{s.port};
  auto open = peer.hello_and_open("echo");
  auto f = user_frame(open.dst, 1, value{"echo me"});
  peer.send(f); // its ack field stays 0: the echo's frame is never acked
  // Resent with backoff (0.25 + 0.5 + 1 + 2 + 2 s), then lost.
  CHECK(eventually([&] { return remote::stats(*s.rt).nodes_lost == 1; },
                   60s));
  CHECK(remote::stats(*s.rt).resent >= 2);
  CHECK(remote::stats(*s.rt).violations == 0);
  // It is told (a hello with the node's new session), and told again when
  // it goes on sending as if nothing happened.
  CHECK(peer.hello_from_node(peer.echo));
  std::this_thread::sleep_for(150ms);
  f.seq = 2;
  peer.send(f);
  CHECK(peer.hello_from_node(peer.echo));
  CHECK(remote::stats(*s.rt).violations == 0);
  honest_round_trip(s.port, "unharmed");
}

TEST_CASE("a node that never answers hello is lost when the hellos run out; "
          "a later connect greets it again",
          "[remote]") {
  // A CAF node with entangle's app identifier that counts hellos and
  // answers nothing.
  caf::actor_system_config ccfg;
  ccfg.load<caf::io::middleman>();
  ccfg.set("middleman.app-identifiers",
           std::vector<std::string>{"entangle/1"});
  caf::actor_system sys{ccfg};
  auto hellos = std::make_shared<std::atomic<int>>(0);
  auto mute = sys.spawn([hellos](caf::event_based_actor*) -> caf::behavior {
    return {[hellos](wire::frame_atom, const std::string& bytes) {
      if (!bytes.empty()
          && bytes[0] == static_cast<char>(wire::frame_kind::hello))
        ++*hellos;
    }};
  });
  auto port = sys.middleman().publish(mute, 0, "127.0.0.1");
  REQUIRE(port);
  runtime_config cfg;
  cfg.remote = true;
  cfg.warnings = false;
  cfg.remote_connect_timeout = 500ms;
  runtime rt{cfg};
  auto url = "entangle://127.0.0.1:" + std::to_string(*port) + "/echo";
  journal j;
  auto connect = [&] {
    rt.spawn("client", [&j, url](context&) {
      auto p = remote::connect(url);
      p.add_event_listener("error", [&j](message_event&) { j.add("error"); });
      p.start();
    });
  };
  connect();
  CHECK(eventually([&] { return j.size() == 1; }, 30s));
  // Not left waiting for an answer: lost once the hellos run out.
  CHECK(eventually([&] { return remote::stats(rt).nodes_lost == 1; }, 60s));
  auto before = hellos->load();
  CHECK(before >= 1);
  connect();
  CHECK(eventually([&] { return j.size() == 2; }, 30s));
  CHECK(eventually([&] { return hellos->load() > before; }, 30s));
  CHECK(remote::stats(rt).violations == 0);
  caf::anon_send_exit(mute, caf::exit_reason::kill);
}

TEST_CASE("credit that does not add up disconnects its node: more consumed "
          "than sent, going back, without a mark",
          "[remote][flow]") {
  server s;
  raw_peer peer{s.port};
  auto open = peer.hello_and_open("echo");
  auto mark = [&](std::size_t messages, std::uint64_t consumed) {
    wire::frame f;
    f.kind = wire::frame_kind::mark;
    f.dst = open.dst;
    f.marks = high_water_mark{messages};
    f.seq = consumed;
    peer.send(f);
  };
  auto credit = [&](std::uint64_t consumed) {
    wire::frame f;
    f.kind = wire::frame_kind::credit;
    f.dst = open.dst;
    f.seq = consumed;
    peer.send(f);
  };
  // Honest first: a mark for the echo's messages to it, one message echoed
  // (the node sent 1), that message credited: no violation, still served.
  mark(4, 0);
  peer.send(user_frame(open.dst, 1, value{"one"}));
  REQUIRE(peer.user_from_node());
  credit(1);
  peer.send(user_frame(open.dst, 2, value{"two"}));
  REQUIRE(peer.user_from_node()); // sent 2 now
  CHECK(remote::stats(*s.rt).violations == 0);
  SECTION("more consumed than sent") {
    credit(3);
  }
  SECTION("a count that goes back") {
    credit(0);
  }
  SECTION("credit after the mark was lifted") {
    mark(0, 1);
    credit(2);
  }
  SECTION("a mark that counts more consumed than sent") {
    mark(4, 5);
  }
  expect_one_violation(s);
  CHECK(eventually([&] { return s.served.size() == 1; })); // its port closed
  honest_round_trip(s.port, "unharmed");
}

TEST_CASE("a message that cannot be encoded for the wire is messageerror at "
          "the receiving port, in its place",
          "[remote]") {
  // Sent in-process, a message's in-flight form may hold what has no wire
  // form (here a host object, put there past post_message's checks): the
  // sender cannot encode it, and sends a stand-in in its place, so the
  // receiver sees message, messageerror, message, in order (HTML: a
  // message that does not deserialize fires messageerror there).
  runtime_config rcfg;
  rcfg.remote = true;
  rcfg.warnings = false;
  runtime receiver{rcfg};
  journal got;
  auto id = receiver.spawn("log", [&got](context& self) {
    self.on_connect([&got](message_event& ev) {
      auto p = ev.ports.at(0);
      p.on_message([&got](message_event& m) { got.add(to_string(m.data)); });
      p.on_messageerror([&got](message_event& m) {
        got.add("messageerror " + m.error);
      });
      p.on_close([&got](message_event&) { got.add("close"); });
      p.start();
    });
  });
  remote::offer(receiver, "log", id);
  auto url = "entangle://127.0.0.1:"
             + std::to_string(remote::listen(receiver, 0, "127.0.0.1"))
             + "/log";
  runtime_config scfg;
  scfg.remote = true;
  scfg.warnings = false;
  runtime sender{scfg};
  auto r0 = receiver.drops();
  auto s0 = sender.drops();
  sender.spawn("sender", [url](context&) {
    auto p = remote::connect(url);
    p.post_message("m1");
    detail::serialized_message m2;
    m2.data = value{host_object{}};
    detail::current_core()->post_serialized(*p.object(), std::move(m2));
    p.post_message("m3");
    p.close();
  });
  auto lines = got.wait_for(4);
  REQUIRE(lines.size() == 4);
  CHECK(lines[0] == to_string(value{"m1"}));
  CHECK_THAT(lines[1], Catch::StartsWith("messageerror a message from "
                                         "another process could not be "
                                         "sent: ")
                         && Catch::Contains("DataCloneError"));
  CHECK(lines[2] == to_string(value{"m3"}));
  CHECK(lines[3] == "close");
  // Counted once, where it fired; the sender sent it (as a stand-in).
  CHECK(receiver.drops().since(r0)[drop_reason::messageerror] == 1);
  CHECK(sender.drops().since(s0).total() == 0);
  CHECK(remote::stats(receiver).violations == 0);
  CHECK(eventually([&] { return remote::stats(sender).links == 0; }));
  sender.stop();
  receiver.stop();
}

TEST_CASE("a hello of a wire version this node does not take is refused at "
          "the greeting",
          "[remote]") {
  server s;
  raw_peer old{s.port};
  wire::frame f;
  f.kind = wire::frame_kind::hello;
  f.magic = wire::wire_magic;
  f.version = GENERATE(wire::wire_version_min - 1, wire::wire_version + 1);
  f.session = 1;
  old.send(f);
  CHECK(eventually([&] { return remote::stats(*s.rt).violations == 1; }));
  CHECK(remote::stats(*s.rt).nodes_lost == 1);
  CHECK(remote::stats(*s.rt).peers == 0);
  // No welcome for it, and what it sends next is not looked at.
  CHECK(!old.frame_from_node([](const wire::frame& w) {
    return w.kind == wire::frame_kind::welcome;
  }, 1s));
  honest_round_trip(s.port, "unharmed");
}

TEST_CASE("a peer that makes more links than its cap is disconnected: "
          "opens, carried ports, frames waiting ahead of a gap",
          "[remote]") {
  constexpr std::size_t cap = 4;
  server s{[](runtime_config& cfg) {
    cfg.remote_max_links = cap;
    cfg.remote_max_early_bytes = 4096;
  }};
  std::unique_ptr<raw_peer> peer;
  std::size_t served = 0; // links the echo service got before the ban
  SECTION("more opens than the cap") {
    peer = std::make_unique<raw_peer>(s.port);
    auto open = peer->hello_and_open("echo");
    for (std::size_t k = 1; k <= cap; ++k) {
      open.dst = wire::port_name::mint();
      open.src = wire::port_name::mint();
      peer->send(open); // the last one is one too many
    }
    served = cap;
  }
  SECTION("refused opens count too (each leaves a tombstone)") {
    peer = std::make_unique<raw_peer>(s.port);
    auto open = peer->hello_and_open("nobody");
    for (std::size_t k = 1; k <= cap; ++k) {
      open.dst = wire::port_name::mint();
      open.src = wire::port_name::mint();
      peer->send(open);
    }
  }
  SECTION("more carried ports than the cap") {
    peer = std::make_unique<raw_peer>(s.port);
    auto open = peer->hello_and_open("echo");
    auto f = user_frame(open.dst, 1, value{"ports"});
    for (std::size_t k = 0; k < cap; ++k) // 1 open + 4 carried: 5 links
      f.ports.emplace_back(wire::port_name::mint(), wire::port_name::mint());
    peer->send(f);
    served = 1;
  }
  SECTION("more bytes waiting ahead of a gap than a link holds") {
    peer = std::make_unique<raw_peer>(s.port);
    auto open = peer->hello_and_open("echo");
    // Number 1 never comes: 2 waits (3000 bytes), 3 would make 6000.
    peer->send(user_frame(open.dst, 2, value{std::string(3000, 'x')}));
    peer->send(user_frame(open.dst, 3, value{std::string(3000, 'y')}));
    served = 1;
  }
  expect_one_violation(s);
  // Its links are closed (node loss), none is left behind.
  CHECK(eventually([&] { return s.served.size() == served; }));
  CHECK(eventually([&] { return remote::stats(*s.rt).links == 0; }));
  honest_round_trip(s.port, "unharmed");
}

TEST_CASE("up to the cap, links a peer made and closed make room again",
          "[remote]") {
  constexpr std::size_t cap = 2;
  server s{[](runtime_config& cfg) { cfg.remote_max_links = cap; }};
  // Sequentially, one honest client at a time, more channels than the cap
  // in all: each closes (both closes seen) before the next opens.
  for (int k = 0; k < 5; ++k)
    honest_round_trip(s.port, "round " + std::to_string(k));
  CHECK(remote::stats(*s.rt).violations == 0);
}

TEST_CASE("a frame without a remote sender (an anonymous send) is dropped "
          "and counted as unattributed, nobody banned, unless its echo "
          "names a peer's session: then it is that peer's",
          "[remote]") {
  server s;
  raw_peer peer{s.port};
  peer.hello();
  // From the peer, this frame would be a violation (a port it was never
  // given); sent anonymously with an echo no peer was told, it names
  // nobody to disconnect.
  wire::frame f = user_frame(wire::port_name{7, 7}, 1, value{"x"});
  f.pseq = peer.pseq + 1;
  f.echo = peer.echo + 1;
  caf::anon_send(peer.node, wire::frame_atom::value, wire::encode(f));
  CHECK(eventually([&] { return remote::stats(*s.rt).unattributed == 1; }));
  CHECK(remote::stats(*s.rt).violations == 0);
  CHECK(remote::stats(*s.rt).nodes_lost == 0);
  // With the session the node told this peer alone (what CAF's lost
  // sender leaves of a peer's frame), it is the peer's: its violation.
  f.echo = peer.echo;
  caf::anon_send(peer.node, wire::frame_atom::value, wire::encode(f));
  CHECK(eventually([&] { return remote::stats(*s.rt).violations == 1; }));
  CHECK(remote::stats(*s.rt).nodes_lost == 1);
  CHECK(remote::stats(*s.rt).unattributed == 1);
  honest_round_trip(s.port, "still here");
}

TEST_CASE("a peer's frame whose sender CAF lost is taken by its echo: the "
          "link answers it, and the stream goes on in order",
          "[remote]") {
  server s;
  raw_peer peer{s.port};
  auto open = peer.hello_and_open("echo");
  peer.send(user_frame(open.dst, 1, value{"one"}));
  REQUIRE(peer.frame_from_node([&](const wire::frame& w) {
    return w.kind == wire::frame_kind::user && w.data == value{"one"};
  }));
  // The next frame of its stream arrives without a sender.
  wire::frame f = user_frame(open.dst, 2, value{"two"});
  f.pseq = ++peer.pseq;
  f.echo = peer.echo;
  caf::anon_send(peer.node, wire::frame_atom::value, wire::encode(f));
  CHECK(peer.frame_from_node([&](const wire::frame& w) {
    return w.kind == wire::frame_kind::user && w.dst == open.src
           && w.seq == 2 && w.data == value{"two"};
  }));
  peer.send(user_frame(open.dst, 3, value{"three"}));
  CHECK(peer.frame_from_node([&](const wire::frame& w) {
    return w.kind == wire::frame_kind::user && w.seq == 3
           && w.data == value{"three"};
  }));
  CHECK(remote::stats(*s.rt).unattributed == 0);
  CHECK(remote::stats(*s.rt).violations == 0);
}
