#pragma once

// CoAP URIs (RFC 7252 §6): "coap://[::1]:5683/sensors/temp?unit=c" and "coaps://device.local/x".
// Parsing is done here, without libcoap, so that settings and bus messages can be validated by
// code that never talks CoAP.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "coapgw/coap/message.hpp"
#include "coapgw/common/result.hpp"

namespace coapgw::coap {

/// Where a client exchange goes: transport, host (IP literal or name) and port. A name is resolved
/// with getaddrinfo when the exchange starts, which blocks the loop: prefer IP literals (the RD
/// records addresses) on hot paths.
struct Endpoint {
  Transport transport = Transport::kUdp;
  std::string host;  // IPv6 literals without brackets
  uint16_t port = 5683;

  /// "coap://[::1]:5683" / "coaps://host:5684".
  std::string ToUri() const;
};

/// An Endpoint for a numeric address (the source address of an RD registration, for instance).
Endpoint EndpointOf(const Address& address, Transport transport = Transport::kUdp);

/// A parsed CoAP URI: the endpoint plus percent-decoded path segments and query items.
struct Uri {
  Endpoint endpoint;
  std::vector<std::string> path;   // "/a/b" -> {"a", "b"}; "/" and "" -> {}
  std::vector<std::string> query;  // "?x=1&y" -> {"x=1", "y"}
};

/// Parses a coap:// or coaps:// URI. The port defaults to 5683 (coap) or 5684 (coaps); a fragment
/// is rejected. kInvalidArgument names what is wrong.
Result<Uri> ParseUri(std::string_view text);

/// The URI text of `uri` (percent-encoding what needs it).
std::string FormatUri(const Uri& uri);

/// Splits an absolute or relative path into percent-decoded segments ("/a/b%20c" -> {"a", "b c"}).
std::vector<std::string> SplitPath(std::string_view path);

/// "/a/b" from segments ("/" for none); segments are written as they are, unencoded.
std::string JoinPath(const std::vector<std::string>& segments);

/// Percent-decodes `text`; an invalid escape is kept literally.
std::string PercentDecode(std::string_view text);

}  // namespace coapgw::coap
