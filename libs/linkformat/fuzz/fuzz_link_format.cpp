// libFuzzer target: Parse must either fail with a located error or return links that
// serialize, reparse to the same value and resolve against a registration base.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "coapgw/linkformat/link_format.hpp"
#include "coapgw/linkformat/resolve_links.hpp"
#include "coapgw/linkformat/uri.hpp"
#include "fuzz_check.hpp"

namespace {

using coapgw::ErrorCode;
using coapgw::Result;
namespace lf = coapgw::linkformat;
using lf::fuzz::Check;

// "... at byte N" with N inside the input (N == size means "at the end").
bool NamesOffsetWithin(const std::string& message, size_t size) {
  const size_t at = message.rfind(" at byte ");
  if (at == std::string::npos) {
    return false;
  }
  const std::string number = message.substr(at + 9);
  return !number.empty() && number.find_first_not_of("0123456789") == std::string::npos &&
         std::stoull(number) <= size;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  lf::ParseLimits limits;
  limits.max_bytes = size_t{64} * 1024;
  limits.max_links = 256;
  limits.max_attributes_per_link = 16;
  limits.max_attributes = 1024;
  Result<std::vector<lf::Link>> links = lf::Parse(input, limits);
  if (!links.ok()) {
    const coapgw::Error& error = links.error();
    Check(error.message.rfind("link-format: ", 0) == 0, "error message prefix", input);
    Check(error.code == ErrorCode::kTooLarge ||
              (error.code == ErrorCode::kInvalidArgument && NamesOffsetWithin(error.message, size)),
          "error code and offset", input);
    return 0;
  }
  Check(links->size() <= limits.max_links, "max_links", input);

  const std::string text = lf::Serialize(*links);
  Result<std::vector<lf::Link>> reparsed = lf::Parse(text);
  Check(reparsed.ok(), "Serialize output parses", input);
  Check(*reparsed == *links, "Parse(Serialize(x)) == x", input);
  Check(lf::Serialize(*reparsed) == text, "Serialize is stable", input);

  static const lf::Uri base = lf::ParseUri("coap://[2001:db8::1]:61616/dev/").value();
  for (const lf::Link& link : *links) {
    for (const lf::Attribute& attribute : link.attributes) {
      Check(lf::IsValidAttributeName(attribute.name), "attribute name valid", input);
      Check(link.Has(attribute.name), "Has finds every attribute", input);
      if (attribute.value) {
        Check(link.Find(attribute.name).has_value(), "Find finds a valued attribute", input);
      }
    }
    Result<lf::ResolvedLink> resolved = lf::ResolveLink(base, link);
    Check(resolved.ok(), "parsed links resolve", input);
    Check(lf::ParseUri(resolved->target).ok(), "resolved target is a URI", input);
    Check(lf::ParseUri(resolved->anchor).ok(), "resolved anchor is a URI", input);
    Result<lf::Link> lookup = lf::ToLookupLink(base, link);
    Check(lookup.ok() && lookup->target == resolved->target, "lookup target", input);
    Check(lookup->attributes.size() == link.attributes.size(), "lookup keeps attributes", input);
  }
  (void)lf::CheckLimitedLinkFormat(*links);
  return 0;
}
