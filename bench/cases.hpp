#pragma once

// The benchmark cases: raw-CAF baselines (caf_cases.cpp) and their entangle
// counterparts (entangle_cases.cpp). Each returns nanoseconds per operation
// (per round trip, per message, per round, per transfer) or bytes per item.

#include <cstddef>

#include <entangle/value.hpp>

#include "harness.hpp"

namespace bench {

constexpr std::size_t big_payload_bytes = 64 * 1024;

/// The "small object" payload: an object with a string and a number
/// (PERFORMANCE.md's structured-clone target).
inline entangle::value small_object() {
  return entangle::value::obj({{"name", "hello world"}, {"n", 42}});
}

// -- raw CAF -----------------------------------------------------------------
double caf_pingpong_number(std::size_t n);
double caf_pingpong_object(std::size_t n);
double caf_pingpong_bytes(std::size_t n, bool move);
double caf_oneway(std::size_t n);
double caf_fan(std::size_t n, std::size_t rounds);
double caf_handle_rtt(std::size_t transfers);
double caf_idle_actor_bytes(std::size_t n, bool heap);

// -- entangle ------------------------------------------------------------------
enum class payload { number, object, bytes_copied, bytes_transferred };
/// `timed`/`untimed`: a tracer that counts every hook call is set on the
/// runtime (the cost of observing, without recording), with or without
/// timestamps (tracer::timestamps). `recorder`: the stock trace_recorder
/// with its default limits (what `entangle-run --trace` sets).
enum class trace_mode { off, timed, untimed, recorder };
double ent_pingpong(std::size_t n, payload p,
                    trace_mode traced = trace_mode::off);
/// With `mark`, the receiver has a high-water mark of that many messages
/// (0: none; a mark above n is never reached: the flow group).
double ent_oneway(std::size_t n, trace_mode traced = trace_mode::off,
                  std::size_t mark = 0);
/// Whether the library was built with the tracing hooks (-Dtracing=true).
bool ent_tracing_compiled_in();
double ent_fan(std::size_t n, std::size_t rounds);
/// ns per transfer of a port with `queued` messages waiting on it. With
/// `control`, the messages are queued on another, untransferred channel
/// instead (the same work before the timed part, none on the moved port).
double ent_transfer(std::size_t queued, std::size_t transfers,
                    bool control = false);
double ent_idle_port_bytes(std::size_t ports, bool heap);
double ent_idle_context_bytes(std::size_t contexts, bool heap);
/// Prints sizeof of the internal types that make up a port.
void print_sizes();
void print_context_sizes();
// -- scale (scale_cases.cpp) ----------------------------------------------------
/// ns per hop of an `m`-hop ping-pong on one port of a context that owns
/// `k` started ports (never-shipped, or shipped to it by its parent).
double ent_ports_scale(std::size_t k, std::size_t m, bool shipped);
/// ns per message when `k` never-shipped ports hold `m` messages in all.
double ent_unshipped_busy(std::size_t k, std::size_t m);
/// ns per post while nesting `n` ports in transit (top-down: each post
/// into the deepest port so far; bottom-up: the reverse).
double ent_nest(std::size_t n, bool top_down);
/// ns per channel created and closed (both ends) by a context that has
/// spawned `w` dedicated workers, `m` channels in all (a port's end must
/// not scan the context's workers).
double ent_worker_churn(std::size_t w, std::size_t m);
/// The table of ent_worker_churn for `s.scale_workers` (scale group).
void print_worker_churn(const sizes& s);
/// A context sets `n` timeouts of 30 s and clears each at once (an RPC
/// client's pattern: a timeout per call, cleared by the answer). In a fresh
/// process: ns per pair, RSS growth per pair, and ms from the context's
/// end until the runtime stopped.
struct timers_figures {
  double ns = 0;
  double bytes = 0;
  double stop_ms = 0;
};
timers_figures ent_timer_churn(std::size_t n);
/// Heap left in use per ended worker while its creator lives: workers
/// that end at once (`plain`), and ones that set and clear a 30 s timeout
/// first (`timed`); ns per worker spawned and ended (the plain run).
struct ended_figures {
  double plain_bytes = 0;
  double timed_bytes = 0;
  double ns = 0;
};
ended_figures ent_ended_workers(std::size_t n);
struct channels_figures {
  double create_ns = 0;      // per channel
  double close_ns = 0;       // per channel (both ends)
  double bytes_per_port = 0; // RSS
};
channels_figures ent_channels(std::size_t n);
struct contexts_figures {
  double spawn_ns = 0;          // per context
  double bytes_per_context = 0; // RSS
  double round_ns = 0;          // per hop of a round through all of them
};
/// A chain of `n` dedicated workers (raw CAF: of `n` actors), each spawned
/// by the one before; a round goes down the chain and back up.
contexts_figures ent_contexts(std::size_t n);
contexts_figures caf_contexts(std::size_t n);

// -- flow control (flow_cases.cpp) ----------------------------------------------
/// ns per chunk of `n` chunks through a stream whose reader has `mark`.
double ent_stream_oneway(std::size_t n, std::size_t mark);
/// Growth of the peak RSS (bytes) while a producer floods `n` 1 KiB
/// messages into a slower consumer, ignoring backpressure; with `mark`
/// (0: no limit) the posts past the hard limit are refused.
double ent_flood_peak_rss(std::size_t n, std::size_t mark);

/// entangle's wake-ups so far that went as an allocated CAF message
/// because the context's reusable element was queued (wake_element.hpp).
std::uint64_t wake_fallbacks();
/// Contexts whose actor CAF destroyed so far (sizes.cpp reads it).
std::uint64_t contexts_destroyed();

} // namespace bench
