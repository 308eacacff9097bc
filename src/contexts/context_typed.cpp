// Delivery of typed messages (include/entangle/typed.hpp): the event layer
// of the one extra payload kind a serialized_message can carry.

#include <fmt/format.h>

#include "contexts/context_core.hpp"
#include "contexts/world.hpp"

namespace entangle::detail {

void context_core::dispatch_typed(port_object& port, serialized_message& msg,
                                  message_event& ev) {
  auto payload = std::move(msg.typed);
  ev.typed = payload->name;
  std::function<void(message_event&)> call;
  std::string why;
  if (!payload->undeliverable.empty()) {
    why = std::move(payload->undeliverable);
  } else if (auto* decode = port.events.typed(payload->name)) {
    try {
      call = (*decode)(context(), payload->bytes);
    } catch (const std::exception& e) {
      why = e.what();
    }
  } else {
    why = fmt::format("no handler for typed message '{}' on this port (set "
                      "one with on_typed<T>)",
                      payload->name);
  }
  if (!call) {
    // What the spec does with data the receiver cannot deserialize: drop
    // it (its ports close), count it, fire messageerror.
    sched_->drop(std::move(msg), drop_reason::messageerror);
    ev.type = "messageerror";
    ev.data = null;
    ev.error = std::move(why);
    fire(port, event_kind::messageerror, ev);
    return;
  }
  receive(msg, ev);
  if (rt_.on_dispatch)
    rt_.on_dispatch(*this, &port, ev);
  call(ev);
}

} // namespace entangle::detail
