#pragma once

#include "entangle/promise.hpp"

namespace entangle::rpc {

/// What a remote call returns by default: a promise of a `value`. Typed
/// calls (`remote::call<R>`) return `entangle::promise<R>`. The promise
/// itself is documented in `entangle/promise.hpp`.
using promise = entangle::promise<value>;

} // namespace entangle::rpc
