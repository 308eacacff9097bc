#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "entangle/fwd.hpp"
#include "entangle/typed.hpp"

namespace entangle::detail {

enum class event_kind : std::uint8_t {
  message,
  messageerror,
  close,
  error,
  connect,
  /// The peer's queue dropped below its high-water mark (flow control).
  ready
};

/// Maps "message" / "messageerror" / "close" / "error" / "connect" /
/// "ready"; nullopt for anything else.
std::optional<event_kind> parse_event_kind(std::string_view type) noexcept;

/// DOM EventTarget semantics for one object's event types ("error" only
/// ever fires at a worker object).
///
/// Invariants (DOM "event handler" and "dispatch" rules):
/// - Listeners run in registration order. A handler attribute (`on_message`)
///   is a listener too: it takes a slot when first set to a non-empty
///   function, keeps that slot when replaced, and leaves it when cleared.
/// - Dispatch runs over a snapshot: listeners added during dispatch do not
///   run for this event; listeners removed during dispatch do not run; a
///   handler attribute replaced during dispatch runs its new value (the DOM
///   "event handler processing algorithm" reads the attribute when called).
/// - Nothing a listener is running is destroyed under it: while a dispatch
///   is on the stack, removed entries and replaced handlers are parked
///   (`dead_*`) and die when the outermost dispatch returns. (A handler
///   that replaced or removed itself used to destroy its own closure.)
///
/// Thread affinity: the owning context only.
class event_target {
public:
  void set_attribute(event_kind k, event_handler fn);
  listener_id add(event_kind k, event_handler fn);
  void remove(event_kind k, listener_id id);
  bool empty(event_kind k) const noexcept;

  /// Runs every listener of `k` on `ev`. Exceptions propagate (they end
  /// the context).
  void dispatch(event_kind k, message_event& ev);

  /// Sets (or, with an empty decoder, removes) the handler for typed
  /// messages whose registered type name is `name`: one per type, like a
  /// handler attribute.
  void set_typed(const std::string& name, typed_decoder fn);

  /// The handler for typed messages named `name`, or nullptr.
  const typed_decoder* typed(std::string_view name) const;

  /// Drops every listener (breaks handle cycles when a port dies).
  void clear();

private:
  struct entry {
    listener_id id;
    /// Boxed, so that replacing a running handler can park the old one
    /// without moving it (a std::function may store its callable inline).
    std::unique_ptr<event_handler> fn;
    event_kind kind;
    bool attribute;
    bool removed = false;
  };

  /// What few targets need: typed handlers, and what a dispatch on the
  /// stack must outlive (a listener removed or replaced while it runs).
  struct extra_state {
    /// Typed-message handlers by type name.
    std::map<std::string, typed_decoder, std::less<>> typed;
    std::vector<std::shared_ptr<entry>> dead_entries;
    std::vector<std::unique_ptr<event_handler>> dead_fns;
  };

  /// 48 bytes: every port with a listener has one (a worker chain's
  /// contexts two each; issue #17), so the rest is a block of its own.
  struct state {
    /// One list for every kind (registration order within a kind is what
    /// counts): one vector, not one per kind.
    std::vector<std::shared_ptr<entry>> list;
    listener_id next_id = 1;
    /// Dispatches on the stack.
    int dispatching = 0;
    /// Null until first needed (more()).
    std::unique_ptr<extra_state> extra;
    extra_state& more() {
      if (!extra)
        extra = std::make_unique<extra_state>();
      return *extra;
    }
  };
  static_assert(sizeof(void*) != 8 || sizeof(state) <= 48,
                "event_target::state grew (issue #17)");

  class dispatch_scope;
  /// Takes `e` out of service: parked while a dispatch runs, else dropped.
  void retire(std::shared_ptr<entry>&& e);
  /// Erases the listener at `i` from the list and retires it.
  void retire(std::vector<std::shared_ptr<entry>>::iterator i);

  /// Allocated with the first listener: an idle port (most ports of a big
  /// topology, and every port in flight) pays one pointer.
  state& st();
  std::unique_ptr<state> st_;
};

} // namespace entangle::detail
