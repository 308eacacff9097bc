#include "entangle/rpc/service.hpp"

#include <exception>
#include <map>
#include <optional>
#include <utility>

#include <fmt/format.h>

#include "base/trace_hooks.hpp"
#include "contexts/context_core.hpp"
#include "entangle/context.hpp"
#include "entangle/error.hpp"
#include "entangle/message_event.hpp"
#include "rpc/wire.hpp"

namespace entangle::rpc {

// -- invocation
// ----------------------------------------------------------------

value& invocation::arg(std::size_t i) {
  if (i >= args_.size())
    throw type_error(fmt::format("'{}' has no argument {} (it got {})", method_,
                                 i + 1, args_.size()));
  return args_[i];
}

bool invocation::is_callback(std::size_t i) const noexcept {
  return i < args_.size() && wire::proxy_port(args_[i]) != nullptr;
}

remote invocation::callback(std::size_t i) {
  auto* port = wire::proxy_port(arg(i));
  if (port == nullptr)
    detail::throw_bad_argument(*this, i, "a callback (rpc::proxy)");
  if (taken_.size() < args_.size())
    taken_.resize(args_.size());
  if (taken_[i])
    throw type_error(fmt::format(
      "the callback in argument {} of '{}' was already taken", i + 1, method_));
  taken_[i] = true;
  remotes_.push_back(wrap(*port));
  return remotes_.back();
}

void invocation::release_untaken() {
  for (std::size_t i = 0; i < args_.size(); ++i)
    if (i >= taken_.size() || !taken_[i])
      if (auto* port = wire::proxy_port(args_[i]))
        port->close();
}

abort_signal invocation::signal() {
  if (!abort_)
    abort_.emplace();
  return abort_->signal();
}

void invocation::release_taken() {
  for (auto& r : remotes_)
    r.release();
}

namespace detail {

void throw_bad_argument(invocation& inv, std::size_t i, const char* expected) {
  std::string got
    = i < inv.size()
        ? describe(inv.arg(i)) // a callback, a typed T, a stream, a type
        : std::string{"nothing"};
  throw type_error(fmt::format("argument {} of '{}' must be {}, got {}", i + 1,
                               inv.method(), expected, got));
}

void throw_bad_arity(invocation& inv, std::size_t expected) {
  throw type_error(fmt::format("'{}' takes {} argument{}, got {}", inv.method(),
                               expected, expected == 1 ? "" : "s", inv.size()));
}

/// The service side of one exposed port.
///
/// Invariants: answers go out on `port` only, at most one per call id
/// received (a method's promise answers once, when it settles). `active`
/// holds the calls answering later whose answer is not sent yet, each with
/// its abort controller if the method asked for its signal; a cancel takes
/// the call out of `active` (and fires its signal), so its late answer
/// finds it gone and is discarded (counted). Touched only by the owning
/// context.
struct service_state : std::enable_shared_from_this<service_state> {
  message_port port;
  methods table;
  std::map<double, std::optional<abort_controller>> active;
  std::size_t cancelled = 0;
  std::size_t discarded = 0;

  void on_message(message_event& ev) {
    if (auto c = wire::parse_cancel(ev.data))
      on_cancel(*c);
    else
      on_call(ev);
  }

  void on_cancel(const wire::parsed_cancel& c) {
    auto i = active.find(c.id);
    if (i == active.end())
      return; // answered already (the answer and the cancel crossed)
    auto ctl = std::move(i->second);
    active.erase(i);
    ++cancelled;
    if (ctl)
      ctl->abort(c.reason);
  }

  /// A later answer of call `id` settled: whether to send it (the call is
  /// still active), else it is discarded and counted.
  bool settle(double id) {
    if (active.erase(id) == 1)
      return true;
    ++discarded;
    return false;
  }

  void on_call(message_event& ev) {
    std::optional<double> id;
    std::string why;
    auto call = wire::parse_call(ev.data, id, why);
    if (!call) {
      if (id)
        send_error(*id, error_value{"TypeError", why});
      else if (auto* core = entangle::detail::current_core())
        core->warn("rpc service: ignored a message that is not a call: " + why);
      return;
    }
    auto m = table.find(call->method);
    if (m == table.end() || !m->second) {
      invocation inv{call->method, std::move(call->args)};
      inv.release_untaken();
      send_error(call->id,
                 error_value{"TypeError", unknown_method(call->method)});
      return;
    }
    invocation inv{call->method, std::move(call->args)};
    result r;
    std::optional<error_value> failed;
    {
      entangle::detail::trace_task_scope task{
        "rpc method", call->method, static_cast<std::uint64_t>(call->id)};
      try {
        r = m->second(inv);
      } catch (const dom_exception& e) {
        failed = error_value{e.name(), e.message()};
      } catch (const std::exception& e) {
        failed = error_value{"Error", e.what()};
      } catch (...) {
        failed = error_value{"Error", "an exception that is not a "
                                      "std::exception"};
      }
      if (task)
        task.detail(failed    ? "threw " + failed->name
                    : r.later ? std::string{"answers later"}
                              : std::string{"returned"});
    }
    inv.release_untaken();
    if (failed) {
      send_error(call->id, *failed);
    } else if (r.later) {
      active.emplace(call->id, inv.controller());
      std::weak_ptr<service_state> weak = shared_from_this();
      r.later.then(
        [weak, cid = call->id, method = call->method,
         t = r.later_transfer](value& v) {
          if (auto st = weak.lock(); st && st->settle(cid))
            st->send_value(cid, method, v, t ? *t : transfer_list{});
        },
        [weak, cid = call->id](const error_value& e) {
          if (auto st = weak.lock(); st && st->settle(cid))
            st->send_error(cid, e);
        });
    } else {
      send_value(call->id, call->method, r.data, r.transfer);
    }
  }

  void send_value(double id, const std::string& method, const value& v,
                  const transfer_list& transfer) {
    try {
      post_answer(wire::answer_value(id, v), transfer);
    } catch (const dom_exception& e) {
      // Nothing was sent (a failed post changes nothing): say why instead.
      send_error(
        id, error_value{e.name(), fmt::format("the result of '{}' could not be "
                                              "sent: {}",
                                              method, e.message())});
    }
  }

  void send_error(double id, const error_value& e) {
    post_answer(wire::answer_error(id, e), {});
  }

  /// Posts an answer without admission against the caller's high-water
  /// mark: a call gets exactly one answer, so answers are bounded by the
  /// calls the caller made (which the service's own mark bounds); refusing
  /// one (QuotaExceededError) would leave the caller's promise waiting
  /// forever. Clone errors still throw (send_value turns them into an
  /// error answer).
  void post_answer(const value& answer, const transfer_list& transfer) {
    auto* home = entangle::detail::owner_core(port.object(), "rpc answer",
                                              true);
    auto* p = port.object().get();
    if (home == nullptr || !p->record)
      return;
    auto& ctx = *home;
    ctx.post_serialized(*p, ctx.serialize(answer, transfer, p));
  }

  std::string unknown_method(const std::string& name) const {
    std::string known;
    for (auto& [k, fn] : table)
      if (!k.empty())
        known += (known.empty() ? "" : ", ") + k;
    return fmt::format(
      "'{}' is not a method of this service{}{}", name,
      known.empty() ? "" : " (it has: ", known.empty() ? "" : known + ")");
  }
};

} // namespace detail

service expose(const message_port& port, methods table) {
  wire::check_usable(port, "rpc::expose");
  auto st = std::make_shared<detail::service_state>();
  st->port = port;
  st->table = std::move(table);
  // The handlers hold the state; closing the port drops them (no cycle).
  // Closed from a task, so that other close listeners still run.
  port.on_close([st](message_event&) {
    this_context().queue_task([st] { st->port.close(); });
  });
  port.on_message([st](message_event& ev) { st->on_message(ev); });
  return service{st};
}

std::size_t service::active_calls() const noexcept {
  auto st = st_.lock();
  return st ? st->active.size() : 0;
}

std::size_t service::cancelled_calls() const noexcept {
  auto st = st_.lock();
  return st ? st->cancelled : 0;
}

std::size_t service::discarded_results() const noexcept {
  auto st = st_.lock();
  return st ? st->discarded : 0;
}

} // namespace entangle::rpc
