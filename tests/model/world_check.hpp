#pragma once

// The model-based test's checker: post logs against deliveries, drop
// counters against undelivered messages, exits against operations.
// Out-of-line members of `world`, included at the end of world.hpp.

#include <sstream>
#include <string>
#include <unordered_map>
#include <vector>

#include "world.hpp"

namespace entangle::model {

/// Compares the post logs with the deliveries, the drop counters with the
/// undelivered messages, and the exits with the operations.
inline void world::check(tally& t, const drop_counts& drops,
                         const std::vector<context_exit>& exits) {
  std::lock_guard<std::mutex> g{mu_};
  t.merge(live_tally);
  std::uint64_t posted = 0;
  std::uint64_t dead_detached = 0;
  std::uint64_t dead_closed = 0;
  std::uint64_t doomed = 0;
  std::uint64_t foreign = 0;
  std::uint64_t unreachable = 0;
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
        unreachable += p.st == post_status::unreachable;
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
  // A collected cycle strands the messages queued on the ports it closes.
  reason(drop_reason::unreachable, unreachable, false);
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
    if (forced_stop && e.kind == exit_kind::terminated)
      continue;
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
                                             : " after "
                                                 + ctx_[idx].killed_by));
  }
}

inline bool world::in_flight_locked(int c, int e) const {
  auto& r = ch_[c][e];
  return r.exists && r.loc == -1 && !r.closed;
}

/// Whether queuing port (xc, xe) at (qc, qe) closes a cycle: (qc, qe) is
/// (transitively) in flight inside (xc, xe)'s queue.
inline bool world::would_cycle_locked(int xc, int xe, int qc, int qe) const {
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
inline std::string world::find_cycle() const {
  for (int c = 0; c < static_cast<int>(ch_.size()); ++c)
    for (int e = 0; e < 2; ++e) {
      if (!in_flight_locked(c, e))
        continue;
      std::string path = end_name(c, e) + " waits in the queue of ";
      int cc = c, ce = e;
      for (std::size_t n = 0; n <= 2 * ch_.size(); ++n) {
        auto& r = ch_[cc][ce];
        if (r.carrier_ch < 0)
          break;
        // It waits in the queue of the peer of the end that carried it.
        int qc = r.carrier_ch, qe = 1 - r.carrier_end;
        path += end_name(qc, qe);
        if (qc == c && qe == e)
          return "port cycle: " + path
                 + ": in flight inside each other's queues, none of them "
                   "can ever be delivered or dropped";
        path += ", which waits in the queue of ";
        if (!in_flight_locked(qc, qe))
          break;
        cc = qc;
        ce = qe;
      }
    }
  return {};
}

/// Deliveries at the peer of ch.a against a's post log.
inline void world::check_direction(tally& t, int c, int a) {
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
        t.add(&tally::close_violations, 1,
              "second close at " + end_name(c, 1 - a));
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

} // namespace entangle::model
