#pragma once

// Typed messages: posting your own C++ types on a port.

#include <functional>
#include <memory>
#include <string>
#include <type_traits>
#include <typeinfo>
#include <utility>
#include <vector>

#include <caf/binary_deserializer.hpp>
#include <caf/binary_serializer.hpp>
#include <caf/detail/type_traits.hpp>
#include <caf/error.hpp>

#include "entangle/message_event.hpp"
#include "entangle/message_port.hpp"
#include "entangle/transfer.hpp"

namespace entangle {

/// Whether `T` can be posted as a typed message: CAF can serialize it (an
/// `inspect` overload, or a type CAF knows), and it is default- and
/// copy-constructible (what `caf::actor_system_config::add_message_type`
/// requires).
template <class T>
inline constexpr bool is_typed_message_v
  = caf::detail::is_serializable<T>::value
    && std::is_default_constructible_v<T> && std::is_copy_constructible_v<T>
    && !std::is_pointer_v<T>;

namespace detail {

/// @private Decodes a typed payload into the receiver's own `T` and returns
/// the call that hands it to the user's handler (so the handler table may
/// change while the handler runs). Throws `std::runtime_error` on bytes
/// that do not decode to exactly one `T`.
using typed_decoder = std::function<std::function<void(message_event&)>(
  caf::execution_unit*, const std::vector<char>&)>;

/// @private The execution unit of the running context (for CAF's
/// serializers, which need it for actor handles inside a `T`).
caf::execution_unit* current_execution_unit() noexcept;

/// @private The name `type` was registered under in the running context's
/// runtime config. @throws dom_exception `DataCloneError` (or
/// `NotSupportedError` when `for_handler`) naming the type when it is not
/// registered.
const std::string& registered_name(const std::type_info& type,
                                   bool for_handler);

/// @private Posts an encoded typed message (see `post_typed`).
void post_typed(const message_port& port, const std::string& name,
                std::vector<char> bytes, const transfer_list& transfer);

/// @private Installs (or removes) the handler for `name` on `port`.
void set_typed_handler(const message_port& port, const std::string& name,
                       typed_decoder fn);

[[noreturn]] void throw_encode_error(const std::type_info& type,
                                     const caf::error& err);
[[noreturn]] void throw_decode_error(const std::string& name,
                                     const std::string& why);

/// @private Exactly one static_assert fires for a `T` that cannot be a
/// typed message (the first reason), and the callers compile nothing else
/// for it (`if constexpr`): the error is the first and only one.
template <class T>
constexpr void check_typed_message() {
  constexpr bool ptr = std::is_pointer_v<T>;
  constexpr bool ser = ptr || caf::detail::is_serializable<T>::value;
  constexpr bool def = !ser || std::is_default_constructible_v<T>;
  static_assert(!ptr,
                "entangle: a pointer cannot be posted (it would alias the "
                "sender's memory); post the object itself");
  static_assert(ser,
                "entangle: T cannot be posted as a typed message because CAF "
                "cannot serialize it: give it a free "
                "`template <class Inspector> typename Inspector::result_type "
                "inspect(Inspector& f, T& x) { return f(x.a, x.b); }` "
                "listing its fields, next to T");
  static_assert(!ser || ptr || def,
                "entangle: a typed message type needs a default constructor "
                "(the receiver builds one and decodes into it)");
  static_assert(!ser || ptr || !def || std::is_copy_constructible_v<T>,
                "entangle: a typed message type must be copy-constructible "
                "(caf::actor_system_config::add_message_type requires it)");
}

} // namespace detail

/// Returns the name `T` is registered under (see `post_typed`) in the
/// running context's runtime. @throws dom_exception `DataCloneError` if it
/// is not registered.
template <class T>
const std::string& typed_name() {
  detail::check_typed_message<T>();
  return detail::registered_name(typeid(T), false);
}

/// Posts `x` on `port` as a typed message: the receiver gets its own `T`
/// (decoded from CAF's binary serialization made here, so nothing aliases
/// the sender's object) in the handler `on_typed<T>` installed on the other
/// end. The transfer list moves ports along (they arrive in the event's
/// `ports`, in order).
///
/// A typed message is one more payload kind of the port's ordinary
/// messages: it is FIFO with structured-clone messages on the same port and
/// follows the same transfer, close and drop rules.
///
/// `T` must be registered in the runtime's config with its portable name,
/// `cfg.add_message_type<T>("my::point")`, the name the receiver dispatches
/// on (as CAF requires for anything that crosses a process).
///
/// Checked at compile time: `T` is serializable by CAF, default- and
/// copy-constructible. @throws dom_exception `DataCloneError` naming the
/// type if it is not registered or fails to serialize, or if `transfer`
/// holds a buffer (a typed message carries its bytes inside `T`) or is
/// invalid as for `message_port::post_message`. A failed post changes
/// nothing.
template <class T>
void post_typed(const message_port& port, const T& x,
                const transfer_list& transfer = {}) {
  detail::check_typed_message<T>();
  if constexpr (is_typed_message_v<T>) {
    const auto& name = detail::registered_name(typeid(T), false);
    std::vector<char> bytes;
    caf::binary_serializer sink{detail::current_execution_unit(), bytes};
    // A saving inspector only reads; CAF 0.17 spells it with a mutable ref.
    if (auto err = sink(const_cast<T&>(x)))
      detail::throw_encode_error(typeid(T), err);
    detail::post_typed(port, name, std::move(bytes), transfer);
  }
}

namespace detail {

/// @private Installs `call(T&, message_event&, std::size_t size)` for
/// typed messages of `T` on `port`; `size` is what the message counts for
/// against a byte mark (its encoded bytes and type name, `message_size`),
/// which a stream needs to hold the credit of a chunk still being read.
template <class T, class Call>
void install_typed_handler(const message_port& port, Call call) {
  const auto& name = detail::registered_name(typeid(T), true);
  auto user = std::make_shared<Call>(std::move(call));
  detail::set_typed_handler(
    port, name,
    [user, name](caf::execution_unit* ctx, const std::vector<char>& bytes)
      -> std::function<void(message_event&)> {
      auto obj = std::make_shared<T>();
      caf::binary_deserializer source{ctx, bytes};
      if (auto err = source(*obj))
        detail::throw_decode_error(name, caf::to_string(err));
      if (source.remaining() != 0)
        detail::throw_decode_error(name, "trailing bytes after the value");
      return [user, obj, size = bytes.size() + name.size()](
               message_event& ev) { (*user)(*obj, ev, size); };
    });
}

/// @private The body of `on_typed` (compiled only for a valid `T`).
template <class T, class F>
void set_typed_handler_for(const message_port& port, F fn) {
  if constexpr (std::is_same_v<F, std::nullptr_t>) {
    detail::set_typed_handler(port, detail::registered_name(typeid(T), true),
                              nullptr);
  } else {
    static_assert(std::is_invocable_v<F&, T&, message_event&>
                    || std::is_invocable_v<F&, T&>,
                  "entangle: an on_typed<T> handler takes (T&, "
                  "message_event&) or (T&)");
    install_typed_handler<T>(
      port, [fn = std::move(fn)](T& x, message_event& ev, std::size_t) mutable {
        if constexpr (std::is_invocable_v<F&, T&, message_event&>)
          fn(x, ev);
        else
          fn(x);
      });
  }
}

} // namespace detail

/// Sets the handler for typed messages of type `T` on `port`: `fn(T&,
/// message_event&)` or `fn(T&)`; `nullptr` removes it. One handler per type
/// per port (setting again replaces it). Like `on_message`, it starts the
/// port.
///
/// A typed message whose type has no handler on the receiving port (or
/// whose bytes do not decode as that type) is not delivered: the port fires
/// `messageerror` (with `ev.error` naming the type and `ev.typed` set), the
/// message is counted as a `drop_reason::messageerror` drop and the ports it
/// carried are closed -- as the HTML standard does for data the receiver
/// cannot deserialize. `on_message` handlers never see typed messages.
///
/// @throws dom_exception `NotSupportedError` naming the type if it is not
/// registered in the runtime's config.
template <class T, class F>
void on_typed(const message_port& port, F fn) {
  detail::check_typed_message<T>();
  if constexpr (is_typed_message_v<T>)
    detail::set_typed_handler_for<T>(port, std::move(fn));
}

} // namespace entangle
