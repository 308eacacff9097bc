// The context's reusable wake-up (src/contexts/wake_element.hpp): one holder at a
// time, handed back by CAF's release, freed exactly once whether its owner
// or a mailbox lets go last (ASan/LSan in CI see a double free or a leak).

#include <catch2/catch.hpp>

#include <atomic>
#include <thread>

#include <caf/atom.hpp>

#include "base/caf_compat.hpp"
#include "contexts/wake_element.hpp"

using entangle::detail::port_ready_atom;
using entangle::detail::unshipped_atom;
using entangle::detail::wake_element;

TEST_CASE("wake_element has one holder until CAF releases it",
          "[internals][wake]") {
  auto* w = new wake_element;
  REQUIRE(w->try_take());
  CHECK_FALSE(w->try_take()); // queued: senders fall back to a new message
  w->set(port_ready_atom::value, 42);
  CHECK(w->what() == port_ready_atom::value);
  CHECK(w->epoch() == 42);
  // The content is a real (atom, u64) tuple for any CAF code that looks.
  auto& c = w->content();
  REQUIRE(c.size() == 2);
  CHECK(c.get_as<caf::atom_value>(0) == port_ready_atom::value);
  CHECK(c.get_as<std::uint64_t>(1) == 42);
  auto m = w->copy_content_to_message();
  CHECK(m.match_elements<caf::atom_value, std::uint64_t>());
  CHECK(m.get_as<std::uint64_t>(1) == 42);
  w->request_deletion(false); // consumed: free again, not deleted
  REQUIRE(w->try_take());
  w->set(unshipped_atom::value, 0);
  CHECK(w->what() == unshipped_atom::value);
  w->request_deletion(false);
  w->orphan(); // free: the owner's orphan deletes it now
}

TEST_CASE("wake_element orphaned while queued is freed by the mailbox",
          "[internals][wake]") {
  auto* w = new wake_element;
  REQUIRE(w->try_take());
  w->orphan();                 // the actor goes first: must not free it yet
  CHECK_FALSE(w->try_take());  // and nobody may take it any more
  CHECK(w->epoch() == 0);      // still readable (ASan: not freed)
  w->request_deletion(false);  // the closed mailbox drops it: freed now
}

TEST_CASE("wake_element content belongs to its holder alone",
          "[internals][wake][stress]") { // [stress]: in the CI TSan run
  // Two senders race to take it; a holder's content must stay its own
  // until it releases it (the release/acquire pair orders the writes).
  auto* w = new wake_element;
  std::atomic<int> taken{0};
  std::atomic<int> clobbered{0};
  auto sender = [&](std::uint64_t tag) {
    for (int i = 0; i < 20000; ++i) {
      if (!w->try_take())
        continue;
      taken.fetch_add(1, std::memory_order_relaxed);
      w->set(port_ready_atom::value, tag);
      for (int spin = 0; spin < 8; ++spin)
        if (w->epoch() != tag)
          clobbered.fetch_add(1, std::memory_order_relaxed);
      w->request_deletion(false);
    }
  };
  std::thread a{sender, 1};
  std::thread b{sender, 2};
  a.join();
  b.join();
  CHECK(taken.load() > 0);
  CHECK(clobbered.load() == 0);
  w->orphan();
}
