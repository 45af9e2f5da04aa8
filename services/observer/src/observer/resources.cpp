#include "observer/resources.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <map>

#include "coapgw/linkformat/uri.hpp"

namespace coapgw::observer {
namespace {

std::string Lower(std::string_view text) {
  std::string lower(text);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return lower;
}

bool ValueMatches(std::string_view value, std::string_view wanted, bool prefix) {
  return prefix ? value.substr(0, wanted.size()) == wanted : value == wanted;
}

std::vector<std::string_view> SplitOn(std::string_view text, char separator) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (start <= text.size()) {
    const size_t end = std::min(text.find(separator, start), text.size());
    parts.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return parts;
}

// RFC 6690 relation types are a space-separated list; RFC 9176 §4.3: a link without rel is
// "hosts".
bool IsHostsRelation(const events::Link& link) {
  const auto rel = link.attributes.find("rel");
  if (rel == link.attributes.end()) {
    return true;
  }
  const auto types = SplitOn(rel->second, ' ');
  return std::any_of(types.begin(), types.end(),
                     [](std::string_view type) { return Lower(type) == "hosts"; });
}

bool SameOrigin(const linkformat::Uri& base, const linkformat::Uri& target) {
  return Lower(base.scheme) == Lower(target.scheme) && target.authority.has_value() &&
         Lower(base.host) == Lower(target.host) && base.EffectivePort() == target.EffectivePort();
}

// `pmax` in seconds (CoRE conditional attributes: the longest time between two notifications),
// used as the poll period of a resource that is not observed; nullopt when absent or not a
// positive integer.
std::optional<Millis> LinkPollInterval(const events::Link& link, const SelectionOptions& options) {
  const auto it = link.attributes.find("pmax");
  if (it == link.attributes.end()) {
    return std::nullopt;
  }
  uint64_t seconds = 0;
  const std::string& text = it->second;
  const auto parsed = std::from_chars(text.data(), text.data() + text.size(), seconds);
  if (parsed.ec != std::errc() || parsed.ptr != text.data() + text.size() || seconds == 0 ||
      seconds > 86400ULL * 365) {
    return std::nullopt;
  }
  return std::clamp(Millis(static_cast<int64_t>(seconds) * 1000), options.min_poll_interval,
                    options.max_poll_interval);
}

}  // namespace

Result<ResourceFilter> ResourceFilter::Parse(std::string_view text) {
  ResourceFilter filter;
  if (text.empty()) {
    return filter;
  }
  for (const auto& part : SplitOn(text, '&')) {
    const size_t equals = part.find('=');
    if (equals == std::string_view::npos || equals == 0 || equals + 1 == part.size()) {
      return MakeError(ErrorCode::kInvalidArgument,
                       "filter term '" + std::string(part) + "' is not name=value");
    }
    Term term;
    term.name = Lower(part.substr(0, equals));
    term.value = std::string(part.substr(equals + 1));
    if (term.value.back() == '*') {
      term.value.pop_back();
      term.prefix = true;
    }
    filter.terms_.push_back(std::move(term));
  }
  return filter;
}

bool ResourceFilter::TermMatches(const Term& term, const events::Link& link,
                                 std::string_view path) {
  const auto any_of = [&](const std::vector<std::string>& values) {
    return std::any_of(values.begin(), values.end(), [&](const std::string& value) {
      return ValueMatches(value, term.value, term.prefix);
    });
  };
  if (term.name == "rt") {
    return any_of(link.resource_types);
  }
  if (term.name == "if") {
    return any_of(link.interfaces);
  }
  if (term.name == "ct") {
    return std::any_of(link.content_formats.begin(), link.content_formats.end(),
                       [&](uint16_t format) {
                         return ValueMatches(std::to_string(format), term.value, term.prefix);
                       });
  }
  if (term.name == "href") {
    return ValueMatches(path, term.value, term.prefix);
  }
  const auto it = link.attributes.find(term.name);
  return it != link.attributes.end() && ValueMatches(it->second, term.value, term.prefix);
}

bool ResourceFilter::Matches(const events::Link& link, std::string_view path) const {
  return std::all_of(terms_.begin(), terms_.end(),
                     [&](const Term& term) { return TermMatches(term, link, path); });
}

Result<DeviceTarget> SelectResources(const events::Device& device,
                                     const SelectionOptions& options) {
  auto base = linkformat::ParseUri(device.base);
  if (!base.ok()) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "base '" + device.base + "': " + base.error().message);
  }
  const std::string scheme = Lower(base->scheme);
  if (scheme == "coaps") {
    return MakeError(ErrorCode::kUnsupported,
                     "base '" + device.base + "': coaps:// needs DTLS keys the observer lacks");
  }
  auto uri = coap::ParseUri(device.base);
  if (scheme != "coap" || !uri.ok()) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "base '" + device.base + "' is not a coap:// URI");
  }
  DeviceTarget target;
  target.endpoint = uri->endpoint;
  std::map<std::string, size_t> by_path;
  for (const auto& link : device.links) {
    const std::string name = "<" + link.href + ">";
    if (!link.anchor.empty() && !IsHostsRelation(link)) {
      target.skipped.push_back(name + ": anchored link with rel=" + link.attributes.at("rel"));
      continue;
    }
    auto reference = linkformat::ParseUriReference(link.href);
    if (!reference.ok()) {
      target.skipped.push_back(name + ": " + reference.error().message);
      continue;
    }
    const linkformat::Uri resolved = linkformat::Resolve(*base, *reference);
    if (!SameOrigin(*base, resolved)) {
      target.skipped.push_back(name + ": not a resource of the device (another host)");
      continue;
    }
    WatchedResource resource;
    resource.segments = coap::SplitPath(resolved.path);
    resource.path = coap::JoinPath(resource.segments);
    if (resolved.query && !resolved.query->empty()) {
      resource.path += "?" + *resolved.query;
      for (const auto& item : SplitOn(*resolved.query, '&')) {
        if (!item.empty()) {
          resource.query.push_back(coap::PercentDecode(item));
        }
      }
    }
    if (!options.filter.Matches(link, resource.path)) {
      continue;
    }
    resource.observable = link.observable;
    resource.poll_interval = LinkPollInterval(link, options).value_or(options.poll_interval);
    const auto [it, inserted] = by_path.emplace(resource.path, target.resources.size());
    if (inserted) {
      target.resources.push_back(std::move(resource));
    } else {
      target.resources[it->second].observable |= resource.observable;
    }
  }
  return target;
}

}  // namespace coapgw::observer
