#include "port_scheduler.hpp"

#include <vector>

namespace entangle::detail {

port_record::~port_record() {
  sched.record_destroyed();
}

// -- serialized_message ------------------------------------------------------

serialized_message&
serialized_message::operator=(serialized_message&& other) noexcept {
  if (this != &other) {
    release_ports();
    data = std::move(other.data);
    ports = std::move(other.ports);
    buffer_bytes = other.buffer_bytes;
    has_port_slots = other.has_port_slots;
    fate = other.fate;
  }
  return *this;
}

serialized_message::~serialized_message() {
  release_ports();
}

void serialized_message::release_ports() noexcept {
  // Ports still here were never adopted: the message is being dropped.
  for (auto& rec : ports)
    if (rec)
      rec->sched.close(rec, fate);
  ports.clear();
}

// -- port_scheduler ----------------------------------------------------------

port_scheduler::port_scheduler(hint_fn send_hint)
  : send_hint_(std::move(send_hint)) {
  // nop
}

std::pair<std::shared_ptr<port_record>, std::shared_ptr<port_record>>
port_scheduler::make_pair(bool shipped) {
  auto a = std::make_shared<port_record>(*this, port_id::make());
  auto b = std::make_shared<port_record>(*this, port_id::make());
  a->shipped = shipped;
  b->shipped = shipped;
  live_.fetch_add(2, std::memory_order_acq_rel);
  a->peer = b;
  b->peer = a;
  return {std::move(a), std::move(b)};
}

std::uint64_t port_scheduler::adopt(port_record& rec, caf::actor owner,
                                    port_object* obj) {
  std::lock_guard<std::mutex> guard{rec.mu};
  rec.owner = std::move(owner);
  rec.obj = obj;
  rec.started = false;
  rec.hint_pending = false;
  return ++rec.epoch;
}

void port_scheduler::ship(port_record& rec) {
  std::shared_ptr<port_record> peer;
  {
    std::lock_guard<std::mutex> guard{rec.mu};
    rec.owner = nullptr;
    rec.obj = nullptr;
    rec.started = false;
    rec.hint_pending = false;
    rec.shipped = true;
    ++rec.epoch;
    peer = rec.peer;
  }
  if (peer) {
    std::lock_guard<std::mutex> guard{peer->mu};
    peer->shipped = true;
  }
}

bool port_scheduler::enqueue_locked(port_record& dst, envelope&& e) {
  dst.queue.push_back(std::move(e));
  if (!dst.started || !dst.owner)
    return false;
  // A never-shipped target gets one hint per message: its sender is its own
  // context, so the mailbox's FIFO yields one combined posting order across
  // all unshipped ports of that context (HTML §1.3). Shipped ports coalesce
  // hints and drain in batches.
  if (dst.shipped && dst.hint_pending)
    return false;
  dst.hint_pending = true;
  return true;
}

void port_scheduler::post(port_record& src, serialized_message&& msg) {
  std::shared_ptr<port_record> dst;
  drop_reason why;
  {
    std::lock_guard<std::mutex> guard{src.mu};
    dst = src.peer;
    why = src.closed ? drop_reason::closed : src.lost;
  }
  if (!dst) {
    drop(std::move(msg), why);
    return;
  }
  caf::actor wake;
  std::uint64_t epoch = 0;
  {
    std::unique_lock<std::mutex> guard{dst->mu};
    if (dst->closed) {
      guard.unlock();
      drop(std::move(msg), drop_reason::closed);
      return;
    }
    if (enqueue_locked(*dst, envelope{std::move(msg), false})) {
      wake = dst->owner;
      epoch = dst->epoch;
    }
  }
  if (wake)
    send_hint_(wake, std::move(dst), epoch);
}

void port_scheduler::start(const std::shared_ptr<port_record>& rec,
                           std::uint64_t epoch) {
  caf::actor wake;
  std::size_t hints = 0;
  {
    std::lock_guard<std::mutex> guard{rec->mu};
    if (rec->epoch != epoch || rec->closed || !rec->owner)
      return;
    rec->started = true;
    if (!rec->queue.empty() && !rec->hint_pending) {
      rec->hint_pending = true;
      wake = rec->owner;
      // Unshipped ports dispatch one message per hint (see post()).
      hints = rec->shipped ? 1 : rec->queue.size();
    }
  }
  for (std::size_t i = 0; i < hints; ++i)
    send_hint_(wake, rec, epoch);
}

namespace {

struct pending_close {
  std::shared_ptr<port_record> rec;
  drop_reason why;
};

// Closing a port destroys its queued messages, which closes the ports they
// carry, whose queues may carry more ports... Run that as a loop over a
// per-thread work list instead of as recursion.
thread_local std::vector<pending_close>* close_worklist = nullptr;

} // namespace

void port_scheduler::close(const std::shared_ptr<port_record>& rec,
                           drop_reason why) {
  if (close_worklist != nullptr) {
    close_worklist->push_back(pending_close{rec, why});
    return;
  }
  std::vector<pending_close> work;
  close_worklist = &work;
  close_one(rec, why);
  while (!work.empty()) {
    auto item = std::move(work.back());
    work.pop_back();
    close_one(item.rec, item.why);
  }
  close_worklist = nullptr;
}

void port_scheduler::close_one(const std::shared_ptr<port_record>& rec,
                               drop_reason why) {
  std::vector<envelope> dropped;
  std::shared_ptr<port_record> peer;
  {
    std::lock_guard<std::mutex> guard{rec->mu};
    if (rec->closed)
      return;
    rec->closed = true;
    rec->owner = nullptr;
    rec->obj = nullptr;
    rec->hint_pending = false;
    ++rec->epoch;
    peer = std::move(rec->peer);
    rec->lost = why;
    dropped = rec->queue.take_all();
  }
  if (peer) {
    caf::actor wake;
    std::uint64_t epoch = 0;
    {
      std::lock_guard<std::mutex> guard{peer->mu};
      if (!peer->closed && peer->peer == rec) {
        peer->peer.reset();
        peer->lost = why;
        // The sentinel goes behind everything `rec` posted: the peer sees
        // close exactly once, after the last message.
        if (enqueue_locked(*peer, envelope{serialized_message{}, true})) {
          wake = peer->owner;
          epoch = peer->epoch;
        }
      }
    }
    if (wake)
      send_hint_(wake, std::move(peer), epoch);
  }
  // Destroyed here, outside every lock; carried ports land on the worklist.
  for (auto& e : dropped) {
    if (!e.is_close) {
      count_drop(why);
      e.msg.fate = why;
    }
  }
}

port_scheduler::pop_result
port_scheduler::pop(port_record& rec, std::uint64_t epoch, envelope& out,
                    bool& shipped) {
  std::lock_guard<std::mutex> guard{rec.mu};
  if (rec.epoch != epoch || !rec.owner)
    return pop_result::stale;
  if (rec.queue.empty()) {
    rec.hint_pending = false;
    return pop_result::empty;
  }
  shipped = rec.shipped;
  out = rec.queue.pop_front();
  return pop_result::item;
}

bool port_scheduler::needs_rehint(port_record& rec, std::uint64_t epoch) {
  std::lock_guard<std::mutex> guard{rec.mu};
  if (rec.epoch != epoch || !rec.owner)
    return false;
  if (rec.queue.empty()) {
    rec.hint_pending = false;
    return false;
  }
  return true;
}

bool port_scheduler::entangled(port_record& rec) {
  std::lock_guard<std::mutex> guard{rec.mu};
  return rec.peer != nullptr;
}

void port_scheduler::drop(serialized_message&& msg, drop_reason why) {
  count_drop(why);
  serialized_message doomed = std::move(msg);
  doomed.fate = why;
  // ~serialized_message closes every port it carried.
}

drop_counts port_scheduler::drops() const noexcept {
  drop_counts out;
  for (std::size_t i = 0; i < drop_reason_count; ++i)
    out.by_reason[i] = drops_[i].load(std::memory_order_relaxed);
  return out;
}

} // namespace entangle::detail
