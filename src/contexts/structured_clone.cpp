// The public structured_clone(): serialize with transfer, then receive in
// the same context (adopting the shipped ports again).

#include "entangle/structured_clone.hpp"

#include "clone/structured_clone.hpp"
#include "contexts/context_core.hpp"
#include "contexts/world.hpp"
#include "entangle/error.hpp"
#include "entangle/runtime.hpp"

namespace entangle {

value structured_clone(const value& x, const transfer_list& transfer) {
  auto* core = detail::current_core();
  detail::serialized_message msg;
  std::size_t max_buffer_bytes = 0;
  if (core != nullptr) {
    msg = core->serialize(x, transfer, nullptr);
    max_buffer_bytes = core->rt().cfg.max_buffer_bytes;
  } else {
    // No context: context id 0 owns no port, so any port in `transfer` is
    // a DataCloneError before anything would be shipped.
    detail::clone_sender nobody{0, nullptr,
                                [](void*, detail::port_object&) {
                                  return detail::record_ptr{};
                                }};
    msg = detail::serialize_with_transfer(nobody, x, transfer, nullptr,
                                          runtime_config{}.max_clone_depth);
  }
  if (auto err = detail::check_receivable(msg.buffer_bytes, max_buffer_bytes))
    throw dom_exception(std::string{error_name::data_clone}, *err);
  std::vector<message_port> ports;
  if (!msg.ports.empty()) {
    auto used = detail::referenced_port_slots(msg.data, msg.ports.size());
    ports.reserve(msg.ports.size());
    for (auto& rec : msg.ports)
      ports.push_back(core->adopt_port(std::move(rec)));
    msg.ports.clear();
    for (std::size_t i = 0; i < ports.size(); ++i)
      if (!used[i])
        ports[i].close();
  }
  value out = std::move(msg.data);
  if (msg.needs_rebuild)
    detail::rebuild(out, ports);
  return out;
}

value structured_clone(const value& x,
                       const structured_serialize_options& options) {
  return structured_clone(x, options.transfer);
}

} // namespace entangle
