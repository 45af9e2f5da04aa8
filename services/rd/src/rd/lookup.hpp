#pragma once

// RD lookup (RFC 9176 §6; draft-ietf-core-resource-directory-11 "RD Lookup" for groups): the
// payloads of GET /rd-lookup/res, /rd-lookup/ep and /rd-lookup/gp, computed from an rd::Index.
// Pure functions; run on the thread that owns the index.
//
// Matching (RFC 9176 §6.2), each criterion independently:
// - a resource link matches a criterion if the link has it or its endpoint has it;
// - an endpoint matches a criterion if it has it or any of its links has it;
// - a group matches gp/d/base/href on its own name, sector, multicast base and location, and any
//   other criterion if one of its registered members matches it as an endpoint.
// Endpoint attributes are ep, d, et, base, href (the location, "/rd/<key>") and the extra
// attributes; gp=<name> means "member of a group called <name>" (draft-11). Link attributes are
// the registered ones, with href meaning the resolved target and anchor the resolved anchor.
// Search values for href and anchor on links must be URIs (compared with the resolved form);
// href on endpoints and groups is compared with the location, given as a path ("/rd/12") or as a
// URI under query.rd_base ("coap://rd.example.com/rd/12"); a trailing '*' works on either form.
//
// Registrations with a link-local base are left out unless query.requester_on_link (RFC 9176
// §6.1, §6.4), also as group members.
//
// Output is ordered by registration (group) key, then link order; pagination applies to the
// resulting list (links for res, endpoints for ep, groups for gp). No match gives an empty payload,
// which the CoAP adapter returns as 2.05.

#include <cstddef>
#include <string>

#include "rd/index.hpp"
#include "rd/lookup_query.hpp"

namespace coapgw::rd {

/// A lookup's application/link-format payload and what it holds.
struct LookupResult {
  std::string payload;  // links separated by ","; empty when nothing is returned
  size_t returned = 0;  // links in `payload`
  /// Matches seen. Without count this is every match; with count the scan stops after the page
  /// and one more match, so the figure is exact only when `more` is false.
  size_t matched = 0;
  bool more = false;  // count was given and matches exist beyond the returned page
};

/// Resource lookup: the links of matching resources, target (and anchor, if present) resolved
/// against the registration base, other attributes as registered. Example:
/// <coap://[2001:db8:3::123]:61616/temp>;rt="tag:example.org,2020:temperature"
LookupResult LookupResources(const Index& index, const LookupQuery& query);

/// Endpoint lookup: one link per matching registration, attributes in this order: base (always
/// quoted), ep, et, the extra attributes as registered, d, rt=core.rd-ep; lt is not reported.
/// Example: </rd/4521>;base="coap://[2001:db8:3::129]:61616";ep=node7;ct=40;d=floor-3;rt=core.rd-ep
LookupResult LookupEndpoints(const Index& index, const LookupQuery& query);

/// Group lookup (draft-11): one link per matching group, </rd-group/<key>>;gp=<name>, then d and
/// base (the group's multicast address, quoted) when set.
LookupResult LookupGroups(const Index& index, const LookupQuery& query);

}  // namespace coapgw::rd
