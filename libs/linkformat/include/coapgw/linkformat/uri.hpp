#pragma once

// RFC 3986 URI references: parsing into components, reference resolution (§5.2) and
// recomposition (§5.3). Pure functions on values; no I/O, no DNS, thread-compatible.
//
// Nothing is normalized: case, percent-encoding and ports stay as written. Bytes >= 0x80 are
// accepted where RFC 3987 (IRI) allows Unicode, if they are well-formed UTF-8, because
// link-format documents carry IRIs without percent-encoding (RFC 9176 Appendix A.2.4).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "coapgw/common/result.hpp"

namespace coapgw::linkformat {

/// The five components of RFC 3986 §3, with "undefined" (nullopt) kept apart from "empty" as
/// §5.2 needs, plus the parts of the authority decoded for callers that open connections.
struct Uri {
  std::string scheme;                    // empty for a relative reference
  std::optional<std::string> authority;  // as written, without "//"; nullopt if no "//"
  std::string path;                      // as written; may be empty
  std::optional<std::string> query;      // without "?"
  std::optional<std::string> fragment;   // without "#"

  // Decoded from `authority` by ParseUriReference and carried along by Resolve; ToString()
  // ignores them (it writes `authority` itself).
  std::optional<std::string> userinfo;  // without "@"
  std::string host;                     // reg-name or IPv4 as written; IPv6 without brackets
  bool host_is_ip_literal = false;      // the host was written in brackets
  std::string zone_id;                  // RFC 6874 zone of an IPv6 literal, still encoded
  std::optional<uint16_t> port;         // nullopt if absent or empty ("host:")

  /// True if the URI has a scheme, i.e. it is a URI and not a relative reference.
  bool IsAbsolute() const { return !scheme.empty(); }

  /// The port to connect to: the explicit port, else the scheme's default (coap 5683, coaps
  /// 5684, coap+tcp 5683, coaps+tcp 5684, coap+ws 80, coaps+ws 443, http 80, https 443),
  /// else nullopt.
  std::optional<uint16_t> EffectivePort() const;

  /// "scheme://host[:port]" (the authority without userinfo), or "" if there is no scheme or
  /// no authority. RFC 6690's default link context.
  std::string Origin() const;

  /// Recomposition per RFC 3986 §5.3. Where a component sequence would read back differently
  /// (no authority and a path starting "//", or a relative path whose first segment holds
  /// ':'), the path is prefixed with "/." or "./" as §4.2 and §5.2.4 suggest.
  std::string ToString() const;

  bool operator==(const Uri& other) const;
  bool operator!=(const Uri& other) const { return !(*this == other); }
};

/// Parses an RFC 3986 URI-reference (absolute URI or relative reference). An empty string is
/// a valid (empty) relative reference.
/// Errors: kInvalidArgument naming the byte offset, e.g. "URI: invalid character ' ' at byte 4",
/// for characters outside the component's grammar, malformed percent-encoding, a bad IP
/// literal, a port above 65535, or a ':' in the first segment of a relative path.
Result<Uri> ParseUriReference(std::string_view text);

/// As ParseUriReference, but the text must have a scheme (RFC 3986 "URI"); a fragment is
/// allowed. Errors: kInvalidArgument as above, or "URI: no scheme" for a relative reference.
Result<Uri> ParseUri(std::string_view text);

/// RFC 3986 §5.2.2 (strict) resolution of `reference` against `base`. `base` should be absolute
/// (§5.1); its fragment is ignored. Never fails: every pair of parsed values has a result.
Uri Resolve(const Uri& base, const Uri& reference);

/// Parses both and resolves; returns the recomposed target URI.
/// Errors: kInvalidArgument if either does not parse or `base` has no scheme.
Result<std::string> Resolve(std::string_view base, std::string_view reference);

/// RFC 3986 §5.2.4 remove_dot_segments.
std::string RemoveDotSegments(std::string_view path);

}  // namespace coapgw::linkformat
