#include "coapgw/common/host_port.hpp"

#include <charconv>

namespace coapgw {

Result<HostPort> ParseHostPort(std::string_view text) {
  const std::string shown = "'" + std::string(text) + "'";
  HostPort result;
  std::string_view port_text;
  if (!text.empty() && text.front() == '[') {
    const size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return MakeError(ErrorCode::kInvalidArgument, shown + " is not [ipv6]:port");
    }
    result.host = std::string(text.substr(1, close - 1));
    port_text = text.substr(close + 2);
  } else {
    const size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) {
      return MakeError(ErrorCode::kInvalidArgument, shown + " has no :port");
    }
    if (text.find(':') != colon) {
      return MakeError(ErrorCode::kInvalidArgument,
                       shown + ": write IPv6 addresses in brackets, e.g. [::]:5683");
    }
    result.host = std::string(text.substr(0, colon));
    port_text = text.substr(colon + 1);
  }
  unsigned port = 0;
  const auto [end, error] =
      std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (port_text.empty() || error != std::errc() || end != port_text.data() + port_text.size() ||
      port > 65535) {
    return MakeError(ErrorCode::kInvalidArgument, shown + " has no valid port (0-65535)");
  }
  result.port = static_cast<uint16_t>(port);
  return result;
}

std::string FormatHostPort(const HostPort& address) {
  const bool v6 = address.host.find(':') != std::string::npos;
  return (v6 ? "[" + address.host + "]" : address.host) + ":" + std::to_string(address.port);
}

}  // namespace coapgw
