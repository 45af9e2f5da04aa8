#pragma once

// Allocation-free URI-reference scanner behind ParseUriReference; the link-format parser uses it
// to validate targets and anchors in place.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace coapgw::linkformat::detail {

/// Views into the scanned text; the has_* flags tell "undefined" from "empty".
struct UriParts {
  std::string_view scheme;
  bool has_authority = false;
  std::string_view authority;
  bool has_userinfo = false;
  std::string_view userinfo;
  std::string_view host;
  bool ip_literal = false;
  std::string_view zone_id;
  bool has_port = false;
  uint16_t port = 0;
  std::string_view path;
  bool has_query = false;
  std::string_view query;
  bool has_fragment = false;
  std::string_view fragment;
};

struct ScanError {
  size_t offset = 0;        // into the scanned text
  std::string description;  // e.g. "invalid character ' '"; the caller appends the offset
};

/// Splits and validates an RFC 3986 URI-reference (with IRI Unicode allowed, see uri.hpp).
/// Returns false and fills `error` if the text is not one.
bool ScanUriReference(std::string_view text, UriParts* parts, ScanError* error);

}  // namespace coapgw::linkformat::detail
