#pragma once

// Graph helpers for the structured-clone tests: an isomorphism check that
// knows nothing of the clone's own code (it walks both graphs through the
// public API, pairing identities), and a seeded generator of random
// graphs of every kind, with sharing and cycles.

#include <cmath>
#include <cstdint>
#include <deque>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "entangle/all.hpp"

namespace entangle::test {

/// Checks that `b` is a structured clone of `a`: the same shape and
/// contents, one object of `b` for each object of `a` (so sharing and
/// cycles match), and no object of `a` reused in `b`. Returns "" or where
/// they first differ.
class isomorphism {
public:
  std::string operator()(const value& a, const value& b) {
    return same(a, b, "$", 0) ? std::string{} : why_;
  }

private:
  using id = const void*;

  bool fail(const std::string& path, const std::string& what) {
    why_ = path + ": " + what;
    return false;
  }

  /// Pairs identity `x` of `a` with `y` of `b`; returns false when either
  /// is already paired otherwise. Sets `fresh` when they were new.
  bool pair(id x, id y, const std::string& path, bool& fresh) {
    if (x == y)
      return fail(path, "the clone reuses an object of the original");
    auto i = fwd_.find(x);
    auto j = back_.find(y);
    fresh = i == fwd_.end() && j == back_.end();
    if (fresh) {
      fwd_.emplace(x, y);
      back_.emplace(y, x);
      return true;
    }
    if (i == fwd_.end() || j == back_.end() || i->second != y)
      return fail(path, "sharing differs (an object reached twice on one "
                        "side is two objects on the other)");
    return true;
  }

  static id node_id(const value& v) {
    if (auto* o = v.get_if<shared_object>())
      return o->identity();
    if (auto* a = v.get_if<shared_array>())
      return a->identity();
    if (auto* m = v.get_if<value_map>())
      return m->identity();
    if (auto* s = v.get_if<value_set>())
      return s->identity();
    return nullptr;
  }

  bool buffers(const array_buffer& x, const array_buffer& y,
               const std::string& path) {
    id ix = buffer_id(x, bufs_a_);
    id iy = buffer_id(y, bufs_b_);
    bool fresh = false;
    if (!pair(ix, iy, path, fresh))
      return false;
    if (fresh && x.bytes() != y.bytes())
      return fail(path, "buffer bytes differ");
    return true;
  }

  /// A buffer's identity: the address of its representative (a deque
  /// never moves its elements).
  static id buffer_id(const array_buffer& b, std::deque<array_buffer>& seen) {
    for (auto& s : seen)
      if (s.same_buffer(b))
        return &s;
    seen.push_back(b);
    return &seen.back();
  }

  bool numbers(double x, double y) {
    if (std::isnan(x) || std::isnan(y))
      return std::isnan(x) && std::isnan(y);
    return x == y && std::signbit(x) == std::signbit(y);
  }

  bool same(const value& a, const value& b, const std::string& path,
            int depth) {
    if (depth > 400)
      return fail(path, "deeper than any generated graph");
    if (a.var().index() != b.var().index())
      return fail(path, std::string{"kind "} + a.type_name() + " vs "
                          + b.type_name());
    if (auto* x = a.get_if<double>())
      return numbers(*x, b.as_number()) || fail(path, "numbers differ");
    if (auto* x = a.get_if<array_buffer>())
      return buffers(*x, b.get<array_buffer>(), path);
    if (auto* x = a.get_if<typed_array>()) {
      auto& y = b.get<typed_array>();
      if (x->kind() != y.kind() || x->byte_offset() != y.byte_offset()
          || x->length() != y.length())
        return fail(path, "typed array kind or window differs");
      return buffers(x->buffer(), y.buffer(), path + ".buffer");
    }
    if (auto* x = a.get_if<data_view>()) {
      auto& y = b.get<data_view>();
      if (x->byte_offset() != y.byte_offset()
          || x->byte_length() != y.byte_length())
        return fail(path, "DataView window differs");
      return buffers(x->buffer(), y.buffer(), path + ".buffer");
    }
    if (auto* x = a.get_if<array>()) {
      auto& y = b.get<array>();
      if (x->size() != y.size())
        return fail(path, "array lengths differ");
      for (std::size_t i = 0; i < x->size(); ++i)
        if (!same((*x)[i], y[i], path + "[" + std::to_string(i) + "]",
                  depth + 1))
          return false;
      return true;
    }
    if (auto* x = a.get_if<object>())
      return members(*x, b.get<object>(), path, depth);
    if (auto* p = a.get_if<message_port>()) {
      bool fresh = false;
      return pair(p->object().get(), b.get<message_port>().object().get(),
                  path, fresh);
    }
    if (auto nx = node_id(a)) {
      bool fresh = false;
      if (!pair(nx, node_id(b), path, fresh))
        return false;
      return !fresh || node(a, b, path, depth); // seen: paired already
    }
    return a == b || fail(path, "values differ: " + to_string(a) + " vs "
                                  + to_string(b));
  }

  bool members(const object& x, const object& y, const std::string& path,
               int depth) {
    if (x.size() != y.size())
      return fail(path, "member counts differ");
    for (auto i = x.begin(), j = y.begin(); i != x.end(); ++i, ++j) {
      if (i->first != j->first)
        return fail(path, "keys differ: " + i->first + " vs " + j->first);
      if (!same(i->second, j->second, path + "." + i->first, depth + 1))
        return false;
    }
    return true;
  }

  bool node(const value& a, const value& b, const std::string& path,
            int depth) {
    if (auto* x = a.get_if<shared_object>())
      return members(x->properties(), b.get<shared_object>().properties(),
                     path, depth);
    if (auto* x = a.get_if<shared_array>()) {
      auto& y = b.get<shared_array>();
      if (x->length() != y.length())
        return fail(path, "array lengths differ");
      auto &ex = x->elements(), &ey = y.elements();
      if (ex.size() != ey.size())
        return fail(path, "holes differ");
      for (auto i = ex.begin(), j = ey.begin(); i != ex.end(); ++i, ++j) {
        if (i->first != j->first)
          return fail(path, "holes differ at " + std::to_string(i->first));
        if (!same(i->second, j->second,
                  path + "[" + std::to_string(i->first) + "]", depth + 1))
          return false;
      }
      return members(x->properties(), y.properties(), path, depth);
    }
    if (auto* x = a.get_if<value_map>()) {
      auto& y = b.get<value_map>();
      if (x->size() != y.size())
        return fail(path, "map sizes differ");
      std::size_t n = 0;
      for (auto i = x->begin(), j = y.begin(); i != x->end(); ++i, ++j, ++n) {
        auto at = path + "{" + std::to_string(n) + "}";
        if (!same(i->first, j->first, at + ".key", depth + 1)
            || !same(i->second, j->second, at + ".value", depth + 1))
          return false;
      }
      return true;
    }
    auto& x = a.get<value_set>();
    auto& y = b.get<value_set>();
    if (x.size() != y.size())
      return fail(path, "set sizes differ");
    std::size_t n = 0;
    for (auto i = x.begin(), j = y.begin(); i != x.end(); ++i, ++j, ++n)
      if (!same(*i, *j, path + "{" + std::to_string(n) + "}", depth + 1))
        return false;
    return true;
  }

  std::unordered_map<id, id> fwd_;
  std::unordered_map<id, id> back_;
  std::deque<array_buffer> bufs_a_;
  std::deque<array_buffer> bufs_b_;
  std::string why_;
};

/// A random graph of every kind from a seed: the same seed builds the same
/// shape (with its own objects), so a second generator gives the reference
/// to compare a received clone with. Ports need a context (`with_ports`).
class graph_gen {
public:
  graph_gen(std::uint64_t seed, bool with_ports)
    : rng_(seed), with_ports_(with_ports) {
    // nop
  }

  /// The graph; `transfer` then lists some of its buffers and its ports.
  value make() {
    return any(0);
  }

  transfer_list transfer;

private:
  std::uint64_t pick(std::uint64_t n) {
    return rng_() % n;
  }
  bool chance(int percent) {
    return pick(100) < static_cast<std::uint64_t>(percent);
  }

  value any(int depth) {
    // Reuse an earlier node: sharing, or a cycle when it is an ancestor.
    if (!nodes_.empty() && chance(15))
      return nodes_[pick(nodes_.size())];
    if (depth >= 6 || chance(35))
      return leaf();
    switch (pick(6)) {
      case 0: {
        array a;
        for (auto n = pick(4); n > 0; --n)
          a.push_back(any(depth + 1));
        return value{std::move(a)};
      }
      case 1: {
        object o;
        for (auto n = pick(4); n > 0; --n) {
          auto k = key();
          o.insert_or_assign(k, any(depth + 1));
        }
        return value{std::move(o)};
      }
      case 2: {
        shared_object o;
        nodes_.emplace_back(o); // before its members: they may refer back
        for (auto n = pick(4); n > 0; --n) {
          auto k = key();
          o.set(k, any(depth + 1));
        }
        return value{o};
      }
      case 3: {
        shared_array a;
        nodes_.emplace_back(a);
        // Sparse: a few indices with holes between, a length beyond them
        // sometimes, and extra named properties.
        std::uint32_t i = 0;
        for (auto n = pick(5); n > 0; --n) {
          i += static_cast<std::uint32_t>(pick(3));
          a.set(i++, any(depth + 1));
        }
        if (chance(20))
          a.set_length(a.length() + static_cast<std::uint32_t>(pick(4)));
        if (chance(20))
          a.set(static_cast<std::uint32_t>(1000000 + pick(1000)), leaf());
        if (chance(30)) {
          auto k = key();
          a.set_property(k, any(depth + 1));
        }
        return value{a};
      }
      case 4: {
        value_map m;
        nodes_.emplace_back(m);
        for (auto n = pick(4); n > 0; --n) {
          auto k = map_key(depth);
          m.set(k, any(depth + 1));
        }
        return value{m};
      }
      default: {
        value_set s;
        nodes_.emplace_back(s);
        for (auto n = pick(4); n > 0; --n)
          s.add(map_key(depth));
        return value{s};
      }
    }
  }

  std::string key() {
    static const char* keys[] = {"a", "b", "name", "x", "", "next", "7x"};
    return keys[pick(std::size(keys))];
  }

  /// Keys of every sort: primitives that may repeat (SameValueZero), nodes
  /// (identity), plain values (never equal).
  value map_key(int depth) {
    switch (pick(5)) {
      case 0:
        return value{static_cast<double>(pick(3))};
      case 1:
        return value{key()};
      case 2:
        return chance(50) ? value{std::nan("")} : value{-0.0};
      case 3:
        return any(depth + 1);
      default:
        return leaf();
    }
  }

  bigint big() {
    static const char* digits[] = {
      "0", "-1", "9223372036854775807", "-9223372036854775808",
      "18446744073709551616", "-340282366920938463463374607431768211457",
      "123456789012345678901234567890123456789012345678901234567890"};
    return bigint::parse(digits[pick(std::size(digits))]);
  }

  array_buffer buffer() {
    if (!buffers_.empty() && chance(40))
      return buffers_[pick(buffers_.size())];
    std::vector<std::uint8_t> bytes(8 * pick(5));
    for (auto& b : bytes)
      b = static_cast<std::uint8_t>(pick(256));
    array_buffer out{std::move(bytes)};
    buffers_.push_back(out);
    if (chance(25))
      transfer.emplace_back(out);
    return out;
  }

  value leaf() {
    switch (pick(16)) {
      case 0:
        return value{};
      case 1:
        return value{null};
      case 2:
        return value{chance(50)};
      case 3: {
        static const double numbers[] = {0.0, -0.0, 1.5, -7, 1e300,
                                         HUGE_VAL, -HUGE_VAL};
        return chance(15) ? value{std::nan("")}
                          : value{numbers[pick(std::size(numbers))]};
      }
      case 4:
        return value{big()};
      case 5:
        return value{std::string(pick(5), static_cast<char>('a' + pick(26)))};
      case 6:
        return value{date{static_cast<double>(pick(1000000))}};
      case 7: {
        auto source = "a+" + key();
        return value{regexp{source, chance(50) ? "gi" : "u"}};
      }
      case 8:
        switch (pick(4)) {
          case 0:
            return value{boxed_primitive{chance(50)}};
          case 1:
            return value{boxed_primitive{-0.5}};
          case 2:
            return value{boxed_primitive{big()}};
          default:
            return value{boxed_primitive{key()}};
        }
      case 9:
        return value{error_value{chance(50) ? "RangeError" : "Error", key()}};
      case 10:
      case 11:
        return value{buffer()};
      case 12:
      case 13: {
        auto kind = all_element_kinds[pick(std::size(all_element_kinds))];
        auto b = buffer();
        auto size = element_size(kind);
        auto slots = b.byte_length() / size;
        auto first = slots == 0 ? 0 : pick(slots + 1);
        auto len = pick(slots - first + 1);
        return value{typed_array{kind, b, first * size, len}};
      }
      case 14: {
        auto b = buffer();
        auto off = pick(b.byte_length() + 1);
        auto len = pick(b.byte_length() - off + 1);
        return value{data_view{b, off, len}};
      }
      default:
        if (with_ports_ && chance(30)) {
          message_channel ch;
          transfer.emplace_back(ch.port1());
          return value{ch.port1()};
        }
        return value{key()};
    }
  }

  std::mt19937_64 rng_;
  bool with_ports_;
  std::vector<value> nodes_;
  std::vector<array_buffer> buffers_;
};

} // namespace entangle::test
