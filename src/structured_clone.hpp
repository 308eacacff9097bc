#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "entangle/message_port.hpp"
#include "entangle/transfer.hpp"
#include "entangle/value.hpp"
#include "serialized_message.hpp"

namespace entangle::detail {

class context_core;
class port_object;

/// HTML StructuredSerializeWithTransfer, in two phases so that a failure
/// changes nothing:
///
/// 1. validate + serialize: checks the transfer list (null items,
///    duplicates, the source port, detached or foreign items) and deep-copies
///    `message` into fresh storage; throws `type_error` / `DataCloneError`.
/// 2. commit (only after 1 succeeded): moves the bytes of transferred
///    buffers (detaching the sources) and ships transferred ports (their
///    handles become detached at once; their records go IN TRANSIT inside
///    the returned message).
///
/// `source` is the posting port (nullptr for posts that have none).
serialized_message serialize_with_transfer(context_core& ctx,
                                           const value& message,
                                           const transfer_list& transfer,
                                           const port_object* source,
                                           std::size_t max_depth);

/// The receiver side's checks that make deserialization fail (`messageerror`
/// instead of `message`). Returns the reason, or nullopt when receivable.
std::optional<std::string> check_receivable(std::size_t buffer_bytes,
                                            std::size_t max_buffer_bytes);

/// Replaces every `port_slot` in `data` by the matching received port.
void resolve_port_slots(value& data, const std::vector<message_port>& ports);

} // namespace entangle::detail
