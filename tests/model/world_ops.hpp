#pragma once

// The model-based test's operations, each run inside the context that holds
// its port. Out-of-line members of `world`, included at the end of
// world.hpp.

#include <sstream>
#include <string>
#include <unordered_map>
#include <vector>

#include "world.hpp"

namespace entangle::model {

inline void world::do_create(int me, const op& o) {
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
  if (limits) {
    mc.port1().set_high_water_mark({mark});
    mc.port2().set_high_water_mark({mark});
  }
  listen(me, o.ch, 0, mc.port1());
  listen(me, o.ch, 1, mc.port2());
}

inline void world::do_post(int me, const op& o, std::int64_t k) {
  auto kind = (o.arg & 15) % payload_kinds;
  auto flags = o.arg >> 4;
  message_port h, x;
  std::int64_t s = 0;
  bool cycle = false;
  {
    std::lock_guard<std::mutex> g{mu_};
    h = held_locked(o.ch, o.end, me);
    if (!h)
      return;
    if (o.ch2 >= 0 && o.ch2 != o.ch)
      x = held_locked(o.ch2, o.end2, me);
    // Posting x into a queue that waits (transitively) in x's own queue
    // would close a cycle of ports in transit: the runtime drops the post
    // as unreachable and closes x (SEMANTICS 13.3, tests/cycles_test.cpp).
    cycle = x && would_cycle_locked(o.ch2, o.end2, o.ch, 1 - o.end);
    s = record_post_locked(o.ch, o.end, post_status::pending, kind, me, k);
    if (x) {
      leave_locked(o.ch2, o.end2, me);
      ch_[o.ch2][o.end2].carrier_ch = o.ch;
      ch_[o.ch2][o.end2].carrier_end = o.end;
      ch_[o.ch2][o.end2].carrier_seq = s;
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
    if (!quota_refusal(ex))
      problem(&tally::other, "a valid post on " + end_name(o.ch, o.end)
                               + " threw: " + ex.what());
    else if (h.detached() || (x && x.detached()))
      problem(&tally::other, "a post refused by the hard limit changed "
                             "state");
    if (x) {
      std::lock_guard<std::mutex> g{mu_};
      auto& r = ch_[o.ch2][o.end2];
      r.stale.pop_back();
      r.loc = me;
      r.h = x;
    }
    return;
  }
  set_status(o.ch, o.end, s,
             cycle ? post_status::unreachable : post_status::live);
  if (cycle) {
    std::lock_guard<std::mutex> g{mu_};
    auto& r = ch_[o.ch2][o.end2];
    r.closed = true;
    r.carrier_ch = -1;
  }
  if (x && !x.detached())
    problem(&tally::other, "a transferred port is not detached");
  if (xfer_buf) {
    if (!buf.detached())
      problem(&tally::other, "a transferred buffer is not detached");
    std::lock_guard<std::mutex> g{mu_};
    ctx_[me].spent.push_back(buf);
  }
}

inline void world::do_move(int me, const op& o) {
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

inline void world::do_start(int me, const op& o) {
  message_port h;
  {
    std::lock_guard<std::mutex> g{mu_};
    h = held_locked(o.ch, o.end, me);
    if (!h)
      return;
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

inline void world::do_close(int me, int c, int e) {
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

inline void world::do_doom(int me, const op& o, std::int64_t k) {
  message_port h, peer;
  std::int64_t s = 0;
  bool peer_started = false;
  {
    std::lock_guard<std::mutex> g{mu_};
    h = held_locked(o.ch, o.end, me);
    peer = held_locked(o.ch, 1 - o.end, me);
    if (!h || !peer)
      return;
    s = record_post_locked(o.ch, o.end, post_status::doomed, 0, me, k);
    peer_started = ch_[o.ch][1 - o.end].started;
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
    if (!quota_refusal(ex)) {
      problem(&tally::other, std::string{"a doomed post threw: "} + ex.what());
      return;
    }
    // Refused by the hard limit before anything happened: the peer is
    // still here, open, as it was.
    if (h.detached() || peer.detached())
      problem(&tally::other, "a doomed post refused by the hard limit "
                             "changed state");
    std::lock_guard<std::mutex> g{mu_};
    auto& r = ch_[o.ch][1 - o.end];
    r.closed = false;
    r.stale.pop_back();
    r.loc = me;
    r.h = peer;
    r.started = peer_started;
    return;
  }
  if (!peer.detached() || h.detached())
    problem(&tally::other, "doomed post: wrong port states");
}

inline void world::do_bad(int me, const op& o, std::int64_t k) {
  message_port h, x, other_ctx_port, stale_port;
  array_buffer spent;
  bool have_spent = false;
  std::int64_t s = 0;
  {
    std::lock_guard<std::mutex> g{mu_};
    h = held_locked(o.ch, o.end, me);
    if (!h)
      return;
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
  // With limits the admission comes first: a full queue refuses even an
  // invalid message, with the hard limit's error (nothing changes either).
  if (limits && outcome == "QuotaExceededError") {
    outcome = want;
    ++refused;
  }
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

/// What `foreign` and `stale` do with a handle they may not use: post
/// (seq `s`, logged by the caller), close or start, by `o.arg % 3`. Each
/// must be inert.
inline void world::misuse(const message_port& h, const op& o,
                          std::int64_t s) {
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

inline void world::do_foreign(int me, const op& o, std::int64_t k) {
  message_port h;
  std::int64_t s = 0;
  {
    std::lock_guard<std::mutex> g{mu_};
    int hl = holder_locked(o.ch, o.end);
    if (hl < 0 || hl == me)
      return; // closed meanwhile by a handler of its owner
    h = ch_[o.ch][o.end].h; // owned by another context
    if (o.arg % 3 == 0)
      s = record_post_locked(o.ch, o.end, post_status::foreign, 0, me, k);
  }
  misuse(h, o, s);
}

inline void world::do_stale(int me, const op& o, std::int64_t k) {
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
  misuse(h, o, s);
}

} // namespace entangle::model
