#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "entangle/message_port.hpp"
#include "entangle/transfer.hpp"
#include "entangle/value.hpp"
#include "base/caf_compat.hpp"
#include "ports/serialized_message.hpp"

namespace entangle::detail {

class port_object;

/// The posting side, as structured clone needs it: which context is
/// posting (a transferred port must be its own) and how that context ships
/// a port it owns (detaches the object, returns its record IN TRANSIT).
/// A plain callback keeps this layer below the contexts that provide it.
struct clone_sender {
  std::uint64_t context_id;
  void* context;
  record_ptr (*ship)(void* context, port_object& port);
};

/// HTML StructuredSerializeWithTransfer, in two phases so that a failure
/// changes nothing:
///
/// 1. validate + serialize: checks the transfer list (null items,
///    duplicates, the source port, detached or foreign items) and writes
///    `message` into fresh storage as plain, acyclic data (graph nodes and
///    views as definitions, later occurrences of a node or buffer as
///    references to its number); throws `type_error` / `DataCloneError`.
/// 2. commit (only after 1 succeeded): moves the bytes of transferred
///    buffers (detaching the sources) and ships transferred ports (their
///    handles become detached at once; their records go IN TRANSIT inside
///    the returned message).
///
/// `source` is the posting port (nullptr for posts that have none).
serialized_message serialize_with_transfer(const clone_sender& from,
                                           const value& message,
                                           const transfer_list& transfer,
                                           const port_object* source,
                                           std::size_t max_depth);

/// Whether `message`'s clone is its plain C++ copy (a primitive, or a tree
/// of Arrays and Objects of them within `max_depth`): then a sender that
/// owns the value may move it into the message instead of copying it.
bool plain_tree(const value& x, std::size_t depth, std::size_t max_depth);
inline bool clones_as_copy(const value& message, std::size_t max_depth) {
  return message.var().index() <= value::last_simple_index
         || plain_tree(message, 0, max_depth);
}

/// The receiver side's checks that make deserialization fail (`messageerror`
/// instead of `message`). Returns the reason, or nullopt when receivable.
std::optional<std::string> check_receivable(std::size_t buffer_bytes,
                                            std::size_t max_buffer_bytes);

/// StructuredDeserialize, in place: turns the in-flight form `data` (see
/// src/values/clone_def.hpp) into the receiver's value. Port slots become
/// the received `ports`, definitions become fresh graph nodes and views,
/// and references become the object defined under their number, so
/// sharing and cycles come back. Needed only when the message's
/// `needs_rebuild` is set.
void rebuild(value& data, const std::vector<message_port>& ports);

/// The same for a form that stays shared (BroadcastChannel deserializes
/// one payload once per destination): copies it with fresh buffers first.
value rebuild_copy(const value& form);

/// Whether `form` (from an untrusted decoder: another process) rebuilds
/// with `ports` ports: a dry run of `rebuild` on a copy. Returns why not,
/// or nullopt.
std::optional<std::string> check_form(const value& form, std::size_t ports);

/// Which of `count` port slots `form` references (structured_clone closes
/// the transferred ports its result cannot reach).
std::vector<bool> referenced_port_slots(const value& form, std::size_t count);

} // namespace entangle::detail
