#pragma once

// The RPC wire protocol (documented in include/entangle/rpc.hpp): building
// and reading the values that travel on the port.

#include <optional>
#include <string>
#include <string_view>

#include "entangle/message_port.hpp"
#include "entangle/value.hpp"

namespace entangle::rpc::wire {

value call(double id, std::string method, array args);
value answer_value(double id, value v);
value answer_error(double id, const error_value& e);
value proxy_marker(const message_port& port);

/// Asks the service to stop call `id` (its abort signal fires with
/// `reason`; a result it still produces is discarded).
value cancel(double id, const error_value& reason);

struct parsed_cancel {
  double id = 0;
  error_value reason;
};

std::optional<parsed_cancel> parse_cancel(const value& v);

/// The port of a marker {"rpc": tag, "port": port}, or nullptr.
const message_port* marker_port(const value& v, std::string_view tag);

/// The port inside a callback marker, or nullptr.
const message_port* proxy_port(const value& v);

struct parsed_call {
  double id = 0;
  std::string method;
  array args;
};

/// Reads a call, moving its arguments out of `v`. On a malformed message
/// returns nullopt and sets `why` (and `id` if the message had one).
std::optional<parsed_call> parse_call(value& v, std::optional<double>& id,
                                      std::string& why);

struct parsed_answer {
  double id = 0;
  bool ok = true;
  /// The value (ok) or the error object.
  value payload;
};

std::optional<parsed_answer> parse_answer(value& v);

/// Checks that `port` can carry the protocol: not null, owned by the running
/// context, neither closed nor transferred. @throws type_error,
/// dom_exception `InvalidStateError` (`op` names the caller).
void check_usable(const message_port& port, const char* op);

/// The error carried by a "throw" answer (tolerant of a malformed one).
error_value to_error(const value& payload);

} // namespace entangle::rpc::wire
