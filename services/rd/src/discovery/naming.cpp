#include "discovery/naming.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <array>
#include <cstring>

#include "coapgw/linkformat/link_format.hpp"

namespace coapgw::rd::discovery {
namespace {

constexpr uint16_t kDefaultPort = 5683;
constexpr size_t kMaxName = 63;  // RFC 9176 ep (the RD's limit)
constexpr int kMinV6Prefix = 112;

bool ValidName(std::string_view name) {
  return !name.empty() && name.size() <= kMaxName &&
         std::none_of(name.begin(), name.end(), [](char c) {
           const auto byte = static_cast<unsigned char>(c);
           return byte < 0x20 || byte == 0x7F;
         });
}

int Rank(const coap::Address& address) {
  if (address.family == coap::Family::kIpv4) {
    return 0;
  }
  in6_addr v6{};
  inet_pton(AF_INET6, address.ip.c_str(), &v6);
  return IN6_IS_ADDR_LINKLOCAL(&v6) ? 2 : 1;
}

coapgw::Error BadItem(std::string_view item, const std::string& why) {
  return MakeError(ErrorCode::kInvalidArgument, "'" + std::string(item) + "': " + why);
}

// "ip", "ip:port", "[v6]", "[v6]:port", "v6" (no port: it has colons).
Result<coap::Address> ParseOne(std::string_view item, uint16_t port) {
  std::string host(item);
  if (!item.empty() && item.front() == '[') {
    const size_t close = item.find(']');
    if (close == std::string_view::npos) {
      return BadItem(item, "missing ']'");
    }
    host = std::string(item.substr(1, close - 1));
    std::string_view rest = item.substr(close + 1);
    if (!rest.empty()) {
      auto parsed = coap::ParseAddress("[" + host + "]" + std::string(rest));
      if (!parsed.ok()) {
        return BadItem(item, parsed.error().message);
      }
      return *parsed;
    }
  } else if (std::count(item.begin(), item.end(), ':') == 1) {
    auto parsed = coap::ParseAddress(item);
    if (!parsed.ok()) {
      return BadItem(item, parsed.error().message);
    }
    return *parsed;
  }
  in_addr v4{};
  in6_addr v6{};
  if (inet_pton(AF_INET, host.c_str(), &v4) == 1) {
    return coap::Address{coap::Family::kIpv4, host, port};
  }
  if (inet_pton(AF_INET6, host.c_str(), &v6) == 1) {
    char text[INET6_ADDRSTRLEN] = {};
    inet_ntop(AF_INET6, &v6, text, sizeof text);
    return coap::Address{coap::Family::kIpv6, text, port};
  }
  return BadItem(item, "not an IP address");
}

Status AppendPrefix(std::string_view item, uint16_t port, size_t max_addresses,
                    std::vector<coap::Address>& out) {
  const size_t slash = item.find('/');
  const std::string host(item.substr(0, slash));
  const std::string length_text(item.substr(slash + 1));
  if (length_text.empty() || length_text.size() > 3 ||
      !std::all_of(length_text.begin(), length_text.end(),
                   [](char c) { return c >= '0' && c <= '9'; })) {
    return BadItem(item, "bad prefix length");
  }
  const int length = std::stoi(length_text);
  in_addr v4{};
  in6_addr v6{};
  if (inet_pton(AF_INET, host.c_str(), &v4) == 1) {
    if (length > 32) {
      return BadItem(item, "prefix length over 32");
    }
    const uint64_t size = uint64_t{1} << static_cast<unsigned>(32 - length);
    const uint32_t first = ntohl(v4.s_addr) & static_cast<uint32_t>(~(size - 1));
    // The network and broadcast addresses of a /30 and shorter are no hosts.
    const uint64_t skip = size >= 4 ? 1 : 0;
    if (size - 2 * skip > max_addresses - out.size()) {
      return BadItem(item, "more than " + std::to_string(max_addresses) + " addresses");
    }
    for (uint64_t i = skip; i < size - skip; ++i) {
      in_addr host_address{htonl(first + static_cast<uint32_t>(i))};
      char text[INET_ADDRSTRLEN] = {};
      inet_ntop(AF_INET, &host_address, text, sizeof text);
      out.push_back(coap::Address{coap::Family::kIpv4, text, port});
    }
    return Status::Ok();
  }
  if (inet_pton(AF_INET6, host.c_str(), &v6) == 1) {
    if (length > 128 || length < kMinV6Prefix) {
      return BadItem(item, "an IPv6 prefix must be /112 to /128");
    }
    const uint32_t size = uint32_t{1} << static_cast<unsigned>(128 - length);
    if (size > max_addresses - out.size()) {
      return BadItem(item, "more than " + std::to_string(max_addresses) + " addresses");
    }
    const uint32_t low = ((uint32_t{v6.s6_addr[14]} << 8U) | v6.s6_addr[15]) & ~(size - 1);
    for (uint32_t i = 0; i < size; ++i) {
      in6_addr host_address = v6;
      host_address.s6_addr[14] = static_cast<uint8_t>(((low + i) >> 8U) & 0xFFU);
      host_address.s6_addr[15] = static_cast<uint8_t>((low + i) & 0xFFU);
      char text[INET6_ADDRSTRLEN] = {};
      inet_ntop(AF_INET6, &host_address, text, sizeof text);
      out.push_back(coap::Address{coap::Family::kIpv6, text, port});
    }
    return Status::Ok();
  }
  return BadItem(item, "not an IP prefix");
}

// The first value of attribute `name` in any link, when it is a valid name.
std::optional<std::string> FirstAttribute(std::string_view links, std::string_view name) {
  auto parsed = linkformat::Parse(links);
  if (!parsed.ok()) {
    return std::nullopt;
  }
  for (const auto& link : *parsed) {
    if (auto value = link.Find(name)) {
      return ValidName(*value) ? std::optional<std::string>(*value) : std::nullopt;
    }
  }
  return std::nullopt;
}

}  // namespace

std::string AddressName(const coap::Address& address) {
  std::string name = "coap-" + address.ip;
  std::replace(name.begin(), name.end(), '.', '-');
  std::replace(name.begin(), name.end(), ':', '-');
  if (address.port != kDefaultPort) {
    name += "-p" + std::to_string(address.port);
  }
  return name;
}

std::optional<std::string> EpAttribute(std::string_view links) {
  return FirstAttribute(links, "ep");
}

std::optional<std::string> EtAttribute(std::string_view links) {
  return FirstAttribute(links, "et");
}

std::string BaseOf(const coap::Address& address) {
  const std::string host =
      address.family == coap::Family::kIpv6 ? "[" + address.ip + "]" : address.ip;
  return "coap://" + host +
         (address.port == kDefaultPort ? std::string() : ":" + std::to_string(address.port));
}

bool Preferred(const coap::Address& a, const coap::Address& b) {
  return Rank(a) < Rank(b);
}

Result<std::vector<coap::Address>> ParseTargets(std::string_view text, uint16_t port,
                                                size_t max_addresses) {
  std::vector<coap::Address> out;
  size_t start = 0;
  while (start < text.size()) {
    const size_t end = text.find_first_of(", \t\r\n", start);
    const std::string_view item =
        text.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
    start = end == std::string_view::npos ? text.size() : end + 1;
    if (item.empty()) {
      continue;
    }
    if (item.find('/') != std::string_view::npos) {
      if (Status added = AppendPrefix(item, port, max_addresses, out); !added.ok()) {
        return added.error();
      }
      continue;
    }
    auto address = ParseOne(item, port);
    if (!address.ok()) {
      return address.error();
    }
    if (out.size() >= max_addresses) {
      return BadItem(item, "more than " + std::to_string(max_addresses) + " addresses");
    }
    out.push_back(*address);
  }
  return out;
}

}  // namespace coapgw::rd::discovery
