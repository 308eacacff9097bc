#pragma once

// RPC over ports, in the spirit of Comlink: `rpc::expose` a table of named
// functions on one end of a channel, `rpc::wrap` the other end into a
// `rpc::remote` whose calls return `rpc::promise`s.
//
//   // in the service's context
//   rpc::expose(port, {{"add", [](double a, double b) { return a + b; }}});
//   // in the caller's context
//   auto calc = rpc::wrap(other_port, std::chrono::seconds{1});
//   calc.call("add", {2, 3}).then([](value& v) { /* 5 */ },
//                                 [](const error_value& e) { /* ... */ });
//
// Wire protocol. It rides on ordinary port messages (structured-clone
// values), so it keeps every port guarantee (FIFO, transfer, close):
//
//   call     {"rpc": "call", "id": <number>, "method": <string>,
//             "args": [<value>...]}                 caller -> service
//   return   {"rpc": "return", "id": <number>, "value": <value>}
//   throw    {"rpc": "throw", "id": <number>,
//             "error": {"name": <string>, "message": <string>}}
//                                                   service -> caller
//   callback {"rpc": "proxy", "port": <port>}      in place of an argument
//             passed with `rpc::proxy(fn)`: the port (in the call's transfer
//             list) is the service's end of a fresh channel on which the
//             caller exposes {"": fn}; calling it is a call of method "".
//
// Ids are chosen by the caller, unique per remote; an answer with an
// unknown id (one that already timed out) is ignored. The transfer list of
// a call or an answer carries the ports and buffers its arguments or
// result move. Release is the port's close: the service sees `close` and
// closes its end; the caller's pending calls fail with `AbortError` when the
// service's end closes (or its context ends). A message on an exposed port
// that is not a call is answered with a `TypeError` throw when it has an
// id, else ignored with a warning.

#include "entangle/rpc/promise.hpp"
#include "entangle/rpc/remote.hpp"
#include "entangle/rpc/service.hpp"
