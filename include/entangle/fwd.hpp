#pragma once

// Forward declarations of entangle's public types.

#include <cstdint>
#include <functional>

namespace entangle {

class array_buffer;
class bigint;
class boxed_primitive;
class context;
class data_view;
class dom_exception;
class message_channel;
class message_port;
class regexp;
class runtime;
class shared_array;
class shared_object;
class transferable;
class typed_array;
class value;
class value_map;
class value_set;
class worker;
struct message_event;
struct runtime_config;
struct structured_serialize_options;

/// Handler for `message`, `messageerror` and `close` events. A `close` event
/// is a `message_event` whose `type` is "close" and whose other fields are
/// empty. The event may be modified (e.g. its data moved out).
using event_handler = std::function<void(message_event&)>;

/// A context's init function: runs once, inside the new context, before any
/// event is dispatched to it (the web's "top-level script").
using init_function = std::function<void(context&)>;

/// Returned by `add_event_listener`; pass it to `remove_event_listener`.
using listener_id = std::uint64_t;

namespace detail {
class context_core;
class port_object;
class port_scheduler;
struct port_record;
} // namespace detail

} // namespace entangle
