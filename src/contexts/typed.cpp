#include "entangle/typed.hpp"

#include <caf/actor_system.hpp>
#include <caf/detail/pretty_type_name.hpp>
#include <caf/uniform_type_info_map.hpp>
#include <fmt/format.h>

#include "contexts/context_core.hpp"
#include "contexts/world.hpp"
#include "entangle/error.hpp"
#include "clone/structured_clone.hpp"

namespace entangle::detail {

const std::string& registered_name(const std::type_info& type,
                                   bool for_handler) {
  auto* cur = current_core();
  if (cur == nullptr)
    throw dom_exception(std::string{error_name::invalid_state},
                        "typed messages are posted and handled inside a "
                        "context");
  auto& types = cur->system().types();
  const auto& name = types.portable_name(0, &type);
  if (name == types.default_type_name())
    // CAF 0.17 would send such a type as an empty message without a word;
    // say what is missing instead.
    throw dom_exception(
      for_handler ? "NotSupportedError" : std::string{error_name::data_clone},
      fmt::format("{} is not registered as a message type: call "
                  "runtime_config::add_message_type<T>(\"portable::name\") "
                  "before starting the runtime",
                  caf::detail::pretty_type_name(type)));
  return name;
}

void post_typed(const message_port& port, const std::string& name,
                std::vector<char> bytes, const transfer_list& transfer) {
  auto* home = owner_core(port.object(), "post_typed", true);
  if (home == nullptr)
    return;
  auto* p = port.object().get();
  for (std::size_t i = 0; i < transfer.size(); ++i)
    if (transfer[i].buffer() != nullptr)
      throw dom_exception(
        std::string{error_name::data_clone},
        fmt::format("transfer list item {} is an ArrayBuffer: a typed "
                    "message carries its bytes inside the object, only "
                    "ports travel alongside it",
                    i));
  auto& ctx = *home;
  // Flow control first: a refused post must change nothing.
  std::uint32_t size = 0;
  if (p->record)
    if (auto* f = port_scheduler::peer_flow(*p->record))
      size = port_scheduler::admit_from(*p->record, *f,
                                        bytes.size() + name.size());
  // The value part is empty; this validates the transfer list and ships
  // the ports exactly as a value post does (nothing changes on failure).
  auto msg = ctx.serialize(value{}, transfer, p);
  msg.typed = std::make_unique<typed_payload>(
    typed_payload{name, std::move(bytes), {}});
  ctx.post_serialized(*p, std::move(msg), size);
}

void set_typed_handler(const message_port& port, const std::string& name,
                       typed_decoder fn) {
  auto* p = owned(port.object(), "on_typed", false);
  if (p == nullptr || p->detached.load(std::memory_order_relaxed))
    return;
  p->events.set_typed(name, std::move(fn));
  // Like setting onmessage: a handler means "deliver to me".
  current_core()->start_port(*p);
}

void throw_encode_error(const std::type_info& type, const caf::error& err) {
  throw dom_exception(std::string{error_name::data_clone},
                      fmt::format("{} could not be serialized: {}",
                                  caf::detail::pretty_type_name(type),
                                  caf::to_string(err)));
}

void throw_decode_error(const std::string& name, const std::string& why) {
  throw std::runtime_error(
    fmt::format("a typed message '{}' could not be decoded: {}", name, why));
}

} // namespace entangle::detail
