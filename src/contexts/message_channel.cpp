#include "entangle/message_channel.hpp"

#include "contexts/context_core.hpp"
#include "entangle/error.hpp"

namespace entangle {

message_channel::message_channel() {
  auto* ctx = detail::current_core();
  if (ctx == nullptr)
    throw dom_exception(std::string{error_name::invalid_state},
                        "message_channel must be created by code running in "
                        "a context (its init function or a handler)");
  auto [a, b] = ctx->sched().make_pair();
  port1_ = ctx->adopt_port(std::move(a));
  port2_ = ctx->adopt_port(std::move(b));
}

} // namespace entangle
