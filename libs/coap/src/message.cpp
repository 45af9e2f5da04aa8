#include "coapgw/coap/message.hpp"

#include <arpa/inet.h>

#include <array>
#include <charconv>

#include "coapgw/common/host_port.hpp"

namespace coapgw::coap {

namespace {

constexpr std::array<const char*, 8> kMethodNames = {"?",      "GET",   "POST",  "PUT",
                                                     "DELETE", "FETCH", "PATCH", "iPATCH"};

}  // namespace

const char* MethodName(Method method) {
  const auto index = static_cast<size_t>(method);
  return index < kMethodNames.size() ? kMethodNames[index] : "?";
}

std::optional<Method> ParseMethod(std::string_view name) {
  for (size_t i = 1; i < kMethodNames.size(); ++i) {
    if (name == kMethodNames[i]) {
      return static_cast<Method>(i);
    }
  }
  if (name == "IPATCH") {
    return Method::kIPatch;
  }
  return std::nullopt;
}

int CodeClass(Code code) {
  return static_cast<int>(code) / 100;
}

std::string FormatCode(Code code) {
  const int value = static_cast<int>(code);
  const int detail = value % 100;
  return std::to_string(value / 100) + "." + (detail < 10 ? "0" : "") + std::to_string(detail);
}

std::optional<Code> ParseCode(std::string_view text) {
  int code_class = 0;
  int detail = 0;
  const char* begin = text.data();
  const char* end = text.data() + text.size();
  if (text.size() == 4 && text[1] == '.') {
    if (std::from_chars(begin, begin + 1, code_class).ptr != begin + 1 ||
        std::from_chars(begin + 2, end, detail).ptr != end) {
      return std::nullopt;
    }
  } else if (text.size() == 3) {
    int value = 0;
    if (std::from_chars(begin, end, value).ptr != end) {
      return std::nullopt;
    }
    code_class = value / 100;
    detail = value % 100;
  } else {
    return std::nullopt;
  }
  if (code_class < 0 || code_class > 7 || detail < 0 || detail > 31) {
    return std::nullopt;
  }
  return static_cast<Code>(code_class * 100 + detail);
}

std::string EncodeUint(uint64_t value) {
  std::string bytes;
  for (int shift = 56; shift >= 0; shift -= 8) {
    const auto byte = static_cast<char>((value >> shift) & 0xFFU);
    if (!bytes.empty() || byte != 0) {
      bytes.push_back(byte);
    }
  }
  return bytes;
}

uint32_t DecodeUint(std::string_view bytes) {
  uint32_t value = 0;
  for (const char byte : bytes) {
    value = (value << 8U) | static_cast<uint8_t>(byte);
  }
  return value;
}

const char* TransportName(Transport transport) {
  return transport == Transport::kDtls ? "dtls" : "udp";
}

std::string Address::ToString() const {
  return FormatHostPort(HostPort{ip, port});
}

Result<Address> ParseAddress(std::string_view text) {
  Result<HostPort> host_port = ParseHostPort(text);
  if (!host_port.ok()) {
    return host_port.error();
  }
  Address address;
  address.port = host_port->port;
  address.ip = host_port->host;
  unsigned char buffer[sizeof(in6_addr)];
  if (inet_pton(AF_INET, address.ip.c_str(), buffer) == 1) {
    address.family = Family::kIpv4;
  } else if (inet_pton(AF_INET6, address.ip.c_str(), buffer) == 1) {
    address.family = Family::kIpv6;
  } else {
    return MakeError(ErrorCode::kInvalidArgument,
                     "'" + std::string(text) + "' is not a numeric IPv4 or IPv6 address");
  }
  return address;
}

}  // namespace coapgw::coap
