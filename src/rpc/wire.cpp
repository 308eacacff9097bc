#include "rpc/wire.hpp"

#include <fmt/format.h>

#include "entangle/context.hpp"
#include "entangle/error.hpp"
#include "entangle/rpc/convert.hpp"
#include "ports/port_object.hpp"

namespace entangle::rpc::wire {

namespace {

const std::string* string_at(const object& o, const char* key) {
  auto i = o.find(key);
  return i == o.end() ? nullptr : i->second.get_if<std::string>();
}

const double* number_at(const object& o, const char* key) {
  auto i = o.find(key);
  return i == o.end() ? nullptr : i->second.get_if<double>();
}

} // namespace

value call(double id, std::string method, array args) {
  object o;
  o.emplace("rpc", "call");
  o.emplace("id", id);
  o.emplace("method", std::move(method));
  o.emplace("args", std::move(args));
  return value{std::move(o)};
}

value answer_value(double id, value v) {
  object o;
  o.emplace("rpc", "return");
  o.emplace("id", id);
  o.emplace("value", std::move(v));
  return value{std::move(o)};
}

value answer_error(double id, const error_value& e) {
  object o;
  o.emplace("rpc", "throw");
  o.emplace("id", id);
  o.emplace("error", value::obj({{"name", e.name}, {"message", e.message}}));
  return value{std::move(o)};
}

value proxy_marker(const message_port& port) {
  return value::obj({{"rpc", "proxy"}, {"port", port}});
}

const message_port* marker_port(const value& v, std::string_view tag) {
  auto* o = v.get_if<object>();
  if (o == nullptr || o->size() != 2)
    return nullptr;
  auto* t = string_at(*o, "rpc");
  auto i = o->find("port");
  if (t == nullptr || *t != tag || i == o->end())
    return nullptr;
  return i->second.get_if<message_port>();
}

const message_port* proxy_port(const value& v) {
  return marker_port(v, "proxy");
}

value cancel(double id, const error_value& reason) {
  object o;
  o.emplace("rpc", "cancel");
  o.emplace("id", id);
  o.emplace("reason",
            value::obj({{"name", reason.name}, {"message", reason.message}}));
  return value{std::move(o)};
}

std::optional<parsed_cancel> parse_cancel(const value& v) {
  auto* o = v.get_if<object>();
  if (o == nullptr)
    return std::nullopt;
  auto* tag = string_at(*o, "rpc");
  auto* id = number_at(*o, "id");
  if (tag == nullptr || *tag != "cancel" || id == nullptr)
    return std::nullopt;
  auto i = o->find("reason");
  auto reason = to_error(i == o->end() ? value{} : i->second);
  return parsed_cancel{*id, std::move(reason)};
}

std::optional<parsed_call> parse_call(value& v, std::optional<double>& id,
                                      std::string& why) {
  auto* o = v.get_if<object>();
  if (o == nullptr) {
    why = std::string{"expected an rpc call object, got "} + v.type_name();
    return std::nullopt;
  }
  if (auto* n = number_at(*o, "id"))
    id = *n;
  auto* tag = string_at(*o, "rpc");
  auto* method = string_at(*o, "method");
  auto args = o->find("args");
  if (tag == nullptr || *tag != "call" || !id || method == nullptr
      || args == o->end() || !args->second.is<array>()) {
    why = "malformed rpc call (expected {rpc: \"call\", id: number, method: "
          "string, args: array})";
    return std::nullopt;
  }
  return parsed_call{*id, *method, std::move(args->second.get<array>())};
}

std::optional<parsed_answer> parse_answer(value& v) {
  auto* o = v.get_if<object>();
  if (o == nullptr)
    return std::nullopt;
  auto* tag = string_at(*o, "rpc");
  auto* id = number_at(*o, "id");
  if (tag == nullptr || id == nullptr)
    return std::nullopt;
  bool ok = *tag == "return";
  if (!ok && *tag != "throw")
    return std::nullopt;
  auto i = o->find(ok ? "value" : "error");
  value payload = i == o->end() ? value{} : std::move(i->second);
  return parsed_answer{*id, ok, std::move(payload)};
}

void check_usable(const message_port& port, const char* op) {
  if (!port)
    throw type_error(fmt::format("{}: null message_port", op));
  if (port.object()->ctx_id != this_context().id())
    throw dom_exception(std::string{error_name::invalid_state},
                        fmt::format("{}: the port belongs to another context",
                                    op));
  if (port.detached())
    throw dom_exception(std::string{error_name::invalid_state},
                        fmt::format("{}: the port is closed or was "
                                    "transferred away",
                                    op));
}

error_value to_error(const value& payload) {
  error_value e;
  e.name = "Error";
  if (auto* o = payload.get_if<object>()) {
    if (auto* n = string_at(*o, "name"))
      e.name = *n;
    if (auto* m = string_at(*o, "message"))
      e.message = *m;
  }
  return e;
}

} // namespace entangle::rpc::wire

namespace entangle::rpc::detail {

namespace {

const std::string* tag_of(const object& o) {
  auto i = o.find("rpc");
  return i == o.end() ? nullptr : i->second.get_if<std::string>();
}

} // namespace

value typed_marker(const std::string& name, std::vector<char> bytes) {
  std::vector<std::uint8_t> data(bytes.begin(), bytes.end());
  return value::obj({{"rpc", "typed"},
                     {"type", name},
                     {"bytes", array_buffer{std::move(data)}}});
}

const std::vector<std::uint8_t>* typed_bytes(const value& v,
                                             const std::string& name) {
  auto* o = v.get_if<object>();
  if (o == nullptr || o->size() != 3)
    return nullptr;
  auto* tag = tag_of(*o);
  auto t = o->find("type");
  auto b = o->find("bytes");
  if (tag == nullptr || *tag != "typed" || t == o->end() || b == o->end())
    return nullptr;
  auto* type = t->second.get_if<std::string>();
  auto* buf = b->second.get_if<array_buffer>();
  if (type == nullptr || *type != name || buf == nullptr)
    return nullptr;
  return &buf->bytes();
}

value stream_marker(const message_port& port) {
  return value::obj({{"rpc", "stream"}, {"port", port}});
}

const message_port* stream_port(const value& v) {
  return wire::marker_port(v, "stream");
}

std::string describe(const value& v) {
  if (auto* o = v.get_if<object>()) {
    if (auto* tag = tag_of(*o)) {
      if (*tag == "stream")
        return "a stream";
      if (*tag == "proxy")
        return "a callback";
      if (*tag == "typed") {
        auto t = o->find("type");
        if (t != o->end() && t->second.is_string())
          return "a typed " + t->second.as_string();
      }
    }
  }
  return v.type_name();
}

} // namespace entangle::rpc::detail
