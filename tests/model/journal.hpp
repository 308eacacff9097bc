#pragma once

// The model-based test's records: violation tallies, payloads, and what the
// reference model keeps per post, delivery, port end and context.

#include <array>
#include <cstdint>
#include <stdexcept>
#include <string>
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
                         {"err", error_value{"RangeError",
                                             "r" + std::to_string(s)}}});
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
      return b
             && b->bytes()
                  == pattern(s, 1 + static_cast<std::size_t>(s % 200));
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
  live,          // posted on an attached handle: delivered unless the peer
                 // closes
  dead_closed,   // posted on a closed handle: never delivered
  dead_detached, // posted on a transferred-away handle: never delivered
  doomed,        // its target was in its transfer list: never delivered
  foreign,       // posted through a handle of another context: never delivered
  unreachable,   // its carried port would wait in its own queue: never
                 // delivered (a cycle of ports in transit, collected)
  rejected,      // threw: no message exists
  unexpected,    // should have thrown but was posted (counted as `other`)
};

inline const char* to_string(post_status s) {
  static const char* names[] = {"pending", "live",    "dead-closed",
                                "dead-detached", "doomed", "foreign", "unreachable",
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
  std::int64_t carrier_seq = -1;
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

} // namespace entangle::model
