#include "clone/structured_clone.hpp"

#include <unordered_map>

#include <fmt/format.h>

#include "entangle/error.hpp"
#include "ports/port_object.hpp"

namespace entangle::detail {

/// Access to a buffer's shared state (identity and detaching).
struct clone_access {
  using state = array_buffer::state;
  static state* get(const array_buffer& b) noexcept {
    return b.state_.get();
  }
  static void move_bytes(array_buffer& from, array_buffer& to) noexcept {
    to.state_->bytes = std::move(from.state_->bytes);
    from.state_->bytes.clear();
    from.state_->bytes.shrink_to_fit();
    from.state_->detached = true;
  }
};

namespace {

[[noreturn]] void data_clone_error(const std::string& what) {
  throw dom_exception(std::string{error_name::data_clone}, what);
}

const char* normalized_error_name(const std::string& name) {
  static constexpr const char* known[] = {
    "Error",          "EvalError", "RangeError", "ReferenceError",
    "SyntaxError",    "TypeError", "URIError",
  };
  for (auto* k : known)
    if (name == k)
      return k;
  return "Error";
}

struct serializer {
  const std::vector<const port_object*>& ports;
  const std::vector<clone_access::state*>& transferred_buffers;
  std::size_t max_depth;
  // Sender buffer -> its copy in the message (identity within a message).
  std::unordered_map<clone_access::state*, array_buffer> memo;
  std::size_t buffer_bytes = 0;
  bool has_port_slots = false;

  bool is_transferred(clone_access::state* s) const {
    for (auto* t : transferred_buffers)
      if (t == s)
        return true;
    return false;
  }

  value copy(const value& x, std::size_t depth) {
    if (depth > max_depth)
      data_clone_error(fmt::format(
        "the message nests deeper than {} levels", max_depth));
    struct visitor {
      serializer& s;
      std::size_t depth;
      value operator()(undefined_t) {
        return value{};
      }
      value operator()(null_t) {
        return value{null};
      }
      value operator()(bool b) {
        return value{b};
      }
      value operator()(double d) {
        return value{d};
      }
      value operator()(bigint b) {
        return value{b};
      }
      value operator()(const std::string& str) {
        return value{str};
      }
      value operator()(date d) {
        return value{d};
      }
      value operator()(const error_value& e) {
        return value{error_value{normalized_error_name(e.name), e.message}};
      }
      value operator()(const array_buffer& b) {
        return s.copy_buffer(b);
      }
      value operator()(const array& a) {
        array out;
        out.reserve(a.size());
        for (auto& v : a)
          out.push_back(s.copy(v, depth + 1));
        return value{std::move(out)};
      }
      value operator()(const object& o) {
        object out;
        for (auto& [k, v] : o)
          out.emplace_hint(out.end(), k, s.copy(v, depth + 1));
        return value{std::move(out)};
      }
      value operator()(const message_port& p) {
        return s.port_reference(p);
      }
      value operator()(const host_object& h) {
        data_clone_error(fmt::format("{} could not be cloned",
                                     h.kind.empty() ? "a host object"
                                                    : h.kind));
      }
      value operator()(detail::port_slot) {
        data_clone_error("an internal port slot could not be cloned");
      }
    };
    return std::visit(visitor{*this, depth}, x.var());
  }

  value copy_buffer(const array_buffer& b) {
    auto* st = clone_access::get(b);
    if (auto i = memo.find(st); i != memo.end())
      return value{i->second};
    if (b.detached())
      data_clone_error("an ArrayBuffer is detached");
    array_buffer fresh;
    if (!is_transferred(st))
      fresh.bytes() = b.bytes(); // copy; transferred bytes move at commit
    buffer_bytes += b.byte_length();
    memo.emplace(st, fresh);
    return value{std::move(fresh)};
  }

  value port_reference(const message_port& p) {
    if (!p)
      data_clone_error("a null MessagePort could not be cloned");
    for (std::size_t i = 0; i < ports.size(); ++i) {
      if (ports[i] == p.object().get()) {
        has_port_slots = true;
        return value{detail::port_slot{static_cast<std::uint32_t>(i)}};
      }
    }
    data_clone_error(
      "a MessagePort in the message is not in the transfer list (ports "
      "can only be transferred, never cloned)");
  }
};

bool is_primitive(const value& x) noexcept {
  return std::visit(
    [](const auto& v) {
      using T = std::decay_t<decltype(v)>;
      return std::is_same_v<T, undefined_t> || std::is_same_v<T, null_t>
             || std::is_same_v<T, bool> || std::is_same_v<T, double>
             || std::is_same_v<T, bigint> || std::is_same_v<T, std::string>
             || std::is_same_v<T, date>;
    },
    x.var());
}

} // namespace

serialized_message serialize_with_transfer(const clone_sender& from,
                                           const value& message,
                                           const transfer_list& transfer,
                                           const port_object* source,
                                           std::size_t max_depth) {
  // Fast path: nothing to transfer and a primitive value (the commonest
  // post) needs no validation, memo or commit: the copy is the clone.
  if (transfer.empty() && is_primitive(message)) {
    serialized_message out;
    out.data = message;
    return out;
  }
  // -- WebIDL: the whole sequence is converted (nulls rejected) first ------
  for (std::size_t i = 0; i < transfer.size(); ++i)
    if (auto* p = transfer[i].port(); p != nullptr && !*p)
      throw type_error(
        fmt::format("transfer list item {} is a null MessagePort", i));

  // -- validate the transfer list before serializing anything --------------
  std::vector<const port_object*> ports;
  std::vector<clone_access::state*> buffers;
  std::vector<array_buffer> buffer_handles;
  for (std::size_t i = 0; i < transfer.size(); ++i) {
    auto& item = transfer[i];
    if (auto* p = item.port()) {
      auto* obj = p->object().get();
      if (obj == source)
        data_clone_error("the source port is in its own transfer list");
      for (auto* seen : ports)
        if (seen == obj)
          data_clone_error(fmt::format(
            "transfer list item {} is a duplicate MessagePort", i));
      if (obj->ctx_id != from.context_id)
        data_clone_error(fmt::format(
          "transfer list item {} is a MessagePort owned by another context",
          i));
      if (obj->detached.load(std::memory_order_relaxed))
        data_clone_error(fmt::format(
          "transfer list item {} is a detached MessagePort (already "
          "transferred or closed)",
          i));
      ports.push_back(obj);
    } else {
      auto& b = *item.buffer();
      auto* st = clone_access::get(b);
      for (auto* seen : buffers)
        if (seen == st)
          data_clone_error(fmt::format(
            "transfer list item {} is a duplicate ArrayBuffer", i));
      if (b.detached())
        data_clone_error(
          fmt::format("transfer list item {} is a detached ArrayBuffer", i));
      buffers.push_back(st);
      buffer_handles.push_back(b);
    }
  }

  // -- serialize: no side effect until this succeeded ----------------------
  serializer s{ports, buffers, max_depth, {}, 0, false};
  serialized_message out;
  out.data = s.copy(message, 0);
  out.buffer_bytes = s.buffer_bytes;
  out.has_port_slots = s.has_port_slots;

  // -- commit --------------------------------------------------------------
  for (auto& b : buffer_handles) {
    auto* st = clone_access::get(b);
    auto i = s.memo.find(st);
    if (i != s.memo.end()) {
      clone_access::move_bytes(b, i->second);
    } else {
      // Transferred but not referenced by the message: detached and lost,
      // as on the web.
      array_buffer sink;
      clone_access::move_bytes(b, sink);
    }
  }
  out.ports.reserve(ports.size());
  for (auto* obj : ports)
    out.ports.push_back(
      from.ship(from.context, const_cast<port_object&>(*obj)));
  return out;
}

std::optional<std::string> check_receivable(std::size_t buffer_bytes,
                                            std::size_t max_buffer_bytes) {
  if (max_buffer_bytes > 0 && buffer_bytes > max_buffer_bytes)
    return fmt::format("could not allocate {} bytes of ArrayBuffer data "
                       "(limit {})",
                       buffer_bytes, max_buffer_bytes);
  return std::nullopt;
}

void resolve_port_slots(value& data, const std::vector<message_port>& ports) {
  if (auto* slot = data.get_if<detail::port_slot>()) {
    data = value{ports.at(slot->index)};
  } else if (auto* a = data.get_if<array>()) {
    for (auto& v : *a)
      resolve_port_slots(v, ports);
  } else if (auto* o = data.get_if<object>()) {
    for (auto& [k, v] : *o)
      resolve_port_slots(v, ports);
  }
}

} // namespace entangle::detail
