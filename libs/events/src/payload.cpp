#include "coapgw/events/payload.hpp"

#include <algorithm>
#include <array>
#include <cstddef>

#include "enum_names.hpp"

namespace coapgw::events {
namespace {

constexpr internal::EnumNames<PayloadEncoding, 2> kEncodingNames({{
    {PayloadEncoding::kText, "text"},
    {PayloadEncoding::kBase64, "base64"},
}});

// CoAP Content-Formats (IANA core-parameters registry) whose media type is text: text/plain with
// charset=utf-8, JSON and +json types (UTF-8 by RFC 8259), XML and +xml types, link-format.
// Sorted for binary search. Why each is here: proto/README.md, "Payload encoding".
constexpr std::array<std::uint16_t, 14> kTextContentFormats = {
    0,      // text/plain;charset=utf-8 (RFC 7252)
    40,     // application/link-format (RFC 6690)
    41,     // application/xml (RFC 3023)
    50,     // application/json (RFC 8259)
    51,     // application/json-patch+json (RFC 6902)
    52,     // application/merge-patch+json (RFC 7396)
    110,    // application/senml+json (RFC 8428)
    111,    // application/sensml+json (RFC 8428)
    256,    // application/coap-group+json (RFC 7390)
    310,    // application/senml+xml (RFC 8428)
    311,    // application/sensml+xml (RFC 8428)
    320,    // application/senml-etch+json (RFC 8790)
    432,    // application/td+json (W3C WoT Thing Description)
    11543,  // application/vnd.oma.lwm2m+json (OMA LwM2M)
};

constexpr bool IsStrictlyAscending(const std::array<std::uint16_t, 14>& values) {
  for (std::size_t i = 1; i < values.size(); ++i) {
    if (values[i - 1] >= values[i]) {
      return false;
    }
  }
  return true;
}
static_assert(IsStrictlyAscending(kTextContentFormats), "binary search needs a sorted table");

// Text a device may send without a Content-Format: a diagnostic payload (RFC 7252 §5.5.2) or a
// bare reading ("21.5"). Control characters other than tab and line breaks suggest binary data.
bool LooksLikeText(std::string_view bytes) {
  return std::none_of(bytes.begin(), bytes.end(), [](char ch) {
    const auto byte = static_cast<unsigned char>(ch);
    return (byte < 0x20U && ch != '\t' && ch != '\n' && ch != '\r') || byte == 0x7FU;
  });
}

}  // namespace

std::string_view PayloadEncodingName(PayloadEncoding encoding) {
  return kEncodingNames.Name(encoding);
}

PayloadEncoding ParsePayloadEncoding(std::string_view name) {
  return kEncodingNames.Parse(name);
}

bool IsTextContentFormat(std::uint16_t content_format) {
  return std::binary_search(kTextContentFormats.begin(), kTextContentFormats.end(), content_format);
}

Payload EncodePayload(std::string_view bytes, std::optional<std::uint16_t> content_format) {
  const bool text =
      content_format.has_value() ? IsTextContentFormat(*content_format) : LooksLikeText(bytes);
  if (text && IsValidUtf8(bytes)) {
    return Payload{std::string(bytes), PayloadEncoding::kText};
  }
  return Payload{Base64Encode(bytes), PayloadEncoding::kBase64};
}

Result<std::string> DecodePayload(const Payload& payload) {
  switch (payload.encoding) {
    case PayloadEncoding::kText:
      return payload.data;
    case PayloadEncoding::kBase64:
      return Base64Decode(payload.data);
    case PayloadEncoding::kUnknown:
      break;
  }
  return MakeError(ErrorCode::kUnsupported, "unknown payload encoding");
}

}  // namespace coapgw::events
