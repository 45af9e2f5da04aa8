// libFuzzer target for URIs. Input "<base>\n<reference>" (no newline: the whole input is the
// reference against a fixed base). Parsing must round-trip byte for byte, and every resolution
// result must be a URI that parses and recomposes to itself.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "coapgw/linkformat/uri.hpp"
#include "fuzz_check.hpp"

namespace {

using coapgw::Result;
namespace lf = coapgw::linkformat;
using lf::fuzz::Check;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  std::string_view base_text = "coap://[2001:db8::1]:5683/a/b;c?q";
  std::string_view reference_text = input;
  if (const size_t newline = input.find('\n'); newline != std::string_view::npos) {
    base_text = input.substr(0, newline);
    reference_text = input.substr(newline + 1);
  }

  Result<lf::Uri> reference = lf::ParseUriReference(reference_text);
  if (reference.ok()) {
    Check(reference->ToString() == reference_text, "ToString(Parse(s)) == s", input);
  }
  Result<lf::Uri> base = lf::ParseUri(base_text);
  if (!base.ok() || !reference.ok()) {
    return 0;
  }
  const lf::Uri target = lf::Resolve(*base, *reference);
  const std::string text = target.ToString();
  Result<lf::Uri> reparsed = lf::ParseUri(text);
  Check(reparsed.ok(), "resolution result parses", input);
  Check(reparsed->ToString() == text, "resolution result recomposes to itself", input);
  if (!reference->path.empty() || reference->authority || reference->IsAbsolute()) {
    Check(lf::RemoveDotSegments(target.path) == target.path, "no dot segments left", input);
  }
  Check(lf::RemoveDotSegments(reference->path).size() <= reference->path.size(),
        "remove_dot_segments never grows", input);
  return 0;
}
