#pragma once

// "host:port" addresses of settings: "0.0.0.0:5683", "[::]:5683", "localhost:8080", ":8080".

#include <cstdint>
#include <string>
#include <string_view>

#include "coapgw/common/result.hpp"

namespace coapgw {

struct HostPort {
  std::string host;  // without brackets; empty means "any"
  uint16_t port = 0;
};

/// Parses host:port; IPv6 literals must be bracketed. Port 0 is allowed (ephemeral).
Result<HostPort> ParseHostPort(std::string_view text);

/// "host:port", bracketing IPv6 literals.
std::string FormatHostPort(const HostPort& address);

}  // namespace coapgw
