// A raw BASP peer and a listening echo server for the remote fault tests
// (tests/remote_faults_test.cpp, remote_splice_faults_test.cpp): a CAF
// node with entangle's app identifier but none of its code, which sends
// whatever frames a test builds.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/io/middleman.hpp>
#include <caf/scoped_actor.hpp>

#include "entangle/all.hpp"
#include "remote/codec.hpp"
#include "remote/journal.hpp"
#include "remote/node_actor.hpp"

namespace remote_test {

namespace wire = entangle::detail::remote;
using namespace std::chrono_literals;
using namespace entangle;


/// A user frame for `dst` with sequence number `seq` carrying `data`, as a
/// peer would send it (the tests then bend one field).
inline wire::frame user_frame(wire::port_name dst, std::uint64_t seq, value data) {
  wire::frame f;
  f.kind = wire::frame_kind::user;
  f.dst = dst;
  f.seq = seq;
  f.data = std::move(data);
  return f;
}

/// A splice_prepare for the node's end `dst`, as a relay would send it:
/// fresh names for the successor pair (`src`, `peer`) unless given, and
/// `text` naming the other endpoint's node (and where it listens).
inline wire::frame splice_prepare(wire::port_name dst, std::string text,
                                  wire::port_name src = wire::port_name::mint(),
                                  wire::port_name peer
                                  = wire::port_name::mint()) {
  wire::frame f;
  f.kind = wire::frame_kind::splice_prepare;
  f.dst = dst;
  f.src = src;
  f.peer = peer;
  f.text = std::move(text);
  return f;
}

/// A CAF node with entangle's app identifier but none of its code: it can
/// send any frame it likes to a listening entangle node.
struct raw_peer {
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  caf::actor node;
  /// One sender for every frame, alive as long as the peer: the node
  /// monitors whoever said hello (a node actor lives as long as its node).
  std::unique_ptr<caf::scoped_actor> self;
  /// The number of the last sequenced frame sent (the node's stream).
  std::uint64_t pseq = 0;
  /// The node's session, from its welcome (sequenced frames echo it).
  std::uint64_t echo = 0;
  /// The node's frames taken so far, in its stream's order (what ack()
  /// acknowledges).
  std::uint64_t in = 0;

  explicit raw_peer(std::uint16_t port) {
    cfg.load<caf::io::middleman>();
    cfg.set("middleman.app-identifiers",
            std::vector<std::string>{"entangle/1"});
    // Heartbeats as entangle's, or the node's CAF drops the connection.
    cfg.set("middleman.heartbeat-interval", caf::timespan{200ms});
    sys = std::make_unique<caf::actor_system>(cfg);
    auto hdl = sys->middleman().remote_actor("127.0.0.1", port);
    REQUIRE(hdl);
    node = *hdl;
    self = std::make_unique<caf::scoped_actor>(*sys);
  }

  ~raw_peer() {
    self.reset();
  }

  void send(const std::string& bytes) {
    (*self)->send(node, wire::frame_atom::value, bytes);
  }

  /// Sends `f`, numbered in this peer's stream if it is sequenced (the
  /// node drops a frame out of stream order without looking at it).
  void send(wire::frame f) {
    if (wire::sequenced(f.kind))
      f.pseq = ++pseq;
    if (wire::sequenced(f.kind) || f.kind == wire::frame_kind::ack)
      f.echo = echo;
    send(wire::encode(f));
  }

  /// `key`: where it claims to listen (empty: nowhere). With `welcome`,
  /// waits for the node's answer and learns its session.
  void hello(const std::string& key = "", bool welcome = true,
             std::uint16_t version = wire::wire_version) {
    wire::frame f;
    f.kind = wire::frame_kind::hello;
    f.magic = wire::wire_magic;
    f.version = version;
    f.session = 1;
    f.text = key;
    send(f);
    if (!welcome)
      return;
    bool done = false;
    while (!done) {
      (*self)->receive(
        [&](wire::frame_atom, const std::string& bytes) {
          std::string why;
          auto w = wire::decode(bytes, 64, why);
          REQUIRE(w);
          if (w->kind == wire::frame_kind::welcome) {
            echo = w->session;
            done = true;
          }
        },
        caf::after(std::chrono::seconds{30}) >> [&] {
          FAIL("no welcome");
        });
    }
  }

  /// Waits for a frame from the node that `pred` accepts (others are
  /// skipped); false after `timeout`.
  template <class Pred>
  bool frame_from_node(Pred pred,
                       std::chrono::milliseconds timeout = 30s) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      bool got = false;
      (*self)->receive(
        [&](wire::frame_atom, const std::string& bytes) {
          std::string why;
          auto w = wire::decode(bytes, 64, why);
          if (w && w->pseq == in + 1)
            in = w->pseq;
          got = w && pred(*w);
        },
        caf::after(std::chrono::seconds{1}) >> [] {});
      if (got)
        return true;
    }
    return false;
  }

  /// Acknowledges the node's frames taken so far: a peer that acks
  /// nothing for a few seconds is lost ("it acks nothing"), so a test
  /// that talks longer than that acks as a node would.
  void ack() {
    wire::frame f;
    f.kind = wire::frame_kind::ack;
    f.ack = in;
    send(f);
  }

  /// Waits for a hello from the node with a session other than `old`.
  bool hello_from_node(std::uint64_t old) {
    return frame_from_node([old](const wire::frame& w) {
      return w.kind == wire::frame_kind::hello && w.session != old;
    });
  }

  /// Waits for the next user frame from the node (other frames are
  /// skipped); false after 30 s.
  bool user_from_node() {
    return frame_from_node([](const wire::frame& w) {
      return w.kind == wire::frame_kind::user;
    });
  }

  /// Opens a link to service `name` (after a hello); returns the open
  /// frame (its `dst` names the server's end of the link).
  wire::frame open(const std::string& name) {
    wire::frame o;
    o.kind = wire::frame_kind::open;
    o.dst = wire::port_name::mint();
    o.src = wire::port_name::mint();
    o.text = name;
    send(o);
    return o;
  }

  /// Says hello and opens a link to service `name` (open()).
  wire::frame hello_and_open(const std::string& name) {
    hello();
    return open(name);
  }
};

/// A listening runtime offering "echo" (which also logs the events of each
/// connection it serves).
struct server {
  runtime_config cfg;
  std::unique_ptr<runtime> rt;
  std::uint16_t port = 0;
  journal served;

  /// `tune` adjusts the config (the caps) before the runtime is made.
  explicit server(const std::function<void(runtime_config&)>& tune = {}) {
    cfg.remote = true;
    cfg.warnings = false;
    if (tune)
      tune(cfg);
    rt = std::make_unique<runtime>(cfg);
    auto id = rt->spawn("echo", [this](context& self) {
      self.on_connect([this](message_event& ev) {
        auto p = ev.ports.at(0);
        p.on_message([p](message_event& m) { p.post_message(m.data); });
        p.on_close([this](message_event&) { served.add("close"); });
        p.start();
      });
    });
    remote::offer(*rt, "echo", id);
    port = remote::listen(*rt, 0, "127.0.0.1");
  }
};

/// The bad frame of a fault test was taken as exactly one violation and
/// its node as lost (the wait lets a second, wrong, count show up).
inline void expect_one_violation(const server& s) {
  CHECK(eventually([&] { return remote::stats(*s.rt).violations >= 1; }));
  std::this_thread::sleep_for(100ms);
  CHECK(remote::stats(*s.rt).violations == 1);
  CHECK(remote::stats(*s.rt).nodes_lost == 1);
}

/// An honest client runtime: connects to echo and checks a round trip.
inline void honest_round_trip(std::uint16_t port, const std::string& text) {
  runtime_config cfg;
  cfg.remote = true;
  cfg.warnings = false;
  runtime rt{cfg};
  journal j;
  auto url = "entangle://127.0.0.1:" + std::to_string(port) + "/echo";
  rt.spawn("client", [&j, url, text](context&) {
    auto p = remote::connect(url);
    p.on_message([&j, p](message_event& ev) {
      j.add(to_string(ev.data));
      p.close();
    });
    p.start();
    p.post_message(text);
  });
  REQUIRE(eventually([&] { return j.size() == 1; }));
  CHECK(j.at(0) == to_string(value{text}));
  CHECK(rt.run_for(10s));
}


} // namespace remote_test
