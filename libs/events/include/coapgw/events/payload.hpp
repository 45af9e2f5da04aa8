#pragma once

// CoAP payloads inside JSON messages. The gateway contract (§3, "Data") says: "text and JSON as
// is; other content formats base64". A Payload is the JSON string plus how to read it back.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "coapgw/common/result.hpp"

namespace coapgw::events {

/// How a payload string carries the CoAP payload bytes.
enum class PayloadEncoding {
  kUnknown,  // a name this build does not know
  kText,     // "text": the bytes themselves (valid UTF-8)
  kBase64,   // "base64": RFC 4648 §4 with padding
};

/// "text", "base64"; "unknown" for kUnknown.
std::string_view PayloadEncodingName(PayloadEncoding encoding);
/// The encoding named `name`; kUnknown for anything else.
PayloadEncoding ParsePayloadEncoding(std::string_view name);

/// A CoAP payload as carried in a JSON string.
struct Payload {
  std::string data;
  PayloadEncoding encoding = PayloadEncoding::kText;

  bool operator==(const Payload& other) const {
    return data == other.data && encoding == other.encoding;
  }
  bool operator!=(const Payload& other) const { return !(*this == other); }
};

/// True for the CoAP Content-Formats whose payload is UTF-8 text by definition (text/plain, JSON
/// and +json, XML and +xml, link-format; the list and its sources are in proto/README.md).
bool IsTextContentFormat(std::uint16_t content_format);

/// The payload as the contract wants it on the wire: as is (kText) when the content format is
/// text-like, or absent with bytes that are printable UTF-8 (a diagnostic payload, RFC 7252
/// §5.5.2), and the bytes are valid UTF-8; base64 otherwise.
Payload EncodePayload(std::string_view bytes, std::optional<std::uint16_t> content_format);

/// The payload bytes back. kInvalidArgument for malformed base64, kUnsupported for kUnknown.
Result<std::string> DecodePayload(const Payload& payload);

/// RFC 4648 §4 base64 with padding.
std::string Base64Encode(std::string_view bytes);

/// RFC 4648 §4 base64. Padding may be left out; whitespace, characters outside the alphabet,
/// misplaced padding or a dangling single character give kInvalidArgument naming the position.
Result<std::string> Base64Decode(std::string_view text);

/// True when `bytes` is well-formed UTF-8 (no overlongs, no surrogates, nothing above U+10FFFF).
bool IsValidUtf8(std::string_view bytes);

}  // namespace coapgw::events
