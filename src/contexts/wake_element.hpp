#pragma once

#include <atomic>
#include <cstdint>

#include <caf/atom.hpp>
#include <caf/detail/tuple_vals.hpp>
#include <caf/mailbox_element.hpp>
#include <caf/make_message.hpp>
#include <caf/type_erased_tuple.hpp>

namespace entangle::detail {

/// A context's reusable wake-up: the mailbox element that carries a
/// `port_ready` hint or an `unshipped` token to its context when it is free,
/// so that most hops allocate no CAF message (a hint is two words; CAF would
/// allocate, construct, match and free a mailbox element for each).
///
/// Invariants:
/// - At most one mailbox holds it: a sender takes it (free -> queued) before
///   writing its content and enqueueing it; CAF hands it back through
///   `request_deletion` (queued -> free) once the context consumed it or its
///   closed mailbox dropped it. When it is taken, senders allocate an
///   ordinary message instead: same content, same mailbox order.
/// - The content is written only by the sender that took it, before the
///   enqueue publishes it; the context reads it only while it is queued.
/// - Its owner never deletes it while it is queued: `orphan` marks it, and
///   CAF's `request_deletion` then deletes it (whichever comes last frees).
///
/// The content stays a real `(atom, u64)` tuple so that any CAF code that
/// inspects a mailbox element (logging, a closed mailbox) sees a valid one;
/// the context recognises it by address (context_core::consume).
class wake_element final
  : public caf::mailbox_element,
    public caf::detail::tuple_vals_impl<caf::type_erased_tuple, caf::atom_value,
                                        std::uint64_t> {
public:
  using tuple = caf::detail::tuple_vals_impl<caf::type_erased_tuple,
                                             caf::atom_value, std::uint64_t>;

  wake_element() : tuple(caf::atom_value{}, std::uint64_t{0}) {
    // nop
  }

  /// Takes the element for one wake-up; false if it is already queued.
  bool try_take() noexcept {
    auto expected = free_state;
    return state_.compare_exchange_strong(expected, queued_state,
                                          std::memory_order_acquire,
                                          std::memory_order_relaxed);
  }

  /// Writes the wake-up (only after try_take succeeded).
  void set(caf::atom_value what, std::uint64_t epoch) noexcept {
    std::get<0>(data()) = what;
    std::get<1>(data()) = epoch;
  }

  caf::atom_value what() const noexcept {
    return std::get<0>(data());
  }
  std::uint64_t epoch() const noexcept {
    return std::get<1>(data());
  }

  /// Called by the owner instead of `delete`: frees it now unless a mailbox
  /// still holds it (then the mailbox's release frees it).
  void orphan() noexcept {
    if (state_.exchange(orphaned_state, std::memory_order_acq_rel)
        == free_state)
      delete this;
  }

  caf::type_erased_tuple& content() override {
    return *this;
  }
  const caf::type_erased_tuple& content() const override {
    return *this;
  }
  caf::message move_content_to_message() override {
    return caf::make_message(what(), epoch());
  }
  caf::message copy_content_to_message() const override {
    return caf::make_message(what(), epoch());
  }

  /// CAF releases a consumed (or dropped) mailbox element here.
  void request_deletion(bool) const noexcept override {
    // acq_rel: releases the content to the next sender, and acquires the
    // owner's orphaning before the delete.
    if (state_.exchange(free_state, std::memory_order_acq_rel)
        == orphaned_state)
      delete this;
  }

private:
  ~wake_element() override = default;

  static constexpr int free_state = 0;
  static constexpr int queued_state = 1;
  static constexpr int orphaned_state = 2;
  mutable std::atomic<int> state_{free_state};
};

/// Wake-ups, since the process started, that found their context's element
/// queued and went as an ordinary (allocated) CAF message. Counted only on
/// that path; the benchmark prints it per message (docs/performance.md).
std::uint64_t wake_fallbacks() noexcept;

} // namespace entangle::detail
