#pragma once

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "entangle/detail/message_checks.hpp"
#include "entangle/fwd.hpp"
#include "entangle/transfer.hpp"

namespace entangle {

namespace detail {
struct context_control;
} // namespace detail

/// The options form of `window_proxy::post_message`
/// (HTML `WindowPostMessageOptions`).
struct window_post_message_options {
  /// "*" (anyone), "/" (the sender's own origin) or an absolute URL whose
  /// origin the target must have at delivery time.
  std::string target_origin = "/";
  transfer_list transfer;
};

/// A reference to a window (the web's `WindowProxy`): a top-level window
/// (`runtime::open_window`) or a frame (`context::open_frame`).
///
/// Unlike a port, a window proxy may be used from any context: reaching a
/// window is not a capability, its origin check is (HTML §11). It refers to
/// the browsing context, not to a document: after the window navigates,
/// the same proxy reaches the new document.
class window_proxy {
public:
  window_proxy() noexcept = default;

  explicit operator bool() const noexcept {
    return ctl_ != nullptr;
  }

  friend bool operator==(const window_proxy& x, const window_proxy& y) {
    return x.ctl_ == y.ctl_;
  }
  friend bool operator!=(const window_proxy& x, const window_proxy& y) {
    return !(x == y);
  }

  /// window.postMessage. Must be called from code running in a context (the
  /// "incumbent": its origin is the event's `origin`, and "/" means it).
  /// @throws dom_exception `SyntaxError` for an unparsable target origin,
  ///         before anything is serialized; `DataCloneError` and the other
  ///         serialization errors as for ports; `InvalidStateError` outside
  ///         any context.
  /// At delivery, if `target_origin` is not "*" and the window's *current*
  /// origin differs, or the message was posted to a document the window has
  /// since navigated away from, the message is dropped silently (counted)
  /// and the ports it carried are closed.
  void post_message(value message) const;
  void post_message(value message, std::string_view target_origin) const;
  void post_message(value message, std::string_view target_origin,
                    transfer_list transfer) const;
  void post_message(value message,
                    const window_post_message_options& options) const;
  /// @private Not a `value` (a std::vector<int>, a std::map, a lambda...):
  /// fails to compile with a message that names the fix.
  template <class T, class... Rest, detail::if_not_value<T> = 0>
  void post_message(T&&, Rest&&...) const {
    detail::reject_non_value<T>();
  }
  /// @private As above, with a braced transfer list.
  template <class T, detail::if_not_value<T> = 0>
  void post_message(T&&, std::string_view,
                    std::initializer_list<transferable>) const {
    detail::reject_non_value<T>();
  }

  /// Navigates this window to a new document with the origin of `url` (the
  /// web's `iframe.src = url` or `frame.location = url`); `init` runs as
  /// the new document's code (an empty one runs nothing). Must be called
  /// from a window; as in HTML without sandboxing, any window may navigate
  /// any window it has a proxy for.
  ///
  /// From the window itself it is `context::navigate`: it takes effect
  /// when the current task returns. From another window it is queued as a
  /// task on the target's event loop. Either way the old document goes as
  /// when a window navigates itself: every port of it is closed (peers get
  /// close), its tasks, timers, listeners, channels and frames go, window
  /// messages posted to it and not yet delivered are dropped (counted as
  /// `context_gone`), and later messages are checked against the new
  /// origin. A window that has ended ignores it; a later navigation of the
  /// same window replaces one that has not taken effect yet.
  /// @throws type_error for a null proxy; dom_exception `SyntaxError` for
  ///         an unparsable URL (nothing happens), `InvalidStateError` when
  ///         not called from a window.
  void navigate(std::string_view url, init_function init) const;

  /// The parent window (itself for a top-level window, as on the web).
  window_proxy parent() const;

  /// The top-level window of this frame tree.
  window_proxy top() const;

  /// The frames this window opened that have not ended, in opening order.
  std::vector<window_proxy> frames() const;

  /// The window's name and context id.
  const std::string& name() const;
  std::uint64_t id() const noexcept;

  /// Whether the window's context has ended.
  bool closed() const;

  /// @private
  explicit window_proxy(std::shared_ptr<detail::context_control> ctl) noexcept
    : ctl_(std::move(ctl)) {
  }

  /// @private
  const std::shared_ptr<detail::context_control>& control() const noexcept {
    return ctl_;
  }

private:
  std::shared_ptr<detail::context_control> ctl_;
};

} // namespace entangle
