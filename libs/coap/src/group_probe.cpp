#include "coapgw/coap/group_probe.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <map>
#include <memory>
#include <random>
#include <set>

#include <net/if.h>

#include "internal.hpp"

namespace coapgw::coap {
namespace {

constexpr size_t kMaxDatagram = 65535;
constexpr Millis kCancelCheck{100};

// One option header (RFC 7252 §3.1): delta and length nibbles with their extensions.
void AppendOptionHeader(std::string& out, uint16_t delta, size_t length) {
  const auto nibble = [](size_t value) -> uint8_t {
    return value < 13 ? static_cast<uint8_t>(value) : value < 269 ? 13 : 14;
  };
  const auto extend = [&out](size_t value) {
    if (value >= 269) {
      out.push_back(static_cast<char>(((value - 269) >> 8U) & 0xFFU));
      out.push_back(static_cast<char>((value - 269) & 0xFFU));
    } else if (value >= 13) {
      out.push_back(static_cast<char>(value - 13));
    }
  };
  out.push_back(static_cast<char>((nibble(delta) << 4U) | nibble(length)));
  extend(delta);
  extend(length);
}

// The NON request: header, token, Uri-Path then Uri-Query options.
Result<std::string> EncodeRequest(const ProbeRequest& request, uint16_t message_id,
                                  const std::string& token) {
  std::string out;
  out.push_back(static_cast<char>(0x50U | token.size()));  // version 1, NON, token length
  out.push_back(static_cast<char>(static_cast<uint8_t>(Method::kGet)));
  out.push_back(static_cast<char>(message_id >> 8U));
  out.push_back(static_cast<char>(message_id & 0xFFU));
  out += token;
  uint16_t last = 0;
  const auto add = [&](uint16_t number, const std::string& value) -> Status {
    if (value.size() > 255) {
      return MakeError(ErrorCode::kInvalidArgument, "option value over 255 bytes");
    }
    AppendOptionHeader(out, static_cast<uint16_t>(number - last), value.size());
    out += value;
    last = number;
    return Status::Ok();
  };
  for (const auto& segment : request.path) {
    if (Status added = add(option::kUriPath, segment); !added.ok()) {
      return added.error();
    }
  }
  for (const auto& item : request.query) {
    if (Status added = add(option::kUriQuery, item); !added.ok()) {
      return added.error();
    }
  }
  return out;
}

struct Target {
  sockaddr_storage storage{};
  socklen_t length = 0;
  bool multicast = false;
  Family family = Family::kIpv4;
  unsigned interface_index = 0;
};

Result<Target> MakeTarget(const ProbeTarget& probe_target) {
  Target target;
  target.family = probe_target.address.family;
  if (!probe_target.interface.empty()) {
    target.interface_index = if_nametoindex(probe_target.interface.c_str());
    if (target.interface_index == 0) {
      return MakeError(ErrorCode::kInvalidArgument,
                       "no network interface '" + probe_target.interface + "'");
    }
  }
  const Address& address = probe_target.address;
  if (address.family == Family::kIpv4) {
    auto* v4 = reinterpret_cast<sockaddr_in*>(&target.storage);
    v4->sin_family = AF_INET;
    v4->sin_port = htons(address.port);
    if (inet_pton(AF_INET, address.ip.c_str(), &v4->sin_addr) != 1) {
      return MakeError(ErrorCode::kInvalidArgument, "'" + address.ip + "' is not an IPv4 address");
    }
    target.multicast = IN_MULTICAST(ntohl(v4->sin_addr.s_addr));
    target.length = sizeof(sockaddr_in);
  } else {
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&target.storage);
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(address.port);
    if (inet_pton(AF_INET6, address.ip.c_str(), &v6->sin6_addr) != 1) {
      return MakeError(ErrorCode::kInvalidArgument, "'" + address.ip + "' is not an IPv6 address");
    }
    target.multicast = IN6_IS_ADDR_MULTICAST(&v6->sin6_addr);
    if (IN6_IS_ADDR_MC_LINKLOCAL(&v6->sin6_addr) || IN6_IS_ADDR_LINKLOCAL(&v6->sin6_addr)) {
      v6->sin6_scope_id = target.interface_index;
    }
    target.length = sizeof(sockaddr_in6);
  }
  return target;
}

// Closes the socket on every way out.
class Socket {
 public:
  explicit Socket(int fd) : fd_(fd) {}
  ~Socket() {
    if (fd_ >= 0) {
      close(fd_);
    }
  }
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;
  Socket(Socket&&) = delete;
  Socket& operator=(Socket&&) = delete;
  int fd() const { return fd_; }

 private:
  int fd_;
};

Status SetMulticastOptions(int fd, Family family, unsigned interface_index, uint8_t hops) {
  int result = 0;
  if (family == Family::kIpv4) {
    ip_mreqn interface {};
    interface.imr_ifindex = static_cast<int>(interface_index);
    const unsigned char ttl = hops;
    const unsigned char loop = 1;
    result |= setsockopt(fd, IPPROTO_IP, IP_MULTICAST_IF, &interface, sizeof interface);
    result |= setsockopt(fd, IPPROTO_IP, IP_MULTICAST_TTL, &ttl, sizeof ttl);
    result |= setsockopt(fd, IPPROTO_IP, IP_MULTICAST_LOOP, &loop, sizeof loop);
  } else {
    const int hop_limit = hops;
    const unsigned loop = 1;
    if (interface_index != 0) {
      result |=
          setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_IF, &interface_index, sizeof interface_index);
    }
    result |= setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, &hop_limit, sizeof hop_limit);
    result |= setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_LOOP, &loop, sizeof loop);
  }
  if (result != 0) {
    return MakeError(ErrorCode::kUnavailable,
                     "multicast socket options: " + detail::ErrnoText(errno));
  }
  return Status::Ok();
}

// A datagram that answers the probe (the token matches), decoded; nullopt otherwise.
std::optional<ProbeResponse> DecodeResponse(const uint8_t* data, size_t length,
                                            const std::string& token, int fd,
                                            const sockaddr_storage& from, socklen_t from_length) {
  coap_pdu_t* pdu = coap_pdu_init(COAP_MESSAGE_CON, COAP_EMPTY_CODE, 0, length);
  if (pdu == nullptr) {
    return std::nullopt;
  }
  std::optional<ProbeResponse> response;
  const int parsed = coap_pdu_parse(COAP_PROTO_UDP, data, length, pdu);
  const coap_pdu_code_t raw_code = coap_pdu_get_code(pdu);
  const int code_class = static_cast<int>(raw_code) >> 5;
  if (parsed != 0 && code_class >= 2 && code_class <= 5 && detail::TokenOf(pdu) == token) {
    ProbeResponse out;
    out.code = static_cast<Code>(code_class * 100 + (static_cast<int>(raw_code) & 0x1F));
    const std::vector<Option> options = detail::ReadOptions(pdu);
    if (auto format = detail::FindUint(options, option::kContentFormat)) {
      out.content_format = static_cast<uint16_t>(*format);
    }
    if (auto block = detail::FindUint(options, option::kBlock2)) {
      out.truncated = ((*block >> 3U) & 1U) != 0;
    }
    out.payload = detail::ReadBody(pdu);
    coap_address_t address;
    coap_address_init(&address);
    std::memcpy(&address.addr, &from, std::min<size_t>(from_length, sizeof address.addr));
    out.from = detail::ToAddress(address);
    if (coap_pdu_get_type(pdu) == COAP_MESSAGE_CON) {
      // A confirmable response is acknowledged, or the responder retransmits it.
      const coap_mid_t mid = coap_pdu_get_mid(pdu);
      const uint8_t ack[4] = {0x60, 0x00, static_cast<uint8_t>((mid >> 8) & 0xFF),
                              static_cast<uint8_t>(mid & 0xFF)};
      sendto(fd, ack, sizeof ack, 0, reinterpret_cast<const sockaddr*>(&from), from_length);
    }
    response = std::move(out);
  }
  coap_delete_pdu(pdu);
  return response;
}

}  // namespace

Result<ProbeResult> Probe(const ProbeRequest& request, const std::function<bool()>& cancelled) {
  coap_startup();
  std::vector<Target> targets;
  for (const auto& probe_target : request.targets) {
    Result<Target> target = MakeTarget(probe_target);
    if (!target.ok()) {
      return target.error();
    }
    targets.push_back(*target);
  }
  std::random_device random;
  auto message_id = static_cast<uint16_t>(random());
  std::string token(8, '\0');
  for (char& byte : token) {
    byte = static_cast<char>(random() & 0xFFU);
  }
  // One socket per family and outgoing interface, made before anything is sent.
  std::map<std::pair<Family, unsigned>, std::unique_ptr<Socket>> sockets;
  for (const Target& target : targets) {
    auto& slot = sockets[{target.family, target.multicast ? target.interface_index : 0U}];
    if (slot) {
      continue;
    }
    slot = std::make_unique<Socket>(
        socket(target.family == Family::kIpv4 ? AF_INET : AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (slot->fd() < 0) {
      return MakeError(ErrorCode::kUnavailable, "socket: " + detail::ErrnoText(errno));
    }
    if (target.multicast) {
      const Status set =
          SetMulticastOptions(slot->fd(), target.family, target.interface_index, request.hops);
      if (!set.ok()) {
        return set.error();
      }
    }
  }
  std::vector<pollfd> waiting;
  waiting.reserve(sockets.size());
  for (const auto& entry : sockets) {
    waiting.push_back(pollfd{entry.second->fd(), POLLIN, 0});
  }

  ProbeResult result;
  std::set<std::string> seen;
  std::set<std::string> unicast_open;  // unicast targets that have not answered yet
  std::vector<uint8_t> buffer(kMaxDatagram);
  size_t next = 0;
  auto next_send = std::chrono::steady_clock::now();
  auto deadline = next_send + request.window;
  for (;;) {
    auto now = std::chrono::steady_clock::now();
    while (next < targets.size() && now >= next_send) {
      const Target& target = targets[next];
      const Result<std::string> datagram = EncodeRequest(request, message_id++, token);
      if (!datagram.ok()) {
        return datagram.error();
      }
      const int fd = sockets[{target.family, target.multicast ? target.interface_index : 0U}]->fd();
      if (sendto(fd, datagram->data(), datagram->size(), 0,
                 reinterpret_cast<const sockaddr*>(&target.storage), target.length) < 0) {
        ++result.unsent;
      } else if (!target.multicast) {
        unicast_open.insert(request.targets[next].address.ip);
      }
      ++next;
      next_send = now + request.send_interval;
      deadline = now + request.window;
    }
    const bool all_answered = next == targets.size() && unicast_open.empty() &&
                              std::none_of(targets.begin(), targets.end(),
                                           [](const Target& target) { return target.multicast; });
    if (now >= deadline || all_answered || (cancelled && cancelled())) {
      break;
    }
    auto wake = std::min(deadline, now + kCancelCheck);
    if (next < targets.size()) {
      wake = std::min(wake, next_send);
    }
    const auto wait = std::chrono::duration_cast<Millis>(wake - now) + Millis(1);
    if (poll(waiting.data(), waiting.size(), static_cast<int>(wait.count())) <= 0) {
      continue;  // time to send, to look at the deadline, or EINTR
    }
    for (pollfd& entry : waiting) {
      if ((entry.revents & POLLIN) == 0) {
        continue;
      }
      sockaddr_storage from{};
      socklen_t from_length = sizeof from;
      const ssize_t received = recvfrom(entry.fd, buffer.data(), buffer.size(), MSG_DONTWAIT,
                                        reinterpret_cast<sockaddr*>(&from), &from_length);
      if (received <= 0) {
        continue;  // an ICMP error of a unicast request, reported on the socket
      }
      auto response = DecodeResponse(buffer.data(), static_cast<size_t>(received), token, entry.fd,
                                     from, from_length);
      if (!response) {
        ++result.malformed;
        continue;
      }
      unicast_open.erase(response->from.ip);
      if (result.responses.size() >= request.max_responses ||
          !seen.insert(response->from.ToString()).second) {
        ++result.dropped;
        continue;
      }
      result.responses.push_back(std::move(*response));
    }
  }
  return result;
}

}  // namespace coapgw::coap
