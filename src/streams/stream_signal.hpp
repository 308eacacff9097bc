#pragma once

#include <string>

#include <caf/meta/type_name.hpp>

namespace entangle::detail {

/// A stream's control message, posted as a typed message on the stream's
/// port in order with the chunks (so it cannot be mistaken for one):
/// "close" and "abort" from the writer, "cancel" from the reader. The
/// runtime registers it (runtime_config's constructor) under
/// `stream_signal_name`.
struct stream_signal {
  std::string kind;
  /// The reason of an abort or cancel.
  std::string name;
  std::string message;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, stream_signal& x) {
  return f(caf::meta::type_name("entangle::stream_signal"), x.kind, x.name,
           x.message);
}

inline constexpr const char* stream_signal_name = "entangle::stream_signal";

} // namespace entangle::detail
