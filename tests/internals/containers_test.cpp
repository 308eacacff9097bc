// The small containers that keep an idle port small (docs/architecture.md,
// "Memory per idle port"): the context's port table and the lazy FIFO.
// Both are checked against a standard container under random operations.

#include <catch2/catch.hpp>

#include <deque>
#include <map>
#include <random>

#include "base/lazy_fifo.hpp"
#include "contexts/port_table.hpp"
#include "ports/port_scheduler.hpp"

using entangle::detail::adopted_port;
using entangle::detail::lazy_fifo;
using entangle::detail::port_block;
using entangle::detail::port_object;
using entangle::detail::port_scheduler;
using entangle::detail::port_table;

namespace {

/// Makes ATTACHED port objects (what a port table may hold) on records of
/// its own scheduler: odd epochs get their block's first object, even ones
/// an adopted_port, so both ways of keeping an object alive are used.
struct attached_objects {
  std::shared_ptr<port_scheduler> sched = port_scheduler::create(
    [](const caf::actor&, port_scheduler::wake_kind,
       entangle::detail::port_record&, std::uint64_t, std::uint64_t) {});

  std::shared_ptr<port_object> make(std::uint64_t epoch) {
    auto rec = sched->make_pair().first;
    std::shared_ptr<port_object> p;
    if (epoch % 2 == 1) {
      auto& first = port_block::of(*rec).first;
      first.ctx_id = 1;
      p = std::shared_ptr<port_object>{rec, &first};
    } else {
      p = std::make_shared<adopted_port>(1, sched.get(), false);
    }
    p->epoch = epoch;
    p->record = std::move(rec);
    if (is_adopted(*p))
      static_cast<adopted_port&>(*p).self = p;
    return p;
  }

  /// What a context does when a port leaves ATTACHED (after erasing it).
  static void detach(port_object& p) {
    auto keep = unpin(p);
    p.record.reset();
  }
};

} // namespace

TEST_CASE("port_table finds, erases and shrinks like a map",
          "[internals][port_table]") {
  attached_objects objs;
  port_table t;
  CHECK(t.find(1) == nullptr);
  t.erase(1); // absent: nothing happens
  std::map<std::uint64_t, std::shared_ptr<port_object>> ref;
  std::mt19937_64 rng{GENERATE(1u, 2u, 3u, 4u)};
  std::uint64_t next = 1;
  for (int step = 0; step < 20000; ++step) {
    auto op = rng() % 10;
    if (op < 5 || ref.empty()) {
      // Mostly increasing epochs (as the scheduler draws them), sometimes
      // far apart so that probe runs wrap around the table's end.
      next += (rng() % 8 == 0) ? rng() % 100000 : 1;
      auto p = objs.make(next);
      t.insert(p.get());
      ref.emplace(next, p);
    } else if (op < 8) {
      // Erase a random present key (exercises the backward shift).
      auto i = ref.begin();
      std::advance(i, static_cast<long>(rng() % ref.size()));
      t.erase(i->first);
      attached_objects::detach(*i->second);
      ref.erase(i);
    } else {
      auto key = (rng() % 2 == 0 && !ref.empty()) ? ref.rbegin()->first
                                                   : next + 1 + rng() % 5;
      auto i = ref.find(key);
      CHECK(t.find(key) == (i == ref.end() ? nullptr : i->second));
    }
    REQUIRE(t.size() == ref.size());
  }
  // Every entry is still found, and nothing else is.
  for (auto& [k, v] : ref)
    REQUIRE(t.find(k) == v);
  auto all = t.snapshot();
  CHECK(all.size() == ref.size());
  all.clear();
  // Drain it completely: the table shrinks back to nothing.
  while (!ref.empty()) {
    t.erase(ref.begin()->first);
    attached_objects::detach(*ref.begin()->second);
    ref.erase(ref.begin());
    if (!ref.empty())
      REQUIRE(t.find(ref.begin()->first) == ref.begin()->second);
  }
  CHECK(t.size() == 0);
  CHECK(t.snapshot().empty());
  CHECK(objs.sched->live_records() == 0); // every object and pair is gone
}

TEST_CASE("port_table owns nothing: an attached object keeps itself alive "
          "until it is unpinned",
          "[internals][port_table]") {
  attached_objects objs;
  for (std::uint64_t epoch : {41, 42}) { // a block's object, an adopted one
    CAPTURE(epoch);
    port_table t;
    std::weak_ptr<port_object> weak;
    port_object* raw = nullptr;
    {
      auto p = objs.make(epoch);
      weak = p;
      raw = p.get();
      t.insert(raw);
    }
    // No handle left: the object keeps itself (its record or `self`).
    CHECK_FALSE(weak.expired());
    CHECK(t.find(epoch).get() == raw);
    auto found = t.find(epoch); // shares the object's own control block
    CHECK((!found.owner_before(weak) && !weak.owner_before(found)));
    found.reset();
    t.erase(epoch);
    CHECK_FALSE(weak.expired()); // erasing a plain pointer frees nothing
    attached_objects::detach(*raw);
    CHECK(weak.expired());
  }
  CHECK(objs.sched->live_records() == 0);
}

TEST_CASE("lazy_fifo is FIFO, compacts, and allocates nothing while empty",
          "[internals][lazy_fifo]") {
  lazy_fifo<int> q;
  CHECK(sizeof(q) == sizeof(void*));
  CHECK(q.empty());
  CHECK(q.take_all().empty());
  std::deque<int> ref;
  std::mt19937 rng{7};
  int next = 0;
  for (int step = 0; step < 50000; ++step) {
    if (rng() % 3 != 0 || ref.empty()) {
      q.emplace_back(next);
      ref.push_back(next++);
    } else {
      int out = -1;
      REQUIRE(q.front() == ref.front());
      q.pop_front(out);
      REQUIRE(out == ref.front());
      ref.pop_front();
    }
    REQUIRE(q.size() == ref.size());
  }
  auto rest = q.take_all();
  CHECK(std::equal(rest.begin(), rest.end(), ref.begin(), ref.end()));
  CHECK(q.empty());
  q.emplace_back(1);
  q.clear();
  CHECK(q.empty());
  CHECK(q.size() == 0);
}

TEST_CASE("lazy_fifo takes batches from the front and gives them back in "
          "order", "[internals][lazy_fifo]") {
  // What a drain does (take_front) and what its lease gives back when the
  // port closes or moves mid-batch (prepend the undispatched tail), checked
  // against a deque under random operations.
  lazy_fifo<int> q;
  std::deque<int> ref;
  std::mt19937 rng{GENERATE(11u, 12u, 13u)};
  std::vector<int> batch;
  int next = 0;
  for (int step = 0; step < 20000; ++step) {
    auto op = rng() % 4;
    if (op < 2 || ref.empty()) {
      auto k = rng() % 40;
      for (unsigned i = 0; i < k; ++i) {
        q.emplace_back(next);
        ref.push_back(next++);
      }
      continue;
    }
    // Sometimes hand in a spare bigger than the queue: it must not be
    // swapped in (an idle queue would keep memory it never grew).
    batch.clear();
    if (rng() % 3 == 0)
      batch.reserve(4096);
    auto cap_before = batch.capacity();
    auto max = 1 + rng() % 80;
    auto n = q.take_front(batch, max);
    REQUIRE(n == std::min<std::size_t>(max, ref.size()));
    REQUIRE(batch.size() == n);
    for (std::size_t i = 0; i < n; ++i) {
      REQUIRE(batch[i] == ref.front());
      ref.pop_front();
    }
    if (cap_before >= 4096)
      CHECK(batch.capacity() >= cap_before); // kept, not swapped away
    if (op == 3 && n > 0) {
      // The lease: dispatch some, give the rest back in front.
      auto used = rng() % n;
      q.prepend(batch.begin() + static_cast<long>(used), batch.end());
      for (auto i = n; i-- > used;)
        ref.push_front(batch[i]);
    }
    REQUIRE(q.size() == ref.size());
    if (!ref.empty())
      REQUIRE(q.front() == ref.front());
  }
  auto rest = q.take_all();
  CHECK(std::equal(rest.begin(), rest.end(), ref.begin(), ref.end()));
}

TEST_CASE("lazy_fifo gives capacity back: bounded slack once drained, "
          "O(live) while draining",
          "[internals][lazy_fifo]") {
  using fifo = lazy_fifo<int>;
  fifo q;
  // A million messages, then drained one by one (a never-shipped port).
  for (int i = 0; i < 1000000; ++i)
    q.emplace_back(i);
  CHECK(q.capacity() >= 1000000);
  int out = -1;
  std::size_t worst = 0;
  for (int i = 0; i < 1000000; ++i) {
    q.pop_front(out);
    REQUIRE(out == i);
    // After a compaction the storage is at most 4x the live elements
    // (plus the dead prefix it keeps before compacting: 2x): 8x overall.
    if (q.size() > fifo::slack)
      worst = std::max(worst, q.capacity() / q.size());
  }
  CHECK(worst <= 8);
  CHECK(q.empty());
  CHECK(q.capacity() <= fifo::slack);
  // Drained by batches (a shipped port): the same bound.
  for (int i = 0; i < 100000; ++i)
    q.emplace_back(i);
  std::vector<int> batch;
  while (!q.empty()) {
    batch.clear();
    q.take_front(batch, 64);
  }
  CHECK(q.capacity() <= fifo::slack);
  // A busy queue that stays small keeps its slots (no allocation per
  // message): capacity does not drop to 0 between messages.
  for (int round = 0; round < 100; ++round) {
    for (int i = 0; i < 50; ++i)
      q.emplace_back(i);
    while (!q.empty())
      q.pop_front(out);
  }
  CHECK(q.capacity() > 0);
  CHECK(q.capacity() <= fifo::slack);
}
