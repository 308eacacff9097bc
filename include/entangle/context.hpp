#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>

#include "entangle/detail/message_checks.hpp"
#include "entangle/fwd.hpp"
#include "entangle/message_port.hpp"
#include "entangle/origin.hpp"
#include "entangle/shared_worker.hpp"
#include "entangle/transfer.hpp"
#include "entangle/window.hpp"

namespace entangle {

/// Names a timer of one context; 0 is never a timer.
using timer_id = std::uint64_t;

/// A browsing context (or worker): one CAF actor with one single-threaded
/// event loop. User code runs only in its init function and its handlers,
/// never concurrently with itself.
///
/// A `context&` is valid only inside that context's own code; store
/// `this_context()` nowhere else.
///
/// Life cycle: a context ends
/// - normally, when it calls `close()`, or when nothing can reach it any
///   more: it owns no started port still waiting for messages, has no
///   queued task and no pending timer;
/// - by an exception escaping its init function or a handler;
/// - by being terminated from outside (`worker::terminate`,
///   `runtime::terminate`).
/// In every case each port it owns is closed as by `close()`, so peers get
/// everything it posted and then `close`.
class context {
public:
  /// Returns the name given at spawn.
  const std::string& name() const noexcept;

  /// Returns a process-unique id (for logs; not a capability).
  std::uint64_t id() const noexcept;

  /// Returns this context's origin (a worker's is its creator's; a
  /// top-level context's is opaque unless given at spawn).
  const entangle::origin& origin() const noexcept;

  /// Spawns a dedicated worker: a child context running `init`, connected to
  /// this one by an implicit port pair. Messages posted to the worker before
  /// its init finished are delivered after it.
  worker spawn(std::string name, init_function init);

  /// Connects to the shared worker (this context's origin, `script`,
  /// `name`), starting it with `init` if it is not running. See
  /// `shared_worker`.
  shared_worker connect_shared_worker(std::string script, init_function init,
                                      std::string name = {});

  /// The handler for `connect` events: one per shared worker client, or
  /// per `runtime::connect` from a thread outside every context
  /// (`ev.ports[0]` is the new port, not started). In any context but a
  /// shared worker a connect handler keeps the context alive (it listens,
  /// like a server): clear it (`on_connect({})`) or close the context to
  /// let it end.
  void on_connect(event_handler fn) const;

  // -- windows (HTML §11) ------------------------------------------------------

  /// Returns whether this context is a window (`runtime::open_window`,
  /// `open_frame`). A window's `on_message` receives window.post_message.
  bool is_window() const noexcept;

  /// This window (null if the context is not a window).
  window_proxy window() const;

  /// Opens a frame: a child window with its own origin and context.
  /// @throws dom_exception `InvalidStateError` if this is not a window,
  ///         `SyntaxError` for an unparsable origin.
  window_proxy open_frame(std::string name, std::string_view origin_url,
                          init_function init);

  /// Navigates this window to a new document with the origin of
  /// `origin_url`, once the current task returns: every port of the old
  /// document is closed (peers get close), its tasks, timers, listeners and
  /// channels go, window messages posted to it are dropped, and `init` runs
  /// as the new document. @throws as `open_frame`.
  void navigate(std::string_view origin_url, init_function init);

  // -- messages to this context's global ----------------------------------------
  //
  // In a window: window.post_message from any context. In a dedicated
  // worker: the implicit port from its creator (DedicatedWorkerGlobalScope).

  /// Returns whether this context was spawned by another context.
  bool has_parent() const noexcept;

  /// In a worker: posts to the creator's `worker` object. Elsewhere a no-op,
  /// counted as an unentangled drop.
  void post_message(value message) const;
  void post_message(value message, transfer_list transfer) const;
  void post_message(value message,
                    std::initializer_list<transferable> transfer) const;
  /// @private Not a `value` (a std::vector<int>, a std::map, a lambda...):
  /// fails to compile with a message that names the fix.
  template <class T, class... Rest, detail::if_not_value<T> = 0>
  void post_message(T&&, Rest&&...) const {
    detail::reject_non_value<T>();
  }
  /// @private As above, with a braced transfer list.
  template <class T, detail::if_not_value<T> = 0>
  void post_message(T&&, std::initializer_list<transferable>) const {
    detail::reject_non_value<T>();
  }

  /// Handlers for messages to this global: window messages in a window, the
  /// creator's messages in a worker.
  void on_message(event_handler fn) const;
  void on_messageerror(event_handler fn) const;
  /// The global's `onerror`: with runtime_config::continue_after_exception,
  /// fires for an exception that escaped this context's init or a handler
  /// (`ev.error` and `ev.data` hold its what()); `ev.prevent_default()`
  /// marks it handled. Also `add_event_listener("error", ...)`. Without
  /// that option an exception ends the context and this never fires.
  void on_error(event_handler fn) const;
  listener_id add_event_listener(std::string_view type, event_handler fn) const;
  void remove_event_listener(std::string_view type, listener_id id) const;

  // -- event loop ------------------------------------------------------------

  /// Queues `fn` as a task on this event loop (runs after the current one).
  void queue_task(std::function<void()> fn);

  // -- timers (the web's setTimeout / setInterval) ---------------------------
  //
  // A timer is a task of this context's event loop: it runs once its delay
  // has passed, when the context is next between tasks -- a context busy
  // with messages runs a due timer at the end of the current turn, so no
  // stream of messages can starve it (HTML §4.6). Time is CAF's actor
  // clock, virtual under the deterministic testkit (timers with a delay
  // fire as virtual time is advanced). A pending timer keeps its context
  // alive. Negative delays count as 0. Like the web, timeout and interval
  // ids share one space and either clear function clears either.

  /// Runs `fn` once, as a task of this event loop, after `delay`.
  timer_id set_timeout(std::function<void()> fn,
                       std::chrono::milliseconds delay);

  /// Runs `fn` every `interval` until cleared (or the context ends).
  timer_id set_interval(std::function<void()> fn,
                        std::chrono::milliseconds interval);

  /// Cancels a timer; unknown or fired ids are ignored.
  void clear_timeout(timer_id id);
  void clear_interval(timer_id id);

  /// Node's timeout.unref()/ref(): an unref'ed timer does not keep this
  /// context alive (it still fires while the context lives). Timers start
  /// referenced; unknown ids are ignored.
  void unref_timer(timer_id id);
  void ref_timer(timer_id id);

  /// Ends this context once the current task returns: no further tasks run,
  /// every owned port is closed (peers get close).
  void close();

  /// @private
  explicit context(detail::context_core* core) noexcept : core_(core) {
  }

  /// @private
  detail::context_core& core() const noexcept {
    return *core_;
  }

private:
  detail::context_core* core_;
};

/// Returns the context whose code is running on this thread.
/// @throws dom_exception `InvalidStateError` outside any context.
context& this_context();

/// Returns the running context, or nullptr outside any context.
context* current_context() noexcept;

/// The parent's handle on a dedicated worker (the web's `Worker` object).
/// Like ports, it may only be used from the context that spawned the worker.
/// Once the worker ended and its `close` (and `error`) events ran, the
/// object is inert: its channel is gone (the parent does not keep it for
/// a handle it may have dropped), a post is dropped and counted as
/// `context_gone`, and listeners added then never run.
class worker {
public:
  worker() = default;

  void post_message(value message) const;
  void post_message(value message, transfer_list transfer) const;
  void post_message(value message,
                    std::initializer_list<transferable> transfer) const;
  /// @private Not a `value` (a std::vector<int>, a std::map, a lambda...):
  /// fails to compile with a message that names the fix.
  template <class T, class... Rest, detail::if_not_value<T> = 0>
  void post_message(T&&, Rest&&...) const {
    detail::reject_non_value<T>();
  }
  /// @private As above, with a braced transfer list.
  template <class T, detail::if_not_value<T> = 0>
  void post_message(T&&, std::initializer_list<transferable>) const {
    detail::reject_non_value<T>();
  }

  void on_message(event_handler fn) const;
  void on_messageerror(event_handler fn) const;

  /// Sets the `onerror` handler: fires when an exception escaped the
  /// worker's init or a handler and ended it (`ev.error` has the what(),
  /// also in `ev.data`), before the worker's close.
  void on_error(event_handler fn) const;

  /// Listeners for "message", "messageerror", "error" and "close" (the
  /// worker ended).
  listener_id add_event_listener(std::string_view type, event_handler fn) const;
  void remove_event_listener(std::string_view type, listener_id id) const;

  /// Ends the worker from outside: its queued tasks are discarded, messages
  /// it posted that this side has not dispatched yet are dropped, its ports
  /// are closed. Idempotent.
  void terminate() const;

  /// Node's worker.unref()/ref(): an unref'ed worker does not keep this
  /// (its creator's) context alive; when the creator ends, the worker ends
  /// as after any normal end of its creator (it finishes what is queued).
  void ref() const;
  void unref() const;
  bool has_ref() const noexcept;

  /// Returns the worker's context id.
  std::uint64_t id() const noexcept;

  /// @private
  worker(message_port outside, std::shared_ptr<void> control)
    : outside_(std::move(outside)), control_(std::move(control)) {
  }

private:
  message_port outside_;
  std::shared_ptr<void> control_;
};

} // namespace entangle
