// The memory of one idle port (issue #17; docs/performance.md, "Memory per
// port"): the sizes of its parts and that a fresh port is ONE allocation
// (its record and its first port object in a port_block, one control
// block). A field added to either, or a second allocation per port, fails
// here before it shows up in `entangle_bench --only=memory`.

#include <catch2/catch.hpp>

#include <atomic>
#include <memory>

#include "entangle/all.hpp"
#include "ports/port_object.hpp"
#include "ports/port_record.hpp"

using entangle::detail::port_block;
using entangle::detail::port_object;
using entangle::detail::port_record;

// glibc malloc chunks are the request plus 8, rounded up to 16. The block
// and its make_shared control block (16 B) are one request: at most 168 B,
// a 176 B chunk (it was two chunks, 112 + 96 = 208 B).
static_assert(sizeof(port_record) <= 80, "port_record grew (bytes per port)");
static_assert(sizeof(port_object) <= 72, "port_object grew (bytes per port)");
static_assert(sizeof(port_block) <= 152, "port_block grew (bytes per port)");

namespace {

/// Whether `a` and `b` share one control block (so one allocation).
template <class A, class B>
bool same_owner(const std::shared_ptr<A>& a, const std::shared_ptr<B>& b) {
  return !a.owner_before(b) && !b.owner_before(a);
}

struct seen {
  std::atomic<int> fresh_shared{0};  // object and record share the block
  std::atomic<int> fresh_inside{0};  // the object is the block's own
  std::atomic<int> moved_apart{0};   // a transferred port's object is not
  std::atomic<int> old_inert{0};     // the sender's handle went inert
};

} // namespace

TEST_CASE("a fresh port is one allocation; a transferred one gets its own "
          "object",
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
  CHECK(s.moved_apart == 1);
  CHECK(s.old_inert == 1);
  CHECK(rt.live_ports() == 0);
}
