// The way in from threads that are not contexts (runtime::connect and
// outside_port): a hidden gateway context owns the outside ends; outside
// threads talk to it with closures and read what its handlers leave in
// each port's shared state. See ingress.hpp.

#include "contexts/ingress.hpp"

#include <algorithm>

#include <caf/actor_cast.hpp>
#include <caf/send.hpp>

#include "base/prune.hpp"
#include "clone/structured_clone.hpp"
#include "contexts/context_core.hpp"
#include "contexts/world.hpp"
#include "entangle/error.hpp"
#include "entangle/flow_control.hpp"
#include "entangle/message_event.hpp"
#include "ports/flow_state.hpp"

namespace entangle::detail {

namespace {

/// Outside ports are for threads that are not contexts: a context would
/// block its event loop (and could wait for itself).
void require_outside(const char* op) {
  if (current_core() != nullptr)
    throw dom_exception(std::string{error_name::invalid_state},
                        std::string{op}
                          + ": outside_port is for threads that are not "
                            "contexts; inside a context use message_port");
}

/// Runs `fn` in the gateway context; false if the gateway is gone (then
/// `fn` is destroyed unrun, which breaks any promise it holds).
bool in_gateway(const outside_state& st, std::function<void()> fn) {
  auto hdl = caf::actor_cast<caf::actor>(st.gateway);
  if (!hdl)
    return false;
  caf::anon_send(hdl, inject_atom::value, injected_fn{std::move(fn)});
  return true;
}

/// Fails everyone waiting on `st` (caller holds st.mu).
void fail_waiters(outside_state& st, const char* why) {
  for (auto& w : st.waiters)
    w.set_exception(std::make_exception_ptr(
      dom_exception(std::string{error_name::invalid_state}, why)));
  st.waiters.clear();
}

void end_locked(outside_state& st, const char* why) {
  st.ended = true;
  fail_waiters(st, why);
  st.cv.notify_all();
}

void attach(world& w, message_port port, std::shared_ptr<outside_state> st);

/// The record of the gateway's end of `st` (gateway thread only).
port_record* gateway_record(outside_state& st) {
  auto& obj = st.port.object();
  return obj ? obj->record.get() : nullptr;
}

/// Gateway thread, st.mu held: counts an inbox entry as unread.
/// `popped_now`: its message was taken from the port in this turn.
void hold_entry(outside_state& st, outside_state::entry& e,
                bool popped_now = false) {
  auto* rec = gateway_record(st);
  if (rec == nullptr || e.held)
    return;
  auto* f = rec->flow(std::memory_order_relaxed);
  e.bytes = f != nullptr && f->mark_bytes.load(std::memory_order_relaxed) != 0
              ? clamp_size(message_size(e.m.data))
              : 0;
  e.held = rec->sched().hold(*rec, e.bytes, popped_now);
}

/// Gateway thread: hands a received message to the outside.
void deliver(world& w, const std::weak_ptr<outside_state>& weak,
             message_event& ev) {
  auto st = weak.lock();
  if (!st)
    return;
  outside_message m;
  m.data = std::move(ev.data);
  for (auto& p : ev.ports) {
    auto inner = std::make_shared<outside_state>();
    inner->gateway = st->gateway;
    inner->max_depth = st->max_depth;
    attach(w, p, inner);
    m.ports.emplace_back(std::move(inner));
  }
  std::size_t ack_now = 0;
  bool acked = false;
  {
    std::lock_guard<std::mutex> guard{st->mu};
    if (st->ended)
      return;
    outside_state::entry e{std::move(m)};
    hold_entry(*st, e, true);
    if (!st->waiters.empty()) {
      // Read at once by a waiting thread.
      acked = e.held;
      ack_now = e.bytes;
      st->waiters.front().set_value(std::move(e.m));
      st->waiters.pop_front();
    } else {
      st->inbox.push_back(std::move(e));
    }
    st->cv.notify_all();
  }
  if (acked)
    if (auto* rec = gateway_record(*st))
      rec->sched().ack(*rec, ack_now);
}

/// Gateway thread: makes `port` (adopted by the gateway) an outside port.
void attach(world& w, message_port port, std::shared_ptr<outside_state> st) {
  st->port = port;
  if (auto& obj = port.object(); obj && obj->record && obj->record->peer())
    // The owner reads its peer link freely; the peer is in the record's
    // port_pair, so a reference to it shares the pair's count.
    st->peer = record_ptr{obj->record, obj->record->peer()};
  {
    std::lock_guard<std::mutex> guard{st->mu};
    st->mark = port.water_mark(); // the runtime's default, if any
  }
  if (auto* rec = gateway_record(*st))
    rec->sched().hold_reads(*rec); // the inbox holds what the port takes
  {
    std::lock_guard<std::mutex> guard{w.mu};
    auto& all = w.outside_ports;
    prune_when_full(all, [](auto& x) { return x.expired(); });
    all.push_back(st);
  }
  std::weak_ptr<outside_state> weak = st;
  port.on_message([&w, weak](message_event& ev) { deliver(w, weak, ev); });
  // A message that failed to deserialize here is read all the same: under
  // hold_reads nothing else would ever count it as read.
  port.on_messageerror([weak](message_event&) {
    if (auto s = weak.lock())
      if (auto* rec = gateway_record(*s))
        rec->sched().ack(*rec, 0);
  });
  port.on_close([weak](message_event&) {
    if (auto s = weak.lock()) {
      std::lock_guard<std::mutex> guard{s->mu};
      end_locked(*s, "the port closed");
    }
  });
  // The context's end has room again: wake threads in wait_ready.
  port.on_ready([weak](message_event&) {
    if (auto s = weak.lock()) {
      std::lock_guard<std::mutex> guard{s->mu};
      s->cv.notify_all();
    }
  });
}

} // namespace

outside_port connect_outside(world& w, std::uint64_t context_id) {
  require_outside("runtime::connect");
  auto st = std::make_shared<outside_state>();
  st->max_depth = w.cfg.max_clone_depth;
  caf::actor target;
  {
    std::lock_guard<std::mutex> guard{w.mu};
    if (auto i = w.live.find(context_id); i != w.live.end())
      target = i->second->actor();
  }
  auto gw = target ? w.gateway() : caf::actor{};
  if (!gw) { // no such context (or the runtime stops): closed at once
    st->ended = true;
    return outside_port{st};
  }
  st->gateway = gw.address();
  auto [inside, outside] = w.sched->make_pair(true);
  st->peer = inside; // before anyone can post (see outside_state)
  auto in_msg = std::make_shared<serialized_message>();
  in_msg->ports.push_back(std::move(inside));
  in_msg->fate = drop_reason::context_gone; // closes it if never delivered
  auto out_msg = std::make_shared<serialized_message>();
  out_msg->ports.push_back(std::move(outside));
  // The gateway adopts its end first, so that a post right after connect
  // (the next closure from this thread) finds it.
  in_gateway(*st, [&w, out_msg, st] {
    auto port = current_core()->adopt_port(std::move(out_msg->ports.at(0)));
    out_msg->ports.clear();
    attach(w, port, st);
  });
  caf::anon_send(target, ingress_atom::value, std::move(in_msg));
  return outside_port{st};
}

void close_outside_ports(world& w) {
  std::vector<std::weak_ptr<outside_state>> all;
  {
    std::lock_guard<std::mutex> guard{w.mu};
    all.swap(w.outside_ports);
  }
  for (auto& weak : all)
    if (auto st = weak.lock()) {
      std::lock_guard<std::mutex> guard{st->mu};
      if (!st->ended)
        end_locked(*st, "the runtime stopped");
    }
}

} // namespace entangle::detail

namespace entangle {

using detail::outside_state;

namespace {

/// The room the context's end has left (caller holds st.mu), counting the
/// posts still on their way to the gateway.
detail::port_scheduler::credit room_locked(outside_state& st) {
  auto peer = st.peer.lock();
  if (!peer || st.ended)
    return {};
  return detail::port_scheduler::room_of(*peer, st.in_flight,
                                         st.in_flight_bytes);
}

/// Admission of an outside post of `message` (caller holds st.mu): throws
/// QuotaExceededError past the peer's hard limit, else counts the post as
/// in flight until the gateway has queued it. Returns its size for the
/// byte mark (0 when the peer has no mark: nothing is measured).
std::uint32_t admit_locked(outside_state& st, const value& message) {
  std::uint32_t bytes = 0;
  if (auto peer = st.peer.lock())
    if (auto* f = peer->flow(std::memory_order_acquire))
      bytes = detail::port_scheduler::admit(
        *f,
        f->mark_bytes.load(std::memory_order_relaxed) ? message_size(message)
                                                      : 0,
        st.in_flight, st.in_flight_bytes);
  ++st.in_flight;
  st.in_flight_bytes += bytes;
  return bytes;
}

/// Takes the inbox's head (caller holds st.mu, inbox not empty); an entry
/// counted against the mark is acked in the gateway, which owns the port.
outside_message take_locked(const std::shared_ptr<outside_state>& st) {
  auto e = std::move(st->inbox.front());
  st->inbox.pop_front();
  if (e.held)
    detail::in_gateway(*st, [self = st, bytes = e.bytes] {
      if (auto* rec = detail::gateway_record(*self))
        rec->sched().ack(*rec, bytes);
    });
  return std::move(e.m);
}

/// The state of `p` if it can still be used; throws for a null handle.
outside_state* usable(const std::shared_ptr<outside_state>& st,
                      const char* op) {
  if (!st)
    throw type_error(std::string{op} + " on a null outside_port");
  detail::require_outside(op);
  return st.get();
}

} // namespace

void outside_port::post_message(value message) const {
  post_message(std::move(message), {});
}

void outside_port::post_message(value message,
                                std::vector<outside_port> transfer) const {
  auto* st = usable(st_, "outside_port::post_message");
  {
    std::lock_guard<std::mutex> guard{st->mu};
    if (st->detached)
      return; // a transferred-away end: inert (its messages are gone too)
  }
  if (transfer.empty()) {
    // No transfer changes the sender: clone here (errors throw here),
    // admit it against the receiver's marks here (QuotaExceededError
    // throws here), post in the gateway, do not wait.
    detail::clone_sender from{0, nullptr, nullptr};
    auto msg = std::make_shared<detail::serialized_message>(
      detail::serialize_with_transfer(from, message, {}, nullptr,
                                      st->max_depth));
    std::uint32_t bytes = 0;
    {
      std::lock_guard<std::mutex> guard{st->mu};
      bytes = admit_locked(*st, message);
    }
    auto ran = detail::in_gateway(*st, [self = st_, msg, bytes] {
      if (auto& obj = self->port.object())
        detail::current_core()->post_serialized(*obj, std::move(*msg), bytes);
      // Queued before it stops counting as in flight: a post the stage
      // kept would be neither (post_stage; today each closure is its own
      // turn and posts once, so it never is).
      detail::port_scheduler::flush_stage();
      std::lock_guard<std::mutex> guard{self->mu};
      --self->in_flight;
      self->in_flight_bytes -= bytes;
      self->cv.notify_all(); // wait_ready sees the post counted now
    });
    if (!ran) {
      std::lock_guard<std::mutex> guard{st->mu};
      --st->in_flight;
      st->in_flight_bytes -= bytes;
    }
    return;
  }
  for (auto& t : transfer) {
    auto* ts = usable(t.st_, "outside_port::post_message");
    std::lock_guard<std::mutex> guard{ts->mu};
    if (!ts->inbox.empty())
      throw dom_exception(std::string{error_name::data_clone},
                          "an outside_port in the transfer list has unread "
                          "messages (they already left its queue): read "
                          "them first");
  }
  // A transfer changes the sender: post in the gateway and wait for it.
  auto done = std::make_shared<std::promise<void>>();
  auto result = done->get_future();
  auto ran = detail::in_gateway(
    *st, [self = st_, done, message = std::move(message), transfer] {
      try {
        transfer_list items;
        for (auto& t : transfer)
          items.emplace_back(t.state()->port);
        self->port.post_message(message, std::move(items));
        for (auto& t : transfer) {
          std::lock_guard<std::mutex> guard{t.state()->mu};
          t.state()->detached = true;
          detail::end_locked(*t.state(), "the port was transferred");
        }
        done->set_value();
      } catch (...) {
        done->set_exception(std::current_exception());
      }
    });
  if (!ran)
    return; // the runtime is gone: inert, like a closed port
  try {
    result.get();
  } catch (const std::future_error&) {
    // The gateway ended before running it: the runtime stopped.
  }
}

std::optional<outside_message>
outside_port::receive(std::chrono::milliseconds timeout) const {
  auto* st = usable(st_, "outside_port::receive");
  std::unique_lock<std::mutex> guard{st->mu};
  st->cv.wait_for(guard, timeout,
                  [st] { return !st->inbox.empty() || st->ended; });
  if (st->inbox.empty())
    return std::nullopt;
  return take_locked(st_);
}

std::optional<outside_message> outside_port::try_receive() const {
  return receive(std::chrono::milliseconds{0});
}

std::future<outside_message> outside_port::next() const {
  auto* st = usable(st_, "outside_port::next");
  std::promise<outside_message> p;
  auto f = p.get_future();
  std::lock_guard<std::mutex> guard{st->mu};
  if (!st->inbox.empty()) {
    p.set_value(take_locked(st_));
  } else if (st->ended) {
    p.set_exception(std::make_exception_ptr(dom_exception(
      std::string{error_name::invalid_state}, "the outside_port is closed")));
  } else {
    st->waiters.push_back(std::move(p));
  }
  return f;
}

void outside_port::close() const {
  if (!st_)
    return;
  auto* st = usable(st_, "outside_port::close");
  {
    std::lock_guard<std::mutex> guard{st->mu};
    if (st->detached)
      return;
    st->inbox.clear();
    detail::end_locked(*st, "the port was closed here");
  }
  detail::in_gateway(*st, [self = st_] { self->port.close(); });
}

std::optional<std::int64_t> outside_port::desired_size() const {
  auto* st = usable(st_, "outside_port::desired_size");
  std::lock_guard<std::mutex> guard{st->mu};
  return room_locked(*st).messages;
}

std::optional<std::int64_t> outside_port::desired_bytes() const {
  auto* st = usable(st_, "outside_port::desired_bytes");
  std::lock_guard<std::mutex> guard{st->mu};
  return room_locked(*st).bytes;
}

bool outside_port::wait_ready(std::chrono::milliseconds timeout) const {
  auto* st = usable(st_, "outside_port::wait_ready");
  auto has_room = [st] {
    if (st->ended)
      return true;
    auto c = room_locked(*st);
    return (!c.messages || *c.messages > 0) && (!c.bytes || *c.bytes > 0);
  };
  std::unique_lock<std::mutex> guard{st->mu};
  // Woken by the gateway (a ready notice, or an in-flight post landing);
  // the slice bounds the wait should a wake-up race the check.
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!has_room()) {
    auto now = std::chrono::steady_clock::now();
    if (now >= deadline)
      return false;
    st->cv.wait_for(guard, std::min<std::chrono::steady_clock::duration>(
                             deadline - now, std::chrono::milliseconds{20}));
  }
  return !st->ended;
}

void outside_port::set_high_water_mark(const high_water_mark& mark) const {
  auto* st = usable(st_, "outside_port::set_high_water_mark");
  {
    std::lock_guard<std::mutex> guard{st->mu};
    if (st->detached || st->ended)
      return;
  }
  // Set by the gateway, which owns the port; waited for, so the context's
  // sender sees the mark once this returns. Messages already in the inbox
  // count from now on, as if they had been queued under the mark.
  auto done = std::make_shared<std::promise<void>>();
  auto result = done->get_future();
  auto ran = detail::in_gateway(*st, [self = st_, done, mark] {
    if (self->port) {
      self->port.set_high_water_mark(mark);
      if (auto* rec = detail::gateway_record(*self))
        rec->sched().hold_reads(*rec);
      std::lock_guard<std::mutex> guard{self->mu};
      self->mark = mark;
      for (auto& e : self->inbox)
        detail::hold_entry(*self, e);
    }
    done->set_value();
  });
  if (!ran)
    return;
  try {
    result.get();
  } catch (const std::future_error&) {
    // The gateway ended before running it: the runtime stopped.
  }
}

high_water_mark outside_port::water_mark() const {
  auto* st = usable(st_, "outside_port::water_mark");
  std::lock_guard<std::mutex> guard{st->mu};
  return st->mark;
}

bool outside_port::closed() const {
  if (!st_)
    return true;
  std::lock_guard<std::mutex> guard{st_->mu};
  return st_->ended && st_->inbox.empty();
}

} // namespace entangle
