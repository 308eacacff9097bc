#pragma once

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "entangle/drop_reason.hpp"
#include "entangle/value.hpp"
#include "base/trace_hooks.hpp"

namespace entangle::detail {

struct port_record;

/// A typed C++ payload (include/entangle/typed.hpp): the bytes CAF's binary
/// serializer wrote at the post, and the type's registered (portable) name,
/// which is how the receiver picks its handler. The sender keeps no alias:
/// the receiver decodes its own object from these bytes.
struct typed_payload {
  std::string name;
  std::vector<char> bytes;
  /// Set (name and bytes empty) for the stand-in of a message its sender
  /// could not encode for the wire (remote/): delivered as `messageerror`
  /// with this text, in the place the message had in its queue.
  std::string undeliverable;
};

/// The transferred ports of a message in flight: a vector behind one
/// pointer. Most messages carry no port, and every queued envelope holds a
/// message, so the queues' pages carry 8 bytes for this instead of a
/// vector's 24; a message that does carry ports pays one more allocation.
class port_list {
public:
  using value_type = std::shared_ptr<port_record>;

  port_list() noexcept = default;
  port_list(port_list&&) noexcept = default;
  port_list& operator=(port_list&&) noexcept = default;
  /// Takes `xs` (the records must not be in another message).
  port_list& operator=(std::vector<value_type>&& xs) {
    if (xs.empty())
      v_.reset();
    else
      v_ = std::make_unique<std::vector<value_type>>(std::move(xs));
    return *this;
  }

  bool empty() const noexcept {
    return !v_ || v_->empty();
  }
  std::size_t size() const noexcept {
    return v_ ? v_->size() : 0;
  }
  value_type* begin() noexcept {
    return v_ ? v_->data() : nullptr;
  }
  value_type* end() noexcept {
    return v_ ? v_->data() + v_->size() : nullptr;
  }
  const value_type* begin() const noexcept {
    return v_ ? v_->data() : nullptr;
  }
  const value_type* end() const noexcept {
    return v_ ? v_->data() + v_->size() : nullptr;
  }
  value_type& operator[](std::size_t i) noexcept {
    return (*v_)[i];
  }
  value_type& at(std::size_t i) {
    if (!v_ || i >= v_->size())
      throw std::out_of_range("port_list::at");
    return (*v_)[i];
  }
  /// Reserving nothing allocates nothing (most serialized messages carry
  /// no port and pass through here).
  void reserve(std::size_t n) {
    if (n > 0)
      vec().reserve(n);
  }
  template <class... Ts>
  value_type& emplace_back(Ts&&... xs) {
    return vec().emplace_back(std::forward<Ts>(xs)...);
  }
  // By reference, as std::vector's: if growing throws, the caller keeps
  // its record (a transit port it must still close).
  void push_back(const value_type& x) {
    vec().push_back(x);
  }
  void push_back(value_type&& x) {
    vec().push_back(std::move(x));
  }
  /// Drops the records (a caller that owns transit ports closes them
  /// first: serialized_message::release_ports) and the vector.
  void clear() noexcept {
    v_.reset();
  }

private:
  std::vector<value_type>& vec() {
    if (!v_)
      v_ = std::make_unique<std::vector<value_type>>();
    return *v_;
  }

  std::unique_ptr<std::vector<value_type>> v_;
};

/// The output of StructuredSerializeWithTransfer: a message in flight.
///
/// `data` is the message as plain, acyclic data that shares nothing with the
/// sender: its buffers are fresh (copied, or holding the bytes moved out of
/// a transferred buffer), each port reference is a `port_slot` naming an
/// entry of `ports`, graph nodes and views are definitions, and a node or
/// buffer reached again is a reference to its number (clone/'s `rebuild`
/// turns it back into a graph at the receiver).
///
/// `ports` are the transferred ports, in transfer-list order, each IN
/// TRANSIT: owned by this message and by no context. Receiving the message
/// *adopts* them (takes the records out). A message destroyed with ports
/// still inside (dropped, its receiver gone, its queue closed) closes them,
/// so their peers get `close`: nothing in flight can leak a port. `fate` is
/// the reason those ports' queued messages are counted under.
///
/// Move-only: a message has exactly one owner (a port queue, a dispatch
/// loop, or a drop site).
class serialized_message {
public:
  serialized_message() = default;
  /// A message whose clone is `data`'s copy (a primitive or a plain
  /// tree): copy-constructed in place, where assigning to a default
  /// message would copy into a temporary and move that.
  explicit serialized_message(const value& plain) : data(plain) {
  }
  /// The same, moved from a value the sender owns (context_core::
  /// post_owned).
  explicit serialized_message(value&& plain) noexcept
    : data(std::move(plain)) {
  }
  serialized_message(serialized_message&&) noexcept = default;
  serialized_message& operator=(serialized_message&& other) noexcept;
  serialized_message(const serialized_message&) = delete;
  serialized_message& operator=(const serialized_message&) = delete;
  ~serialized_message() {
    if (!ports.empty()) // most messages carry none: no call
      release_ports();
  }

  value data;
  port_list ports;
  /// Total bytes of buffers in `data` (checked against receiver limits).
  std::size_t buffer_bytes = 0;
  /// Whether `data` holds port slots, definitions or references, which the
  /// receiver must rebuild (plain trees and primitives are used as they
  /// are, with no walk).
  bool needs_rebuild = false;
  drop_reason fate = drop_reason::closed;
  /// Not a message: the remote node's splice marker (src/remote/
  /// node_splice.cpp), posted between two of its own link ends and taken
  /// by the other end's sink. Never delivered to a user, never counted as
  /// dropped; nothing from the wire or a user's post sets it.
  bool splice_marker = false;
  /// Set for a typed message (then `data` is undefined): one more payload
  /// kind of the same envelope, so queueing, order, transfer and close
  /// rules are those of every other message.
  std::unique_ptr<typed_payload> typed;
#if ENTANGLE_TRACING
  /// Links the post to the delivery in a trace (0: not traced).
  std::uint64_t trace_id = 0;
#endif

private:
  void release_ports() noexcept;
};

} // namespace entangle::detail
