#pragma once

// Which resources of a device the observer reads, from its RD record: every link that targets
// the device itself (resolved against the device's base), narrowed by an optional filter, each
// marked observable (`obs`) or not, with its poll interval.

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "coapgw/coap/uri.hpp"
#include "coapgw/common/duration.hpp"
#include "coapgw/common/result.hpp"
#include "coapgw/events/messages.hpp"

namespace coapgw::observer {

/// A filter on links, written like an RD lookup query: `if=core.s`, `rt=temperature*&if=core.s`.
/// Terms are joined by `&` and all must match (AND); a term matches a link when one of the link's
/// values for that attribute equals the term's value, or starts with it when the value ends with
/// `*`. Attributes: `rt`, `if`, `ct` (the link's values), `href` (the resource path on the
/// device), and any other target attribute by name (`title=...`).
class ResourceFilter {
 public:
  /// Parses the text; "" is the filter that takes everything. kInvalidArgument names a term
  /// without `=`, an empty name or value.
  static Result<ResourceFilter> Parse(std::string_view text);

  /// True when `link`, whose path on the device is `path`, passes every term.
  bool Matches(const events::Link& link, std::string_view path) const;
  bool empty() const { return terms_.empty(); }

 private:
  struct Term {
    std::string name;
    std::string value;  // without the trailing '*'
    bool prefix = false;
  };
  static bool TermMatches(const Term& term, const events::Link& link, std::string_view path);
  std::vector<Term> terms_;
};

/// One resource to read.
struct WatchedResource {
  std::string path;                   // "/sensors/temp", with "?query" when the link had one
  std::vector<std::string> segments;  // Uri-Path options
  std::vector<std::string> query;     // Uri-Query options
  bool observable = false;            // the link carries `obs`
  Millis poll_interval{0};            // when it has to be polled

  bool operator==(const WatchedResource& other) const {
    return path == other.path && observable == other.observable &&
           poll_interval == other.poll_interval;
  }
  bool operator!=(const WatchedResource& other) const { return !(*this == other); }
};

/// What to read on one device.
struct DeviceTarget {
  coap::Endpoint endpoint;
  std::vector<WatchedResource> resources;
  /// Links left out and why ("</x>: on another host"), for the log.
  std::vector<std::string> skipped;
};

struct SelectionOptions {
  ResourceFilter filter;
  Millis poll_interval{30000};  // COAPGW_POLL_INTERVAL
  /// Bounds for a link's own `pmax` (seconds), which overrides poll_interval for that resource.
  Millis min_poll_interval{1000};
  Millis max_poll_interval{86400000};
};

/// The resources of `device` the observer reads, in link order, each path once (a path listed
/// twice is observable if any of its links says `obs`). A link is left out when its target
/// resolved against the base is on another scheme, host or port than the base (not the device's
/// own resource), when it has an anchor and a `rel` other than `hosts`, or when the filter
/// rejects it. kInvalidArgument when the base is not a coap:// URI (coaps:// needs DTLS keys the
/// observer does not have: kUnsupported).
Result<DeviceTarget> SelectResources(const events::Device& device, const SelectionOptions& options);

}  // namespace coapgw::observer
