#pragma once

// The byte-level half of the wire format (codec.hpp): the writer and reader
// of integers, strings, port names, structured-clone values and marks that
// codec.cpp's frame encoding is built from. Included by codec.cpp only.

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include "entangle/error.hpp"
#include "remote/codec.hpp"
#include "values/clone_def.hpp"

namespace entangle::detail::remote::wire {

/// Counts read off the wire are checked against the bytes left, but every
/// nesting level could reserve that much again (a small frame of nested
/// array headers asking for gigabytes): reserve at most this many, and let
/// real elements grow the rest.
constexpr std::size_t reserve_cap = 1024;

// Value tags on the wire (one byte before each value).
enum tag : std::uint8_t {
  t_undefined,
  t_null,
  t_false,
  t_true,
  t_number,
  t_bigint,
  t_string,
  t_date,
  t_regexp,
  t_boxed,
  t_error,
  t_buffer,
  t_array,
  t_object,
  t_slot,
  t_ref,
  t_def,
  t_count_,
};

class writer {
public:
  std::string out;

  void u8(std::uint8_t x) {
    out.push_back(static_cast<char>(x));
  }
  void u16(std::uint16_t x) {
    for (int i = 0; i < 2; ++i)
      u8(static_cast<std::uint8_t>(x >> (8 * i)));
  }
  void u32(std::uint32_t x) {
    for (int i = 0; i < 4; ++i)
      u8(static_cast<std::uint8_t>(x >> (8 * i)));
  }
  void u64(std::uint64_t x) {
    for (int i = 0; i < 8; ++i)
      u8(static_cast<std::uint8_t>(x >> (8 * i)));
  }
  void f64(double d) {
    std::uint64_t x;
    std::memcpy(&x, &d, sizeof x);
    u64(x);
  }
  void count(std::size_t n) {
    if (n > 0xffffffffu)
      throw dom_exception(std::string{error_name::data_clone},
                          "too large to cross a process");
    u32(static_cast<std::uint32_t>(n));
  }
  void bytes(const void* p, std::size_t n) {
    count(n);
    out.append(static_cast<const char*>(p), n);
  }
  void str(std::string_view s) {
    bytes(s.data(), s.size());
  }
  void name(port_name n) {
    u64(n.hi);
    u64(n.lo);
  }

  void val(const value& x) {
    auto& v = x.var();
    if (std::holds_alternative<undefined_t>(v)) {
      u8(t_undefined);
    } else if (std::holds_alternative<null_t>(v)) {
      u8(t_null);
    } else if (auto* b = std::get_if<bool>(&v)) {
      u8(*b ? t_true : t_false);
    } else if (auto* d = std::get_if<double>(&v)) {
      u8(t_number);
      f64(*d);
    } else if (auto* big = std::get_if<bigint>(&v)) {
      u8(t_bigint);
      big_int(*big);
    } else if (auto* s = std::get_if<std::string>(&v)) {
      u8(t_string);
      str(*s);
    } else if (auto* dt = std::get_if<date>(&v)) {
      u8(t_date);
      f64(dt->time_value);
    } else if (auto* re = std::get_if<regexp>(&v)) {
      u8(t_regexp);
      str(re->source());
      str(re->flags());
    } else if (auto* box = std::get_if<boxed_primitive>(&v)) {
      u8(t_boxed);
      auto& p = box->value_of();
      u8(static_cast<std::uint8_t>(p.index()));
      if (auto* pb = std::get_if<bool>(&p))
        u8(*pb ? 1 : 0);
      else if (auto* pd = std::get_if<double>(&p))
        f64(*pd);
      else if (auto* pn = std::get_if<bigint>(&p))
        big_int(*pn);
      else
        str(std::get<std::string>(p));
    } else if (auto* box = std::get_if<detail::error_box>(&v)) {
      auto& e = box->get();
      u8(t_error);
      str(e.name);
      str(e.message);
    } else if (auto* buf = std::get_if<array_buffer>(&v)) {
      u8(t_buffer);
      bytes(buf->bytes().data(), buf->bytes().size());
    } else if (auto* a = std::get_if<array>(&v)) {
      u8(t_array);
      count(a->size());
      for (auto& item : *a)
        val(item);
    } else if (auto* o = std::get_if<object>(&v)) {
      u8(t_object);
      count(o->size());
      for (auto& [k, item] : *o) {
        str(k);
        val(item);
      }
    } else if (auto* slot = std::get_if<port_slot>(&v)) {
      u8(t_slot);
      u32(slot->index);
    } else if (auto* ref = std::get_if<clone_ref>(&v)) {
      u8(t_ref);
      u32(ref->id);
    } else if (auto* box = std::get_if<clone_def_box>(&v)) {
      auto& d = box->get();
      u8(t_def);
      u8(static_cast<std::uint8_t>(d.kind));
      u8(static_cast<std::uint8_t>(d.element));
      u64(d.offset);
      u64(d.length);
      count(d.items.size());
      for (auto& item : d.items)
        val(item);
      count(d.props.size());
      for (auto& [k, item] : d.props) {
        str(k);
        val(item);
      }
    } else {
      throw dom_exception(std::string{error_name::data_clone},
                          "a value of this kind has no wire form");
    }
  }

  void big_int(const bigint& b) {
    u8(b.sign() < 0 ? 1 : 0);
    auto mag = b.magnitude();
    bytes(mag.data(), mag.size());
  }
};

/// Reads what `writer` wrote; every read is bounds-checked, and the first
/// failure is kept in `why` (later reads then return zeros).
class reader {
public:
  reader(std::string_view in, std::size_t max_depth)
    : p_(in.data()), end_(in.data() + in.size()), max_depth_(max_depth) {
  }

  std::string why;
  bool needs_rebuild = false;
  std::size_t buffer_bytes = 0;

  bool ok() const noexcept {
    return why.empty();
  }
  bool at_end() const noexcept {
    return p_ == end_;
  }

  void fail(std::string what) {
    if (why.empty())
      why = std::move(what);
    p_ = end_;
  }

  std::uint8_t u8() {
    if (p_ == end_) {
      fail("truncated frame");
      return 0;
    }
    return static_cast<std::uint8_t>(*p_++);
  }
  std::uint16_t u16() {
    std::uint16_t x = 0;
    for (int i = 0; i < 2; ++i)
      x |= static_cast<std::uint16_t>(u8()) << (8 * i);
    return x;
  }
  std::uint32_t u32() {
    std::uint32_t x = 0;
    for (int i = 0; i < 4; ++i)
      x |= static_cast<std::uint32_t>(u8()) << (8 * i);
    return x;
  }
  std::uint64_t u64() {
    std::uint64_t x = 0;
    for (int i = 0; i < 8; ++i)
      x |= static_cast<std::uint64_t>(u8()) << (8 * i);
    return x;
  }
  double f64() {
    auto x = u64();
    double d;
    std::memcpy(&d, &x, sizeof d);
    return d;
  }
  /// A count of items that take at least `min_size` bytes each: larger
  /// than what is left is malformed (no huge allocation from a lie).
  std::size_t count(std::size_t min_size) {
    auto n = u32();
    if (static_cast<std::size_t>(end_ - p_) / min_size < n) {
      fail("a count larger than the frame");
      return 0;
    }
    return n;
  }
  std::string_view raw() {
    auto n = count(1);
    std::string_view s{p_, n};
    p_ += n;
    return s;
  }
  std::string str() {
    return std::string{raw()};
  }
  port_name name() {
    port_name n;
    n.hi = u64();
    n.lo = u64();
    return n;
  }

  bigint big_int() {
    auto neg = u8();
    auto mag = raw();
    if (neg > 1) {
      fail("bad bigint sign");
      return {};
    }
    std::vector<std::uint8_t> bytes(mag.begin(), mag.end());
    return bigint::from_magnitude(neg == 1, bytes);
  }

  value val(std::size_t depth) {
    if (depth > max_depth_) {
      fail("nested too deeply");
      return {};
    }
    auto t = u8();
    if (!ok())
      return {};
    switch (t) {
      case t_undefined:
        return {};
      case t_null:
        return value{null};
      case t_false:
        return value{false};
      case t_true:
        return value{true};
      case t_number:
        return value{f64()};
      case t_bigint:
        return value{big_int()};
      case t_string:
        return value{str()};
      case t_date:
        return value{date{f64()}};
      case t_regexp: {
        auto source = str();
        auto flags = str();
        if (!ok())
          return {};
        try {
          return value{regexp{std::move(source), flags}};
        } catch (const std::exception& e) {
          fail(std::string{"bad RegExp: "} + e.what());
          return {};
        }
      }
      case t_boxed: {
        switch (u8()) {
          case 0:
            return value{boxed_primitive{u8() != 0}};
          case 1:
            return value{boxed_primitive{f64()}};
          case 2:
            return value{boxed_primitive{big_int()}};
          case 3:
            return value{boxed_primitive{str()}};
          default:
            fail("bad boxed primitive");
            return {};
        }
      }
      case t_error: {
        error_value e;
        e.name = str();
        e.message = str();
        return value{std::move(e)};
      }
      case t_buffer: {
        auto b = raw();
        buffer_bytes += b.size();
        return value{array_buffer{std::vector<std::uint8_t>(b.begin(),
                                                            b.end())}};
      }
      case t_array: {
        auto n = count(1);
        array a;
        a.reserve(std::min<std::size_t>(n, reserve_cap));
        for (std::size_t i = 0; i < n && ok(); ++i)
          a.push_back(val(depth + 1));
        return value{std::move(a)};
      }
      case t_object: {
        auto n = count(5);
        object o;
        for (std::size_t i = 0; i < n && ok(); ++i) {
          auto k = str();
          auto item = val(depth + 1);
          if (!o.emplace(std::move(k), std::move(item)).second)
            fail("a duplicate property");
        }
        return value{std::move(o)};
      }
      case t_slot:
        needs_rebuild = true;
        return value{port_slot{u32()}};
      case t_ref:
        needs_rebuild = true;
        return value{clone_ref{u32()}};
      case t_def: {
        needs_rebuild = true;
        auto d = std::make_unique<clone_def>();
        auto kind = u8();
        auto element = u8();
        if (kind > static_cast<std::uint8_t>(def_kind::data_view)
            || element > static_cast<std::uint8_t>(element_kind::biguint64)) {
          fail("bad definition kind");
          return {};
        }
        d->kind = static_cast<def_kind>(kind);
        d->element = static_cast<element_kind>(element);
        d->offset = u64();
        d->length = u64();
        auto n = count(1);
        d->items.reserve(std::min<std::size_t>(n, reserve_cap));
        for (std::size_t i = 0; i < n && ok(); ++i)
          d->items.push_back(val(depth + 1));
        auto m = count(5);
        for (std::size_t i = 0; i < m && ok(); ++i) {
          auto k = str();
          d->props.emplace_back(std::move(k), val(depth + 1));
        }
        return value{clone_def_box{std::move(d)}};
      }
      default:
        fail(fmt::format("unknown value tag {}", t));
        return {};
    }
  }

private:
  const char* p_;
  const char* end_;
  std::size_t max_depth_;
};

inline void write_marks(writer& w, const high_water_mark& m) {
  w.u64(m.messages);
  w.u64(m.bytes);
  w.u64(m.hard_factor);
}

/// Reads marks; false if none is enabled. A hard factor of 0 is refused
/// (the API clamps it to 1, so no honest node sends it).
inline bool read_marks(reader& r, high_water_mark& m) {
  m.messages = r.u64();
  m.bytes = r.u64();
  m.hard_factor = r.u64();
  if (m.hard_factor == 0)
    r.fail("a hard factor of 0");
  return m.enabled();
}


} // namespace entangle::detail::remote::wire
