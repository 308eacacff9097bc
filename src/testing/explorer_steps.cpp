// The words for a schedule's steps: what each non-default decision chose
// instead of the default ("before page posts "cancel" on p3: w1 starts").
// Recorded while describing (explorer::set_describing), worded at the end,
// when every context's name is known.

#include <chrono>
#include <map>

#include <caf/actor_cast.hpp>
#include <caf/detail/simple_actor_clock.hpp>
#include <caf/system_messages.hpp>

#include "base/caf_compat.hpp"
#include "contexts/context_core.hpp"
#include "testing/explorer.hpp"

namespace entangle::testing::internal {

using detail::explore_op;

std::int64_t explorer::ms(time_point t) const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t - start_)
    .count();
}

explorer::side explorer::describe(const option& o) {
  side s;
  s.kind = o.kind;
  switch (o.kind) {
    case option::proceed:
      break;
    case option::land:
      s.f = faults_[o.fault];
      s.ctx = s.f.context;
      remember(s.ctx);
      break;
    case option::deliver:
    case option::advance: {
      auto& clock = world_.coordinator->clock();
      auto& head = o.kind == option::deliver
                     ? *clock.schedule().begin()
                     : *clock.schedule().upper_bound(clock.current_time);
      s.ms = ms(head.first);
      // Whose wake-up: a context's timer is an ordinary timeout of its
      // own (context_core::ensure_wake).
      using simple = caf::detail::simple_actor_clock;
      if (head.second->subtype == simple::ordinary_timeout_type) {
        auto& tm = static_cast<const simple::ordinary_timeout&>(*head.second);
        auto* core = dynamic_cast<detail::context_core*>(
          caf::actor_cast<caf::abstract_actor*>(tm.self));
        if (core != nullptr) {
          s.ctx = core->id();
          remember(s.ctx);
        }
      }
      break;
    }
    case option::run: {
      s.ctx = o.ctx;
      auto* core = dynamic_cast<detail::context_core*>(o.job);
      if (core == nullptr)
        break;
      if (!core->initialized()) {
        s.next = next_kind::init;
        break;
      }
      // Its next mailbox element: what this turn of it will be about.
      // (Safe: it is not running, and this is the only thread.)
      auto* x = core->peek_at_next_mailbox_element();
      if (x == nullptr)
        break;
      auto& c = x->content();
      if (c.match_elements<caf::exit_msg>()) {
        s.next = next_kind::killed;
        break;
      }
      if (c.match_elements<caf::timeout_msg>()
          && c.get_as<caf::timeout_msg>(0).type == detail::timer_atom::value) {
        s.next = next_kind::timer;
        break;
      }
      if (c.size() == 0 || !c.match_element<caf::atom_value>(0))
        break;
      auto a = c.get_as<caf::atom_value>(0);
      using namespace detail;
      if (a == port_ready_atom::value && c.size() == 2
          && c.match_element<std::uint64_t>(1)) {
        s.next = next_kind::drain;
        s.port = ref(*core, core->port_of(c.get_as<std::uint64_t>(1)).get());
      } else if (a == unshipped_atom::value) {
        s.next = next_kind::own;
      } else if (a == task_atom::value) {
        s.next = next_kind::task;
      } else if (a == inject_atom::value) {
        s.next = next_kind::injected;
      } else if (a == window_msg_atom::value) {
        s.next = next_kind::window;
      } else if (a == broadcast_atom::value) {
        s.next = next_kind::broadcast;
      } else if (a == connect_atom::value) {
        s.next = next_kind::connect;
      } else if (a == navigate_atom::value) {
        s.next = next_kind::navigate;
      } else if (a == unload_atom::value) {
        s.next = next_kind::unload;
      } else if (a == worker_ready_atom::value) {
        s.next = next_kind::worker_ready;
      } else if (a == worker_error_atom::value) {
        s.next = next_kind::worker_error;
      } else if (a == drain_atom::value) {
        s.next = next_kind::drain_request;
      } else if (a == drain_fence_atom::value) {
        s.next = next_kind::fence;
      } else if (a == peer_closed_atom::value) {
        s.next = next_kind::peer_closed;
      }
      break;
    }
  }
  return s;
}

explorer::port_ref explorer::ref(const detail::context_core& owner,
                                 const detail::port_object* port) {
  port_ref r;
  if (port == nullptr)
    return r;
  if (!port->implicit) {
    r.id = port->record ? port->record->id : 0;
  } else if (port == owner.inside_port().get()) {
    r.kind = port_ref::parent;
  } else {
    r.kind = port_ref::worker;
    r.id = owner.worker_of(*port);
    remember(r.id);
  }
  return r;
}

void explorer::remember(std::uint64_t ctx) {
  if (ctx == 0 || names_.count(ctx) != 0)
    return;
  std::lock_guard<std::mutex> guard{world_.mu};
  if (auto i = world_.live.find(ctx); i != world_.live.end()) {
    names_.emplace(ctx, i->second->name);
    return;
  }
  for (auto& e : world_.exits)
    if (e.id == ctx)
      names_.emplace(ctx, e.name);
}

std::string explorer::text(const port_ref& p) const {
  switch (p.kind) {
    case port_ref::parent:
      return "its parent";
    case port_ref::worker:
      return "worker " + name(p.id);
    case port_ref::plain:
      break;
  }
  return p.id != 0 ? "p" + std::to_string(p.id) : std::string{"a closed port"};
}

std::string explorer::name(std::uint64_t ctx) const {
  auto i = names_.find(ctx);
  if (i == names_.end())
    return "context " + std::to_string(ctx);
  // Same names are told apart by spawn order: w, w#2, w#3.
  std::size_t rank = 0;
  std::size_t same = 0;
  for (auto& [id, n] : names_) {
    if (n != i->second)
      continue;
    ++same;
    if (id <= ctx)
      ++rank;
  }
  return same > 1 && rank > 1 ? i->second + "#" + std::to_string(rank)
                              : i->second;
}

std::string explorer::text(const side& s) const {
  switch (s.kind) {
    case option::proceed:
      return "it goes on";
    case option::land:
      return s.f.crash ? "the crash of " + name(s.ctx) + " (\"" + s.f.what
                           + "\") lands"
                       : "the termination of " + name(s.ctx) + " lands";
    case option::deliver:
      return "the clock delivers " + (s.ctx != 0 ? name(s.ctx) + "'s " : "a ")
             + "timer wake-up (due at " + std::to_string(s.ms) + " ms)";
    case option::advance:
      return "virtual time moves to " + std::to_string(s.ms) + " ms"
             + (s.ctx != 0 ? " (" + name(s.ctx) + "'s timer is due)" : "");
    case option::run:
      break;
  }
  auto who = name(s.ctx);
  switch (s.next) {
    case next_kind::init:
      return who + " starts (runs its init, then its first turn)";
    case next_kind::drain:
      switch (s.port.kind) {
        case port_ref::parent:
          return who + " takes what its parent posted to it";
        case port_ref::worker:
          return who + " takes what " + text(s.port) + " posted";
        case port_ref::plain:
          break;
      }
      return who + " takes what is queued at " + text(s.port);
    case next_kind::own:
      return who + " takes the oldest message of the ports it never "
                   "gave away";
    case next_kind::task:
      return who + " runs a queued task";
    case next_kind::timer:
      return who + " gets a timer wake-up";
    case next_kind::killed:
      return who + " gets the kill (terminated)";
    case next_kind::injected:
      return who + " runs code the test injected";
    case next_kind::window:
      return who + " gets a window message";
    case next_kind::broadcast:
      return who + " gets a BroadcastChannel message";
    case next_kind::connect:
      return who + " gets a shared-worker connect";
    case next_kind::navigate:
      return who + " gets a navigation request";
    case next_kind::unload:
      return who + " is unloaded";
    case next_kind::worker_ready:
      return who + " learns that a worker's init ran";
    case next_kind::worker_error:
      return who + " learns that a worker failed";
    case next_kind::drain_request:
      return who + " is told to finish what is queued (shutdown)";
    case next_kind::fence:
      return who + " reaches its drain fence";
    case next_kind::peer_closed:
      return who + " learns that a connection's peer closed";
    case next_kind::other:
      break;
  }
  return who + " runs";
}

std::vector<std::string> explorer::steps() const {
  std::vector<std::string> out;
  for (auto& n : notes_) {
    std::string line = "#" + std::to_string(n.at) + ": ";
    if (!n.nested) {
      line += text(n.chosen) + ", before " + text(n.fallback);
      out.push_back(std::move(line));
      continue;
    }
    auto port = text(n.port);
    auto data = n.data.empty() ? std::string{} : " " + n.data;
    std::string what;
    switch (n.op) {
      case explore_op::post:
        what = "posts" + data
               + (n.port.kind == port_ref::plain ? " on " : " to ") + port;
        break;
      case explore_op::close:
        what = "closes " + port;
        break;
      case explore_op::start:
        what = "starts " + port;
        break;
      case explore_op::receive:
        what = "reads " + port + " synchronously";
        break;
      case explore_op::post_window:
        what = "posts" + data + " to a window";
        break;
      case explore_op::navigate:
        what = "navigates another window";
        break;
      case explore_op::broadcast:
        what = "broadcasts" + data;
        break;
      case explore_op::connect:
        what = "connects to a shared worker";
        break;
      case explore_op::terminate:
        what = "terminates a worker";
        break;
      case explore_op::end:
        what = "ends (its ports close)";
        break;
    }
    line += "before " + name(n.self) + " " + what + ": " + text(n.chosen);
    out.push_back(std::move(line));
  }
  return out;
}

} // namespace entangle::testing::internal
