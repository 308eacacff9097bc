#include "entangle/value.hpp"

#include <cmath>

#include <fmt/format.h>

#include "entangle/error.hpp"

namespace entangle {

value value::obj(
  std::initializer_list<std::pair<const std::string, value>> members) {
  return value{object(members)};
}

value value::arr(std::initializer_list<value> elements) {
  return value{array(elements)};
}

const value& value::operator[](std::string_view key) const {
  const auto& o = get<object>();
  auto i = o.find(key);
  if (i == o.end())
    throw type_error(fmt::format("object has no member '{}'", key));
  return i->second;
}

const value& value::operator[](std::size_t index) const {
  const auto& a = get<array>();
  if (index >= a.size())
    throw type_error(
      fmt::format("index {} out of range (length {})", index, a.size()));
  return a[index];
}

namespace {

constexpr const char* names[] = {
  "undefined", "null",  "boolean",      "number",     "bigint",
  "string",    "date",  "error",        "arraybuffer", "array",
  "object",    "port",  "host object",  "port slot",
};

static_assert(std::size(names) == std::variant_size_v<value::variant_type>);

} // namespace

const char* value::type_name() const noexcept {
  return names[v_.index()];
}

template <class T>
const char* value::type_name_of() noexcept {
  // Index of T in the variant, found by a default-constructed probe.
  return names[variant_type{std::in_place_type<T>}.index()];
}

#define ENTANGLE_INSTANTIATE(T)                                                \
  template const char* value::type_name_of<T>() noexcept;
ENTANGLE_INSTANTIATE(undefined_t)
ENTANGLE_INSTANTIATE(null_t)
ENTANGLE_INSTANTIATE(bool)
ENTANGLE_INSTANTIATE(double)
ENTANGLE_INSTANTIATE(bigint)
ENTANGLE_INSTANTIATE(std::string)
ENTANGLE_INSTANTIATE(date)
ENTANGLE_INSTANTIATE(error_value)
ENTANGLE_INSTANTIATE(array_buffer)
ENTANGLE_INSTANTIATE(array)
ENTANGLE_INSTANTIATE(object)
ENTANGLE_INSTANTIATE(message_port)
ENTANGLE_INSTANTIATE(host_object)
ENTANGLE_INSTANTIATE(detail::port_slot)
#undef ENTANGLE_INSTANTIATE

void value::throw_wrong_type(const char* wanted) const {
  throw type_error(
    fmt::format("value holds {}, not {}", type_name(), wanted));
}

namespace {

void render(std::string& out, const value& x) {
  struct visitor {
    std::string& out;
    void operator()(undefined_t) {
      out += "undefined";
    }
    void operator()(null_t) {
      out += "null";
    }
    void operator()(bool b) {
      out += b ? "true" : "false";
    }
    void operator()(double d) {
      if (std::isnan(d))
        out += "NaN";
      else if (std::isinf(d))
        out += d > 0 ? "Infinity" : "-Infinity";
      else
        out += fmt::format("{}", d);
    }
    void operator()(bigint b) {
      out += fmt::format("{}n", b.v);
    }
    void operator()(const std::string& s) {
      out += '"';
      out += s;
      out += '"';
    }
    void operator()(date d) {
      out += fmt::format("Date({})", d.time_value);
    }
    void operator()(const error_value& e) {
      out += fmt::format("{}: {}", e.name, e.message);
    }
    void operator()(const array_buffer& b) {
      out += b.detached() ? std::string{"ArrayBuffer(detached)"}
                          : fmt::format("ArrayBuffer({})", b.byte_length());
    }
    void operator()(const array& a) {
      out += '[';
      for (std::size_t i = 0; i < a.size(); ++i) {
        if (i > 0)
          out += ", ";
        render(out, a[i]);
      }
      out += ']';
    }
    void operator()(const object& o) {
      out += '{';
      bool first = true;
      for (auto& [k, v] : o) {
        if (!first)
          out += ", ";
        first = false;
        out += k;
        out += ": ";
        render(out, v);
      }
      out += '}';
    }
    void operator()(const message_port& p) {
      out += p ? "MessagePort" : "MessagePort(null)";
    }
    void operator()(const host_object& h) {
      out += fmt::format("[{}]", h.kind);
    }
    void operator()(detail::port_slot s) {
      out += fmt::format("<port #{}>", s.index);
    }
  };
  std::visit(visitor{out}, x.var());
}

} // namespace

std::string to_string(const value& x) {
  std::string out;
  render(out, x);
  return out;
}

} // namespace entangle
