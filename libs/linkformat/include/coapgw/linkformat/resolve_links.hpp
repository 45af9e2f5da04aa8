#pragma once

// Resource Directory rules for the URI references inside registered links (RFC 9176 §5, §6.1,
// Appendix A.2 and A.3). Pure functions; thread-compatible.
//
// The rules implemented, and why:
// - Target and anchor are resolved against the registration base URI, independently of each
//   other (A.2.4: "resolved against the relevant base URI ... and independent of each other").
//   A relative target is NOT resolved against the anchor, as some readings of RFC 6690 had it.
// - A reference that already is a URI (has a scheme) is kept byte for byte (§6.1: "Links of
//   which href or anchor was submitted as a (full) URI are returned with the respective
//   attribute unmodified"); only relative references go through RFC 3986 §5.2.
// - An empty anchor ("") resolves to the base itself (§5: "it can also contain empty anchors").
// - Without an anchor, the link context is the Origin of the resolved target (A.2.4, RFC 6690
//   §2.1), i.e. "scheme://authority". For a relative target and the usual path-less base this
//   equals the base; for an absolute target on another host it is that host. Targets without an
//   authority (e.g. "urn:...") have no Origin; the base's Origin stands in.
// - In lookup results (§6.1) a link without an anchor stays without one.

#include <string>
#include <vector>

#include "coapgw/common/result.hpp"
#include "coapgw/linkformat/link_format.hpp"
#include "coapgw/linkformat/uri.hpp"

namespace coapgw::linkformat {

/// A link's target and context as absolute URIs.
struct ResolvedLink {
  std::string target;         // absolute target URI
  std::string anchor;         // absolute context URI: the resolved anchor, else the default
  bool anchor_given = false;  // the link carried an anchor attribute
};

/// Resolves `link`'s target and context against the registration base URI `base`.
/// Errors: kInvalidArgument if `base` has no scheme, or the target or anchor is not a
/// URI-reference, or an anchor attribute has no value (none of which Parse lets through).
Result<ResolvedLink> ResolveLink(const Uri& base, const Link& link);

/// The link as a lookup returns it (§6.1): target and every anchor attribute resolved, all other
/// attributes and their order unchanged, no anchor added. Errors: as ResolveLink.
Result<Link> ToLookupLink(const Uri& base, const Link& link);

/// Checks RFC 9176 Appendix A.3 (Limited Link Format, required of registration payloads by §5):
/// every target and anchor is either a URI (has a scheme) or an absolute path ("/" not followed
/// by "/"). Errors: kInvalidArgument naming the first offending link by index and target.
Status CheckLimitedLinkFormat(const std::vector<Link>& links);

}  // namespace coapgw::linkformat
