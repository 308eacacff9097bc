#include "entangle/runtime.hpp"

#include <algorithm>
#include <cstdio>
#include <unordered_set>

#include <caf/actor_cast.hpp>
#include <fmt/format.h>
#include <caf/exit_reason.hpp>
#include <caf/send.hpp>

#include "entangle/error.hpp"
#include "contexts/ingress.hpp"
#include "runtime/runtime_impl.hpp"
#include "streams/stream_signal.hpp"

namespace entangle {

namespace {

/// Whether the calling thread runs a context of `w` (which cannot wait for
/// the runtime to end: it would wait for itself).
bool inside(detail::world& w) {
  auto* cur = detail::current_core();
  return cur != nullptr && &cur->rt() == &w;
}

} // namespace

bool runtime::impl::drive(bool advance) {
  auto done = [this] {
    std::lock_guard<std::mutex> guard{mu};
    return live.empty();
  };
  while (!done()) {
    if (step) {
      if (step(advance))
        continue;
      return false;
    }
    if (coordinator->try_run_once())
      continue;
    if (advance && coordinator->has_pending_timeout()) {
      coordinator->trigger_timeout();
      continue;
    }
    return false;
  }
  // Let the ended actors' last messages go (they hold nothing strongly).
  while (step ? step(false) : coordinator->try_run_once())
    ; // nop
  return true;
}

runtime_config::runtime_config() {
  // Streams' control messages are typed messages of this type.
  add_message_type<detail::stream_signal>(detail::stream_signal_name);
  opt_group{custom_options_, "entangle"}
    .add(max_clone_depth, "max-clone-depth",
         "maximum nesting depth of a posted value")
    .add(dispatch_batch, "dispatch-batch",
         "messages one port dispatches per turn before yielding")
    .add(post_batch, "post-batch",
         "posts of one turn handed to a busy port at once (0 = each at "
         "once)")
    .add(max_buffer_bytes, "max-buffer-bytes",
         "largest ArrayBuffer payload a context accepts (0 = no limit)")
    .add(port_high_water_mark.messages, "port-high-water-mark",
         "unread messages at which a port's sender sees backpressure "
         "(0 = none)")
    .add(port_high_water_mark.bytes, "port-high-water-bytes",
         "unread bytes at which a port's sender sees backpressure (0 = none)")
    .add(port_high_water_mark.hard_factor, "port-hard-limit-factor",
         "posts past this many times the high-water mark throw "
         "QuotaExceededError")
    .add(warnings, "warnings", "print misuse warnings to stderr")
    .add(continue_after_exception, "continue-after-exception",
         "an exception in a handler is reported and the context keeps "
         "running (the web's behaviour) instead of ending it")
    .add(exit_history, "exit-history",
         "ended contexts runtime::exits() remembers (0 = none)")
    .add(deterministic, "deterministic",
         "run all contexts on one thread with virtual time")
    .add(remote, "remote",
         "load CAF's network layer (listen and connect to other runtimes)")
    .add(remote_heartbeat, "remote-heartbeat",
         "heartbeat interval between connected runtimes")
    .add(remote_connect_timeout, "remote-connect-timeout",
         "how long connecting to another runtime may take")
    .add(remote_max_links, "remote-max-links",
         "links one connected runtime may make here (more: disconnected)")
    .add(remote_max_early_frames, "remote-max-early-frames",
         "frames per link that may arrive ahead of a missing one")
    .add(remote_max_early_bytes, "remote-max-early-bytes",
         "bytes of such frames per link (since none was waiting)")
    .add(remote_collapse, "remote-collapse",
         "splice a port relayed through this runtime onto a direct link "
         "between the two others");
}

std::string_view to_string(exit_kind k) noexcept {
  switch (k) {
    case exit_kind::normal:
      return "normal";
    case exit_kind::exception:
      return "exception";
    case exit_kind::terminated:
      return "terminated";
  }
  return "unknown";
}

detail::world& detail::world_of(runtime& rt) noexcept {
  return *rt.impl_;
}

runtime::runtime()
  : owned_cfg_(std::make_unique<runtime_config>()),
    impl_(std::make_unique<impl>(*owned_cfg_)) {
  // nop
}

runtime::runtime(runtime_config& cfg) : impl_(std::make_unique<impl>(cfg)) {
  // nop
}

runtime::~runtime() {
  stop();
  if (impl_->coordinator != nullptr) {
    impl_->drive(true);
    return;
  }
  std::unique_lock<std::mutex> guard{impl_->mu};
  impl_->cv.wait(guard, [this] { return impl_->live.empty(); });
}

std::uint64_t runtime::spawn(std::string name, init_function init) {
  return impl_->spawn(std::move(name), std::move(init), {})->id;
}

std::uint64_t runtime::spawn(std::string name, std::string_view origin_url,
                             init_function init) {
  detail::spawn_options opts;
  opts.origin = origin::parse(origin_url); // SyntaxError before anything runs
  return impl_->spawn(std::move(name), std::move(init), std::move(opts))->id;
}

std::uint64_t runtime::open_window(std::string name,
                                   std::string_view origin_url,
                                   init_function init) {
  detail::spawn_options opts;
  opts.origin = origin::parse(origin_url);
  opts.window = true;
  return impl_->spawn(std::move(name), std::move(init), std::move(opts))->id;
}

void runtime::run() {
  if (impl_->coordinator != nullptr) {
    impl_->drive(true);
    return;
  }
  std::unique_lock<std::mutex> guard{impl_->mu};
  impl_->cv.wait(guard,
                 [this] { return impl_->live.empty() || impl_->stopping; });
}

bool runtime::run_for(std::chrono::milliseconds timeout) {
  bool ended = false;
  if (impl_->coordinator != nullptr) { // virtual time: no wall clock
    ended = impl_->drive(true);
  } else {
    std::unique_lock<std::mutex> guard{impl_->mu};
    ended = impl_->cv.wait_for(guard, timeout, [this] {
      return impl_->live.empty() || impl_->stopping;
    }) && impl_->live.empty();
  }
  if (!ended && impl_->cfg.warnings && !impl_->stopping) {
    auto report = "entangle: run_for: contexts still running:\n"
                  + describe_live();
    std::fputs(report.c_str(), stderr);
  }
  return ended;
}

std::vector<context_liveness>
runtime::why_alive(std::chrono::milliseconds wait) const {
  if (inside(*impl_))
    throw dom_exception(std::string{error_name::invalid_state},
                        "runtime::why_alive called from inside one of its "
                        "contexts (it waits for their answers)");
  auto probe = std::make_shared<detail::liveness_probe>();
  std::vector<std::shared_ptr<detail::context_control>> asked;
  {
    std::lock_guard<std::mutex> guard{impl_->mu};
    for (auto& [id, ctl] : impl_->live)
      asked.push_back(ctl);
  }
  // Urgent: answered before whatever the context has queued.
  for (auto& ctl : asked)
    if (auto hdl = ctl->actor())
      caf::anon_send<caf::message_priority::high>(
        hdl, detail::why_atom::value, probe);
  if (impl_->coordinator != nullptr) {
    // Deterministic: let each asked context take exactly its question.
    for (auto& ctl : asked)
      if (auto hdl = ctl->actor(); hdl && impl_->coordinator->prioritize(hdl))
        impl_->coordinator->run_once();
  }
  std::unique_lock<std::mutex> guard{probe->mu};
  probe->cv.wait_for(guard, wait,
                     [&] { return probe->answers.size() >= asked.size(); });
  auto out = probe->answers;
  guard.unlock();
  std::unordered_set<std::uint64_t> answered; // O(C), not a scan each
  for (auto& a : out)
    answered.insert(a.id);
  for (auto& ctl : asked) { // no answer: busy (or it ended meanwhile)
    if (answered.count(ctl->id) == 0 && !ctl->ended.load())
      out.push_back(context_liveness{
        ctl->id, ctl->name, "context",
        {fmt::format("busy: did not answer within {} ms (a long task or "
                     "handler is running)",
                     wait.count())}});
  }
  std::sort(out.begin(), out.end(),
            [](const context_liveness& x, const context_liveness& y) {
              return x.id < y.id;
            });
  return out;
}

std::string runtime::describe_live(std::chrono::milliseconds wait) const {
  std::string out;
  for (auto& c : why_alive(wait)) {
    out += fmt::format("  {} '{}' (#{}):\n", c.kind, c.name, c.id);
    for (auto& r : c.reasons)
      out += fmt::format("    - {}\n", r);
  }
  if (out.empty())
    out = "  (none)\n";
  return out;
}


void runtime::stop() {
  std::vector<std::shared_ptr<detail::context_control>> all;
  {
    std::lock_guard<std::mutex> guard{impl_->mu};
    impl_->stopping = true;
    for (auto& [id, ctl] : impl_->live)
      all.push_back(ctl);
    impl_->cv.notify_all();
  }
  for (auto& ctl : all)
    impl_->terminate(ctl);
  // The outside ports' gateway goes too (its ports close), and the remote
  // node (its links close).
  bool gateway = impl_->stop_gateway();
  bool remote = impl_->stop_remote();
  if (inside(*impl_))
    return;
  if (impl_->coordinator != nullptr) {
    impl_->drive(false);
    return;
  }
  std::unique_lock<std::mutex> guard{impl_->mu};
  impl_->cv.wait(guard, [this, gateway, remote] {
    return impl_->live.empty() && (!gateway || impl_->gateway_ended)
           && (!remote || impl_->remote_ended);
  });
}

shutdown_report runtime::shutdown(std::chrono::milliseconds grace) {
  if (inside(*impl_))
    throw dom_exception(std::string{error_name::invalid_state},
                        "runtime::shutdown called from inside one of its "
                        "contexts (it waits for every context to end)");
  shutdown_report report;
  auto before = impl_->sched->drops();
  std::vector<caf::actor> all;
  {
    std::lock_guard<std::mutex> guard{impl_->mu};
    impl_->shutting_down = true; // new contexts drain after their init
    for (auto& [id, ctl] : impl_->live)
      if (auto hdl = ctl->actor())
        all.push_back(std::move(hdl));
  }
  for (auto& hdl : all)
    caf::anon_send(hdl, detail::drain_atom::value);
  auto ended = [this] {
    std::uint64_t n = 0;
    for (auto k : impl_->exit_counts)
      n += k;
    return n;
  };
  std::uint64_t ended_before = 0;
  {
    std::lock_guard<std::mutex> guard{impl_->mu};
    ended_before = ended();
  }
  if (impl_->coordinator != nullptr) {
    impl_->drive(false);
  } else {
    std::unique_lock<std::mutex> guard{impl_->mu};
    impl_->cv.wait_for(guard, grace, [this] { return impl_->live.empty(); });
  }
  {
    std::lock_guard<std::mutex> guard{impl_->mu};
    report.finished = ended() - ended_before; // incl. ones spawned meanwhile
    report.terminated = impl_->live.size();
  }
  stop();
  report.dropped = impl_->sched->drops().since(before);
  return report;
}

outside_port runtime::connect(std::uint64_t context_id) {
  return detail::connect_outside(*impl_, context_id);
}

void runtime::terminate(std::uint64_t context_id) {
  impl_->terminate(context_id);
}

std::size_t runtime::live_contexts() const {
  std::lock_guard<std::mutex> guard{impl_->mu};
  return impl_->live.size();
}

drop_counts runtime::drops() const {
  return impl_->sched->drops();
}

std::vector<context_exit> runtime::exits() const {
  std::lock_guard<std::mutex> guard{impl_->mu};
  return {impl_->exits.begin(), impl_->exits.end()};
}

std::array<std::uint64_t, exit_kind_count> runtime::exit_counts() const {
  std::lock_guard<std::mutex> guard{impl_->mu};
  return impl_->exit_counts;
}

std::size_t runtime::live_ports() const {
  return impl_->sched->open_records();
}

} // namespace entangle
