#pragma once

// CoRE Link Format (RFC 6690, application/link-format, CoAP content format 40): parsing into
// links with their attributes in document order, and serialization back. Pure functions on
// values; no I/O; thread-compatible.
//
// Accepted syntax (RFC 6690 §2 with the whitespace real devices send; libs/linkformat/README.md
// has the details and the reasons):
//   payload   = OWS [ link *( OWS "," OWS link ) ] OWS
//   link      = "<" URI-Reference ">" *( OWS ";" OWS parameter )
//   parameter = parmname [ "*" ] [ OWS "=" OWS ( ptoken / quoted-string ) ]
//   OWS       = *( SP / HTAB / CR / LF )
// Quoted strings take backslash escapes ("\" followed by any byte but NUL) and no control
// characters other than HTAB. Targets, anchors and quoted values must be well-formed UTF-8.
// Targets and anchor values must be RFC 3986 URI-references (Unicode allowed, see uri.hpp).

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "coapgw/common/result.hpp"

namespace coapgw::linkformat {

/// One link parameter ("target attribute"), e.g. rt="temperature-c" or the valueless ";obs".
struct Attribute {
  std::string name;                  // as written (matching is ASCII case-insensitive)
  std::optional<std::string> value;  // unquoted and unescaped; nullopt for ";name"

  bool operator==(const Attribute& other) const {
    return name == other.name && value == other.value;
  }
  bool operator!=(const Attribute& other) const { return !(*this == other); }
};

/// One link: a target URI-reference and its attributes, duplicates kept in document order.
struct Link {
  std::string target;  // between "<" and ">", as written (relative references unresolved)
  std::vector<Attribute> attributes;

  /// The first attribute called `name` (ASCII case-insensitive), or nullptr.
  const Attribute* FindAttribute(std::string_view name) const;

  /// The value of the first occurrence of `name` that has a value; nullopt if there is none.
  /// The view points into this link.
  std::optional<std::string_view> Find(std::string_view name) const;

  /// True if an attribute called `name` occurs, with or without a value.
  bool Has(std::string_view name) const;

  /// Every value of every occurrence of `name`, in order. For the relation-type attributes
  /// (rel, rev, rt, if; see IsRelationTypes) each value is split on whitespace, so
  /// rt="a b";rt=c gives {a, b, c}. Valueless occurrences give nothing. Views point into this
  /// link.
  std::vector<std::string_view> Values(std::string_view name) const;

  bool operator==(const Link& other) const {
    return target == other.target && attributes == other.attributes;
  }
  bool operator!=(const Link& other) const { return !(*this == other); }
};

/// Bounds on what one Parse call may allocate; exceeding one is kTooLarge.
struct ParseLimits {
  size_t max_bytes = size_t{1024} * 1024;  // payload size
  size_t max_links = 10000;                // links in the payload
  size_t max_attributes_per_link = 64;     // attributes of one link
  size_t max_attributes = 100000;          // attributes in the whole payload
};

/// Parses a link-format document. An empty (or all-whitespace) payload is zero links.
/// Errors: kInvalidArgument "link-format: <what> at byte N" (N is the 0-based offset of the
/// offending byte), e.g. "expected '>' at byte 17", "unterminated quoted string opened at
/// byte 9"; kTooLarge when a limit in `limits` is exceeded, naming the limit. Nothing is
/// returned on error: there is no partial result.
Result<std::vector<Link>> Parse(std::string_view payload, const ParseLimits& limits = {});

/// Writes links as a link-format document: "," between links, no whitespace. Values are
/// written as ptokens when they are one, else quoted with '"' and '\' (and control characters)
/// backslash-escaped; anchor and title are always quoted (RFC 6690 §2). Bytes no URI may hold
/// (controls, space, '<', '>', '"', '{', '}', '|', '\', '^', '`') are percent-encoded in
/// targets. Attribute names must be valid (IsValidAttributeName); Parse only produces such.
/// For every `links` that Parse returned, Parse(Serialize(links)) == links.
std::string Serialize(const std::vector<Link>& links);

/// Appends one link as Serialize writes it.
void AppendLink(const Link& link, std::string* out);

/// True for a name Parse accepts: 1*attr-char (RFC 5987) optionally followed by "*".
bool IsValidAttributeName(std::string_view name);

/// True for the attributes RFC 6690 defines as space-separated relation-types: rel, rev, rt,
/// if (ASCII case-insensitive).
bool IsRelationTypes(std::string_view name);

}  // namespace coapgw::linkformat
