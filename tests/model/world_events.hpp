#pragma once

// The model-based test's handlers for data-port events (message, messageerror, close). Out-of-line members of `world`, included
// at the end of world.hpp.

#include <string>
#include <utility>
#include <vector>

#include "world.hpp"

namespace entangle::model {

inline void world::listen(int me, int c, int e, const message_port& p) {
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

inline void world::on_event(int me, int c, int e, got_type type) {
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
        close_carried_by_merr_locked(c, e);
      }
    }
    maybe_drained(me);
  } catch (const std::exception& ex) {
    problem(&tally::other, std::string{"event handler threw: "} + ex.what());
  }
}

/// A messageerror at ch.e: the runtime closed the ports that message
/// carried. Messages arrive in FIFO order and only big ones fail, so the
/// n-th messageerror at ch.e is the n-th big post of its peer.
inline void world::close_carried_by_merr_locked(int c, int e) {
  auto& B = ch_[c][e];
  auto& A = ch_[c][1 - e];
  std::size_t n = 0;
  for (auto& g : B.got)
    n += g.type == got_type::messageerror;
  std::int64_t seq = -1;
  for (auto& p : A.posts) {
    if (p.kind != kind_big || p.st == post_status::rejected)
      continue;
    if (--n == 0) {
      seq = p.seq;
      break;
    }
  }
  if (seq < 0)
    return;
  for (auto& row : ch_)
    for (auto& r : row)
      if (r.exists && r.loc == -1 && !r.closed && r.carrier_ch == c
          && r.carrier_end == 1 - e && r.carrier_seq == seq) {
        r.closed = true;
        r.carrier_ch = -1;
      }
}

/// A message at ch.e, in context `me`.
inline void world::on_data(int me, int c, int e, message_event& ev) {
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
    problem(&tally::other,
            std::string{"message handler threw: "} + ex.what());
  }
}

/// A reply posted from a handler (flag_echo).
inline void world::handler_post(int me, int c, int e) {
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
  try {
    h.post_message(std::move(v));
  } catch (const std::exception& ex) {
    if (!quota_refusal(ex))
      throw;
    set_status(c, e, s, post_status::rejected); // the documented rule
    return;
  }
  set_status(c, e, s, post_status::live);
}

} // namespace entangle::model
