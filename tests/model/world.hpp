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
// Files: journal.hpp (records, payloads, tallies), this one (the harness:
// root, commands, final phase), world_control.hpp (the root, relay and
// workers), world_events.hpp (data-port handlers), world_ops.hpp (the
// operations), world_check.hpp (the checker).
//
// Thread safety: everything shared is guarded by `mu`; library calls are
// made outside it (they never call back into the model synchronously, but
// keeping them outside makes that irrelevant).

#include <atomic>
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
#include "journal.hpp"
#include "ops.hpp"

namespace entangle::model {

class world {
public:
  world(const std::vector<op>& ops, bool threads)
    : ops_(ops), threads_(threads) {
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

  /// Ports have a high-water mark (ENTANGLE_MODEL_MARK): a post past the
  /// hard limit is refused with QuotaExceededError and changes nothing --
  /// the documented rule, not a failure; the post is never delivered.
  bool limits = false;
  std::size_t mark = 0;

  /// Posts refused that way (statistics: the rule was exercised).
  std::atomic<std::uint64_t> refused{0};

  /// Whether `ex` is that refusal (only with `limits`); counts it.
  bool quota_refusal(const std::exception& ex) {
    auto* d = dynamic_cast<const dom_exception*>(&ex);
    bool yes = limits && d != nullptr && d->name() == "QuotaExceededError";
    if (yes)
      ++refused;
    return yes;
  }
  world& operator=(const world&) = delete;

  runtime* rt = nullptr;

  // -- statistics (read after the run) ---------------------------------------
  std::uint64_t executed = 0;
  std::uint64_t skipped = 0;
  std::uint64_t data_delivered = 0;
  std::uint64_t merr_seen = 0;
  std::uint64_t closes_seen = 0;
  std::uint64_t ctl_posted = 0;
  std::uint64_t ctl_delivered = 0;
  bool drained = false;
  /// The run was ended by runtime::stop() (it could not end by itself):
  /// exit kinds are then not judged.
  bool forced_stop = false;

  /// Violations seen while running (payloads, routing, harness errors).
  tally live_tally;

  // -- the root --------------------------------------------------------------

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
      case op_kind::post: {
        // A burst: more posts in the same turn, which a busy receiver's
        // port takes in groups (post_stage).
        auto f = o.arg >> 4;
        int n = f & flag_long_burst ? 40 : f & flag_burst ? 4 : 1;
        for (int i = 0; i < n; ++i)
          do_post(me, o, static_cast<std::int64_t>(k));
        break;
      }
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

  bool finish_started() {
    std::lock_guard<std::mutex> g{mu_};
    return finish_started_;
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

  // -- checking --------------------------------------------------------------

  /// Compares the post logs with the deliveries, the drop counters with the
  /// undelivered messages, and the exits with the operations.
  void check(tally& t, const drop_counts& drops,
             const std::vector<context_exit>& exits);

  /// Names a port cycle (ends in flight inside each other's queues) if the
  /// run left one -- the runtime should have collected it at the post that
  /// closed it: it explains the violations it causes.
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

  void post_to_parent(value v, transfer_list t);

  void post_to_worker(int c, value v, transfer_list t);

  void spawn_worker(int idx);

  /// Threads mode: the root runs the operations one after the other.
  void root_next();

  /// A message at the root from worker `from`.
  void on_root_message(int from, message_event& ev);

  /// Ports a worker sent to the root for context `dest`.
  void relay(int dest, message_event& ev);

  /// A message at worker `me` from the root.
  void on_worker_message(int me, message_event& ev);

  /// The ends a message says it carries (its "pl" list), checked against
  /// the ports it actually carries.
  std::vector<std::pair<int, int>> carried(const message_event& ev);

  /// Context `me` received the ports `pl` (as `ports`).
  void adopt(int me, const std::vector<std::pair<int, int>>& pl,
             const std::vector<message_port>& ports);

  // -- data ports ------------------------------------------------------------

  void listen(int me, int c, int e, const message_port& p);

  void on_event(int me, int c, int e, got_type type);

  /// A messageerror at ch.e: the runtime closed the ports that message
  /// carried. Messages arrive in FIFO order and only big ones fail, so the
  /// n-th messageerror at ch.e is the n-th big post of its peer.
  void close_carried_by_merr_locked(int c, int e);

  /// A message at ch.e, in context `me`.
  void on_data(int me, int c, int e, message_event& ev);

  /// A reply posted from a handler (flag_echo).
  void handler_post(int me, int c, int e);

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
    post_marker(h, c, e, s);
  }

  /// Posts ch.e's flush marker (seq `s`). With limits a full peer refuses
  /// it: it is posted again on this port's next `ready` (the final phase
  /// starts every port, so the peer drains and sends one) or `close` (the
  /// peer went away full: then the post is dropped and counted, as any
  /// post to a closed peer).
  void post_marker(const message_port& h, int c, int e, std::int64_t s) {
    auto v = tag(c, e, s, kind_marker);
    obj_of(v)["x"] = null;
    try {
      h.post_message(std::move(v));
    } catch (const std::exception& ex) {
      if (!quota_refusal(ex))
        throw;
      auto done = std::make_shared<bool>(false);
      auto again = [this, h, c, e, s, done](message_event&) {
        if (*done)
          return;
        *done = true;
        post_marker(h, c, e, s);
      };
      h.add_event_listener("ready", again);
      h.add_event_listener("close", again);
      return;
    }
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

  void do_create(int me, const op& o);

  void do_post(int me, const op& o, std::int64_t k);

  void do_move(int me, const op& o);

  void do_start(int me, const op& o);

  void do_close(int me, int c, int e);

  void do_doom(int me, const op& o, std::int64_t k);

  void do_bad(int me, const op& o, std::int64_t k);

  void do_foreign(int me, const op& o, std::int64_t k);

  void do_stale(int me, const op& o, std::int64_t k);

  void misuse(const message_port& h, const op& o, std::int64_t s);

  // -- the checker, per direction --------------------------------------------

  bool in_flight_locked(int c, int e) const;

  /// Whether queuing port (xc, xe) at (qc, qe) closes a cycle: (qc, qe) is
  /// (transitively) in flight inside (xc, xe)'s queue.
  bool would_cycle_locked(int xc, int xe, int qc, int qe) const;

  /// Ends still in flight at the end whose carrying messages wait in each
  /// other's queues (a reference cycle nothing can deliver or drop).
  std::string find_cycle() const;

  /// Deliveries at the peer of ch.a against a's post log.
  void check_direction(tally& t, int c, int a);

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

#include "world_control.hpp" // IWYU pragma: keep
#include "world_events.hpp"  // IWYU pragma: keep
#include "world_ops.hpp"   // IWYU pragma: keep
#include "world_check.hpp" // IWYU pragma: keep
