// The port scheduler's trace helpers (compiled only with the tracing
// hooks): a traced post's entry, event and id, the posts that are not at
// a port (window, BroadcastChannel), and drops. The traced post itself is
// port_scheduler.cpp's post_impl<true>.

#include "ports/port_scheduler.hpp"

#include "ports/port_object.hpp"

#if ENTANGLE_TRACING

namespace entangle::detail {

namespace {

/// A thread's block of trace ids, of the scheduler `gen` names.
struct trace_id_block {
  std::uint64_t gen = 0;
  std::uint64_t next = 0;
  std::uint64_t end = 0;
};
[[gnu::tls_model("initial-exec")]] thread_local trace_id_block tl_trace_ids;
constexpr std::uint64_t trace_id_block_size = 1024;

} // namespace

std::uint64_t port_scheduler::new_trace_gen() noexcept {
  static std::atomic<std::uint64_t> gens{1};
  return gens.fetch_add(1, std::memory_order_relaxed);
}

port_scheduler::post_trace
port_scheduler::begin_post_trace(entangle::tracer& t, std::size_t ports,
                                 const value& data) noexcept {
  // One clock read: a post is an instant (see trace_post::begin).
  return {&t, {take_trace_id(), data.type_name(), t.now()}, ports};
}

trace_post
port_scheduler::post_trace::event(const port_record& src) const noexcept {
  trace_post ev;
  ev.begin = ev.end = item.at;
  ev.message = item.message;
  ev.context = src.obj ? src.obj->ctx_id : 0;
  ev.port = src.id;
  ev.ports = ports;
  ev.type = item.type;
  return ev;
}

std::uint64_t port_scheduler::take_trace_id() noexcept {
  auto& b = tl_trace_ids;
  if (__builtin_expect(b.gen != trace_gen_ || b.next == b.end, 0)) {
    b.gen = trace_gen_;
    b.next = next_trace_id_.fetch_add(trace_id_block_size,
                                      std::memory_order_relaxed);
    b.end = b.next + trace_id_block_size;
  }
  return b.next++;
}

// Here with begin_post_trace, which they inline (a traced post's event
// was two calls deep, a fifth of what a trace added to a post).
void port_scheduler::post_value_traced(port_record& src, value&& v,
                                       std::uint32_t bytes) {
  auto tr = begin_post_trace(*tracer, 0, v);
  post_impl<true>(src, std::move(v), bytes, &tr);
}

void port_scheduler::post_serialized_traced(port_record& src,
                                            serialized_message&& msg,
                                            std::uint32_t bytes) {
  auto tr = begin_post_trace(*tracer, msg.ports.size(), msg.data);
  msg.trace_id = tr.item.message;
  post_impl<true>(src, std::move(msg), bytes, &tr);
}

std::uint64_t port_scheduler::trace_other_post(std::uint64_t target,
                                               const char* type,
                                               std::size_t ports) {
  trace_post ev;
  ev.begin = ev.end = tracer->now();
  ev.message = take_trace_id();
  ev.context = trace_current_context();
  ev.target_context = target;
  ev.ports = ports;
  ev.type = type;
  tracer->on_post(ev);
  return ev.message;
}

void port_scheduler::report_drop(entangle::tracer& t, drop_reason why,
                                 std::uint64_t n) noexcept {
  try {
    t.on_drop(trace_drop{t.now(), trace_current_context(), why, n});
  } catch (...) {
    // nop: a drop is counted whether or not a tracer can record it
  }
}

} // namespace entangle::detail

#endif
