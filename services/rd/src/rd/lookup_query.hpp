#pragma once

// A parsed RD lookup request (RFC 9176 §6.2, draft-ietf-core-resource-directory-11 "RD Lookup"):
// search criteria and pagination, taken from the request's Uri-Query options. Pure values.
//
// Semantics chosen where the RFC leaves room:
// - "name=value" matches the value exactly; "name=pre*" matches values starting with "pre"; a
//   lone "*" ("name=*") and a bare "name" (no '=') match any attribute called `name`, with or
//   without a value. An attribute written without a value (";obs") matches only those two forms.
// - Names match ASCII case-insensitively, values byte for byte.
// - Relation-type attributes (rel, rev, rt, if) match if one of their whitespace-separated values
//   matches; a search value containing whitespace therefore never matches them.
// - `lt` is not an endpoint attribute for lookups: the registration lifetime is neither reported
//   nor matched (RFC 9176 §6.4, and §9.3 lists lt for registration only). "lt=..." is an ordinary
//   attribute search that matches links carrying an attribute called lt.
// - `page` and `count` are decimal numbers in 0..4294967295; page needs count; each may occur
//   once. count=0 gives an empty result.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "coapgw/common/result.hpp"

namespace coapgw::rd {

/// How a search value is compared.
enum class MatchKind {
  kExact,   // "name=value"
  kPrefix,  // "name=value*": the value before '*' is a prefix
  kAny,     // "name=*" or "name": the attribute is present
};

/// One search criterion.
struct Criterion {
  std::string name;   // lower-case
  std::string value;  // the exact value, or the prefix before '*'; empty for kAny
  MatchKind kind = MatchKind::kExact;

  /// True if an attribute value `candidate` satisfies this criterion (kAny: always).
  bool Matches(std::string_view candidate) const;

  /// True if the value of an attribute called `name` satisfies this criterion: for relation-type
  /// attributes one whitespace-separated value must match, else the whole value. nullopt stands
  /// for an attribute without a value, which only kAny accepts.
  bool MatchesAttribute(std::optional<std::string_view> attribute_value) const;

  /// For `href` criteria: the path of the location a search names, used to find a registration
  /// by location. A path-absolute value is itself; a URI with an authority and without query or
  /// fragment gives its path (whether the authority is the RD's is checked when matching); else
  /// nullopt.
  std::optional<std::string> LocationForm() const;

  bool operator==(const Criterion& other) const {
    return name == other.name && value == other.value && kind == other.kind;
  }
};

/// A lookup request: every criterion must match (RFC 9176 §6.2), then pagination applies.
struct LookupQuery {
  /// At most this many search criteria per request (they are tracked in a 64-bit mask).
  static constexpr size_t kMaxCriteria = 64;

  std::vector<Criterion> criteria;  // in request order
  std::optional<uint32_t> page;
  std::optional<uint32_t> count;
  /// Registrations whose base holds a link-local address (fe80::/10, 169.254.0.0/16) are shown
  /// only when this is true (RFC 9176 §6.1, §6.4). The CoAP adapter sets it when the lookup
  /// arrived from a link-local source on the link the RD accepts registrations on. Registrations
  /// do not record their arrival interface, so an RD serving several links must treat them as
  /// one.
  bool requester_on_link = false;
  /// The RD's own base URI as the requester addressed it ("coap://[2001:db8::ff]"), for href
  /// searches in URI form on registration and group locations (RFC 9176 §6.2: "SHOULD recognize
  /// either"). Empty: only the path-absolute form ("/rd/12") matches locations.
  std::string rd_base;

  /// Parses Uri-Query option values ("name=value", percent-decoding already done by the CoAP
  /// option framing). Errors (kInvalidArgument, naming the parameter): an empty name, page or
  /// count not a number in 0..4294967295 or given twice, page without count, more than
  /// kMaxCriteria criteria.
  static Result<LookupQuery> Parse(const std::vector<std::string>& query);

  /// True if a criterion has this (lower-case) name.
  bool HasCriterion(std::string_view name) const;
};

}  // namespace coapgw::rd
