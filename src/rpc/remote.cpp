#include "entangle/rpc/remote.hpp"

#include <map>
#include <string>
#include <utility>

#include <fmt/format.h>

#include "base/trace_hooks.hpp"
#include "entangle/context.hpp"
#include "entangle/error.hpp"
#include "entangle/message_channel.hpp"
#include "entangle/message_event.hpp"
#include "entangle/rpc/service.hpp"
#include "rpc/wire.hpp"

namespace entangle::rpc {

namespace detail {

/// The caller's side of one wrapped port.
///
/// Invariants: every entry of `calls` is a pending promise, at most one
/// per id, with its timer (0 for none) still armed and its listener on the
/// call's abort signal (0 for none) still registered; an id leaves `calls`
/// once (answered, timed out, aborted or shut) and is never reused, so an
/// answer for an id below `next_id` that is not in `calls` is late
/// (counted in `late`); `closed` is set once (release, or the service's
/// end closed) and from then on `calls` stays empty and the port is
/// closed. Touched only by the owning context.
struct remote_state {
  struct pending_call {
    std::string method;
    promise result;
    timer_id timer = 0;
    /// The call's abort signal and our listener on it (0: none).
    abort_signal signal;
    listener_id on_abort = 0;
  };

  message_port port;
  /// The context that wrapped the port: the only one that may call.
  std::uint64_t owner = 0;
  std::chrono::milliseconds default_timeout{0};
  double next_id = 1;
  std::map<double, pending_call> calls;
  /// Answers for ids no longer in `calls` (cancelled, timed out).
  std::size_t late = 0;
  bool closed = false;
  std::string closed_why;

  /// Takes call `id` out (nullopt if it is not pending) and disarms its
  /// timer and its abort listener.
  std::optional<pending_call> take(double id) {
    auto i = calls.find(id);
    if (i == calls.end())
      return std::nullopt;
    auto c = std::move(i->second);
    calls.erase(i);
    if (c.timer != 0)
      this_context().clear_timeout(c.timer);
    if (c.on_abort != 0)
      c.signal.remove_listener(c.on_abort);
    return c;
  }

  /// Cancels pending call `id`: rejects it with `reason` and tells the
  /// service, which fires the call's signal and discards its late answer.
  void cancel(double id, error_value reason, const char* how) {
    auto c = take(id);
    if (!c)
      return;
    if (!closed) {
      try {
        port.post_message(wire::cancel(id, reason));
      } catch (const dom_exception&) {
        // The service is past its hard limit: it will answer anyway, and
        // the answer is discarded here (counted as late).
      }
    }
    trace_result task{c->method, id};
    task.detail(how);
    c->result.reject(std::move(reason));
  }

  void on_answer(message_event& ev) {
    auto answer = wire::parse_answer(ev.data);
    if (!answer)
      return; // not ours: nothing is waiting for it
    auto c = take(answer->id);
    if (!c) {
      // Late: the call was cancelled or timed out (ids are never reused,
      // each is answered once).
      if (answer->id < next_id)
        ++late;
      return;
    }
    trace_result task{c->method, answer->id};
    if (answer->ok) {
      task.detail("returned");
      c->result.resolve(std::move(answer->payload));
    } else {
      auto err = wire::to_error(answer->payload);
      if (task)
        task.detail("threw " + err.name);
      c->result.reject(std::move(err));
    }
  }

  /// The trace's slice for settling a call (its continuations run inside).
  struct trace_result : entangle::detail::trace_task_scope {
    trace_result(const std::string& method, double id)
      : trace_task_scope("rpc result", method, static_cast<std::uint64_t>(id)) {
      // nop
    }
  };

  void time_out(double id, std::chrono::milliseconds after) {
    auto i = calls.find(id);
    if (i == calls.end())
      return;
    i->second.timer = 0; // fired: nothing to clear
    cancel(id,
           error_value{"TimeoutError",
                       fmt::format("call '{}' got no answer within {} ms",
                                   i->second.method, after.count())},
           "timed out");
  }

  /// Closes the remote: every pending call fails with AbortError `why`.
  void shut(std::string why) {
    if (closed)
      return;
    closed = true;
    closed_why = why;
    port.close(); // also drops the port's handlers, which hold this state
    auto pending = std::move(calls);
    calls.clear();
    for (auto& [id, c] : pending) {
      if (c.timer != 0)
        this_context().clear_timeout(c.timer);
      if (c.on_abort != 0)
        c.signal.remove_listener(c.on_abort);
      trace_result task{c.method, id};
      task.detail("aborted");
      c.result.reject(error_value{
        "AbortError", fmt::format("call '{}' was aborted: {}", c.method, why)});
    }
  }
};

} // namespace detail

remote wrap(const message_port& port,
            std::chrono::milliseconds default_timeout) {
  wire::check_usable(port, "rpc::wrap");
  auto st = std::make_shared<detail::remote_state>();
  st->port = port;
  st->owner = this_context().id();
  st->default_timeout = default_timeout;
  // The port's handlers own the state; the port drops them when it closes
  // or its context ends. `remote` handles only observe it.
  port.on_close([st](message_event&) {
    st->shut("the service's port closed (released by the service, or its "
             "context ended)");
  });
  port.on_message([st](message_event& ev) { st->on_answer(ev); });
  return remote{st, st->owner};
}

promise remote::call(std::string_view method, std::vector<argument> args,
                     call_options opts) const {
  if (owner_ == 0)
    throw type_error("call on a null rpc::remote");
  if (this_context().id() != owner_)
    // A capability of the context that wrapped it, like its port.
    return promise::make_rejected(error_value{
      std::string{error_name::invalid_state},
      fmt::format("call '{}' from a context that does not own the remote",
                  method)});
  auto keep = st_.lock();
  if (!keep || keep->closed || keep->port.detached())
    return promise::make_rejected(error_value{
      std::string{error_name::invalid_state},
      fmt::format("call '{}' on a closed remote ({})", method,
                  keep && keep->closed
                    ? keep->closed_why
                    : "it was released, or its service's port closed")});
  auto& st = *keep;
  if (auto* why = opts.signal.reason())
    return promise::make_rejected(*why); // aborted already: nothing is sent
  // Callback arguments: a fresh channel each; this end serves the function.
  array wire_args;
  wire_args.reserve(args.size());
  std::vector<message_channel> callbacks;
  auto drop_callbacks = [&callbacks] {
    for (auto& ch : callbacks) {
      ch.port1().close();
      ch.port2().close();
    }
  };
  std::size_t encoded = 0; // arguments whose wire() ran (unwire on failure)
  auto unwire = [&args, &encoded] {
    for (std::size_t i = 0; i < encoded; ++i)
      args[i].unwire();
  };
  try {
    for (auto& a : args) {
      if (a.callback()) {
        auto& ch = callbacks.emplace_back();
        wire_args.push_back(wire::proxy_marker(ch.port2()));
        opts.transfer.push_back(ch.port2());
      } else {
        wire_args.push_back(a.wire(opts.transfer)); // typed: encoded here
      }
      ++encoded;
    }
  } catch (const dom_exception& e) {
    drop_callbacks();
    unwire();
    return promise::make_rejected(error_value{
      e.name(), fmt::format("call '{}': an argument could not be encoded: {}",
                            method, e.message())});
  }
  auto id = st.next_id++;
  try {
    entangle::detail::trace_task_scope task{"rpc call", method,
                                            static_cast<std::uint64_t>(id)};
    st.port.post_message(
      wire::call(id, std::string{method}, std::move(wire_args)), opts.transfer);
  } catch (const dom_exception& e) {
    // Nothing was sent (a failed post changes nothing): drop the callback
    // channels made for it, and give streams their ports back.
    drop_callbacks();
    unwire();
    return promise::make_rejected(
      error_value{e.name(), fmt::format("call '{}' could not be sent: {}",
                                        method, e.message())});
  }
  for (std::size_t i = 0, k = 0; i < args.size(); ++i)
    if (auto& fn = args[i].callback())
      expose(callbacks[k++].port1(), methods{{"", *fn}});
  auto p = promise::make();
  auto timeout = opts.timeout.count() > 0 ? opts.timeout : st.default_timeout;
  timer_id timer = 0;
  if (timeout.count() > 0)
    timer = this_context().set_timeout(
      [keep, id, timeout] { keep->time_out(id, timeout); }, timeout);
  detail::remote_state::pending_call pc{std::string{method}, p, timer,
                                        opts.signal, 0};
  if (opts.signal) {
    std::weak_ptr<detail::remote_state> weak = keep;
    pc.on_abort = opts.signal.on_abort([weak, id](const error_value& why) {
      if (auto s = weak.lock())
        s->cancel(id, why, "aborted");
    });
  }
  st.calls.emplace(id, std::move(pc));
  return p;
}

promise remote::operator()(std::vector<argument> args,
                           call_options opts) const {
  return call("", std::move(args), std::move(opts));
}

void remote::release() const {
  auto keep = st_.lock(); // shut() closes the port, whose handlers own it
  if (!keep)
    return;
  auto* cur = current_context();
  if (cur == nullptr || cur->id() != owner_) {
    keep->port.close(); // inert from here: warns that the port is foreign
    return;
  }
  keep->shut("the remote was released");
}

bool remote::closed() const noexcept {
  auto st = st_.lock();
  return !st || st->closed;
}

std::size_t remote::late_answers() const noexcept {
  auto st = st_.lock();
  return st ? st->late : 0;
}

namespace detail {

void bad_result::operator()(const char* expected) const {
  throw type_error(fmt::format("the result of '{}' must be {}, got {}", method,
                               expected, describe(got)));
}

} // namespace detail

std::size_t remote::pending_calls() const noexcept {
  auto st = st_.lock();
  return st ? st->calls.size() : 0;
}

} // namespace entangle::rpc
