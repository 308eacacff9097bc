#pragma once

// The whole public API of entangle.

#include "entangle/array_buffer.hpp"
#include "entangle/broadcast_channel.hpp"
#include "entangle/context.hpp"
#include "entangle/drop_reason.hpp"
#include "entangle/error.hpp"
#include "entangle/flow_control.hpp"
#include "entangle/message_channel.hpp"
#include "entangle/message_event.hpp"
#include "entangle/message_port.hpp"
#include "entangle/origin.hpp"
#include "entangle/rpc.hpp"
#include "entangle/runtime.hpp"
#include "entangle/shared_worker.hpp"
#include "entangle/trace.hpp"
#include "entangle/transfer.hpp"
#include "entangle/typed.hpp"
#include "entangle/value.hpp"
#include "entangle/window.hpp"
