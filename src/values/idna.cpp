// Domain to ASCII (WHATWG URL §3.5) with UTS-46 ToASCII through libidn2.
//
// The URL standard asks for UTS-46 with CheckHyphens=false, CheckBidi=true,
// CheckJoiners=true, UseSTD3ASCIIRules=false, Transitional_Processing=false
// and VerifyDnsLength=false. libidn2 implements UTS-46's mapping but then
// validates labels by IDNA2008, which refuses more: symbols UTS-46 allows
// (U+2603 is "xn--n3h"), ContextO characters, hyphens at a label's edges
// or at positions 3-4, over-long labels and domains. uts46_to_ascii below
// says how that is bridged, and what is left.

#include "values/idna.hpp"

#include <cstdint>
#include <string_view>

#include <idn2.h>

#include "values/url_chars.hpp"

namespace entangle::detail {

using namespace url_chars;

namespace {

bool starts_with_xn(std::string_view label) {
  return label.size() >= 4 && ascii_lower(label[0]) == 'x'
         && ascii_lower(label[1]) == 'n' && label[2] == '-' && label[3] == '-';
}

/// libidn2's lookup (UTS-46 mapping, then the IDNA2008 checks) of `s`.
std::optional<std::string> idn2_lookup(const std::string& s, int flags,
                                       int& rc) {
  char* out = nullptr;
  rc = idn2_lookup_u8(reinterpret_cast<const std::uint8_t*>(s.c_str()),
                      reinterpret_cast<std::uint8_t**>(&out), flags);
  if (rc != IDN2_OK)
    return std::nullopt;
  std::string result{out};
  idn2_free(out);
  return result;
}

/// libidn2 refusals that UTS-46 with the URL standard's options
/// (CheckHyphens, VerifyDnsLength and UseSTD3ASCIIRules off; no ContextO
/// rules; symbols such as U+2603 valid) would not make.
bool idna2008_only(int rc) {
  switch (rc) {
    case IDN2_DISALLOWED: case IDN2_CONTEXTO: case IDN2_CONTEXTO_NO_RULE:
    case IDN2_2HYPHEN: case IDN2_HYPHEN_STARTEND: case IDN2_TOO_BIG_DOMAIN:
    case IDN2_TOO_BIG_LABEL:
      return true;
    default:
      return false;
  }
}

/// The four UTS-46 "deviation" characters (ß, ς, ZWNJ, ZWJ): the only ones
/// that transitional and nontransitional processing treat differently.
bool has_deviation(std::string_view s) {
  for (auto d : {"\xc3\x9f", "\xcf\x82", "\xe2\x80\x8c", "\xe2\x80\x8d"})
    if (s.find(d) != std::string_view::npos)
      return true;
  return false;
}

/// One part of a domain (between label separators) in UTS-46 ToASCII.
std::optional<std::string> part_to_ascii(std::string_view part) {
  if (is_ascii(part) && !starts_with_xn(part)) {
    std::string out{part}; // ASCII maps to itself, upper case lowered
    for (auto& c : out)
      c = ascii_lower(c);
    return out;
  }
  std::string s{part};
  int rc = 0;
  if (auto r = idn2_lookup(s, IDN2_NONTRANSITIONAL, rc))
    return r;
  // Transitional processing differs from the nontransitional processing
  // the URL standard wants only in the deviation characters, and libidn2
  // skips its IDNA2008 code point checks in that mode: without deviation
  // characters it is the UTS-46 answer.
  if (!idna2008_only(rc) || has_deviation(s))
    return std::nullopt;
  return idn2_lookup(s, IDN2_TRANSITIONAL, rc);
}

/// UTS-46 ToASCII with the URL standard's options (CheckHyphens=false,
/// CheckBidi=true, CheckJoiners=true, UseSTD3ASCIIRules=false,
/// Transitional_Processing=false, VerifyDnsLength=false).
///
/// libidn2 implements UTS-46 mapping and IDNA2008 validation, which is
/// stricter than UTS-46 validation. So the whole domain goes to libidn2
/// first (exact whenever libidn2 accepts it, Bidi across labels included);
/// if libidn2 refuses it only for an IDNA2008 rule that UTS-46 lacks, each
/// part between label separators is converted on its own (part_to_ascii).
/// What this cannot do (documented in docs/architecture.md): accept a
/// non-ASCII label that starts or ends with '-' or has "--" at positions
/// 3-4, or one over 63 bytes once encoded (libidn2 checks hyphens and
/// lengths in either mode); a label with both a deviation character and an
/// IDNA2008-disallowed symbol; and the Bidi rule across labels is not
/// checked when the per-part path is taken.
std::optional<std::string> uts46_to_ascii(const std::string& domain) {
  int rc = 0;
  if (auto r = idn2_lookup(domain, IDN2_NONTRANSITIONAL, rc))
    return r;
  if (!idna2008_only(rc))
    return std::nullopt;
  // Label separators: '.', U+3002, U+FF0E and U+FF61 all map to '.'.
  std::string out;
  std::size_t start = 0;
  for (std::size_t i = 0; i <= domain.size();) {
    std::size_t sep = 0;
    if (i == domain.size() || domain[i] == '.')
      sep = 1;
    else if (domain.compare(i, 3, "\xe3\x80\x82") == 0
             || domain.compare(i, 3, "\xef\xbc\x8e") == 0
             || domain.compare(i, 3, "\xef\xbd\xa1") == 0)
      sep = 3;
    if (sep == 0) {
      ++i;
      continue;
    }
    auto part = part_to_ascii(
      std::string_view{domain}.substr(start, i - start));
    if (!part)
      return std::nullopt;
    out += *part;
    if (i < domain.size())
      out += '.';
    i += sep;
    start = i;
  }
  return out;
}

} // namespace

std::optional<std::string> domain_to_ascii(const std::string& domain,
                                           const char** why) {
  std::optional<std::string> result;
  bool fast = is_ascii(domain);
  for (auto label : split(domain, '.'))
    fast = fast && !starts_with_xn(label);
  if (fast) {
    result = domain;
    for (auto& c : *result)
      c = ascii_lower(c);
  } else {
    // UTS-46 maps every ASCII code point to itself (upper case lowered),
    // so a forbidden one in the input is in any result too: refusing it
    // first changes no answer, and keeps NUL away from libidn2's C strings.
    for (unsigned char c : domain) {
      if (c < 0x80 && forbidden_domain(c)) {
        *why = "forbidden code point in the host";
        return std::nullopt;
      }
    }
    result = uts46_to_ascii(domain);
    if (!result) {
      *why = "the host is not a valid internationalized domain name";
      return std::nullopt;
    }
  }
  if (result->empty()) {
    *why = "empty host";
    return std::nullopt;
  }
  for (unsigned char c : *result) {
    if (forbidden_domain(c)) {
      *why = "forbidden code point in the host";
      return std::nullopt;
    }
  }
  return result;
}

} // namespace entangle::detail
