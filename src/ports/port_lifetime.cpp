// The lifetimes of a port's parts: the pair block (both records and their
// first objects, port_object.hpp), a record's lazily made extras, a
// dropped message and a destroyed record as the scheduler counts them, and
// a serialized message's carried ports (closed if it dies undelivered).

#include "ports/port_record.hpp"

#include "ports/port_object.hpp"
#include "ports/port_scheduler.hpp"

namespace entangle::detail {

port_block::~port_block() {
  // Reads `transit` and `closed`: before the record's extras_ go.
  first.sched->record_destroyed(this);
}

port_record::~port_record() {
  if (auto* x = extras_.load(std::memory_order_acquire)) {
    delete x->flow.load(std::memory_order_relaxed);
    delete x;
  }
}

port_record::extras_block& port_record::extras() {
  auto* x = extras_.load(std::memory_order_acquire);
  if (x != nullptr)
    return *x;
  auto* fresh = new extras_block;
  if (extras_.compare_exchange_strong(x, fresh, std::memory_order_acq_rel,
                                      std::memory_order_acquire))
    return *fresh;
  delete fresh; // the other writer made it first
  return *x;
}

// -- the ends of messages and records ----------------------------------------

void port_scheduler::drop(serialized_message&& msg, drop_reason why) {
  if (!msg.splice_marker)
    count_drop(why);
  serialized_message doomed = std::move(msg);
  doomed.fate = why;
  // ~serialized_message closes every port it carried.
}

void port_scheduler::record_destroyed(port_record* rec) noexcept {
  if (rec->transit(std::memory_order_acquire) != nullptr) {
    std::lock_guard<std::mutex> transit{transit_mu_};
    forest_.forget(*rec);
  }
  if (!rec->closed) // the last reference: no lock needed
    open_.fetch_sub(1, std::memory_order_acq_rel);
  live_.fetch_sub(1, std::memory_order_acq_rel);
}

// -- serialized_message ------------------------------------------------------

serialized_message&
serialized_message::operator=(serialized_message&& other) noexcept {
  if (this != &other) {
    if (!ports.empty())
      release_ports();
    data = std::move(other.data);
    ports = std::move(other.ports);
    buffer_bytes = other.buffer_bytes;
    needs_rebuild = other.needs_rebuild;
    fate = other.fate;
    splice_marker = other.splice_marker;
    typed = std::move(other.typed);
#if ENTANGLE_TRACING
    trace_id = other.trace_id;
#endif
  }
  return *this;
}

void serialized_message::release_ports() noexcept {
  // Ports still here were never adopted: the message is being dropped.
  for (auto& rec : ports)
    if (rec)
      rec->sched().close(rec, fate);
  ports.clear();
}

} // namespace entangle::detail
