#pragma once

#include "entangle/transfer.hpp"
#include "entangle/value.hpp"

namespace entangle {

/// The web's global `structuredClone(value, {transfer})`: serializes `x` as
/// `post_message` would and deserializes it at once, here.
///
/// The result shares nothing with `x` (fresh buffers, fresh graph nodes
/// with the same sharing and cycles). Inside a context, `transfer` works
/// as for a post: listed buffers move into the result and every handle to
/// the source is detached; listed ports (this context's own) are detached
/// and the result refers to new handles of the same ports; a transferred
/// port the result does not mention is closed, since nothing could ever
/// reach it. Outside any context it clones values without ports, with the
/// default nesting limit (256).
///
/// @throws type_error for a null port in `transfer`.
/// @throws dom_exception `DataCloneError` where `post_message` throws it,
///         and when the context's `max_buffer_bytes` refuses the buffers
///         (structuredClone throws what a receiver would report as
///         messageerror); transferred items are lost then, as on the web.
value structured_clone(const value& x, const transfer_list& transfer = {});

/// The options form: `structured_clone(x, {{buffer}})`.
value structured_clone(const value& x,
                       const structured_serialize_options& options);

} // namespace entangle
