#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace entangle {

/// Why a message was not delivered. Every drop is counted by reason
/// (`runtime::drops()`); nothing is lost silently.
enum class drop_reason : std::uint8_t {
  /// Posted from or to a closed port, or still queued on a port when it was
  /// closed.
  closed,
  /// Posted with its own target port in the transfer list (SEMANTICS §4.3).
  doomed,
  /// Posted on a port that is not entangled (its pairing was lost before it
  /// arrived, e.g. in a doomed message).
  unentangled,
  /// Queued on, or posted to, a port whose owning context ended.
  context_gone,
  /// Posted on a handle whose port was transferred away.
  detached,
  /// Posted through a handle from a context that does not own the port.
  foreign_context,
  /// The receiver could not deserialize it (a `messageerror` fired instead).
  messageerror,
  /// window.post_message whose target origin did not match the target
  /// window's origin at delivery (HTML §11.3).
  origin_mismatch,
  /// It carried a port into a queue that the port itself (transitively)
  /// holds: a cycle of ports in transit, each inside a message queued on
  /// the other, that nothing could ever deliver (see docs/architecture.md).
  /// The ports it carried close, so their peers see a close event.
  unreachable,
  /// A BroadcastChannel post from a context that is closing (HTML §14.2-14.3:
  /// not eligible for messaging, so the post returns silently); counted
  /// once per destination it would have reached.
  ineligible,
  /// Lost with another process: queued for, or in flight to or from, a
  /// node whose connection broke, that died or that was disconnected for
  /// misbehaving (see docs/architecture.md, "Across processes").
  node_lost,
};

inline constexpr std::size_t drop_reason_count = 11;

/// Returns the reason's name, e.g. "context_gone".
std::string_view to_string(drop_reason r) noexcept;

/// A snapshot of the drop counters.
struct drop_counts {
  std::array<std::uint64_t, drop_reason_count> by_reason{};

  std::uint64_t operator[](drop_reason r) const noexcept {
    return by_reason[static_cast<std::size_t>(r)];
  }

  std::uint64_t total() const noexcept {
    std::uint64_t n = 0;
    for (auto x : by_reason)
      n += x;
    return n;
  }

  /// The drops counted since `earlier` (a snapshot taken before).
  drop_counts since(const drop_counts& earlier) const noexcept {
    drop_counts d;
    for (std::size_t i = 0; i < drop_reason_count; ++i)
      d.by_reason[i] = by_reason[i] - earlier.by_reason[i];
    return d;
  }
};

} // namespace entangle
