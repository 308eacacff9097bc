#pragma once

#include <optional>
#include <string>

namespace entangle::detail {

/// The WHATWG URL standard's "domain to ASCII" with beStrict false (URL
/// §3.5): an ASCII domain without "xn--" labels is lower-cased; any other
/// goes through UTS-46 ToASCII (libidn2, see idna.cpp). Fails, with a short
/// reason in `*why`, when UTS-46 does, when the result is empty, or when it
/// holds a forbidden domain code point. `domain` is UTF-8 (already
/// percent-decoded, invalid sequences already replaced by U+FFFD).
std::optional<std::string> domain_to_ascii(const std::string& domain,
                                           const char** why);

} // namespace entangle::detail
