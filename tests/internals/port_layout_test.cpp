// The memory of one idle port (issue #17; docs/performance.md, "Memory per
// port"): the sizes of its parts, that a fresh channel is ONE allocation
// (both records and their first port objects in a port_pair, one control
// block), and the ownership rules of port_pair (port_object.hpp): who keeps
// the pair alive, and what live_ports / live_records count when. A field
// added to a record or an object, or a second allocation per pair, fails
// here before it shows up in `entangle_bench --only=memory`.

#include <catch2/catch.hpp>

#include <atomic>
#include <memory>

#include "entangle/all.hpp"
#include "ports/port_object.hpp"
#include "ports/port_record.hpp"
#include "ports/port_scheduler.hpp"

using entangle::detail::port_block;
using entangle::detail::port_object;
using entangle::detail::port_pair;
using entangle::detail::port_record;
using entangle::detail::port_scheduler;

// glibc malloc chunks are the request plus 8, rounded up to 16. A pair and
// its make_shared control block (16 B) are one request: at most 248 B, a
// 256 B chunk, 128 B per port (it was a 288 B chunk while each record
// stored its peer and each object its context pointer; before that one
// 176 B chunk per port, and before that two, 112 + 96 = 208 B).
static_assert(sizeof(port_record) <= 56, "port_record grew (bytes per port)");
static_assert(sizeof(port_object) <= 56, "port_object grew (bytes per port)");
static_assert(sizeof(port_block) <= 112, "port_block grew (bytes per port)");
static_assert(sizeof(port_pair) + 16 + 8 <= 256,
              "port_pair grew past a 256 B malloc chunk (bytes per port)");

namespace {

/// Whether `a` and `b` share one control block (so one allocation).
template <class A, class B>
bool same_owner(const std::shared_ptr<A>& a, const std::shared_ptr<B>& b) {
  return !a.owner_before(b) && !b.owner_before(a);
}

struct seen {
  std::atomic<int> fresh_shared{0};  // object and record share the pair
  std::atomic<int> fresh_inside{0};  // the object is the block's own
  std::atomic<int> ends_shared{0};   // both ends of a channel share it
  std::atomic<int> moved_apart{0};   // a transferred port's object is not
  std::atomic<int> old_inert{0};     // the sender's handle went inert
};

} // namespace

TEST_CASE("a fresh channel is one allocation; a transferred port gets its "
          "own object",
          "[internals][port_layout]") {
  entangle::runtime_config cfg;
  cfg.warnings = false;
  entangle::runtime rt{cfg};
  seen s;
  rt.spawn("a", [&](entangle::context&) {
    entangle::message_channel ch;
    for (auto* p : {&ch.port1(), &ch.port2()}) {
      auto& obj = p->object();
      if (same_owner(obj, obj->record))
        ++s.fresh_shared;
      if (obj.get() == &port_block::of(*obj->record).first)
        ++s.fresh_inside;
    }
    if (same_owner(ch.port1().object(), ch.port2().object())
        && ch.port1().object()->record->peer()
             == ch.port2().object()->record.get()
        && ch.port2().object()->record->peer()
             == ch.port1().object()->record.get())
      ++s.ends_shared;
    entangle::message_channel back;
    back.port2().on_message([&s, back](const entangle::message_event& ev) {
      auto& got = ev.ports.at(0).object();
      // Same record, a new object of this context's own.
      if (got.get() != &port_block::of(*got->record).first
          && !same_owner(got, got->record))
        ++s.moved_apart;
      ev.ports.at(0).close();
      back.port2().close();
      back.port1().close();
    });
    back.port1().post_message(1, {ch.port1()});
    if (ch.port1().object()->detached.load() && !ch.port1().object()->record)
      ++s.old_inert;
    ch.port2().close();
  });
  rt.run();
  CHECK(s.fresh_shared == 2);
  CHECK(s.fresh_inside == 2);
  CHECK(s.ends_shared == 1);
  CHECK(s.moved_apart == 1);
  CHECK(s.old_inert == 1);
  CHECK(rt.live_ports() == 0);
}

TEST_CASE("a transferred port with no handle left keeps itself while "
          "attached, and is freed once it leaves",
          "[internals][port_layout]") {
  // The port table holds plain pointers: an adopted object (a transferred
  // port's) lives through its own `self` while attached, a block's object
  // through its `record`. Here no user handle to the received port
  // survives its first event, yet it must go on dispatching; its close
  // must free it (the weak reference expires, nothing leaks).
  entangle::runtime_config cfg;
  cfg.warnings = false;
  entangle::runtime rt{cfg};
  std::weak_ptr<port_object> received;
  std::atomic<int> got{0};
  std::atomic<bool> adopted{false};
  rt.spawn("a", [&](entangle::context& self) {
    entangle::message_channel ch;
    auto b = self.spawn("b", [&](entangle::context& me) {
      me.on_message([&](entangle::message_event& ev) {
        auto& obj = ev.ports.at(0).object();
        received = obj;
        adopted = entangle::detail::is_adopted(*obj);
        // No capture of the port: after this event, nothing of the user's
        // refers to it.
        ev.ports.at(0).on_message([&](entangle::message_event& m) {
          if (m.data.get<double>() < 0) {
            m.target.close();
            entangle::this_context().close();
            return;
          }
          ++got;
        });
      });
    });
    b.post_message("port", {ch.port2()});
    for (int i = 0; i < 100; ++i)
      ch.port1().post_message(i);
    ch.port1().post_message(-1);
  });
  // Without the self reference the port would be gone after its first
  // event: nothing dispatched, nothing ends (a timeout, not a hang).
  REQUIRE(rt.run_for(std::chrono::seconds{20}));
  CHECK(adopted);
  CHECK(got == 100);
  CHECK(received.expired()); // closed: it let go of itself
  CHECK(rt.live_ports() == 0);
}

TEST_CASE("port_pair ownership: the pair lives while anything references "
          "either end; open and live records are counted apart",
          "[internals][port_layout]") {
  auto sched = port_scheduler::create(
    [](const caf::actor&, port_scheduler::wake_kind, port_record&,
       std::uint64_t, std::uint64_t) {});
  sched->warnings = false;
  std::weak_ptr<port_record> watch;
  {
    auto [a, b] = sched->make_pair();
    watch = a;
    // Derived from the id's parity: each end finds the other.
    CHECK(a->peer() == b.get());
    CHECK(b->peer() == a.get());
    CHECK(sched->live_records() == 2);
    CHECK(sched->open_records() == 2);
    CHECK(&a->sched() == sched.get());
    // Closing one end closes the other's pairing, not its memory.
    sched->close(a, entangle::drop_reason::closed);
    CHECK(sched->open_records() == 1);
    CHECK(b->peer_closed);
    CHECK(a->peer() == nullptr);
    CHECK(b->peer() == a.get()); // the survivor still sees its peer
    // Dropping every reference to the closed end keeps it: `b` references
    // the same pair.
    a.reset();
    CHECK_FALSE(watch.expired());
    CHECK(sched->live_records() == 2);
    sched->close(b, entangle::drop_reason::closed);
    CHECK(sched->open_records() == 0);
    CHECK(sched->live_records() == 2); // `b` still holds the pair
  }
  // The last reference gone: both records are destroyed together.
  CHECK(watch.expired());
  CHECK(sched->live_records() == 0);
  CHECK(sched->open_records() == 0);
}

TEST_CASE("port objects keep the scheduler alive after its runtime",
          "[internals][port_layout]") {
  entangle::message_port kept;
  {
    entangle::runtime_config cfg;
    cfg.warnings = false;
    entangle::runtime rt{cfg};
    rt.spawn("a", [&kept](entangle::context&) {
      entangle::message_channel ch;
      kept = ch.port1(); // outlives the runtime
      ch.port2().close();
    });
    rt.run();
    CHECK(rt.live_ports() == 0);
  }
  // The runtime is gone; the handle's object still reaches its scheduler
  // (its sched_ref), and so does its record through the pair.
  REQUIRE(kept.object());
  CHECK(kept.object()->sched);
  CHECK(kept.object()->closed.load());
  kept = entangle::message_port{}; // the last count: the scheduler goes
}

TEST_CASE("a message's port_list holds no memory until it holds a port, "
          "and push_back copies or moves as a vector's does",
          "[internals]") {
  using entangle::detail::port_list;
  static_assert(sizeof(port_list) == sizeof(void*));
  port_list ports;
  ports.reserve(0); // a message that carries no port passes here
  CHECK(ports.empty());
  CHECK(ports.size() == 0);
  CHECK(ports.begin() == nullptr); // nothing allocated
  CHECK(ports.begin() == ports.end());
  CHECK_THROWS_AS(ports.at(0), std::out_of_range);
  CHECK(ports.begin() == nullptr); // at() allocates nothing either
  // The list never reads a record (only a message's release_ports does),
  // so an owner without a record stands in for one.
  auto owner = std::make_shared<int>(0);
  std::shared_ptr<port_record> rec{owner, nullptr};
  ports.push_back(rec); // by reference: `rec` keeps its share
  CHECK(rec.use_count() == 3);
  ports.push_back(std::move(rec));
  CHECK(ports.size() == 2);
  CHECK(owner.use_count() == 3);
  CHECK_FALSE(ports.at(1).owner_before(ports[0]));
  port_list moved = std::move(ports);
  CHECK(moved.size() == 2);
  CHECK(ports.empty()); // NOLINT(bugprone-use-after-move)
  moved.clear();
  CHECK(moved.empty());
  CHECK(owner.use_count() == 1);
  CHECK(moved.begin() == nullptr);
}
