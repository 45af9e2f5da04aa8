#include "coapgw/linkformat/resolve_links.hpp"

#include "chars.hpp"

namespace coapgw::linkformat {

namespace {

constexpr std::string_view kAnchor = "anchor";

Status CheckBase(const Uri& base) {
  if (!base.IsAbsolute()) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "registration base '" + base.ToString() + "' is not an absolute URI");
  }
  return Status::Ok();
}

// Resolves one reference; `parsed` receives the absolute result as components.
Result<std::string> ResolveReference(const Uri& base, std::string_view reference,
                                     std::string_view what, Uri* parsed) {
  Result<Uri> uri = ParseUriReference(reference);
  if (!uri.ok()) {
    return MakeError(
        ErrorCode::kInvalidArgument,
        std::string(what) + " '" + std::string(reference) + "': " + uri.error().message);
  }
  if (uri->IsAbsolute()) {  // §6.1: a full URI is returned unmodified
    *parsed = std::move(*uri);
    return std::string(reference);
  }
  *parsed = Resolve(base, *uri);
  return parsed->ToString();
}

Error MissingAnchorValue() {
  return MakeError(ErrorCode::kInvalidArgument, "anchor attribute without a value");
}

bool IsUriOrAbsolutePath(std::string_view reference) {
  Result<Uri> uri = ParseUriReference(reference);
  if (!uri.ok()) {
    return false;
  }
  return uri->IsAbsolute() || (!uri->authority && !uri->path.empty() && uri->path.front() == '/');
}

}  // namespace

Result<ResolvedLink> ResolveLink(const Uri& base, const Link& link) {
  if (Status status = CheckBase(base); !status.ok()) {
    return status.error();
  }
  ResolvedLink resolved;
  Uri target;
  Result<std::string> target_text = ResolveReference(base, link.target, "target", &target);
  if (!target_text.ok()) {
    return target_text.error();
  }
  resolved.target = std::move(*target_text);
  if (const Attribute* anchor = link.FindAttribute(kAnchor); anchor != nullptr) {
    if (!anchor->value) {
      return MissingAnchorValue();
    }
    Uri context;
    Result<std::string> anchor_text = ResolveReference(base, *anchor->value, "anchor", &context);
    if (!anchor_text.ok()) {
      return anchor_text.error();
    }
    resolved.anchor = std::move(*anchor_text);
    resolved.anchor_given = true;
    return resolved;
  }
  resolved.anchor = target.Origin();
  if (resolved.anchor.empty()) {
    resolved.anchor = base.Origin();
  }
  if (resolved.anchor.empty()) {
    Uri without_fragment = base;
    without_fragment.fragment.reset();
    resolved.anchor = without_fragment.ToString();
  }
  return resolved;
}

Result<Link> ToLookupLink(const Uri& base, const Link& link) {
  if (Status status = CheckBase(base); !status.ok()) {
    return status.error();
  }
  Link lookup = link;
  Uri scratch;
  Result<std::string> target = ResolveReference(base, link.target, "target", &scratch);
  if (!target.ok()) {
    return target.error();
  }
  lookup.target = std::move(*target);
  for (Attribute& attribute : lookup.attributes) {
    if (!detail::EqualsIgnoreCase(attribute.name, kAnchor)) {
      continue;
    }
    if (!attribute.value) {
      return MissingAnchorValue();
    }
    Result<std::string> anchor = ResolveReference(base, *attribute.value, "anchor", &scratch);
    if (!anchor.ok()) {
      return anchor.error();
    }
    attribute.value = std::move(*anchor);
  }
  return lookup;
}

Status CheckLimitedLinkFormat(const std::vector<Link>& links) {
  for (size_t i = 0; i < links.size(); ++i) {
    const Link& link = links[i];
    const auto fail = [&](std::string_view what) {
      return MakeError(ErrorCode::kInvalidArgument,
                       "link " + std::to_string(i) + " <" + link.target +
                           ">: " + std::string(what) +
                           " is neither a URI nor an absolute path (RFC 9176 Limited Link "
                           "Format)");
    };
    if (!IsUriOrAbsolutePath(link.target)) {
      return fail("target");
    }
    for (const Attribute& attribute : link.attributes) {
      if (detail::EqualsIgnoreCase(attribute.name, kAnchor) &&
          (!attribute.value || !IsUriOrAbsolutePath(*attribute.value))) {
        return fail("anchor");
      }
    }
  }
  return Status::Ok();
}

}  // namespace coapgw::linkformat
