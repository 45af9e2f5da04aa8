#pragma once

// A plain HTTP client for tests of the operations endpoint (/healthz, /readyz, /metrics).

#include <cstdint>
#include <string>

namespace coapgw::test {

/// Sends one `GET path HTTP/1.1` to 127.0.0.1:`port` and reads until the server closes (5 s
/// receive timeout). Returns the whole response, or "" when the connection failed.
std::string HttpGet(uint16_t port, const std::string& path);

/// The same with any method and no body ("POST /devices/3/offline").
std::string HttpRequest(uint16_t port, const std::string& method, const std::string& path);

}  // namespace coapgw::test
