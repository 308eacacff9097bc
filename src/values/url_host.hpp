#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace entangle::detail {

/// The WHATWG URL standard's host parser (URL §3.5 "host parsing"),
/// returning the host serialized (§3.6), or nullopt for failure with a
/// short reason in `*why`.
///
/// `input` is the URL's host as written (UTF-8, not yet percent-decoded).
/// `is_opaque` is set for URLs with a non-special scheme, whose hosts are
/// opaque strings (only forbidden code points fail them). For special
/// schemes the host is an IPv6 address in brackets, an IPv4 address in any
/// of the number forms the standard accepts (0x7f.1 is 127.0.0.1), or a
/// domain: percent-decoded, read as UTF-8 (invalid bytes become U+FFFD),
/// and converted to ASCII by UTS-46 (libidn2; url_host.cpp says where
/// libidn2 and UTS-46 differ and how the difference is bridged).
std::optional<std::string> parse_host(std::string_view input, bool is_opaque,
                                      const char** why);

} // namespace entangle::detail
