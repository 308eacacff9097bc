#pragma once

// An owner thread of the stress harness (see world.hpp).

#include "world.hpp"

namespace entangle::stress {

// -- an owner thread ----------------------------------------------------------

/// A "context": the owner-side protocol of context_core on a plain thread.
/// Scenarios derive from it and decide when to start, post, transfer, close.
class owner : public unshipped_sink {
public:
  owner(world& w, int id, std::uint64_t seed)
    : self_(w.handles.actors[static_cast<std::size_t>(id)]), rng_(seed),
      w_(w), id_(id) {
  }

  virtual ~owner() = default;

  // -- counters (read by the main thread after join) --------------------------

  std::vector<std::string> errors;
  std::uint64_t posted = 0;        // post() calls
  std::uint64_t dropped_here = 0;  // drop() calls on our own messages
  std::uint64_t received = 0;      // data messages popped
  std::uint64_t transfers = 0;     // ends shipped to another owner
  std::uint64_t stale_hints = 0;   // hints that found nothing for us

  int id() const {
    return id_;
  }

  bool stopped() const {
    return w_.stop.load();
  }

  bool owns(int e) const {
    return std::find(owned_.begin(), owned_.end(), e) != owned_.end();
  }
  const std::vector<int>& owned() const {
    return owned_;
  }

  /// Handles everything in the inbox; waits up to `wait` if it is empty.
  void process(std::chrono::microseconds wait) {
    // A turn ends here, as a context's does: staged posts go over before
    // this owner waits (post_stage).
    port_scheduler::flush_stage();
    for (auto& item : w_.boxes[static_cast<std::size_t>(id_)]->take(wait)) {
      switch (item.k) {
        case work::kind::adopt:
          accept(std::move(item.rec));
          break;
        case work::kind::drain:
          if (auto rec = item.weak.lock())
            drain(rec, item.epoch, batch);
          break;
        case work::kind::unshipped:
          on_unshipped();
          break;
      }
    }
  }

protected:
  /// Called after adopting end `e` (from a transfer or a received message).
  virtual void on_adopted(int e) {
    start(e);
  }

  /// Called after end `e` popped its close sentinel.
  virtual void on_close_event(int e) {
    close(e);
  }

  void error(const std::string& what) {
    if (errors.size() < 20)
      errors.push_back("owner " + std::to_string(id_) + ": " + what);
  }

  end_state& end(int e) {
    return w_.ends[static_cast<std::size_t>(e)];
  }

  std::size_t rand(std::size_t n) {
    return n == 0 ? 0 : static_cast<std::size_t>(rng_() % n);
  }

  /// The `k`-th owner other than this one (k < number of owners - 1).
  int other_owner(std::size_t k) const {
    auto to = static_cast<int>(k);
    return to >= id_ ? to + 1 : to;
  }

  int random_owned() {
    return owned_[rand(owned_.size())];
  }

  void accept(record_ptr rec) {
    int e = w_.index_of(rec.get());
    if (e < 0 || owns(e)) {
      error("adopted an unknown or already owned record");
      return;
    }
    auto& s = end(e);
    s.epoch = w_.sched.adopt(*rec, self_, nullptr);
    s.rec = std::move(rec);
    s.started = false;
    ++s.adopted;
    owned_.push_back(e);
    on_adopted(e);
  }

  void start(int e) {
    auto& s = end(e);
    if (s.started)
      return;
    unhold(e);
    s.started = true;
    if (auto r = w_.sched.start(s.rec, s.epoch); r.head_stamp != 0)
      note_unshipped(s.rec, s.epoch, r.head_stamp);
  }

  /// Ships end `e` (IN TRANSIT); the caller puts the record somewhere.
  record_ptr ship(int e) {
    forget(e);
    auto& s = end(e);
    w_.sched.ship(*s.rec);
    s.started = false;
    return std::move(s.rec);
  }

  /// Ships end `e` directly to owner `to` (a transfer outside any message).
  void transfer(int e, int to) {
    auto rec = ship(e);
    ++transfers;
    w_.boxes[static_cast<std::size_t>(to)]->push(
      work{work::kind::adopt, {}, std::move(rec), 0});
  }

  /// Posts the next data message of end `e`, carrying `ports` (in transit).
  void post(int e, std::vector<record_ptr> ports = {}) {
    auto& s = end(e);
    serialized_message msg;
    msg.data = bigint{static_cast<std::int64_t>(
      (static_cast<std::uint64_t>(e) << 32) | s.sent++)};
    msg.ports = std::move(ports);
    ++posted;
    w_.sched.post(*s.rec, std::move(msg));
  }

  /// Drops a message of ours that carries `ports` (like a doomed post):
  /// the scheduler counts it and closes the ports.
  void drop_carrying(std::vector<record_ptr> ports, drop_reason why) {
    serialized_message msg;
    msg.data = bigint{-1};
    msg.ports = std::move(ports);
    ++dropped_here;
    w_.sched.drop(std::move(msg), why);
  }

  void close(int e) {
    forget(e);
    auto& s = end(e);
    s.closed_by_owner = true;
    auto rec = std::move(s.rec);
    w_.sched.close(rec, drop_reason::closed);
  }

  /// Keeps owned end `e` unstarted for now.
  void hold(int e) {
    held_.push_back(e);
  }

  void start_one_held() {
    if (!held_.empty())
      start(held_[rand(held_.size())]);
  }

  void start_all() {
    while (!held_.empty())
      start(held_.back());
  }

  std::size_t batch = 8; // small, so batches end and re-hint often

  /// Tokens must dispatch in stamp order (see home_owner).
  bool strict_order = false;

private:
  void forget(int e) {
    if (lease_.e == e) {
      // Undelivered messages of the current batch go back in front of the
      // queue before the end changes hands or closes (context_core::lease).
      entangle::detail::envelope_queue::batch rest;
      lease_.items.give_rest(rest);
      w_.sched.unpop(*end(e).rec, rest);
      lease_.e = -1;
    }
    auto i = std::find(owned_.begin(), owned_.end(), e);
    *i = owned_.back();
    owned_.pop_back();
    unhold(e);
  }

  void unhold(int e) {
    auto i = std::find(held_.begin(), held_.end(), e);
    if (i != held_.end()) {
      *i = held_.back();
      held_.pop_back();
    }
  }

public:
  int sink_id() const override {
    return id_;
  }

  /// context_core::note_unshipped: never-shipped end `rec` went from empty
  /// to holding the message stamped `stamp`.
  void note_unshipped(const record_ptr& rec, std::uint64_t epoch,
                      std::uint64_t stamp) override {
    int e = w_.index_of(rec.get());
    if (e < 0) {
      error("unshipped hint for an unknown record");
      return;
    }
    heads_.push_back(head{stamp, epoch, e});
    std::push_heap(heads_.begin(), heads_.end(), std::greater<>{});
    if (!unshipped_wake_) {
      unshipped_wake_ = true;
      w_.boxes[static_cast<std::size_t>(id_)]->push(
        work{work::kind::unshipped, {}, nullptr, 0});
    }
  }

private:
  /// context_core::on_unshipped: the oldest heads of the never-shipped
  /// ports, a batch per wake-up. (Ports that got shipped since drain on
  /// hints; their entries are stale.)
  void on_unshipped() {
    for (std::size_t n = 0; n < batch && !heads_.empty();) {
      std::pop_heap(heads_.begin(), heads_.end(), std::greater<>{});
      auto h = heads_.back();
      heads_.pop_back();
      if (!owns(h.e) || end(h.e).epoch != h.epoch)
        continue; // moved away or closed since
      envelope env;
      std::uint64_t next = 0;
      if (w_.sched.pop_unshipped(*end(h.e).rec, h.epoch, h.stamp, env, next)
          != pop_result::item)
        continue;
      if (next != 0) {
        heads_.push_back(head{next, h.epoch, h.e});
        std::push_heap(heads_.begin(), heads_.end(), std::greater<>{});
      }
      ++n;
      if (env.stamp == 0 || (strict_order && env.stamp <= last_stamp_))
        error("unshipped order: stamp " + std::to_string(env.stamp)
              + " after " + std::to_string(last_stamp_));
      last_stamp_ = env.stamp;
      deliver(h.e, std::move(env));
    }
    if (heads_.empty())
      unshipped_wake_ = false;
    else
      w_.boxes[static_cast<std::size_t>(id_)]->push(
        work{work::kind::unshipped, {}, nullptr, 0});
  }

  /// context_core::on_ready for one record.
  void drain(const record_ptr& rec, std::uint64_t epoch, std::size_t max) {
    int e = w_.index_of(rec.get());
    if (e < 0) {
      error("hint for an unknown record");
      return;
    }
    if (!owns(e) || end(e).epoch != epoch) {
      // Moved away, closed or re-adopted since: the pop must say stale.
      entangle::detail::envelope_queue::batch got;
      bool drained = false;
      if (w_.sched.pop_batch(*rec, epoch, got, 1, drained) == pop_result::item)
        error("pop with a stale epoch returned a message (end "
              + std::to_string(e) + ")");
      ++stale_hints;
      return;
    }
    // One lock round takes the batch; what a delivery's action (close,
    // transfer) leaves undelivered is given back in forget().
    bool drained = false;
    lease_.items.clear();
    if (w_.sched.pop_batch(*rec, epoch, lease_.items, max, drained)
        != pop_result::item)
      return;
    lease_.e = e;
    while (lease_.e == e && lease_.items.left() > 0) {
      envelope env = std::move(lease_.items.take());
      deliver(e, std::move(env));
    }
    if (lease_.e == e) {
      lease_.e = -1;
      if (!drained && max > 1 && owns(e) && w_.sched.needs_rehint(*rec, epoch))
        w_.boxes[static_cast<std::size_t>(id_)]->push(
          work{work::kind::drain, rec, nullptr, epoch});
    }
  }

  void deliver(int e, envelope&& env) {
    auto& s = end(e);
    if (env.is_close) {
      if (++s.closes > 1)
        error("end " + std::to_string(e) + " popped a second close sentinel");
      on_close_event(e);
      return;
    }
    if (s.closes > 0)
      error("end " + std::to_string(e) + " popped a message after close");
    ++received;
    auto* v = env.msg.data.get_if<bigint>();
    if (v == nullptr || v->sign() < 0) {
      error("end " + std::to_string(e) + " popped a message without a seq");
    } else {
      auto bits = v->to<std::uint64_t>();
      auto from = static_cast<int>(bits >> 32);
      auto seq = bits & 0xffffffffu;
      if (from != (e ^ 1))
        error("end " + std::to_string(e) + " popped a message of end "
              + std::to_string(from));
      else if (seq != s.recvd)
        error("end " + std::to_string(e) + " FIFO: expected seq "
              + std::to_string(s.recvd) + ", got " + std::to_string(seq));
      s.recvd = seq + 1;
    }
    // Adopt what it carried (as context_core::dispatch does).
    for (auto& rec : env.msg.ports)
      if (rec)
        accept(std::move(rec));
    env.msg.ports.clear();
  }

  /// The batch being delivered (see drain).
  struct {
    int e = -1;
    entangle::detail::envelope_queue::batch items;
  } lease_;
  caf::actor self_;
  std::mt19937_64 rng_;
  std::vector<int> owned_;
  struct head { // the combined order of never-shipped ports (a min-heap)
    std::uint64_t stamp;
    std::uint64_t epoch;
    int e;
    bool operator>(const head& other) const noexcept {
      return stamp > other.stamp;
    }
  };
  std::vector<head> heads_;
  bool unshipped_wake_ = false;
  std::vector<int> held_;      // owned, not started yet
  std::uint64_t last_stamp_ = 0;

protected:
  world& w_;
  const int id_;
};

} // namespace entangle::stress
