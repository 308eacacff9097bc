#pragma once

// The operations of the model-based test and their generator.
//
// An operation list is generated from the seed alone, before anything runs,
// so that it can be printed, replayed (ENTANGLE_MODEL_SEED/_KEEP) and shrunk.
// The generator keeps a *belief* of where each port end is, only to choose
// operations that are mostly meaningful; the harness decides at run time
// whether an operation applies (a port may still be in flight, closed by a
// handler, or gone with its context) and skips it otherwise. Channel numbers
// and context indices are fixed in the operations themselves, so a shrunk
// list (some operations removed) still names the same things.

#include <array>
#include <cstdint>
#include <random>
#include <string>
#include <utility>
#include <vector>

namespace entangle::model {

enum class op_kind : std::uint8_t {
  create,    // new channel `ch` in context `ctx` (both ends there)
  post,      // post on ch.end; arg: payload kind | flags << 4; ch2.end2 rides
  move,      // transfer ch.end to context `ctx` through the root relay
  move_both, // transfer both ends of `ch` in one message to `ctx`
  start,     // start ch.end; arg: 0 start(), 1 on_message({}), 2 start() x2
  close,     // close ch.end
  doom,      // post on ch.end with its peer in the transfer list
  end_ctx,   // context `ctx` calls close() on itself
  crash,     // context `ctx` throws from a handler
  kill,      // the root terminates worker `ctx` (worker::terminate)
  term,      // runtime::terminate(ctx) from outside
  spawn,     // the root spawns worker `ctx`
  bad,       // an invalid post on ch.end (arg: variant) -> must throw
  foreign,   // context `ctx` uses ch.end's handle it does not own (arg: what)
  stale,     // a detached or closed handle of ch.end is used (arg: what)
  step,      // testkit only: dispatch up to `arg` events
};

/// Flags of a post (op::arg >> 4).
enum post_flag : std::uint32_t {
  flag_echo = 1,          // the receiver answers on the same channel
  flag_close_on_recv = 2, // the receiver closes its end in the handler
  flag_port_in_value = 4, // the carried port is also referenced in the data
  flag_burst = 8,         // 4 posts in one turn (the post stage's groups)
  flag_long_burst = 16,   // 40 posts in one turn (groups spliced whole)
};

inline constexpr int initial_workers = 3;
inline constexpr int max_live_workers = 6;
/// Payload kinds 0..payload_kinds-1 (see world.hpp); the flush marker of the
/// final phase has its own kind.
inline constexpr std::uint32_t payload_kinds = 8;
inline constexpr std::uint32_t kind_big = 6;
inline constexpr std::uint32_t kind_marker = 15;
/// Variants of op_kind::bad.
inline constexpr std::uint32_t bad_variants = 9;

struct op {
  op_kind kind = op_kind::step;
  int ch = -1;
  int end = 0;
  int ctx = -1;
  int ch2 = -1;
  int end2 = 0;
  std::uint32_t arg = 0;
};

inline std::string end_name(int ch, int end) {
  return "ch" + std::to_string(ch) + "." + std::to_string(end);
}

inline std::string to_string(const op& o) {
  auto e = end_name(o.ch, o.end);
  auto c = "ctx" + std::to_string(o.ctx);
  switch (o.kind) {
    case op_kind::create:
      return "create ch" + std::to_string(o.ch) + " in " + c;
    case op_kind::post: {
      static const char* kinds[] = {"number", "string", "nested", "mixed",
                                    "buffer", "xfer-buffer", "big-buffer",
                                    "error"};
      std::string s = "post " + e + " " + kinds[(o.arg & 15) % payload_kinds];
      if (o.ch2 >= 0)
        s += " +" + end_name(o.ch2, o.end2);
      auto f = o.arg >> 4;
      if (f & flag_echo)
        s += " echo";
      if (f & flag_close_on_recv)
        s += " close-on-recv";
      if (f & flag_port_in_value)
        s += " port-in-value";
      if (f & flag_burst)
        s += " x4";
      if (f & flag_long_burst)
        s += " x40";
      return s;
    }
    case op_kind::move:
      return "move " + e + " -> " + c;
    case op_kind::move_both:
      return "move-both ch" + std::to_string(o.ch) + " -> " + c;
    case op_kind::start: {
      static const char* how[] = {"start()", "on_message({})", "start() x2"};
      return "start " + e + " by " + how[o.arg % 3];
    }
    case op_kind::close:
      return "close " + e;
    case op_kind::doom:
      return "doom " + e + " (peer in its transfer list)";
    case op_kind::end_ctx:
      return "end " + c + " (close())";
    case op_kind::crash:
      return "crash " + c + " (throw)";
    case op_kind::kill:
      return "kill " + c + " (worker::terminate)";
    case op_kind::term:
      return "term " + c + " (runtime::terminate)";
    case op_kind::spawn:
      return "spawn " + c;
    case op_kind::bad: {
      static const char* what[] = {
        "self in transfer", "duplicate in transfer", "host object",
        "port not in transfer", "stale port in transfer",
        "null port in transfer", "detached buffer in transfer",
        "foreign port in transfer", "too deep"};
      return "bad " + e + " (" + what[o.arg % bad_variants] + ")";
    }
    case op_kind::foreign: {
      static const char* what[] = {"post", "close", "start"};
      return "foreign " + e + " used by " + c + " (" + what[o.arg % 3] + ")";
    }
    case op_kind::stale: {
      static const char* what[] = {"post", "close", "start"};
      return "stale handle of " + e + " (" + what[o.arg % 3] + ")";
    }
    case op_kind::step:
      return "step " + std::to_string(o.arg);
  }
  return "?";
}

/// Generates operations one by one from a seed (so a list of N operations is
/// the prefix of any longer list of the same seed).
class generator {
public:
  generator(std::uint64_t seed, bool steps) : rng_(seed), steps_(steps) {
    ctx_.assign(1 + initial_workers, true);
  }

  op next() {
    auto ends = live_ends();
    auto workers = live_workers();
    auto nw = workers.size();
    bool have = !ends.empty();
    // Weights, in op_kind order.
    std::array<unsigned, 16> w{};
    w[idx(op_kind::create)] = ends.size() < 4 ? 60 : 16;
    w[idx(op_kind::post)] = have ? 72 : 0;
    w[idx(op_kind::move)] = have ? 18 : 0;
    w[idx(op_kind::move_both)] = have ? 6 : 0;
    w[idx(op_kind::start)] = have ? 30 : 0;
    w[idx(op_kind::close)] = have ? 6 : 0;
    w[idx(op_kind::doom)] = have ? 2 : 0;
    unsigned death = nw >= 2 ? 1 : 0;
    w[idx(op_kind::end_ctx)] = death;
    w[idx(op_kind::crash)] = death;
    w[idx(op_kind::kill)] = death;
    w[idx(op_kind::term)] = death;
    w[idx(op_kind::spawn)] = nw < 2 ? 24 : nw < max_live_workers ? 1 : 0;
    w[idx(op_kind::bad)] = have ? 4 : 0;
    w[idx(op_kind::foreign)] = have ? 2 : 0;
    w[idx(op_kind::stale)] = stale_ ? 4 : 0;
    w[idx(op_kind::step)] = steps_ ? 48 : 0;
    unsigned total = 0;
    for (auto x : w)
      total += x;
    auto r = static_cast<unsigned>(pick(total));
    std::size_t k = 0;
    while (r >= w[k]) {
      r -= w[k];
      ++k;
    }
    return make(static_cast<op_kind>(k), ends);
  }

private:
  struct end_b {
    int loc = -1;
    bool closed = false;
  };

  static std::size_t idx(op_kind k) {
    return static_cast<std::size_t>(k);
  }

  std::uint64_t pick(std::uint64_t n) {
    return n == 0 ? 0 : rng_() % n;
  }

  bool chance(unsigned percent) {
    return pick(100) < percent;
  }

  bool alive(int c) const {
    return c >= 0 && c < static_cast<int>(ctx_.size()) && ctx_[c];
  }

  bool live(int ch, int end) const {
    auto& b = ch_[ch][end];
    return !b.closed && alive(b.loc);
  }

  std::vector<std::pair<int, int>> live_ends() const {
    std::vector<std::pair<int, int>> out;
    for (int c = 0; c < static_cast<int>(ch_.size()); ++c)
      for (int e = 0; e < 2; ++e)
        if (live(c, e))
          out.emplace_back(c, e);
    return out;
  }

  std::vector<int> live_workers() const {
    std::vector<int> out;
    for (int c = 1; c < static_cast<int>(ctx_.size()); ++c)
      if (ctx_[c])
        out.push_back(c);
    return out;
  }

  std::vector<int> live_contexts() const {
    auto out = live_workers();
    out.insert(out.begin(), 0);
    return out;
  }

  int any_context() {
    auto xs = live_contexts();
    return xs[pick(xs.size())];
  }

  /// Another live end in the same context as ch.end (not its peer).
  std::pair<int, int> colocated(int ch, int end) {
    std::vector<std::pair<int, int>> xs;
    for (auto [c, e] : live_ends())
      if (c != ch && ch_[c][e].loc == ch_[ch][end].loc)
        xs.emplace_back(c, e);
    if (xs.empty())
      return {-1, 0};
    return xs[pick(xs.size())];
  }

  void kill_context(int c) {
    ctx_[c] = false;
    for (auto& pair : ch_)
      for (auto& b : pair)
        if (b.loc == c)
          b.closed = true;
  }

  /// Where a port sent through ch.end ends up (the peer's context).
  int destination(int ch, int end) const {
    return live(ch, 1 - end) ? ch_[ch][1 - end].loc : -1;
  }

  op make(op_kind k, const std::vector<std::pair<int, int>>& ends) {
    op o;
    o.kind = k;
    if (!ends.empty()) {
      auto [c, e] = ends[pick(ends.size())];
      o.ch = c;
      o.end = e;
    }
    switch (k) {
      case op_kind::create:
        o.ctx = any_context();
        o.ch = static_cast<int>(ch_.size());
        o.end = 0;
        ch_.push_back({end_b{o.ctx, false}, end_b{o.ctx, false}});
        break;
      case op_kind::post: {
        // Mostly on ends whose peer is alive (else it is dropped anyway).
        std::vector<std::pair<int, int>> paired;
        for (auto [c, e] : ends)
          if (live(c, 1 - e))
            paired.emplace_back(c, e);
        if (!paired.empty() && chance(85)) {
          auto [c, e] = paired[pick(paired.size())];
          o.ch = c;
          o.end = e;
        }
        auto kind = static_cast<std::uint32_t>(pick(payload_kinds));
        if (kind == kind_big && !chance(25))
          kind = 0; // oversized (messageerror) posts are rarer
        std::uint32_t flags = 0;
        if (chance(10))
          flags |= flag_echo;
        if (chance(3))
          flags |= flag_close_on_recv;
        if (chance(30)) {
          auto [c2, e2] = colocated(o.ch, o.end);
          if (c2 >= 0) {
            o.ch2 = c2;
            o.end2 = e2;
            if (chance(50))
              flags |= flag_port_in_value;
            auto d = destination(o.ch, o.end);
            ch_[c2][e2].loc = d;
            ch_[c2][e2].closed = d < 0;
          }
        }
        if (flags & flag_close_on_recv)
          ch_[o.ch][1 - o.end].closed = true;
        else if (o.ch2 < 0 && chance(20))
          flags |= chance(20) ? flag_long_burst : flag_burst;
        o.arg = kind | (flags << 4);
        break;
      }
      case op_kind::move:
      case op_kind::move_both: {
        int dest = any_context();
        if (dest == 0 && ch_[o.ch][o.end].loc == 0)
          dest = 1 + static_cast<int>(pick(ctx_.size() - 1));
        if (chance(4))
          dest = static_cast<int>(pick(ctx_.size())); // maybe a dead one
        if (dest == 0 && ch_[o.ch][o.end].loc == 0)
          dest = static_cast<int>(ctx_.size()) - 1;
        o.ctx = dest;
        if (k == op_kind::move_both) {
          if (!live(o.ch, 1 - o.end)
              || ch_[o.ch][0].loc != ch_[o.ch][1].loc) {
            o.kind = op_kind::move;
          } else {
            for (auto& b : ch_[o.ch]) {
              b.loc = dest;
              b.closed = !alive(dest);
            }
            break;
          }
        }
        ch_[o.ch][o.end].loc = dest;
        ch_[o.ch][o.end].closed = !alive(dest);
        break;
      }
      case op_kind::start:
        o.arg = static_cast<std::uint32_t>(pick(3));
        break;
      case op_kind::close:
        ch_[o.ch][o.end].closed = true;
        stale_ = true;
        break;
      case op_kind::doom:
        if (live(o.ch, 1 - o.end)
            && ch_[o.ch][0].loc == ch_[o.ch][1].loc) {
          ch_[o.ch][1 - o.end].closed = true;
          stale_ = true;
        } else {
          o.kind = op_kind::post; // nothing to doom: a plain post
          o.arg = static_cast<std::uint32_t>(pick(payload_kinds));
        }
        break;
      case op_kind::end_ctx:
      case op_kind::crash:
      case op_kind::kill:
      case op_kind::term: {
        auto ws = live_workers();
        o.ctx = ws[pick(ws.size())];
        o.ch = -1;
        kill_context(o.ctx);
        break;
      }
      case op_kind::spawn:
        o.ctx = static_cast<int>(ctx_.size());
        o.ch = -1;
        ctx_.push_back(true);
        break;
      case op_kind::bad: {
        o.arg = static_cast<std::uint32_t>(pick(bad_variants));
        auto [c2, e2] = colocated(o.ch, o.end);
        o.ch2 = c2;
        o.end2 = e2;
        break;
      }
      case op_kind::foreign: {
        o.ctx = any_context();
        o.arg = static_cast<std::uint32_t>(pick(3));
        break;
      }
      case op_kind::stale:
        o.ch = static_cast<int>(pick(ch_.size()));
        o.end = static_cast<int>(pick(2));
        o.arg = static_cast<std::uint32_t>(pick(3) | (pick(8) << 2));
        break;
      case op_kind::step:
        o.ch = -1;
        o.arg = 1 + static_cast<std::uint32_t>(pick(8));
        break;
    }
    if (k == op_kind::move || k == op_kind::move_both)
      stale_ = true;
    return o;
  }

  std::mt19937_64 rng_;
  bool steps_;
  std::vector<bool> ctx_;
  std::vector<std::array<end_b, 2>> ch_;
  bool stale_ = false;
};

/// The first `n` operations of `seed`.
inline std::vector<op> generate(std::uint64_t seed, std::size_t n,
                                bool steps) {
  generator g{seed, steps};
  std::vector<op> out;
  out.reserve(n);
  for (std::size_t i = 0; i < n; ++i)
    out.push_back(g.next());
  return out;
}

} // namespace entangle::model
