#pragma once

// The model-based test's world: the reference model (a registry of every
// port end and a journal of what was posted and delivered), the code that
// executes operations inside contexts, the event handlers, and the checker.
//
// Shape of a run (the same in both modes):
// - a root context (index 0) spawns workers 1..3 (more by `spawn` ops); it
//   relays port transfers between contexts over the workers' implicit ports
//   and keeps itself alive with a far timer;
// - operations run inside the context that holds the port they name
//   (testkit: kit.inject; threads: the root sends the worker a command and
//   waits for its acknowledgement before the next operation);
// - final phase: every live context starts all its ports and posts a flush
//   marker on each; once every live end has seen its peer's marker or close
//   (so every queue that can drain has drained) the model takes a snapshot
//   of the live ends and the root ends, which ends everything;
// - the checker then compares, per channel direction, the post log of one
//   end with the deliveries at the other.
//
// Thread safety: everything shared is guarded by `mu`; library calls are
// made outside it (they never call back into the model synchronously, but
// keeping them outside makes that irrelevant).

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "entangle/all.hpp"
#include "ops.hpp"

namespace entangle::model {

/// Violation counts (the summary line) plus what does not fit its keys.
struct tally {
  std::uint64_t lost = 0;
  std::uint64_t duplicated = 0;
  std::uint64_t reordered = 0;
  std::uint64_t close_violations = 0;
  std::uint64_t leaked = 0;
  /// Everything else: a valid post that threw, an invalid one that did not,
  /// a drop counted under the wrong reason, an unexpected context exit.
  std::uint64_t other = 0;
  std::string first;
  /// The first few violations, for reports.
  std::vector<std::string> some;

  void add(std::uint64_t tally::*field, std::uint64_t n,
           const std::string& what) {
    if (n == 0)
      return;
    this->*field += n;
    if (first.empty())
      first = what;
    if (some.size() < 12)
      some.push_back(what);
  }

  bool failed() const {
    return lost + duplicated + reordered + close_violations + leaked + other
           > 0;
  }

  void merge(const tally& x) {
    lost += x.lost;
    duplicated += x.duplicated;
    reordered += x.reordered;
    close_violations += x.close_violations;
    leaked += x.leaked;
    other += x.other;
    if (first.empty())
      first = x.first;
    for (auto& w : x.some)
      if (some.size() < 12)
        some.push_back(w);
  }
};

/// Thrown by the `crash` operation (the context must end by it).
struct model_crash : std::runtime_error {
  model_crash() : std::runtime_error("model crash") {
  }
};

// -- payloads -----------------------------------------------------------------

inline std::vector<std::uint8_t> pattern(std::int64_t seq, std::size_t n) {
  std::vector<std::uint8_t> out(n);
  for (std::size_t i = 0; i < n; ++i)
    out[i] = static_cast<std::uint8_t>((seq * 7 + static_cast<std::int64_t>(i))
                                       & 0xff);
  return out;
}

inline constexpr std::size_t big_bytes = 5000;
inline constexpr std::size_t buffer_limit = 4096;

/// The payload the sender posts; `xfer` receives a buffer to transfer.
inline value make_payload(std::uint32_t kind, std::int64_t s,
                          array_buffer& xfer) {
  switch (kind) {
    case 0:
      return value{static_cast<double>(s) * 1.5};
    case 1:
      return value{std::string(static_cast<std::size_t>(s % 37),
                               static_cast<char>('a' + s % 26))
                   + std::to_string(s)};
    case 2: {
      value v = static_cast<double>(s);
      for (std::int64_t i = 0; i < s % 20; ++i)
        v = value::arr({v, static_cast<double>(i)});
      return v;
    }
    case 3:
      return value::obj({{"b", bigint{s}},
                         {"d", date{static_cast<double>(s)}},
                         {"t", true},
                         {"n", null},
                         {"u", undefined},
                         {"err", error_value{"RangeError", "r" + std::to_string(s)}}});
    case 4: {
      array_buffer b{pattern(s, static_cast<std::size_t>(s % 64))};
      return value::arr({b, b}); // one buffer reached twice
    }
    case 5: {
      xfer = array_buffer{pattern(s, 1 + static_cast<std::size_t>(s % 200))};
      return value{xfer};
    }
    case kind_big: {
      array_buffer b{pattern(s, big_bytes)};
      if (s % 2 == 0)
        xfer = b;
      return value{b};
    }
    case 7:
      return value{error_value{"WeirdError", "w" + std::to_string(s)}};
    default:
      return value{null};
  }
}

/// Whether a delivered payload is what `make_payload` posted.
inline bool payload_ok(std::uint32_t kind, std::int64_t s, const value& got) {
  array_buffer unused;
  switch (kind) {
    case 4: {
      auto* a = got.get_if<array>();
      if (a == nullptr || a->size() != 2)
        return false;
      auto* b0 = (*a)[0].get_if<array_buffer>();
      auto* b1 = (*a)[1].get_if<array_buffer>();
      return b0 && b1 && b0->same_buffer(*b1) && !b0->detached()
             && b0->bytes() == pattern(s, static_cast<std::size_t>(s % 64));
    }
    case 5: {
      auto* b = got.get_if<array_buffer>();
      return b && b->bytes() == pattern(s, 1 + static_cast<std::size_t>(s % 200));
    }
    case 7:
      return got == value{error_value{"Error", "w" + std::to_string(s)}};
    case kind_marker:
      return got.is_null();
    default:
      return got == make_payload(kind, s, unused);
  }
}

/// A member of an Object value, or nullptr.
inline const value* field(const value& v, std::string_view key) {
  auto* o = v.get_if<object>();
  if (o == nullptr)
    return nullptr;
  auto i = o->find(key);
  return i == o->end() ? nullptr : &i->second;
}

inline std::int64_t num(const value* v, std::int64_t fallback = -1) {
  return v && v->is_number() ? static_cast<std::int64_t>(v->as_number())
                             : fallback;
}

// -- the reference model ------------------------------------------------------

enum class post_status : std::uint8_t {
  pending,       // the call has not returned yet
  live,          // posted on an attached handle: delivered unless the peer closes
  dead_closed,   // posted on a closed handle: never delivered
  dead_detached, // posted on a transferred-away handle: never delivered
  doomed,        // its target was in its transfer list: never delivered
  foreign,       // posted through a handle of another context: never delivered
  rejected,      // threw: no message exists
  unexpected,    // should have thrown but was posted (counted as `other`)
};

inline const char* to_string(post_status s) {
  static const char* names[] = {"pending", "live",    "dead-closed",
                                "dead-detached", "doomed", "foreign",
                                "rejected", "unexpected"};
  return names[static_cast<int>(s)];
}

struct post_rec {
  std::int64_t seq = 0;
  post_status st = post_status::pending;
  std::uint32_t kind = 0;
  int ctx = -1;
  std::int64_t op = -1; // op index, -1 for handler and marker posts
};

enum class got_type : std::uint8_t { message, messageerror, close };

struct got_rec {
  got_type type = got_type::message;
  std::int64_t seq = -1;
  int ctx = -1;
  int phase = 0;
  std::uint64_t t = 0;
};

/// One end of one channel, across all the port objects that represent it.
struct end_rec {
  bool exists = false;
  /// The context whose port object owns it; -1 in flight or closed.
  int loc = -1;
  /// The owning context's handle (used only by that context).
  message_port h;
  /// Closed by the model's own action (close op, doom, close-on-recv).
  bool closed = false;
  bool started = false;
  /// Final phase: saw the peer's flush marker or close.
  bool settled = false;
  /// Snapshot at quiescence: owned by a live context and open.
  bool alive_final = false;
  std::int64_t next_seq = 0;
  std::vector<post_rec> posts;
  std::vector<got_rec> got;
  /// The end whose post last carried this one (-1: the relay or none).
  int carrier_ch = -1;
  int carrier_end = 0;
  /// Handles left behind by transfers and closes: (context, handle).
  std::vector<std::pair<int, message_port>> stale;
};

enum class expect_exit : std::uint8_t { normal, exception, terminated };

struct ctx_rec {
  bool exists = false;
  bool alive = false;
  bool finishing = false;
  std::uint64_t id = 0;
  expect_exit expected = expect_exit::normal;
  /// The operation that ended it.
  std::string killed_by;
  /// The root's handle on this worker (used by the root only).
  worker handle;
  /// Buffers this context transferred away (detached), for `bad` posts.
  std::vector<array_buffer> spent;
};

class world {
public:
  world(const std::vector<op>& ops, bool threads) : ops_(ops), threads_(threads) {
    int nch = 0;
    int nctx = 1 + initial_workers;
    for (auto& o : ops) {
      nch = std::max({nch, o.ch + 1, o.ch2 + 1});
      nctx = std::max(nctx, o.ctx + 1);
    }
    ch_.resize(static_cast<std::size_t>(nch));
    ctx_.resize(static_cast<std::size_t>(nctx));
  }

  world(const world&) = delete;
  world& operator=(const world&) = delete;

  runtime* rt = nullptr;

  /// Diagnostic only (ENTANGLE_MODEL_AVOID_PORT_CYCLES): never send a port
  /// into a queue that waits, directly or not, in that port's own queue.
  bool avoid_cycles = false;

  // -- statistics (read after the run) ---------------------------------------
  std::uint64_t executed = 0;
  std::uint64_t skipped = 0;
  std::uint64_t data_delivered = 0;
  std::uint64_t merr_seen = 0;
  std::uint64_t closes_seen = 0;
  std::uint64_t ctl_posted = 0;
  std::uint64_t ctl_delivered = 0;
  bool drained = false;

  /// Violations seen while running (payloads, routing, harness errors).
  tally live_tally;

  // -- the root ----------------------------------------------------------------

  /// The root context's init function.
  void root_init(context& self) {
    {
      std::lock_guard<std::mutex> g{mu_};
      ctx_[0].exists = true;
      ctx_[0].alive = true;
      ctx_[0].id = self.id();
    }
    keepalive_ = self.set_timeout([] {}, std::chrono::hours{24 * 365});
    for (int i = 1; i <= initial_workers; ++i)
      spawn_worker(i);
    if (threads_)
      self.queue_task([this] { root_next(); });
  }

  void note_skip() {
    std::lock_guard<std::mutex> g{mu_};
    ++skipped;
  }

  /// Testkit driver: the context to run `o` in (-1: skip; 0: the root).
  int executor_of(const op& o) {
    std::lock_guard<std::mutex> g{mu_};
    return executor_locked(o);
  }

  std::uint64_t ctx_id(int c) {
    std::lock_guard<std::mutex> g{mu_};
    return ctx_[c].id;
  }

  /// Runs operation `k` in context `me` (which must be the executor).
  void exec(int me, std::size_t k) {
    const op& o = ops_[k];
    {
      std::lock_guard<std::mutex> g{mu_};
      if (executor_locked(o) != me) {
        ++skipped;
        return;
      }
      ++executed;
    }
    switch (o.kind) {
      case op_kind::create:
        do_create(me, o);
        break;
      case op_kind::post:
        do_post(me, o, static_cast<std::int64_t>(k));
        break;
      case op_kind::move:
      case op_kind::move_both:
        do_move(me, o);
        break;
      case op_kind::start:
        do_start(me, o);
        break;
      case op_kind::close:
        do_close(me, o.ch, o.end);
        break;
      case op_kind::doom:
        do_doom(me, o, static_cast<std::int64_t>(k));
        break;
      case op_kind::end_ctx:
        // Dead in the model before the root hears of it, so no later
        // command is sent here.
        mark_dead(o, expect_exit::normal);
        if (threads_)
          post_to_parent(value::obj({{"ack", 1}}), {});
        this_context().close();
        break;
      case op_kind::crash:
        mark_dead(o, expect_exit::exception);
        if (threads_)
          post_to_parent(value::obj({{"ack", 1}}), {});
        throw model_crash{};
      case op_kind::kill: {
        mark_dead(o, expect_exit::terminated);
        worker w;
        {
          std::lock_guard<std::mutex> g{mu_};
          w = ctx_[o.ctx].handle;
        }
        w.terminate();
        break;
      }
      case op_kind::term: {
        auto id = ctx_id(o.ctx);
        mark_dead(o, expect_exit::terminated);
        rt->terminate(id);
        break;
      }
      case op_kind::spawn:
        spawn_worker(o.ctx);
        break;
      case op_kind::bad:
        do_bad(me, o, static_cast<std::int64_t>(k));
        break;
      case op_kind::foreign:
        do_foreign(me, o, static_cast<std::int64_t>(k));
        break;
      case op_kind::stale:
        do_stale(me, o, static_cast<std::int64_t>(k));
        break;
      case op_kind::step:
        break;
    }
  }

  /// Final phase, in the root: every live context starts its ports and
  /// posts a flush marker on each.
  void begin_finish() {
    std::vector<int> workers;
    {
      std::lock_guard<std::mutex> g{mu_};
      finish_started_ = true;
      phase_ = 1;
      for (int c = 1; c < static_cast<int>(ctx_.size()); ++c)
        if (ctx_[c].exists && ctx_[c].alive)
          workers.push_back(c);
      acks_pending_ = workers.size();
    }
    for (int c : workers)
      post_to_worker(c, value::obj({{"finish", 1}}), {});
    finish_local(0);
    maybe_drained(0);
  }

  /// Takes the quiescence snapshot now (when the run could not drain).
  void force_snapshot() {
    std::lock_guard<std::mutex> g{mu_};
    if (!drained)
      snapshot_locked();
  }

  /// Ends the root (and so every worker): the last step of a run.
  void shutdown_root() {
    this_context().clear_timeout(keepalive_);
    this_context().close();
  }

  // -- checking ----------------------------------------------------------------

  /// Compares the post logs with the deliveries, the drop counters with the
  /// undelivered messages, and the exits with the operations.
  void check(tally& t, const drop_counts& drops,
             const std::vector<context_exit>& exits) {
    std::lock_guard<std::mutex> g{mu_};
    t.merge(live_tally);
    std::uint64_t posted = 0;
    std::uint64_t dead_detached = 0;
    std::uint64_t dead_closed = 0;
    std::uint64_t doomed = 0;
    std::uint64_t foreign = 0;
    for (int c = 0; c < static_cast<int>(ch_.size()); ++c) {
      for (int a = 0; a < 2; ++a) {
        auto& A = ch_[c][a];
        if (!A.exists)
          continue;
        for (auto& p : A.posts) {
          if (p.st == post_status::rejected)
            continue;
          ++posted;
          dead_detached += p.st == post_status::dead_detached;
          dead_closed += p.st == post_status::dead_closed;
          doomed += p.st == post_status::doomed;
          foreign += p.st == post_status::foreign;
          if (p.st == post_status::pending)
            t.add(&tally::other, 1, "a post never returned: " + end_name(c, a));
        }
        check_direction(t, c, a);
      }
    }
    // Every message is delivered or dropped, and every drop is counted once.
    auto expected = posted - data_delivered + ctl_posted - ctl_delivered;
    auto observed = drops.total();
    std::ostringstream why;
    why << "drop counters: " << observed << " drops counted for " << expected
        << " undelivered messages (" << posted << " data posts, "
        << data_delivered << " delivered; " << ctl_posted
        << " control posts, " << ctl_delivered << " delivered)";
    if (observed < expected)
      t.add(&tally::lost, expected - observed, "silent loss: " + why.str());
    if (observed > expected)
      t.add(&tally::duplicated, observed - expected,
            "over-counted drops: " + why.str());
    auto reason = [&](drop_reason r, std::uint64_t want, bool exact) {
      auto got = drops[r];
      if (exact ? got != want : got < want)
        t.add(&tally::other, 1,
              "drop reason " + std::string{to_string(r)} + ": counted "
                + std::to_string(got) + ", expected "
                + (exact ? "" : "at least ") + std::to_string(want));
    };
    reason(drop_reason::detached, dead_detached, true);
    reason(drop_reason::foreign_context, foreign, true);
    // Ports inside a dropped message close with its reason, so messages
    // queued on them count as doomed / messageerror too: at least.
    reason(drop_reason::messageerror, merr_seen, false);
    reason(drop_reason::doomed, doomed, false);
    reason(drop_reason::closed, dead_closed, false);
    // Contexts end only as the operations said.
    for (auto& e : exits) {
      int idx = -1;
      for (int c = 0; c < static_cast<int>(ctx_.size()); ++c)
        if (ctx_[c].exists && ctx_[c].id == e.id)
          idx = c;
      if (idx < 0) {
        t.add(&tally::other, 1, "exit of an unknown context " + e.name);
        continue;
      }
      auto want = ctx_[idx].expected;
      bool ok = (want == expect_exit::normal && e.kind == exit_kind::normal)
                || (want == expect_exit::terminated
                    && e.kind == exit_kind::terminated)
                || (want == expect_exit::exception
                    && e.kind == exit_kind::exception
                    && e.what == "model crash");
      static const char* wanted[] = {"normal", "exception", "terminated"};
      if (!ok)
        t.add(&tally::other, 1,
              "ctx" + std::to_string(idx) + " ended "
                + std::string{to_string(e.kind)} + " (" + e.what
                + ") instead of " + wanted[static_cast<int>(want)]
                + (ctx_[idx].killed_by.empty() ? std::string{}
                                               : " after " + ctx_[idx].killed_by));
    }
  }

  /// Names a port cycle (ends in flight inside each other's queues) if the
  /// run left one: it explains the violations it causes.
  std::string cycle_note() {
    std::lock_guard<std::mutex> g{mu_};
    return find_cycle();
  }

  /// Every end's post log and deliveries (for failure reports).
  std::string dump() {
    std::lock_guard<std::mutex> g{mu_};
    std::ostringstream out;
    out << "  phase=" << phase_ << " drained=" << drained
        << " finish_acks_pending=" << acks_pending_ << " ctl_posted="
        << ctl_posted << " ctl_delivered=" << ctl_delivered
        << " last_command=#" << waiting_for_ << "\n";
    for (int c = 0; c < static_cast<int>(ctx_.size()); ++c)
      if (ctx_[c].exists)
        out << "  ctx" << c << " id=" << ctx_[c].id
            << (ctx_[c].alive ? " alive" : " gone: ") << ctx_[c].killed_by
            << (ctx_[c].finishing ? " finishing" : "") << "\n";
    for (int c = 0; c < static_cast<int>(ch_.size()); ++c) {
      for (int a = 0; a < 2; ++a) {
        auto& A = ch_[c][a];
        if (!A.exists)
          continue;
        out << "  " << end_name(c, a) << (A.alive_final ? " alive" : "")
            << (A.settled ? " settled" : "") << (A.closed ? " closed" : "")
            << " loc=ctx" << A.loc << (alive_locked(A.loc) ? "" : "(gone)")
            << "\n    posted:";
        for (auto& p : A.posts)
          out << " " << p.seq << ":" << to_string(p.st)
              << (p.kind == kind_marker ? "(marker)" : "");
        out << "\n    got:";
        for (auto& r : A.got)
          out << " "
              << (r.type == got_type::close          ? std::string{"close"}
                  : r.type == got_type::messageerror ? std::string{"merr"}
                                                     : std::to_string(r.seq))
              << "@ctx" << r.ctx << "/p" << r.phase;
        out << "\n";
      }
    }
    return out.str();
  }

private:
  // -- registry helpers (mu_ held) --------------------------------------------

  bool alive_locked(int c) const {
    return c >= 0 && c < static_cast<int>(ctx_.size()) && ctx_[c].exists
           && ctx_[c].alive;
  }

  bool has_end(int c, int e) const {
    return c >= 0 && c < static_cast<int>(ch_.size()) && ch_[c][e].exists;
  }

  /// The context owning a usable ch.end, or -1.
  int holder_locked(int c, int e) const {
    if (!has_end(c, e))
      return -1;
    auto& r = ch_[c][e];
    return !r.closed && alive_locked(r.loc) ? r.loc : -1;
  }

  std::vector<int> stale_users_locked(int c, int e) const {
    std::vector<int> out;
    if (has_end(c, e))
      for (auto& [ctx, h] : ch_[c][e].stale)
        if (alive_locked(ctx))
          out.push_back(ctx);
    return out;
  }

  int executor_locked(const op& o) const {
    switch (o.kind) {
      case op_kind::create:
        return o.ch < static_cast<int>(ch_.size()) && !ch_[o.ch][0].exists
                   && alive_locked(o.ctx)
                 ? o.ctx
                 : -1;
      case op_kind::post:
      case op_kind::move:
      case op_kind::move_both:
      case op_kind::start:
      case op_kind::close:
      case op_kind::doom:
      case op_kind::bad:
        return holder_locked(o.ch, o.end);
      case op_kind::end_ctx:
      case op_kind::crash:
        return o.ctx >= 1 && alive_locked(o.ctx) ? o.ctx : -1;
      case op_kind::kill:
      case op_kind::term:
        return o.ctx >= 1 && alive_locked(o.ctx) ? 0 : -1;
      case op_kind::spawn:
        return o.ctx < static_cast<int>(ctx_.size()) && !ctx_[o.ctx].exists
                 ? 0
                 : -1;
      case op_kind::foreign: {
        int h = holder_locked(o.ch, o.end);
        return h >= 0 && alive_locked(o.ctx) && o.ctx != h ? o.ctx : -1;
      }
      case op_kind::stale: {
        auto users = stale_users_locked(o.ch, o.end);
        return users.empty() ? -1 : users[o.arg % users.size()];
      }
      case op_kind::step:
        return -1;
    }
    return -1;
  }

  message_port held_locked(int c, int e, int me) const {
    return holder_locked(c, e) == me ? ch_[c][e].h : message_port{};
  }

  /// Records a post before it is made (so no delivery can precede it).
  std::int64_t record_post_locked(int c, int e, post_status st,
                                  std::uint32_t kind, int me, std::int64_t op) {
    auto& r = ch_[c][e];
    auto seq = r.next_seq++;
    r.posts.push_back(post_rec{seq, st, kind, me, op});
    return seq;
  }

  void set_status(int c, int e, std::int64_t seq, post_status st) {
    std::lock_guard<std::mutex> g{mu_};
    for (auto i = ch_[c][e].posts.rbegin(); i != ch_[c][e].posts.rend(); ++i)
      if (i->seq == seq) {
        i->st = st;
        return;
      }
  }

  /// ch.end leaves context `me` (transfer or close): its handle goes stale.
  void leave_locked(int c, int e, int me) {
    auto& r = ch_[c][e];
    r.stale.emplace_back(me, r.h);
    r.h = message_port{};
    r.loc = -1;
    r.started = false;
  }

  void problem(std::uint64_t tally::*field, const std::string& what) {
    std::lock_guard<std::mutex> g{mu_};
    live_tally.add(field, 1, what);
  }

  void mark_dead(const op& o, expect_exit how) {
    std::lock_guard<std::mutex> g{mu_};
    ctx_[o.ctx].alive = false;
    ctx_[o.ctx].expected = how;
    ctx_[o.ctx].killed_by = to_string(o);
  }

  static value tag(int c, int e, std::int64_t s, std::uint32_t kind,
                   std::uint32_t flags = 0) {
    return value::obj({{"c", c}, {"e", e}, {"s", s}, {"k", kind},
                       {"f", flags}});
  }

  static object& obj_of(value& v) {
    return v.get<object>();
  }

  // -- control messages ------------------------------------------------------

  void post_to_parent(value v, transfer_list t) {
    {
      std::lock_guard<std::mutex> g{mu_};
      ++ctl_posted;
    }
    this_context().post_message(std::move(v), std::move(t));
  }

  void post_to_worker(int c, value v, transfer_list t) {
    worker w;
    {
      std::lock_guard<std::mutex> g{mu_};
      ++ctl_posted;
      w = ctx_[c].handle;
    }
    w.post_message(std::move(v), std::move(t));
  }

  void spawn_worker(int idx) {
    auto w = this_context().spawn(
      "w" + std::to_string(idx), [this, idx](context& self) {
        self.on_message([this, idx](message_event& ev) {
          on_worker_message(idx, ev);
        });
      });
    {
      std::lock_guard<std::mutex> g{mu_};
      auto& r = ctx_[idx];
      r.exists = true;
      r.alive = true;
      r.id = w.id();
      r.handle = w;
    }
    w.on_message([this, idx](message_event& ev) { on_root_message(idx, ev); });
  }

  /// Threads mode: the root runs the operations one after the other.
  void root_next() {
    while (next_op_ < ops_.size()) {
      auto k = next_op_++;
      int target = executor_of(ops_[k]);
      if (target < 0) {
        std::lock_guard<std::mutex> g{mu_};
        ++skipped;
        continue;
      }
      if (target == 0) {
        exec(0, k);
        this_context().queue_task([this] { root_next(); });
        return;
      }
      {
        std::lock_guard<std::mutex> g{mu_};
        waiting_for_ = static_cast<std::int64_t>(k);
      }
      post_to_worker(target, value::obj({{"cmd", static_cast<double>(k)}}),
                     {});
      return; // the acknowledgement calls root_next again
    }
    begin_finish();
  }

  /// A message at the root from worker `from`.
  void on_root_message(int from, message_event& ev) {
    try {
      {
        std::lock_guard<std::mutex> g{mu_};
        ++ctl_delivered;
      }
      auto& d = ev.data;
      if (field(d, "ack")) {
        root_next();
      } else if (auto* f = field(d, "fwd")) {
        relay(static_cast<int>(num(f)), ev);
      } else if (field(d, "finished")) {
        {
          std::lock_guard<std::mutex> g{mu_};
          --acks_pending_;
        }
        maybe_drained(0);
      } else if (field(d, "drained")) {
        shutdown_root();
      } else {
        problem(&tally::other, "root: unknown message from ctx"
                                 + std::to_string(from) + ": " + to_string(d));
      }
    } catch (const std::exception& e) {
      problem(&tally::other, std::string{"root handler threw: "} + e.what());
    }
  }

  /// Ports a worker sent to the root for context `dest`.
  void relay(int dest, message_event& ev) {
    auto pl = carried(ev);
    if (dest == 0) {
      adopt(0, pl, ev.ports);
      return;
    }
    {
      std::lock_guard<std::mutex> g{mu_};
      for (std::size_t i = 0; i < pl.size(); ++i)
        ch_[pl[i].first][pl[i].second].stale.emplace_back(0, ev.ports[i]);
    }
    transfer_list t(ev.ports.begin(), ev.ports.end());
    auto v = value::obj({{"recv", 1}, {"pl", *field(ev.data, "pl")}});
    post_to_worker(dest, std::move(v), std::move(t));
  }

  /// A message at worker `me` from the root.
  void on_worker_message(int me, message_event& ev) {
    try {
      {
        std::lock_guard<std::mutex> g{mu_};
        ++ctl_delivered;
      }
      auto& d = ev.data;
      if (auto* c = field(d, "cmd")) {
        auto k = static_cast<std::size_t>(num(c));
        auto kind = ops_[k].kind;
        // `end` and `crash` acknowledge themselves before ending us.
        bool ends = (kind == op_kind::crash || kind == op_kind::end_ctx)
                    && executor_of(ops_[k]) == me;
        exec(me, k);
        if (!ends)
          post_to_parent(value::obj({{"ack", 1}}), {});
      } else if (field(d, "recv")) {
        adopt(me, carried(ev), ev.ports);
      } else if (field(d, "finish")) {
        finish_local(me);
        post_to_parent(value::obj({{"finished", 1}}), {});
      } else {
        problem(&tally::other, "worker: unknown message " + to_string(d));
      }
    } catch (const model_crash&) {
      throw;
    } catch (const std::exception& e) {
      problem(&tally::other, "ctx" + std::to_string(me) + " handler threw: "
                               + e.what());
    }
  }

  /// The ends a message says it carries (its "pl" list), checked against
  /// the ports it actually carries.
  std::vector<std::pair<int, int>> carried(const message_event& ev) {
    std::vector<std::pair<int, int>> out;
    if (auto* pl = field(ev.data, "pl"))
      if (auto* a = pl->get_if<array>())
        for (auto& x : *a)
          out.emplace_back(static_cast<int>(x[std::size_t{0}].as_number()),
                           static_cast<int>(x[std::size_t{1}].as_number()));
    if (out.size() != ev.ports.size()) {
      problem(&tally::lost, "a message carried " + std::to_string(ev.ports.size())
                              + " ports instead of " + std::to_string(out.size()));
      out.resize(std::min(out.size(), ev.ports.size()));
    }
    return out;
  }

  /// Context `me` received the ports `pl` (as `ports`).
  void adopt(int me, const std::vector<std::pair<int, int>>& pl,
             const std::vector<message_port>& ports) {
    bool finishing = false;
    {
      std::lock_guard<std::mutex> g{mu_};
      finishing = ctx_[me].finishing;
      for (std::size_t i = 0; i < pl.size(); ++i) {
        auto [c, e] = pl[i];
        auto& r = ch_[c][e];
        if (r.loc != -1 || r.closed)
          live_tally.add(&tally::duplicated, 1,
                         end_name(c, e) + " arrived at ctx" + std::to_string(me)
                           + " although it is " + (r.closed ? "closed" : "owned"));
        r.loc = me;
        r.h = ports[i];
        r.started = false;
      }
    }
    for (std::size_t i = 0; i < pl.size(); ++i) {
      listen(me, pl[i].first, pl[i].second, ports[i]);
      if (finishing)
        finish_port(me, pl[i].first, pl[i].second);
    }
  }

  // -- data ports ----------------------------------------------------------------

  void listen(int me, int c, int e, const message_port& p) {
    p.add_event_listener("message", [this, me, c, e](message_event& ev) {
      on_data(me, c, e, ev);
    });
    p.add_event_listener("messageerror", [this, me, c, e](message_event&) {
      on_event(me, c, e, got_type::messageerror);
    });
    p.add_event_listener("close", [this, me, c, e](message_event&) {
      on_event(me, c, e, got_type::close);
    });
  }

  void on_event(int me, int c, int e, got_type type) {
    try {
      {
        std::lock_guard<std::mutex> g{mu_};
        auto& B = ch_[c][e];
        B.got.push_back(got_rec{type, -1, me, phase_, t_++});
        if (type == got_type::close) {
          ++closes_seen;
          B.settled = true;
        } else {
          ++merr_seen;
        }
      }
      maybe_drained(me);
    } catch (const std::exception& ex) {
      problem(&tally::other, std::string{"event handler threw: "} + ex.what());
    }
  }

  /// A message at ch.e, in context `me`.
  void on_data(int me, int c, int e, message_event& ev) {
    try {
      auto& d = ev.data;
      auto cs = num(field(d, "c"));
      auto es = num(field(d, "e"));
      auto s = num(field(d, "s"));
      auto kind = static_cast<std::uint32_t>(num(field(d, "k"), 99));
      auto flags = static_cast<std::uint32_t>(num(field(d, "f"), 0));
      bool ok = field(d, "x") && payload_ok(kind, s, *field(d, "x"));
      auto pl = carried(ev);
      bool react = false;
      {
        std::lock_guard<std::mutex> g{mu_};
        ++data_delivered;
        auto& B = ch_[c][e];
        auto where = end_name(c, e) + " seq " + std::to_string(s);
        if (cs != c || es != 1 - e)
          live_tally.add(&tally::lost, 1,
                         "misrouted: a message of " + end_name(int(cs), int(es))
                           + " arrived at " + end_name(c, e));
        else
          B.got.push_back(got_rec{got_type::message, s, me, phase_, t_++});
        if (!ok)
          live_tally.add(&tally::lost, 1, "corrupted payload at " + where);
        if (kind == kind_marker)
          B.settled = true;
        react = !ctx_[me].finishing && ctx_[me].alive && B.loc == me
                && !B.closed;
      }
      if (!pl.empty()) {
        // A port in the data is the same object as the one in `ports`.
        if (auto* pv = field(d, "pv")) {
          auto* p = pv->get_if<message_port>();
          if (p == nullptr || *p != ev.ports[0])
            problem(&tally::lost, "port in data is not ports[0] at "
                                    + end_name(c, e));
        }
        adopt(me, pl, ev.ports);
      }
      if (react && (flags & flag_echo))
        handler_post(me, c, e);
      if (react && (flags & flag_close_on_recv))
        do_close(me, c, e);
      maybe_drained(me);
    } catch (const std::exception& ex) {
      problem(&tally::other, std::string{"message handler threw: "} + ex.what());
    }
  }

  /// A reply posted from a handler (flag_echo).
  void handler_post(int me, int c, int e) {
    message_port h;
    std::int64_t s = 0;
    {
      std::lock_guard<std::mutex> g{mu_};
      h = held_locked(c, e, me);
      if (!h)
        return;
      s = record_post_locked(c, e, post_status::pending, 1, me, -1);
    }
    array_buffer unused;
    auto v = tag(c, e, s, 1);
    obj_of(v)["x"] = make_payload(1, s, unused);
    h.post_message(std::move(v));
    set_status(c, e, s, post_status::live);
  }

  // -- final phase -----------------------------------------------------------

  void finish_local(int me) {
    std::vector<std::pair<int, int>> mine;
    {
      std::lock_guard<std::mutex> g{mu_};
      ctx_[me].finishing = true;
      for (int c = 0; c < static_cast<int>(ch_.size()); ++c)
        for (int e = 0; e < 2; ++e)
          if (holder_locked(c, e) == me)
            mine.emplace_back(c, e);
    }
    for (auto [c, e] : mine)
      finish_port(me, c, e);
  }

  /// Starts ch.e and posts its flush marker.
  void finish_port(int me, int c, int e) {
    message_port h;
    std::int64_t s = 0;
    {
      std::lock_guard<std::mutex> g{mu_};
      h = held_locked(c, e, me);
      if (!h)
        return;
      ch_[c][e].started = true;
      s = record_post_locked(c, e, post_status::pending, kind_marker, me, -1);
    }
    h.start();
    auto v = tag(c, e, s, kind_marker);
    obj_of(v)["x"] = null;
    h.post_message(std::move(v));
    set_status(c, e, s, post_status::live);
  }

  void snapshot_locked() {
    drained = true;
    phase_ = 2;
    for (int c = 0; c < static_cast<int>(ch_.size()); ++c)
      for (int e = 0; e < 2; ++e)
        if (has_end(c, e))
          ch_[c][e].alive_final = holder_locked(c, e) >= 0;
  }

  /// Once every live end has seen its peer's marker or close, snapshot and
  /// end the run (through the root).
  void maybe_drained(int me) {
    {
      std::lock_guard<std::mutex> g{mu_};
      if (drained || !finish_started_ || acks_pending_ > 0
          || !alive_locked(me))
        return;
      for (int c = 0; c < static_cast<int>(ch_.size()); ++c)
        for (int e = 0; e < 2; ++e)
          if (holder_locked(c, e) >= 0 && !ch_[c][e].settled)
            return;
      snapshot_locked();
    }
    if (me == 0)
      this_context().queue_task([this] { shutdown_root(); });
    else
      post_to_parent(value::obj({{"drained", 1}}), {});
  }

  // -- operations ------------------------------------------------------------

  void do_create(int me, const op& o) {
    message_channel mc;
    {
      std::lock_guard<std::mutex> g{mu_};
      for (int e = 0; e < 2; ++e) {
        auto& r = ch_[o.ch][e];
        r.exists = true;
        r.loc = me;
        r.h = e == 0 ? mc.port1() : mc.port2();
      }
    }
    listen(me, o.ch, 0, mc.port1());
    listen(me, o.ch, 1, mc.port2());
  }

  void do_post(int me, const op& o, std::int64_t k) {
    auto kind = (o.arg & 15) % payload_kinds;
    auto flags = o.arg >> 4;
    message_port h, x;
    std::int64_t s = 0;
    {
      std::lock_guard<std::mutex> g{mu_};
      h = held_locked(o.ch, o.end, me);
      if (o.ch2 >= 0 && o.ch2 != o.ch)
        x = held_locked(o.ch2, o.end2, me);
      if (x && avoid_cycles && would_cycle_locked(o.ch2, o.end2, o.ch, 1 - o.end))
        x = message_port{};
      s = record_post_locked(o.ch, o.end, post_status::pending, kind, me, k);
      if (x) {
        leave_locked(o.ch2, o.end2, me);
        ch_[o.ch2][o.end2].carrier_ch = o.ch;
        ch_[o.ch2][o.end2].carrier_end = o.end;
      }
    }
    array_buffer buf;
    auto v = tag(o.ch, o.end, s, kind, flags);
    obj_of(v)["x"] = make_payload(kind, s, buf);
    transfer_list t;
    if (x) {
      t.push_back(x);
      obj_of(v)["pl"] = value::arr({value::arr({o.ch2, o.end2})});
      if (flags & flag_port_in_value)
        obj_of(v)["pv"] = x;
    }
    bool xfer_buf = buf.byte_length() > 0;
    if (xfer_buf)
      t.push_back(buf);
    try {
      h.post_message(std::move(v), std::move(t));
    } catch (const std::exception& ex) {
      set_status(o.ch, o.end, s, post_status::rejected);
      problem(&tally::other, "a valid post on " + end_name(o.ch, o.end)
                               + " threw: " + ex.what());
      if (x) {
        std::lock_guard<std::mutex> g{mu_};
        auto& r = ch_[o.ch2][o.end2];
        r.stale.pop_back();
        r.loc = me;
        r.h = x;
      }
      return;
    }
    set_status(o.ch, o.end, s, post_status::live);
    if (x && !x.detached())
      problem(&tally::other, "a transferred port is not detached");
    if (xfer_buf) {
      if (!buf.detached())
        problem(&tally::other, "a transferred buffer is not detached");
      std::lock_guard<std::mutex> g{mu_};
      ctx_[me].spent.push_back(buf);
    }
  }

  void do_move(int me, const op& o) {
    std::vector<std::pair<int, int>> which{{o.ch, o.end}};
    if (o.kind == op_kind::move_both)
      which.emplace_back(o.ch, 1 - o.end);
    transfer_list t;
    array pl;
    {
      std::lock_guard<std::mutex> g{mu_};
      bool dest_known = o.ctx >= 0 && o.ctx < static_cast<int>(ctx_.size())
                        && ctx_[o.ctx].exists;
      if (!dest_known || (me == 0 && o.ctx == 0))
        return;
      for (auto [c, e] : which) {
        auto h = held_locked(c, e, me);
        if (!h)
          return; // both ends must be here for move_both
      }
      for (auto [c, e] : which) {
        t.push_back(ch_[c][e].h);
        pl.push_back(value::arr({c, e}));
        leave_locked(c, e, me);
        ch_[c][e].carrier_ch = -1;
      }
    }
    if (me == 0) {
      post_to_worker(o.ctx, value::obj({{"recv", 1}, {"pl", pl}}), t);
    } else {
      post_to_parent(value::obj({{"fwd", o.ctx}, {"pl", pl}}), t);
    }
    for (auto& item : t)
      if (!item.port()->detached())
        problem(&tally::other, "a moved port is not detached");
  }

  void do_start(int me, const op& o) {
    message_port h;
    {
      std::lock_guard<std::mutex> g{mu_};
      h = held_locked(o.ch, o.end, me);
      ch_[o.ch][o.end].started = true;
    }
    switch (o.arg % 3) {
      case 0:
        h.start();
        break;
      case 1:
        h.on_message({});
        break;
      default:
        h.start();
        h.start();
    }
    if (!h.started())
      problem(&tally::other, "start() did not start " + end_name(o.ch, o.end));
  }

  void do_close(int me, int c, int e) {
    message_port h;
    {
      std::lock_guard<std::mutex> g{mu_};
      h = held_locked(c, e, me);
      if (!h)
        return;
      ch_[c][e].closed = true;
      leave_locked(c, e, me);
    }
    h.close();
    if (!h.closed() || !h.detached())
      problem(&tally::other, "close() did not close " + end_name(c, e));
  }

  void do_doom(int me, const op& o, std::int64_t k) {
    message_port h, peer;
    std::int64_t s = 0;
    {
      std::lock_guard<std::mutex> g{mu_};
      h = held_locked(o.ch, o.end, me);
      peer = held_locked(o.ch, 1 - o.end, me);
      if (!peer)
        return;
      s = record_post_locked(o.ch, o.end, post_status::doomed, 0, me, k);
      ch_[o.ch][1 - o.end].closed = true;
      leave_locked(o.ch, 1 - o.end, me);
    }
    auto v = tag(o.ch, o.end, s, 0);
    array_buffer unused;
    obj_of(v)["x"] = make_payload(0, s, unused);
    try {
      h.post_message(std::move(v), {peer});
    } catch (const std::exception& ex) {
      set_status(o.ch, o.end, s, post_status::rejected);
      problem(&tally::other, std::string{"a doomed post threw: "} + ex.what());
      return;
    }
    if (!peer.detached() || h.detached())
      problem(&tally::other, "doomed post: wrong port states");
  }

  void do_bad(int me, const op& o, std::int64_t k) {
    message_port h, x, other_ctx_port, stale_port;
    array_buffer spent;
    bool have_spent = false;
    std::int64_t s = 0;
    {
      std::lock_guard<std::mutex> g{mu_};
      h = held_locked(o.ch, o.end, me);
      if (o.ch2 >= 0)
        x = held_locked(o.ch2, o.end2, me);
      for (int c = 0; c < static_cast<int>(ch_.size()) && !other_ctx_port;
           ++c)
        for (int e = 0; e < 2; ++e) {
          int hl = holder_locked(c, e);
          if (hl >= 0 && hl != me) {
            other_ctx_port = ch_[c][e].h;
            break;
          }
        }
      for (auto& pair : ch_)
        for (auto& r : pair)
          for (auto& [c, p] : r.stale)
            if (!stale_port && c == me)
              stale_port = p;
      if (!ctx_[me].spent.empty()) {
        spent = ctx_[me].spent.back();
        have_spent = true;
      }
      s = record_post_locked(o.ch, o.end, post_status::pending, 0, me, k);
    }
    auto v = tag(o.ch, o.end, s, 0);
    array_buffer unused;
    obj_of(v)["x"] = make_payload(0, s, unused);
    array_buffer fresh{pattern(s, 8)};
    transfer_list t;
    bool want_type_error = false;
    switch (o.arg % bad_variants) {
      case 0:
        t = {h};
        break;
      case 1:
        t = x ? transfer_list{x, fresh, x} : transfer_list{fresh, fresh};
        break;
      case 2:
        obj_of(v)["host"] = host_object{"socket"};
        t = {fresh};
        if (x)
          t.push_back(x);
        break;
      case 3:
        obj_of(v)["port"] = x ? x : h;
        t = {fresh};
        break;
      case 4:
        if (!stale_port)
          stale_port = h; // falls back to "self in transfer"
        t = {fresh, stale_port};
        break;
      case 5:
        t = {fresh, message_port{}};
        want_type_error = true;
        break;
      case 6:
        if (have_spent)
          t = {fresh, spent};
        else
          t = {h}; // nothing spent yet: "self in transfer"
        break;
      case 7:
        t = other_ctx_port ? transfer_list{fresh, other_ctx_port}
                           : transfer_list{h};
        break;
      default: {
        value deep = 1;
        for (int i = 0; i < 300; ++i)
          deep = value::arr({deep});
        obj_of(v)["deep"] = deep;
        t = {fresh};
        if (x)
          t.push_back(x);
      }
    }
    std::string outcome = "no exception";
    try {
      h.post_message(std::move(v), std::move(t));
    } catch (const type_error&) {
      outcome = "TypeError";
    } catch (const dom_exception& ex) {
      outcome = ex.name();
    } catch (const std::exception& ex) {
      outcome = ex.what();
    }
    auto want = want_type_error ? "TypeError" : "DataCloneError";
    if (outcome != want) {
      set_status(o.ch, o.end, s,
                 outcome == "no exception" ? post_status::unexpected
                                           : post_status::rejected);
      problem(&tally::other, to_string(o) + ": expected " + want + ", got "
                               + outcome);
      return;
    }
    set_status(o.ch, o.end, s, post_status::rejected);
    // A failed post changes nothing.
    if (h.detached() || (x && x.detached()) || fresh.detached())
      problem(&tally::other, to_string(o) + ": a rejected post changed state");
  }

  void do_foreign(int me, const op& o, std::int64_t k) {
    message_port h;
    std::int64_t s = 0;
    {
      std::lock_guard<std::mutex> g{mu_};
      h = ch_[o.ch][o.end].h; // owned by another context
      if (o.arg % 3 == 0)
        s = record_post_locked(o.ch, o.end, post_status::foreign, 0, me, k);
    }
    switch (o.arg % 3) {
      case 0: {
        auto v = tag(o.ch, o.end, s, 0);
        array_buffer unused;
        obj_of(v)["x"] = make_payload(0, s, unused);
        h.post_message(std::move(v));
        break;
      }
      case 1:
        h.close();
        break;
      default:
        h.start();
    }
  }

  void do_stale(int me, const op& o, std::int64_t k) {
    message_port h;
    std::int64_t s = 0;
    {
      std::lock_guard<std::mutex> g{mu_};
      std::vector<message_port> mine;
      for (auto& [c, p] : ch_[o.ch][o.end].stale)
        if (c == me)
          mine.push_back(p);
      if (mine.empty())
        return;
      h = mine[(o.arg >> 2) % mine.size()];
      if (o.arg % 3 == 0)
        s = record_post_locked(o.ch, o.end,
                               h.closed() ? post_status::dead_closed
                                          : post_status::dead_detached,
                               0, me, k);
    }
    switch (o.arg % 3) {
      case 0: {
        auto v = tag(o.ch, o.end, s, 0);
        array_buffer unused;
        obj_of(v)["x"] = make_payload(0, s, unused);
        h.post_message(std::move(v));
        break;
      }
      case 1:
        h.close();
        break;
      default:
        h.start();
    }
  }

  // -- the checker, per direction --------------------------------------------

  bool in_flight_locked(int c, int e) const {
    auto& r = ch_[c][e];
    return r.exists && r.loc == -1 && !r.closed;
  }

  /// Whether queuing port (xc, xe) at (qc, qe) closes a cycle: (qc, qe) is
  /// (transitively) in flight inside (xc, xe)'s queue.
  bool would_cycle_locked(int xc, int xe, int qc, int qe) const {
    for (std::size_t n = 0; n <= 2 * ch_.size(); ++n) {
      if (qc == xc && qe == xe)
        return true;
      if (!in_flight_locked(qc, qe) || ch_[qc][qe].carrier_ch < 0)
        return false;
      auto& r = ch_[qc][qe];
      qc = r.carrier_ch;
      qe = 1 - r.carrier_end;
    }
    return false;
  }

  /// Ends still in flight at the end whose carrying messages wait in each
  /// other's queues (a reference cycle nothing can deliver or drop).
  std::string find_cycle() const {
    for (int c = 0; c < static_cast<int>(ch_.size()); ++c)
      for (int e = 0; e < 2; ++e) {
        if (!in_flight_locked(c, e))
          continue;
        std::string path = end_name(c, e);
        int cc = c, ce = e;
        for (std::size_t n = 0; n <= 2 * ch_.size(); ++n) {
          auto& r = ch_[cc][ce];
          if (r.carrier_ch < 0)
            break;
          // It waits in the queue of the peer of the end that carried it.
          int qc = r.carrier_ch, qe = 1 - r.carrier_end;
          path += " waits in the queue of " + end_name(qc, qe) + ",";
          if (qc == c && qe == e)
            return "port cycle: " + path
                   + " so none of them can ever be delivered or dropped";
          if (!in_flight_locked(qc, qe))
            break;
          cc = qc;
          ce = qe;
        }
      }
    return {};
  }

  /// Deliveries at the peer of ch.a against a's post log.
  void check_direction(tally& t, int c, int a) {
    auto& A = ch_[c][a];
    auto& B = ch_[c][1 - a];
    auto dir = end_name(c, a) + " -> " + end_name(c, 1 - a);
    std::vector<const post_rec*> live;
    std::unordered_map<std::int64_t, std::size_t> index;
    std::unordered_map<std::int64_t, post_status> dead;
    for (auto& p : A.posts) {
      if (p.st == post_status::live || p.st == post_status::unexpected) {
        index[p.seq] = live.size();
        live.push_back(&p);
      } else {
        dead[p.seq] = p.st;
      }
    }
    std::vector<bool> seen(live.size(), false);
    std::int64_t max_idx = -1;
    std::size_t entries = 0; // messages and messageerrors so far
    int closes = 0;
    for (auto& g : B.got) {
      auto at = dir + " (delivery " + std::to_string(entries) + ")";
      if (g.type == got_type::close) {
        ++closes;
        if (closes > 1)
          t.add(&tally::close_violations, 1, "second close at " + end_name(c, 1 - a));
        else if (entries != live.size())
          t.add(&tally::close_violations, 1,
                "close at " + end_name(c, 1 - a) + " after "
                  + std::to_string(entries) + " of "
                  + std::to_string(live.size()) + " messages of " + dir);
        if (g.phase < 2 && A.alive_final)
          t.add(&tally::close_violations, 1,
                "close at " + end_name(c, 1 - a) + " although "
                  + end_name(c, a) + " never closed");
        continue;
      }
      if (closes > 0)
        t.add(&tally::close_violations, 1, "message after close: " + at);
      std::int64_t idx;
      if (g.type == got_type::messageerror) {
        idx = max_idx + 1; // FIFO: it is the next message
        if (idx >= static_cast<std::int64_t>(live.size())
            || live[idx]->kind != kind_big) {
          t.add(&tally::lost, 1, "unexpected messageerror: " + at);
          ++entries;
          continue;
        }
      } else {
        auto i = index.find(g.seq);
        if (i == index.end()) {
          auto d = dead.find(g.seq);
          if (d == dead.end())
            t.add(&tally::other, 1, "unknown message seq "
                                      + std::to_string(g.seq) + ": " + at);
          else
            t.add(&tally::close_violations, 1,
                  std::string{"a "} + to_string(d->second) + " post (seq "
                    + std::to_string(g.seq) + ") was delivered: " + at);
          ++entries;
          continue;
        }
        idx = static_cast<std::int64_t>(i->second);
        if (live[idx]->kind == kind_big)
          t.add(&tally::lost, 1, "oversized message delivered as message: " + at);
      }
      ++entries;
      if (seen[idx]) {
        t.add(&tally::duplicated, 1, "seq " + std::to_string(live[idx]->seq)
                                       + " delivered twice: " + at);
        continue;
      }
      seen[idx] = true;
      if (idx < max_idx)
        t.add(&tally::reordered, 1, "seq " + std::to_string(live[idx]->seq)
                                      + " after a later one: " + at);
      max_idx = std::max(max_idx, idx);
    }
    for (std::size_t i = 0; i < live.size(); ++i) {
      if (seen[i])
        continue;
      if (static_cast<std::int64_t>(i) < max_idx)
        t.add(&tally::lost, 1, "seq " + std::to_string(live[i]->seq) + " of "
                                 + dir + " skipped (a later one arrived)");
      else if (B.alive_final)
        t.add(&tally::lost, 1, "seq " + std::to_string(live[i]->seq) + " of "
                                 + dir + " never arrived at the live end");
    }
    if (B.alive_final && !A.alive_final && closes == 0)
      t.add(&tally::close_violations, 1,
            end_name(c, 1 - a) + " never saw close although " + end_name(c, a)
              + " is gone");
  }

  const std::vector<op>& ops_;
  const bool threads_;
  std::mutex mu_;
  std::vector<std::array<end_rec, 2>> ch_;
  std::vector<ctx_rec> ctx_;
  std::uint64_t t_ = 0;
  int phase_ = 0;
  bool finish_started_ = false;
  std::size_t acks_pending_ = 0;
  std::size_t next_op_ = 0; // threads mode, root only
  std::int64_t waiting_for_ = -1; // threads mode: the command sent last
  timer_id keepalive_ = 0;  // root only
};

} // namespace entangle::model
