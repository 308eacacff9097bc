// The small containers that keep an idle port small (docs/architecture.md,
// "Memory per idle port"): the context's port table, the lazy FIFO (task
// queues), the chunk FIFO (port queues) and the worker table.
// Each is checked against a standard container under random operations.

#include <catch2/catch.hpp>

#include <algorithm>
#include <deque>
#include <map>
#include <random>
#include <set>

#include "base/chunk_fifo.hpp"
#include "base/lazy_fifo.hpp"
#include "contexts/port_table.hpp"
#include "contexts/worker_table.hpp"
#include "base/list_index.hpp"
#include "base/prune.hpp"
#include "ports/port_scheduler.hpp"

using entangle::detail::adopted_port;
using entangle::detail::chunk_fifo;
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
  std::vector<int> rest;
  q.for_each([&rest](int x) { rest.push_back(x); });
  CHECK(std::equal(rest.begin(), rest.end(), ref.begin(), ref.end()));
  q.clear();
  CHECK(q.empty());
  CHECK(q.size() == 0);
}

TEST_CASE("lazy_fifo gives capacity back: bounded slack once drained, "
          "O(live) while draining",
          "[internals][lazy_fifo]") {
  using fifo = lazy_fifo<int>;
  fifo q;
  // A million tasks, then drained one by one.
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
  // A busy queue that stays small keeps its slots (no allocation per
  // task): capacity does not drop to 0 between tasks.
  for (int round = 0; round < 100; ++round) {
    for (int i = 0; i < 50; ++i)
      q.emplace_back(i);
    while (!q.empty())
      q.pop_front(out);
  }
  CHECK(q.capacity() > 0);
  CHECK(q.capacity() <= fifo::slack);
}

namespace {

/// An element that counts its live objects and knows when it was moved
/// from, so the chunk FIFO's leaks, double destructions and reads of
/// moved-from slots show.
struct tracked {
  static inline long live = 0;
  int v = -1;
  explicit tracked(int x) : v(x) {
    ++live;
  }
  tracked(tracked&& o) noexcept : v(o.v) {
    o.v = -2;
    ++live;
  }
  tracked& operator=(tracked&& o) noexcept {
    v = o.v;
    o.v = -2;
    return *this;
  }
  tracked(const tracked&) = delete;
  ~tracked() {
    --live;
  }
};

/// An element that counts its moves.
struct counted {
  static inline long moves = 0;
  int v;
  explicit counted(int x) : v(x) {
  }
  counted(counted&& o) noexcept : v(o.v) {
    ++moves;
  }
  counted& operator=(counted&& o) noexcept {
    v = o.v;
    ++moves;
    return *this;
  }
};

} // namespace

TEST_CASE("chunk_fifo is FIFO under batches taken, handed out, given back "
          "and erased, and destroys each element once",
          "[internals][chunk_fifo]") {
  // What a drain does (take_front, then take() each message in place) and
  // what its lease gives back when the port closes or moves mid-batch
  // (give_rest, prepend), plus the rare erase of a ready notice, checked
  // against a deque under random operations.
  using fifo = chunk_fifo<tracked>;
  {
    fifo q;
    CHECK(sizeof(q) == sizeof(void*));
    CHECK(q.empty());
    CHECK(q.capacity() == 0);
    std::deque<int> ref;
    std::mt19937 rng{GENERATE(11u, 12u, 13u)};
    int next = 0;
    for (int step = 0; step < 20000; ++step) {
      auto op = rng() % 8;
      if (op < 3 || ref.empty()) {
        auto k = rng() % 100;
        for (unsigned i = 0; i < k; ++i) {
          q.emplace_back(next);
          ref.push_back(next++);
        }
      } else if (op == 3) {
        tracked out{-1};
        REQUIRE(q.front().v == ref.front());
        q.pop_front(out);
        REQUIRE(out.v == ref.front());
        ref.pop_front();
      } else if (op == 4) {
        // Erase a random element's first occurrence (values are unique).
        auto victim = ref[rng() % ref.size()];
        CHECK(q.erase_first([victim](const tracked& t) {
          return t.v == victim;
        }));
        ref.erase(std::find(ref.begin(), ref.end(), victim));
        CHECK_FALSE(q.erase_first([](const tracked& t) { return t.v < -5; }));
      } else {
        fifo::batch b;
        auto max = 1 + rng() % 150;
        auto n = q.take_front(b, max);
        // At least one, at most `max`; short only where a whole chunk
        // would not fit.
        REQUIRE(n >= 1);
        REQUIRE(n <= std::min<std::size_t>(max, ref.size()));
        REQUIRE(b.size() == n);
        REQUIRE(b.left() == n);
        // Every element, in order, through the iterator (what the flow
        // accounting walks).
        std::size_t i = 0;
        for (auto& t : b)
          REQUIRE(t.v == ref[i++]);
        REQUIRE(i == n);
        // Hand some out; a handed-out element stays valid while the next
        // ones are taken.
        auto used = op == 7 ? n : rng() % (n + 1);
        tracked* prev = nullptr;
        for (std::size_t k = 0; k < used; ++k) {
          REQUIRE(b.peek().v == ref.front());
          auto& t = b.take();
          REQUIRE(t.v == ref.front());
          if (prev != nullptr) // still there (ASan: not freed)
            REQUIRE(prev->v == -2);
          tracked sink{std::move(t)}; // dispatched: moved from in place
          prev = &t;
          ref.pop_front();
        }
        REQUIRE(b.left() == n - used);
        // The lease gives the rest back in front, in order.
        fifo::batch rest;
        b.give_rest(rest);
        REQUIRE(b.left() == 0);
        REQUIRE(rest.size() == n - used);
        q.prepend(rest);
        REQUIRE(rest.empty());
      }
      REQUIRE(q.size() == ref.size());
      if (!ref.empty()) {
        REQUIRE(q.front().v == ref.front());
        REQUIRE(q.back().v == ref.back()); // also after a give-back
      }
      // O(live): every chunk holds at least one live element (emptied
      // ones are unlinked at once) and at most big_cap slots. Room is
      // only at the edges of a given-back batch, the oldest chunk's
      // consumed prefix and the newest chunk's end; the next test checks
      // the tighter bound of a queue drained by batches.
      REQUIRE(q.capacity() <= fifo::big_cap * ref.size());
    }
    std::vector<int> seen;
    q.for_each([&seen](const tracked& t) { seen.push_back(t.v); });
    CHECK(std::equal(seen.begin(), seen.end(), ref.begin(), ref.end()));
    CHECK(tracked::live == static_cast<long>(ref.size()));
    fifo::batch all;
    q.take_all(all);
    CHECK(q.empty());
    CHECK(all.size() == ref.size());
    CHECK(std::equal(all.begin(), all.end(), ref.begin(), ref.end(),
                     [](const tracked& t, int v) { return t.v == v; }));
  }
  CHECK(tracked::live == 0);
}

TEST_CASE("chunk_fifo moves a batch by chunk: a message is moved once in "
          "and once out, however long the queue",
          "[internals][chunk_fifo]") {
  chunk_fifo<counted> q;
  // A long queue (what a fast producer leaves) drained in batches of 64
  // (the default dispatch_batch): no move at all while taking.
  for (int i = 0; i < 100000; ++i)
    q.emplace_back(i);
  CHECK(counted::moves == 0);
  int expect = 0;
  while (!q.empty()) {
    chunk_fifo<counted>::batch b;
    q.take_front(b, 64);
    while (b.left() > 0)
      REQUIRE(b.take().v == expect++);
  }
  CHECK(expect == 100000);
  CHECK(counted::moves == 0);
  // While draining, at most the newest chunk's room and the oldest's
  // consumed prefix are slack.
  for (int i = 0; i < 100000; ++i)
    q.emplace_back(i);
  std::size_t worst_slack = 0;
  while (!q.empty()) {
    chunk_fifo<counted>::batch b;
    q.take_front(b, 64);
    worst_slack = std::max(worst_slack, q.capacity() - q.size());
    counted x{0};
    if (!q.empty())
      q.pop_front(x); // a synchronous read: the oldest chunk's prefix
  }
  CHECK(worst_slack <= 2 * chunk_fifo<counted>::big_cap);
  counted::moves = 0;
  // Small queues (a consumer that keeps up): a partial chunk goes whole.
  for (int round = 0; round < 1000; ++round) {
    for (int i = 0; i < 3; ++i)
      q.emplace_back(i);
    chunk_fifo<counted>::batch b;
    CHECK(q.take_front(b, 64) == 3);
  }
  CHECK(counted::moves == 0);
  CHECK(q.capacity() == 0); // nothing kept once drained
}

TEST_CASE("worker_table finds by worker and by epoch, drops the erased and "
          "keeps at most twice the live entries",
          "[internals][worker_table]") {
  using entangle::detail::worker_table;
  worker_table t;
  std::map<std::uint64_t, std::uint64_t> live; // worker -> epoch
  std::vector<std::pair<std::uint64_t, std::uint64_t>> erased;
  std::mt19937_64 rng{17};
  std::uint64_t next_worker = 5, next_epoch = 100;
  for (int step = 0; step < 20000; ++step) {
    if (live.empty() || rng() % 3 != 0) {
      // Both keys grow with each spawn, by gaps of any size.
      next_worker += 1 + rng() % 3;
      next_epoch += 1 + rng() % 7;
      REQUIRE(t.add(next_worker, next_epoch));
      live[next_worker] = next_epoch;
    } else {
      auto i = live.begin();
      std::advance(i, static_cast<long>(rng() % live.size()));
      t.erase_epoch(i->second);
      t.erase_epoch(i->second); // twice: nothing more happens
      erased.emplace_back(i->first, i->second);
      live.erase(i);
      // Gone both ways at once, whether its entry is still held (dead) or
      // was squeezed out.
      REQUIRE(t.epoch_of(erased.back().first) == 0);
      REQUIRE(t.worker_at(erased.back().second) == 0);
    }
    REQUIRE(t.size() == live.size());
    REQUIRE(t.held() <= 2 * live.size() + 1);
    if (step % 97 == 0) {
      for (auto& [w, e] : live) {
        REQUIRE(t.epoch_of(w) == e);
        REQUIRE(t.worker_at(e) == w);
        REQUIRE(t.epoch_of(w + 1) == (live.count(w + 1) ? live[w + 1] : 0));
      }
      std::vector<std::uint64_t> seen;
      t.for_each([&](std::uint64_t w) { seen.push_back(w); });
      std::vector<std::uint64_t> want;
      for (auto& kv : live)
        want.push_back(kv.first);
      REQUIRE(seen == want); // spawn order
      for (auto& [w, e] : erased) {
        REQUIRE(t.epoch_of(w) == 0);
        REQUIRE(t.worker_at(e) == 0);
      }
    }
  }
  // Erased ones are gone both ways; unknown keys give 0.
  t.erase_epoch(next_epoch);
  CHECK(t.worker_at(next_epoch) == 0);
  CHECK(t.epoch_of(next_worker) == 0);
  CHECK(t.worker_at(1) == 0);
  CHECK(t.epoch_of(1) == 0);
  // A key that does not grow is refused and changes nothing.
  auto n = t.size();
  CHECK_FALSE(t.add(next_worker, next_epoch + 10));
  CHECK_FALSE(t.add(next_worker + 10, next_epoch));
  CHECK(t.size() == n);
}

TEST_CASE("list_index keeps insertion order and positions, refuses "
          "duplicates, and switches from a scan to a hash past its limit",
          "[internals][list_index]") {
  using entangle::detail::list_index;
  std::mt19937_64 rng{23};
  for (std::size_t n : {0u, 1u, 15u, 16u, 17u, 200u}) {
    list_index<std::uint64_t> idx;
    std::vector<std::uint64_t> want;
    for (std::size_t i = 0; i < n; ++i) {
      auto x = rng() % (2 * n + 1); // many repeats
      bool fresh = std::find(want.begin(), want.end(), x) == want.end();
      REQUIRE(idx.insert(x) == fresh);
      if (fresh)
        want.push_back(x);
      REQUIRE(idx.items() == want);
    }
    for (std::size_t i = 0; i < want.size(); ++i)
      REQUIRE(idx.find(want[i]) == i);
    for (std::uint64_t x = 0; x <= 2 * n + 1; ++x)
      REQUIRE(idx.contains(x)
              == (std::find(want.begin(), want.end(), x) != want.end()));
    CHECK(idx.find(2 * n + 7) == idx.npos);
  }
}

TEST_CASE("prune_when_full drops only the dead, keeps every live entry, and "
          "scans amortised O(1) per append",
          "[internals][prune]") {
  using entangle::detail::prune_when_full;
  std::mt19937_64 rng{29};
  std::vector<int> v;
  std::set<int> alive;
  std::size_t scans = 0, max_alive = 0;
  constexpr int n = 100000;
  for (int i = 0; i < n; ++i) {
    // Entries die at random, most of them soon; a few stay for good.
    if (!alive.empty() && rng() % 4 != 0) {
      auto k = alive.begin();
      std::advance(k, static_cast<long>(rng() % std::min<std::size_t>(
                                             alive.size(), 32)));
      alive.erase(k);
    }
    prune_when_full(v, [&](int x) {
      ++scans;
      return alive.count(x) == 0;
    });
    v.push_back(i);
    alive.insert(i);
    max_alive = std::max(max_alive, alive.size());
  }
  for (int x : alive) // every live entry is still listed
    REQUIRE(std::find(v.begin(), v.end(), x) != v.end());
  CHECK(scans <= 4u * n);
  // Grown only while more than half of it was alive after a prune.
  CHECK(v.capacity() <= 4 * max_alive + 8);
}
