#pragma once

// CoAP vocabulary shared by the server and the client (RFC 7252): methods, response codes, content
// formats, option numbers, raw options and socket addresses. Plain data, no libcoap types: libcoap
// is confined to libs/coap/src.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "coapgw/common/result.hpp"

namespace coapgw::coap {

/// Request methods (RFC 7252 §5.8, RFC 8132 for FETCH/PATCH/iPATCH).
enum class Method : uint8_t {
  kGet = 1,
  kPost = 2,
  kPut = 3,
  kDelete = 4,
  kFetch = 5,
  kPatch = 6,
  kIPatch = 7,
};

/// "GET", "POST", ... ("?" for a value outside the enum).
const char* MethodName(Method method);
/// Parses an upper-case method name ("GET"); nullopt for anything else.
std::optional<Method> ParseMethod(std::string_view name);

/// A response code written as class * 100 + detail: 205 is "2.05 Content". Any code a peer sends
/// is representable (static_cast<Code>(class * 100 + detail)); the named ones are RFC 7252's.
enum class Code : uint16_t {
  kEmpty = 0,
  kCreated = 201,
  kDeleted = 202,
  kValid = 203,
  kChanged = 204,
  kContent = 205,
  kContinue = 231,
  kBadRequest = 400,
  kUnauthorized = 401,
  kBadOption = 402,
  kForbidden = 403,
  kNotFound = 404,
  kMethodNotAllowed = 405,
  kNotAcceptable = 406,
  kRequestEntityIncomplete = 408,
  kConflict = 409,
  kPreconditionFailed = 412,
  kRequestEntityTooLarge = 413,
  kUnsupportedContentFormat = 415,
  kTooManyRequests = 429,
  kInternalServerError = 500,
  kNotImplemented = 501,
  kBadGateway = 502,
  kServiceUnavailable = 503,
  kGatewayTimeout = 504,
  kProxyingNotSupported = 505,
};

/// The class digit: 2 for 2.05, 4 for 4.04.
int CodeClass(Code code);
/// "2.05" (detail always two digits).
std::string FormatCode(Code code);
/// Parses "2.05" or "205"; nullopt unless class is 0-7 and detail 0-31.
std::optional<Code> ParseCode(std::string_view text);

/// Content-Format numbers used by the gateway (IANA CoAP Content-Formats registry).
namespace content_format {
constexpr uint16_t kTextPlain = 0;
constexpr uint16_t kLinkFormat = 40;
constexpr uint16_t kXml = 41;
constexpr uint16_t kOctetStream = 42;
constexpr uint16_t kJson = 50;
constexpr uint16_t kCbor = 60;
constexpr uint16_t kSenmlJson = 110;
constexpr uint16_t kSenmlCbor = 112;
}  // namespace content_format

/// Option numbers (RFC 7252 §5.10, RFC 7641, RFC 7959).
namespace option {
constexpr uint16_t kIfMatch = 1;
constexpr uint16_t kUriHost = 3;
constexpr uint16_t kETag = 4;
constexpr uint16_t kIfNoneMatch = 5;
constexpr uint16_t kObserve = 6;
constexpr uint16_t kUriPort = 7;
constexpr uint16_t kLocationPath = 8;
constexpr uint16_t kUriPath = 11;
constexpr uint16_t kContentFormat = 12;
constexpr uint16_t kMaxAge = 14;
constexpr uint16_t kUriQuery = 15;
constexpr uint16_t kAccept = 17;
constexpr uint16_t kLocationQuery = 20;
constexpr uint16_t kBlock2 = 23;
constexpr uint16_t kBlock1 = 27;
constexpr uint16_t kSize2 = 28;
constexpr uint16_t kProxyUri = 35;
constexpr uint16_t kSize1 = 60;
}  // namespace option

/// One option as carried on the wire: its number and raw value bytes.
struct Option {
  uint16_t number = 0;
  std::string value;
};

/// The minimal big-endian encoding of a uint option or an ETag (0 encodes as zero bytes).
std::string EncodeUint(uint64_t value);
/// Decodes a uint option value; values longer than 4 bytes keep their low 32 bits.
uint32_t DecodeUint(std::string_view bytes);

/// Transport of an exchange: plain UDP (coap://) or DTLS over UDP (coaps://).
enum class Transport : uint8_t { kUdp, kDtls };

/// "udp" or "dtls".
const char* TransportName(Transport transport);

enum class Family : uint8_t { kIpv4, kIpv6 };

/// A numeric socket address (the source of a request, a bound endpoint).
struct Address {
  Family family = Family::kIpv4;
  std::string ip;  // numeric, IPv6 without brackets ("::1", "192.0.2.1")
  uint16_t port = 0;

  /// "192.0.2.1:5683" or "[2001:db8::1]:5683".
  std::string ToString() const;
  bool operator==(const Address& other) const {
    return family == other.family && ip == other.ip && port == other.port;
  }
  bool operator!=(const Address& other) const { return !(*this == other); }
};

/// Parses a numeric "ip:port" ("[v6]:port" for IPv6); host names are rejected (kInvalidArgument).
Result<Address> ParseAddress(std::string_view text);

}  // namespace coapgw::coap
