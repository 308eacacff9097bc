// The post stage (src/ports/post_stage.hpp; docs/architecture.md, "The post
// stage"): a post to a port whose owner has a wake-up pending waits on the
// posting thread and goes over in groups. Checked on the scheduler itself:
// what is staged when, that every way out (a full stage, another
// operation, the turn's end) hands it over in order, and that a target
// that closed or changed meanwhile loses nothing uncounted.

#include <catch2/catch.hpp>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>

#include <thread>
#include <vector>

#include "ports/port_object.hpp"
#include "ports/port_scheduler.hpp"

using entangle::drop_reason;
using entangle::value;
using entangle::detail::envelope;
using entangle::detail::envelope_queue;
using entangle::detail::port_record;
using entangle::detail::port_scheduler;
using entangle::detail::post_stage;

namespace {

/// A scheduler whose wake-ups are counted, not sent, and an owner handle
/// (an actor CAF never runs a message of).
struct bench {
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  caf::actor owner = sys.spawn([]() -> caf::behavior {
    return {[](int) {}};
  });
  std::vector<port_scheduler::wake_kind> hints;
  std::shared_ptr<port_scheduler> sched = port_scheduler::create(
    [this](const caf::actor&, port_scheduler::wake_kind k, port_record&,
           std::uint64_t, std::uint64_t) { hints.push_back(k); });

  ~bench() {
    caf::anon_send_exit(owner, caf::exit_reason::user_shutdown);
  }

  /// A shipped pair: `a` posts, `b` is owned and started.
  struct pair {
    std::shared_ptr<port_record> a, b;
    std::uint64_t epoch = 0;
  };
  pair make(bool shipped = true) {
    auto [a, b] = sched->make_pair(shipped);
    pair p{a, b, 0};
    sched->adopt(*a, owner, nullptr);
    p.epoch = sched->adopt(*b, owner, nullptr);
    sched->start(b, p.epoch);
    return p;
  }

  std::size_t queued(port_record& r) {
    entangle::detail::record_guard g{r.mu()};
    return r.queue.size();
  }

  /// Every message of `b`'s queue, as numbers, in order (the close
  /// sentinel as -1); the queue is emptied.
  std::vector<double> take_all(pair& p) {
    std::vector<double> out;
    envelope_queue::batch items;
    bool drained = false;
    while (sched->pop_batch(*p.b, p.epoch, items, 1000, drained)
           == port_scheduler::pop_result::item) {
      for (auto& e : items)
        out.push_back(e.is_close ? -1.0 : e.msg.data.get<double>());
      items.clear();
    }
    return out;
  }
};

std::vector<double> range(int from, int to) {
  std::vector<double> out;
  for (int i = from; i <= to; ++i)
    out.push_back(i);
  return out;
}

} // namespace

TEST_CASE("post stage: posts to a busy port wait on the thread and go over "
          "in order when full, on another operation, and at the turn's end",
          "[internals][post_stage]") {
  bench w;
  auto p = w.make();
  auto& st = post_stage::local();
  {
    post_stage::turn turn{64};
    // The first post wakes the idle owner; the second finds that wake-up
    // pending and learns the port is busy: both are queued at once.
    w.sched->post_value(*p.a, 1.0, 0);
    w.sched->post_value(*p.a, 2.0, 0);
    CHECK(w.queued(*p.b) == 2);
    CHECK(w.hints.size() == 1);
    CHECK(st.dst == nullptr);
    // From now on they wait here.
    for (int i = 3; i <= 65; ++i)
      w.sched->post_value(*p.a, double(i), 0);
    CHECK(w.queued(*p.b) == 2);
    CHECK(st.staged() == 63);
    // The 64th goes over with the other 63, in one lock round, and the
    // owner's pending wake-up covers them (no new hint).
    w.sched->post_value(*p.a, 66.0, 0);
    CHECK(st.dst == nullptr);
    CHECK(w.queued(*p.b) == 66);
    CHECK(w.hints.size() == 1);
    // Any other operation of this thread hands the stage over first.
    w.sched->post_value(*p.a, 67.0, 0);
    CHECK(w.queued(*p.b) == 66);
    CHECK(w.sched->entangled(*p.b));
    CHECK(w.queued(*p.b) == 67);
    // The turn's end does too.
    w.sched->post_value(*p.a, 68.0, 0);
    w.sched->post_value(*p.a, 69.0, 0);
    CHECK(w.queued(*p.b) == 67);
  }
  CHECK(w.queued(*p.b) == 69);
  CHECK_FALSE(st.open);
  CHECK(st.busy == nullptr);
  CHECK(w.take_all(p) == range(1, 69));
}

TEST_CASE("post stage: nothing is staged outside a turn, with a limit of "
          "1, for a port that is not started, or for a message that "
          "carries ports",
          "[internals][post_stage]") {
  bench w;
  auto& st = post_stage::local();
  auto p = w.make();
  for (int i = 1; i <= 5; ++i) // no turn: every post goes over
    w.sched->post_value(*p.a, double(i), 0);
  CHECK(w.queued(*p.b) == 5);
  {
    post_stage::turn turn{1}; // runtime_config::post_batch = 1: off
    w.sched->post_value(*p.a, 6.0, 0);
    w.sched->post_value(*p.a, 7.0, 0);
    CHECK(st.dst == nullptr);
    CHECK(w.queued(*p.b) == 7);
  }
  auto [a, b] = w.sched->make_pair(true); // owned, never started
  w.sched->adopt(*a, w.owner, nullptr);
  w.sched->adopt(*b, w.owner, nullptr);
  {
    post_stage::turn turn{64};
    for (int i = 0; i < 3; ++i)
      w.sched->post_value(*a, 1.0, 0);
    CHECK(st.dst == nullptr);
    CHECK(w.queued(*b) == 3);
    // A busy port, then a message carrying a port: it goes over at once,
    // behind what waited (its own post hands the stage over).
    auto [c, d] = w.sched->make_pair();
    w.sched->ship(*c);
    w.sched->post_value(*p.a, 8.0, 0); // busy now (the hint is pending)
    w.sched->post_value(*p.a, 9.0, 0); // staged
    w.sched->post_value(*p.a, 10.0, 0); // staged
    CHECK(st.staged() == 2);
    CHECK(w.queued(*p.b) == 8);
    entangle::detail::serialized_message carrying{value{11.0}};
    carrying.ports.push_back(c);
    w.sched->post(*p.a, std::move(carrying));
    CHECK(st.dst == nullptr);
    CHECK(w.queued(*p.b) == 11);
    w.sched->close(d, drop_reason::closed);
  }
  auto got = w.take_all(p);
  CHECK(got == range(1, 11));
  w.sched->close(a, drop_reason::closed);
  w.sched->close(b, drop_reason::closed);
}

TEST_CASE("post stage: once the receiver drained its queue, the next post "
          "hands the stage over with itself and wakes it",
          "[internals][post_stage]") {
  bench w;
  auto p = w.make();
  auto& st = post_stage::local();
  post_stage::turn turn{64};
  for (int i = 1; i <= 5; ++i)
    w.sched->post_value(*p.a, double(i), 0);
  CHECK(st.staged() == 3);
  CHECK(w.hints.size() == 1);
  // The receiver (on its own thread) takes what is queued and finds the
  // queue empty: its wake-up is consumed (hint_pending cleared), it will
  // not look again.
  std::vector<double> got;
  std::thread([&] { got = w.take_all(p); }).join();
  CHECK(got == range(1, 2));
  CHECK_FALSE(p.b->hint_pending);
  w.sched->post_value(*p.a, 6.0, 0);
  CHECK(st.staged() == 0);
  CHECK(w.queued(*p.b) == 4);
  CHECK(w.hints.size() == 2); // woken again, once
  CHECK(w.take_all(p) == range(3, 6));
}

TEST_CASE("post stage: turns nest; the inner one's end hands the stage "
          "over and gives the outer one its limit back",
          "[internals][post_stage]") {
  bench w;
  auto p = w.make();
  auto& st = post_stage::local();
  post_stage::turn outer{5};
  for (int i = 1; i <= 3; ++i)
    w.sched->post_value(*p.a, double(i), 0);
  CHECK(st.staged() == 1);
  {
    post_stage::turn inner{64};
    CHECK(st.limit == 64);
    for (int i = 4; i <= 9; ++i)
      w.sched->post_value(*p.a, double(i), 0);
    CHECK(st.staged() == 7);
  }
  CHECK(st.staged() == 0);
  CHECK(w.queued(*p.b) == 9);
  CHECK(st.open);
  CHECK(st.limit == 5);
  CHECK(st.busy == p.b.get()); // the outer turn still knows it busy
  for (int i = 10; i <= 14; ++i) // 5 staged: the limit hands them over
    w.sched->post_value(*p.a, double(i), 0);
  CHECK(st.staged() == 0);
  CHECK(w.take_all(p) == range(1, 14));
}

TEST_CASE("post stage: closing the posting end hands the stage over "
          "first, so close comes after every staged message",
          "[internals][post_stage]") {
  bench w;
  auto p = w.make();
  {
    post_stage::turn turn{64};
    for (int i = 1; i <= 10; ++i)
      w.sched->post_value(*p.a, double(i), 0);
    CHECK(w.queued(*p.b) == 2);
    w.sched->close(p.a, drop_reason::closed);
  }
  auto want = range(1, 10);
  want.push_back(-1); // the close sentinel, last
  CHECK(w.take_all(p) == want);
}

TEST_CASE("post stage: a target closed by another thread meanwhile drops "
          "the staged messages, counted under its reason",
          "[internals][post_stage]") {
  bench w;
  auto p = w.make();
  {
    post_stage::turn turn{64};
    for (int i = 1; i <= 7; ++i)
      w.sched->post_value(*p.a, double(i), 0);
    CHECK(post_stage::local().staged() == 5);
    // Its owner closes it on its own thread: this stage is not flushed.
    std::thread([&] { w.sched->close(p.b, drop_reason::closed); }).join();
    CHECK(post_stage::local().staged() == 5);
    auto before = w.sched->drops().by_reason[static_cast<std::size_t>(
      drop_reason::closed)];
    w.sched->flush_stage();
    auto after = w.sched->drops().by_reason[static_cast<std::size_t>(
      drop_reason::closed)];
    CHECK(after - before == 5);
    CHECK(post_stage::local().dst == nullptr);
  }
  w.sched->close(p.a, drop_reason::closed);
  // The posting end closed by someone else (not its owner: no flush on
  // this thread): what waited is dropped as posts through a closed end.
  auto q = w.make();
  {
    post_stage::turn turn{64};
    for (int i = 1; i <= 4; ++i)
      w.sched->post_value(*q.a, double(i), 0);
    CHECK(post_stage::local().staged() == 2);
    std::thread([&] { w.sched->close(q.a, drop_reason::closed); }).join();
    auto before = w.sched->drops().total();
    w.sched->flush_stage();
    CHECK(w.sched->drops().total() - before == 2);
  }
  auto want = range(1, 2);
  want.push_back(-1);
  CHECK(w.take_all(q) == want); // close after the two it had queued
  w.sched->close(q.b, drop_reason::closed);
}

TEST_CASE("post stage: posts to a marked target are staged and count as "
          "unread for their sender; a mark set meanwhile counts the staged "
          "ones too; a stale hint of a never-shipped target stamps each "
          "message",
          "[internals][post_stage]") {
  bench w;
  auto& st = post_stage::local();
  {
    auto p = w.make();
    post_stage::turn turn{64};
    for (int i = 1; i <= 6; ++i)
      w.sched->post_value(*p.a, double(i), 0);
    CHECK(st.staged() == 4);
    CHECK(port_scheduler::staged_for(*p.a).messages == 4);
    CHECK(port_scheduler::staged_for(*p.b).messages == 0); // not b's peer
    std::thread([&] {
      w.sched->set_marks(*p.b, entangle::high_water_mark{10});
    }).join();
    // The sender's view counts the staged posts as unread: 2 queued + 4
    // staged of a mark of 10 (the query leaves them staged).
    CHECK(w.sched->credit_of(*p.a).messages == std::int64_t{4});
    CHECK(st.staged() == 4);
    CHECK(port_scheduler::peer_has_room(*p.a));
    // A marked target stays busy: the next posts are staged too, each
    // admitted with the staged ones counted.
    auto* f = port_scheduler::peer_flow(*p.a);
    REQUIRE(f != nullptr);
    for (int i = 7; i <= 10; ++i) {
      port_scheduler::admit_from(*p.a, *f, 0);
      w.sched->post_value(*p.a, double(i), 0);
    }
    CHECK(st.staged() == 8);
    CHECK(f->count.load() == 2); // (view_of would flush: a port operation)
    // At the mark, counting the staged ones: "no room" hands them over
    // first (so the append reaches the mark and a ready will follow the
    // receiver's reads), and the answer is the queue's.
    CHECK_FALSE(port_scheduler::peer_has_room(*p.a));
    CHECK(st.staged() == 0);
    CHECK(f->count.load() == 10);
    CHECK(f->full);
    CHECK(w.sched->credit_of(*p.a).messages == std::int64_t{0});
    // Up to the hard limit (2 x 10), then QuotaExceededError: staged
    // posts cannot pass it. The refusal, too, hands the stage over first.
    for (int i = 11; i <= 20; ++i) {
      port_scheduler::admit_from(*p.a, *f, 0);
      w.sched->post_value(*p.a, double(i), 0);
    }
    CHECK(st.staged() == 10);
    CHECK(f->count.load() == 10);
    CHECK_THROWS_WITH(port_scheduler::admit_from(*p.a, *f, 0),
                      Catch::Contains("holds 20 unread messages"));
    CHECK(st.staged() == 0);
    CHECK(w.queued(*p.b) == 20);
    CHECK(port_scheduler::view_of(*p.b).count == 20);
    CHECK(w.sched->credit_of(*p.a).messages == std::int64_t{-10});
    CHECK(w.take_all(p) == range(1, 20));
    CHECK(port_scheduler::view_of(*p.b).count == 0);
  }
  for (int way = 0; way < 3; ++way) {
    // "No room", counting staged posts, hands them over first: so their
    // append reaches the mark (`full`), and the receiver's reads send the
    // ready notice the sender now waits for. Left staged until the turn's
    // end, they would be appended after those reads, reach no mark, and
    // no ready would ever come. Asked three ways: credit, has-room, and a
    // refused post (hard limit = the mark).
    INFO("way " << way);
    auto p = w.make();
    w.sched->set_marks(*p.b, entangle::high_water_mark{3, 0, 1});
    auto* f = port_scheduler::peer_flow(*p.a);
    REQUIRE(f != nullptr);
    post_stage::turn turn{64};
    for (int i = 1; i <= 3; ++i)
      w.sched->post_value(*p.a, double(i), 0);
    CHECK(st.staged() == 1);
    if (way == 0)
      CHECK(w.sched->credit_of(*p.a).messages == std::int64_t{0});
    else if (way == 1)
      CHECK_FALSE(port_scheduler::peer_has_room(*p.a));
    else
      CHECK_THROWS_WITH(port_scheduler::admit_from(*p.a, *f, 0),
                        Catch::Contains("holds 3 unread messages"));
    CHECK(st.staged() == 0);
    CHECK(f->count.load() == 3);
    CHECK(f->full);
    std::vector<double> read;
    std::thread([&] { read = w.take_all(p); }).join();
    CHECK(read == range(1, 3));
    CHECK_FALSE(f->full);
    CHECK(w.queued(*p.a) == 1); // the ready notice, on the sender's end
  }
  {
    // A byte mark: staged sizes count as unread bytes.
    auto p = w.make();
    w.sched->set_marks(*p.b, entangle::high_water_mark{0, 100});
    post_stage::turn turn{64};
    for (int i = 1; i <= 4; ++i)
      w.sched->post_value(*p.a, double(i), 10);
    CHECK(st.staged() == 2);
    CHECK(port_scheduler::staged_for(*p.a).bytes == 20);
    CHECK(w.sched->credit_of(*p.a).bytes == std::int64_t{60});
    auto* f = port_scheduler::peer_flow(*p.a);
    REQUIRE(f != nullptr);
    CHECK(port_scheduler::admit_from(*p.a, *f, 160) == 160);
    CHECK(st.staged() == 2); // admitted counting them: still staged
    CHECK(f->bytes.load() == 20);
    // The flush adds their sizes to the unread bytes.
    w.sched->flush_stage();
    CHECK(st.bytes == 0);
    CHECK(f->bytes.load() == 40);
    CHECK(f->count.load() == 4);
    CHECK(w.sched->credit_of(*p.a).bytes == std::int64_t{60});
    // Refused by the byte limit while below the mark (40 of 100): the
    // refusal sets `full`, so the next read sends the ready it promises.
    CHECK_FALSE(f->full);
    CHECK_THROWS_WITH(port_scheduler::admit_from(*p.a, *f, 161),
                      Catch::Contains("holds 40 unread bytes"));
    CHECK(f->full);
    CHECK(w.take_all(p) == range(1, 4));
    CHECK_FALSE(f->full);
    CHECK(w.queued(*p.a) == 1); // the ready notice the refusal promised
  }
  {
    auto p = w.make(false); // never shipped: posts carry stamps
    post_stage::turn turn{64};
    w.hints.clear();
    // A hint cannot name such a port (only shipped ones are busy, and only
    // shipped ones have a wake-up pending); forged here, the flush still
    // gives each message its stamp, in order.
    st.busy = p.b.get();
    st.busy_id = p.b->id;
    p.b->hint_pending = true;
    w.sched->post_value(*p.a, 1.0, 0);
    w.sched->post_value(*p.a, 2.0, 0);
    CHECK(st.staged() == 2);
    w.sched->flush_stage();
    std::vector<std::uint64_t> stamps;
    {
      entangle::detail::record_guard g{p.b->mu()};
      p.b->queue.for_each(
        [&stamps](const envelope& e) { stamps.push_back(e.stamp); });
    }
    REQUIRE(stamps.size() == 2);
    CHECK(stamps[0] != 0);
    CHECK(stamps[1] > stamps[0]);
    CHECK(w.hints == std::vector<port_scheduler::wake_kind>{
                       port_scheduler::wake_kind::unshipped});
    w.sched->close(p.a, drop_reason::closed);
    w.sched->close(p.b, drop_reason::closed);
  }
}

TEST_CASE("post stage: many short turns to a busy receiver keep its queue's "
          "memory proportional to its messages",
          "[internals][post_stage]") {
  // Each turn stages a few and hands them over at its end: they move into
  // the room of the queue's newest chunk, a chunk of 64 is linked in only
  // when they do not fit.
  bench w;
  auto p = w.make();
  for (int t = 0; t < 300; ++t) {
    post_stage::turn turn{64};
    for (int i = 0; i < 4; ++i)
      w.sched->post_value(*p.a, double(t * 4 + i), 0);
  }
  std::size_t n = 0, cap = 0;
  {
    entangle::detail::record_guard g{p.b->mu()};
    n = p.b->queue.size();
    cap = p.b->queue.capacity();
  }
  CHECK(n == 1200);
  CHECK(cap <= n + 2 * envelope_queue::big_cap);
  CHECK(w.take_all(p) == range(0, 1199));
}

#if ENTANGLE_TRACING
namespace {

/// Keeps every post event (the stage reports them on the posting thread)
/// and the size of each group the stage handed over at once.
struct post_log : entangle::tracer {
  post_log() : tracer(timestamps::no) {
  }
  void on_post(const entangle::trace_post& ev) override {
    events.push_back(ev);
  }
  void on_post_group(const entangle::trace_post_group& g) override {
    groups.push_back(g.size);
    tracer::on_post_group(g); // the default: on_post for each
  }
  std::vector<entangle::trace_post> events;
  std::vector<std::size_t> groups;
};

} // namespace

TEST_CASE("post stage: traced posts are staged with their events, which "
          "the flush reports in order with the target and each one's "
          "depth, or as not queued when the target closed",
          "[internals][post_stage]") {
  bench w;
  post_log log;
  w.sched->tracer = &log;
  auto& st = post_stage::local();
  {
    auto p = w.make();
    post_stage::turn turn{64};
    for (int i = 1; i <= 6; ++i)
      w.sched->post_value(*p.a, double(i), 0);
    CHECK(st.staged() == 4);
    CHECK(log.events.size() == 2); // the two locked posts reported at once
    w.sched->flush_stage();
    REQUIRE(log.events.size() == 6);
    CHECK(log.groups == std::vector<std::size_t>{4}); // one call for them
    std::vector<std::size_t> depths;
    for (auto& ev : log.events) {
      CHECK(ev.queued);
      CHECK(ev.port == p.a->id);
      CHECK(ev.target_port == p.b->id);
      depths.push_back(ev.queue_depth);
    }
    CHECK(depths == std::vector<std::size_t>{1, 2, 3, 4, 5, 6});
    // Each delivered message carries its own post's trace id, in order.
    std::vector<std::uint64_t> ids;
    {
      entangle::detail::record_guard g{p.b->mu()};
      p.b->queue.for_each(
        [&ids](const envelope& e) { ids.push_back(e.msg.trace_id); });
    }
    REQUIRE(ids.size() == 6);
    for (std::size_t i = 0; i < 6; ++i)
      CHECK(ids[i] == log.events[i].message);
    CHECK(std::is_sorted(ids.begin(), ids.end()));
    CHECK(ids.front() != 0);
    // A target closed meanwhile: the staged posts are reported as not
    // queued (no target), then dropped.
    log.events.clear();
    for (int i = 7; i <= 9; ++i)
      w.sched->post_value(*p.a, double(i), 0);
    CHECK(st.staged() == 3);
    std::thread([&] { w.sched->close(p.b, drop_reason::closed); }).join();
    w.sched->flush_stage();
    REQUIRE(log.events.size() == 3);
    CHECK(log.groups == std::vector<std::size_t>{4, 3});
    for (auto& ev : log.events) {
      CHECK_FALSE(ev.queued);
      CHECK(ev.target_port == 0);
      CHECK(ev.target_context == 0);
      CHECK(ev.queue_depth == 0);
    }
    // The six queued, dropped by the close; the three staged, by the flush.
    CHECK(w.sched->drops()[drop_reason::closed] == 9);
    w.sched->close(p.a, drop_reason::closed);
  }
  w.sched->tracer = nullptr;
}
#endif
