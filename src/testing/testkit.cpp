#include "entangle/testing/testkit.hpp"

#include <caf/actor_cast.hpp>
#include <caf/detail/pretty_type_name.hpp>
#include <caf/send.hpp>
#include <caf/type_erased_value.hpp>
#include <caf/uniform_type_info_map.hpp>

#include "contexts/context_core.hpp"
#include "entangle/context.hpp"
#include "entangle/message_event.hpp"
#include "entangle/window.hpp"
#include "ports/port_object.hpp"
#include "runtime/runtime_impl.hpp"
#include "testing/explorer.hpp"

namespace entangle::testing {

namespace {

caf::detail::test_actor_clock& clock_of(runtime::impl& w) {
  return w.coordinator->clock();
}

caf::actor actor_of(detail::world& rt, std::uint64_t id) {
  std::lock_guard<std::mutex> guard{rt.mu};
  auto i = rt.live.find(id);
  return i == rt.live.end() ? caf::actor{} : i->second->actor();
}

} // namespace

testkit::testkit(const std::function<void(runtime_config&)>& tune)
  : cfg_(std::make_unique<runtime_config>()) {
  cfg_->deterministic = true;
  cfg_->warnings = false;
  cfg_->dispatch_batch = 1;
  if (tune)
    tune(*cfg_);
  cfg_->deterministic = true;
  rt_ = std::make_unique<runtime>(*cfg_);
  record_dispatches();
}

testkit::testkit(schedule s, const std::function<void(runtime_config&)>& tune)
  : cfg_(std::make_unique<runtime_config>()) {
  cfg_->deterministic = true;
  cfg_->warnings = false;
  if (tune)
    tune(*cfg_);
  cfg_->deterministic = true;
  rt_ = std::make_unique<runtime>(*cfg_);
  auto& w = *rt_->impl_;
  explorer_ = std::make_unique<internal::explorer>(w, std::move(s));
  // Before any context exists: each one reads it when it is constructed.
  w.explorer = explorer_.get();
  w.step = [this](bool advance) {
    auto& clock = clock_of(*rt_->impl_);
    return explorer_->step(advance ? caf::actor_clock::time_point::max()
                                   : clock.current_time);
  };
  record_dispatches();
}

void testkit::record_dispatches() {
  start_ = clock_of(*rt_->impl_).current_time;
  rt_->impl_->on_dispatch = [this](detail::context_core& ctx,
                                   detail::port_object* port,
                                   const message_event& ev) {
    delivery d;
    d.context = ctx.context_name();
    d.context_id = ctx.id();
    d.type = ev.type;
    d.data = ev.data;
    d.origin = ev.origin;
    if (port != nullptr && !port->implicit) {
      d.port = ev.target; // every event at a non-implicit port names it
      d.port_id = port->record ? port->record->id : 0;
    } else if (port != nullptr && port == ctx.inside_port().get()) {
      d.at_global = true;
    } else if (port != nullptr) {
      // The parent's side of a worker (its worker object).
      if (auto id = ctx.worker_of(*port); id != 0)
        d.worker = name_of(id);
      if (d.worker.empty())
        d.worker = "a worker";
    }
    d.ports = ev.ports.size();
    d.typed = ev.typed;
    if (!d.typed.empty()) // its C++ type, for typed_at<T> (catch.hpp)
      if (auto v = rt_->impl_->system.types().make_value(d.typed))
        d.typed_type = v->type().second;
    log_.push_back(std::move(d));
  };
}

testkit::~testkit() {
  // Stop and drain while the recorder (this) is still alive; faults still
  // pending and the schedule no longer matter.
  if (explorer_) {
    explorer_->set_active(false);
    rt_->impl_->step = nullptr;
  }
  rt_.reset();
}

std::uint64_t testkit::spawn(std::string name, init_function init) {
  return rt_->spawn(std::move(name), std::move(init));
}

std::uint64_t testkit::open_window(std::string name,
                                   std::string_view origin_url,
                                   init_function init) {
  return rt_->open_window(std::move(name), origin_url, std::move(init));
}

std::uint64_t testkit::open_frame(std::string_view parent, std::string name,
                                  std::string_view origin_url,
                                  init_function init) {
  auto id = id_of(parent);
  {
    auto& w = *rt_->impl_;
    std::lock_guard<std::mutex> guard{w.mu};
    if (!w.live.at(id)->is_window)
      throw std::invalid_argument("open_frame: '" + std::string{parent}
                                  + "' is not a window");
  }
  origin::parse(origin_url); // a SyntaxError here, not inside the window
  std::uint64_t frame = 0;
  std::string url{origin_url};
  inject(id, [&] {
    frame = this_context().open_frame(std::move(name), url, std::move(init)).id();
  });
  return frame;
}

// -- driving -----------------------------------------------------------------

bool testkit::run_one_job() {
  if (explorer_) {
    auto ok = explorer_->step(clock_of(*rt_->impl_).current_time);
    settle_check();
    return ok;
  }
  return rt_->impl_->coordinator->try_run_once();
}

void testkit::settle_check() {
  if (explorer_ && explorer_->exhausted()) {
    auto what = "the schedule took more than "
                + std::to_string(explorer_->budget())
                + " decisions without settling (a livelock, or a timer "
                  "that never stops?)";
    check(false, what);
    throw schedule_failure(what);
  }
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
  auto before = log_.size();
  auto& coord = *rt_->impl_->coordinator;
  auto& clock = coord.clock();
  auto target = clock.current_time + d;
  if (explorer_) {
    // Time moves whenever the schedule says, up to the target.
    while (explorer_->step(target))
      ; // nop
    settle_check();
  } else {
    // Walk virtual time from one due timer to the next, running until idle
    // in between, so that timers set or re-armed on the way (intervals)
    // fire at their own times within the same advance.
    run();
    while (!clock.schedule().empty()
           && clock.schedule().begin()->first <= target) {
      coord.trigger_timeout();
      run();
    }
  }
  if (clock.current_time < target)
    clock.current_time = target;
  return log_.size() - before;
}

void testkit::advance_time(std::chrono::milliseconds d) {
  auto& coord = *rt_->impl_->coordinator;
  auto& clock = coord.clock();
  auto target = clock.current_time + d;
  // Delivering a wake-up sets the clock to its due time; nothing runs.
  while (!clock.schedule().empty()
         && clock.schedule().begin()->first <= target)
    coord.trigger_timeout();
  if (clock.current_time < target)
    clock.current_time = target;
}

std::chrono::milliseconds testkit::now() const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
    clock_of(*rt_->impl_).current_time - start_);
}

bool testkit::idle() const {
  return !rt_->impl_->coordinator->has_job();
}

bool testkit::has_pending_timer() const {
  return rt_->impl_->pending_timers.load() > 0;
}

// -- inspection --------------------------------------------------------------

std::size_t testkit::queued(const message_port& port) const {
  auto& obj = port.object();
  // A port holds its record only while its context lives (every way a
  // port or its context ends takes the record away).
  if (!obj || !obj->record)
    return 0;
  // Its context is idle (the testkit runs between steps): reach it as the
  // record's owner (any context, the runtime's own services included).
  caf::actor owner;
  {
    detail::record_guard guard{obj->record->mu()};
    owner = obj->record->owner;
  }
  auto* core = dynamic_cast<detail::context_core*>(
    caf::actor_cast<caf::abstract_actor*>(owner));
  return core != nullptr ? core->queued(*obj) : 0;
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

std::uint64_t testkit::id_of(std::string_view name) const {
  auto& w = *rt_->impl_;
  std::string live;
  std::lock_guard<std::mutex> guard{w.mu};
  for (auto& [id, ctl] : w.live) { // by id: the oldest first
    if (ctl->name == name)
      return id;
    live += (live.empty() ? "" : ", ") + ctl->name;
  }
  throw std::invalid_argument("no live context is named '" + std::string{name}
                              + "' (live: "
                              + (live.empty() ? "none" : live) + ")");
}

std::string testkit::name_of(std::uint64_t id) const {
  auto& w = *rt_->impl_;
  std::lock_guard<std::mutex> guard{w.mu};
  if (auto i = w.live.find(id); i != w.live.end())
    return i->second->name;
  for (auto i = w.exits.rbegin(); i != w.exits.rend(); ++i)
    if (i->id == id)
      return i->name;
  return {};
}

// -- faults ------------------------------------------------------------------

bool testkit::inject(std::uint64_t context_id, std::function<void()> fn) {
  auto& st = *rt_->impl_;
  auto hdl = actor_of(st, context_id);
  if (!hdl)
    return false;
  // Urgent, so it runs before anything already in that context's mailbox;
  // then run exactly that context once.
  caf::anon_send<caf::message_priority::high>(hdl, detail::inject_atom::value,
                                              detail::injected_fn{
                                                std::move(fn)});
  if (st.coordinator->prioritize(hdl))
    st.coordinator->run_once();
  settle_check();
  return true;
}

bool testkit::inject(std::string_view name, std::function<void()> fn) {
  return inject(id_of(name), std::move(fn));
}

void testkit::terminate(std::uint64_t context_id) {
  auto& st = *rt_->impl_;
  if (explorer_) {
    explorer_->add_fault(internal::fault{false, context_id, {}});
    return;
  }
  auto hdl = actor_of(st, context_id);
  if (!hdl)
    return;
  rt_->terminate(context_id);
  if (st.coordinator->prioritize(hdl))
    st.coordinator->run_once();
}

void testkit::terminate(std::string_view name) {
  terminate(id_of(name));
}

void testkit::crash(std::uint64_t context_id, const std::string& what) {
  if (explorer_) {
    explorer_->add_fault(internal::fault{true, context_id, what});
    return;
  }
  inject(context_id, [what] { throw std::runtime_error(what); });
}

void testkit::crash(std::string_view name, const std::string& what) {
  crash(id_of(name), what);
}

void testkit::close_port(const message_port& port) {
  auto& obj = port.object();
  if (!obj)
    return;
  inject(obj->ctx_id, [port] { port.close(); });
}

// -- expectations ------------------------------------------------------------

void testkit::check(bool ok, std::string_view what) {
  if (!ok && failure_.empty())
    failure_ = what.empty() ? std::string{"a check failed"} : std::string{what};
}

void testkit::require(bool ok, std::string_view what) {
  check(ok, what);
  if (!ok && current_context() == nullptr)
    throw schedule_failure(std::string{what});
}

// -- names -------------------------------------------------------------------

std::string port_name(const message_port& port) {
  auto& obj = port.object();
  if (!obj || !obj->record)
    return "a closed port";
  return "p" + std::to_string(obj->record->id);
}

std::string type_display_name(const std::type_info& type) {
  return caf::detail::pretty_type_name(type);
}

std::string to_string(const delivery& d) {
  std::string out = d.type;
  if (d.port_id != 0)
    out += " at port p" + std::to_string(d.port_id) + " of " + d.context;
  else if (d.port)
    out += " at a port of " + d.context;
  else if (d.at_global)
    out += " at the global of " + d.context;
  else if (!d.worker.empty())
    out += " at worker " + d.worker + " (in " + d.context + ")";
  else
    out += " in " + d.context + ", not at a port";
  if (d.type != "close")
    out += ": " + to_string(d.data);
  if (!d.typed.empty())
    out += " (typed " + d.typed + ")";
  if (d.ports > 0)
    out += " (+" + std::to_string(d.ports) + " ports)";
  return out;
}

} // namespace entangle::testing
