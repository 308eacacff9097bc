#include "entangle/testing/testkit.hpp"

#include <caf/send.hpp>

#include "ports/port_object.hpp"
#include "runtime/runtime_impl.hpp"
#include "entangle/message_event.hpp"

namespace entangle::testing {

testkit::testkit(const std::function<void(runtime_config&)>& tune)
  : cfg_(std::make_unique<runtime_config>()) {
  cfg_->deterministic = true;
  cfg_->warnings = false;
  cfg_->dispatch_batch = 1;
  if (tune)
    tune(*cfg_);
  cfg_->deterministic = true;
  rt_ = std::make_unique<runtime>(*cfg_);
  rt_->impl_->on_dispatch = [this](detail::context_core& ctx,
                                   detail::port_object* port,
                                   const message_event& ev) {
    delivery d;
    d.context = ctx.context_name();
    d.context_id = ctx.id();
    d.type = ev.type;
    d.data = ev.data;
    d.origin = ev.origin;
    if (port != nullptr && !port->implicit)
      d.port = ev.target; // every event at a non-implicit port names it
    d.ports = ev.ports.size();
    d.typed = ev.typed;
    log_.push_back(std::move(d));
  };
}

testkit::~testkit() {
  // Stop and drain while the recorder (this) is still alive.
  rt_.reset();
}

std::uint64_t testkit::spawn(std::string name, init_function init) {
  return rt_->spawn(std::move(name), std::move(init));
}

bool testkit::run_one_job() {
  return rt_->impl_->coordinator->try_run_once();
}

std::optional<delivery> testkit::step() {
  auto before = log_.size();
  while (log_.size() == before)
    if (!run_one_job())
      return std::nullopt;
  return log_[before];
}

std::size_t testkit::run() {
  auto before = log_.size();
  while (run_one_job())
    ; // nop
  return log_.size() - before;
}

std::size_t testkit::advance(std::chrono::milliseconds d) {
  // Walk virtual time from one due timer to the next, running until idle in
  // between, so that timers set or re-armed on the way (intervals) fire at
  // their own times within the same advance.
  auto before = log_.size();
  auto& coord = *rt_->impl_->coordinator;
  auto& clock = coord.clock();
  auto target = clock.current_time + d;
  run();
  while (!clock.schedule().empty()
         && clock.schedule().begin()->first <= target) {
    coord.trigger_timeout();
    run();
  }
  if (clock.current_time < target)
    clock.current_time = target;
  return log_.size() - before;
}

bool testkit::idle() const {
  return !rt_->impl_->coordinator->has_job();
}

bool testkit::has_pending_timer() const {
  return rt_->impl_->pending_timers.load() > 0;
}

std::size_t testkit::queued(const message_port& port) const {
  auto& obj = port.object();
  // A port holds its record only while its context lives (every way a
  // port or its context ends takes the record away).
  if (!obj || !obj->record)
    return 0;
  return obj->ctx->queued(*obj);
}

drop_counts testkit::drops() const {
  return rt_->drops();
}

std::size_t testkit::live_contexts() const {
  return rt_->live_contexts();
}

std::size_t testkit::live_ports() const {
  return rt_->live_ports();
}

namespace {

caf::actor actor_of(detail::world& rt, std::uint64_t id) {
  std::lock_guard<std::mutex> guard{rt.mu};
  auto i = rt.live.find(id);
  return i == rt.live.end() ? caf::actor{} : i->second->actor();
}

} // namespace

void testkit::inject(std::uint64_t context_id, std::function<void()> fn) {
  auto& st = *rt_->impl_;
  auto hdl = actor_of(st, context_id);
  if (!hdl)
    return;
  // Urgent, so it runs before anything already in that context's mailbox;
  // then run exactly that context once.
  caf::anon_send<caf::message_priority::high>(hdl, detail::inject_atom::value,
                                              detail::injected_fn{
                                                std::move(fn)});
  if (st.coordinator->prioritize(hdl))
    st.coordinator->run_once();
}

void testkit::terminate(std::uint64_t context_id) {
  auto& st = *rt_->impl_;
  auto hdl = actor_of(st, context_id);
  if (!hdl)
    return;
  rt_->terminate(context_id);
  if (st.coordinator->prioritize(hdl))
    st.coordinator->run_once();
}

void testkit::crash(std::uint64_t context_id, const std::string& what) {
  inject(context_id, [what] { throw std::runtime_error(what); });
}

void testkit::close_port(const message_port& port) {
  auto& obj = port.object();
  if (!obj)
    return;
  inject(obj->ctx_id, [port] { port.close(); });
}

} // namespace entangle::testing
