#include "device_sim/sockets.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include <linux/filter.h>

#include "coapgw/common/log.hpp"

namespace coapgw::device_sim {
namespace {

std::string ErrnoText(int error) {
  char buffer[128];
  return strerror_r(error, buffer, sizeof buffer);  // the GNU variant returns the text
}

Error SocketError(const std::string& what, const coap::Address& address) {
  return MakeError(ErrorCode::kUnavailable,
                   what + " " + address.ToString() + ": " + ErrnoText(errno));
}

struct SocketAddress {
  sockaddr_storage storage{};
  socklen_t length = 0;
  const sockaddr* get() const { return reinterpret_cast<const sockaddr*>(&storage); }
};

// A numeric IPv4 or IPv6 address and a port as a sockaddr.
Result<SocketAddress> ToSockaddr(const std::string& ip, uint16_t port) {
  SocketAddress out;
  auto* in4 = reinterpret_cast<sockaddr_in*>(&out.storage);
  auto* in6 = reinterpret_cast<sockaddr_in6*>(&out.storage);
  if (inet_pton(AF_INET, ip.c_str(), &in4->sin_addr) == 1) {
    in4->sin_family = AF_INET;
    in4->sin_port = htons(port);
    out.length = sizeof(sockaddr_in);
  } else if (inet_pton(AF_INET6, ip.c_str(), &in6->sin6_addr) == 1) {
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(port);
    out.length = sizeof(sockaddr_in6);
  } else {
    return MakeError(ErrorCode::kInvalidArgument, "'" + ip + "' is not a numeric IP address");
  }
  return out;
}

// AF_INET or AF_INET6 for a numeric address, AF_UNSPEC for anything else.
int FamilyOf(const std::string& ip) {
  auto address = ToSockaddr(ip, 0);
  return address.ok() ? address->storage.ss_family : AF_UNSPEC;
}

// Local ports of every UDP socket in /proc/net/udp and /proc/net/udp6.
std::set<uint16_t> UsedUdpPorts() {
  std::set<uint16_t> ports;
  for (const char* path : {"/proc/net/udp", "/proc/net/udp6"}) {
    FILE* file = std::fopen(path, "r");
    if (file == nullptr) {
      continue;
    }
    char line[512];
    while (std::fgets(line, sizeof line, file) != nullptr) {
      // "  12: 0100007F:A3F1 00000000:0000 07 ...": the local address is the second field.
      char local[64] = {};
      if (std::sscanf(line, "%*s %63s", local) == 1) {  // NOLINT(cert-err34-c): a string
        const char* colon = std::strrchr(local, ':');
        char* end = nullptr;
        const unsigned long port = colon == nullptr ? 0 : std::strtoul(colon + 1, &end, 16);
        if (port != 0 && port <= 65535 && end != nullptr && *end == '\0') {
          ports.insert(static_cast<uint16_t>(port));
        }
      }
    }
    std::fclose(file);
  }
  return ports;
}

}  // namespace

BlackHole& BlackHole::operator=(BlackHole&& other) noexcept {
  if (this != &other) {
    Close();
    fd_ = other.fd_;
    other.fd_ = -1;
  }
  return *this;
}

Status BlackHole::Open(const coap::Address& address) {
  Close();
  auto socket_address = ToSockaddr(address.ip, address.port);
  if (!socket_address.ok()) {
    return socket_address.error();
  }
  const int fd = socket(socket_address->storage.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return SocketError("socket for", address);
  }
  const int one = 1;
  // "return 0": every datagram is dropped before it is queued, so nothing piles up.
  sock_filter drop_all = BPF_STMT(BPF_RET | BPF_K, 0);
  const sock_fprog program{1, &drop_all};
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
      setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &program, sizeof program) != 0 ||
      bind(fd, socket_address->get(), socket_address->length) != 0) {
    Error error = SocketError("cannot hold", address);
    close(fd);
    return error;
  }
  fd_ = fd;
  return Status::Ok();
}

void BlackHole::Close() {
  if (fd_ >= 0) {
    close(fd_);
    fd_ = -1;
  }
}

Result<std::vector<uint16_t>> PickFreePorts(const std::string& ip, size_t count) {
  auto socket_address = ToSockaddr(ip, 0);
  if (!socket_address.ok()) {
    return socket_address.error();
  }
  std::vector<int> fds;
  std::vector<uint16_t> ports;
  Status failed;
  for (size_t i = 0; i < count && failed.ok(); ++i) {
    // Without SO_REUSEADDR the kernel picks a port no other socket uses, reuse or not.
    const int fd = socket(socket_address->storage.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    SocketAddress bound = *socket_address;
    if (fd < 0 || bind(fd, socket_address->get(), socket_address->length) != 0 ||
        getsockname(fd, reinterpret_cast<sockaddr*>(&bound.storage), &bound.length) != 0) {
      failed = MakeError(ErrorCode::kUnavailable,
                         "cannot pick a free UDP port on " + ip + ": " + ErrnoText(errno));
    } else {
      const auto* in4 = reinterpret_cast<const sockaddr_in*>(&bound.storage);
      const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&bound.storage);
      ports.push_back(ntohs(bound.storage.ss_family == AF_INET ? in4->sin_port : in6->sin6_port));
    }
    if (fd >= 0) {
      fds.push_back(fd);
    }
  }
  for (const int fd : fds) {
    close(fd);
  }
  if (!failed.ok()) {
    return failed.error();
  }
  return ports;
}

void CheckPortsFree(uint16_t first, size_t count) {
  const std::set<uint16_t> used = UsedUdpPorts();
  const auto clash = used.lower_bound(first);
  if (clash != used.end() && *clash < first + count) {
    throw std::runtime_error("UDP port " + std::to_string(*clash) + " of the devices' range " +
                             std::to_string(first) + "-" + std::to_string(first + count - 1) +
                             " is already in use; choose another COAPGW_DEVICE_SIM_LISTEN port");
  }
}

Result<std::string> PickAddressOfFamily(const std::vector<std::string>& addresses,
                                        const std::string& local_ip, const std::string& host) {
  const int family = FamilyOf(local_ip);
  if (family == AF_UNSPEC) {
    return MakeError(ErrorCode::kInvalidArgument, "'" + local_ip + "' is not a numeric IP address");
  }
  for (const std::string& address : addresses) {
    if (FamilyOf(address) == family) {
      return address;
    }
  }
  std::string found;
  for (const std::string& address : addresses) {
    found += (found.empty() ? "" : ", ") + address;
  }
  return MakeError(ErrorCode::kInvalidArgument,
                   host + " has no " + (family == AF_INET ? "IPv4" : "IPv6") +
                       " address to reach from " + local_ip + " (it has " +
                       (found.empty() ? "none" : found) + ")");
}

Result<std::string> ResolveForSource(const std::string& host, const std::string& local_ip) {
  if (FamilyOf(host) != AF_UNSPEC) {
    return PickAddressOfFamily({host}, local_ip, host);  // a literal: no resolver round trip
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_DGRAM;
  addrinfo* found = nullptr;
  const int rc = getaddrinfo(host.c_str(), nullptr, &hints, &found);
  if (rc != 0) {
    return MakeError(ErrorCode::kUnavailable, "cannot resolve " + host + ": " + gai_strerror(rc));
  }
  std::vector<std::string> addresses;
  for (const addrinfo* entry = found; entry != nullptr; entry = entry->ai_next) {
    char text[NI_MAXHOST] = {};
    if (getnameinfo(entry->ai_addr, entry->ai_addrlen, text, sizeof text, nullptr, 0,
                    NI_NUMERICHOST) == 0) {
      addresses.emplace_back(text);
    }
  }
  freeaddrinfo(found);
  return PickAddressOfFamily(addresses, local_ip, host);
}

void EnsureDescriptors(size_t needed) {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur >= needed) {
    return;
  }
  if (limit.rlim_max < needed) {
    throw std::runtime_error("the devices need about " + std::to_string(needed) +
                             " file descriptors but RLIMIT_NOFILE allows at most " +
                             std::to_string(limit.rlim_max) + " (raise it with ulimit -Hn)");
  }
  const rlim_t previous = limit.rlim_cur;
  limit.rlim_cur = limit.rlim_max;
  if (setrlimit(RLIMIT_NOFILE, &limit) != 0) {
    throw std::runtime_error(std::string("cannot raise RLIMIT_NOFILE: ") + ErrnoText(errno));
  }
  log::Info("device-sim", "raised the descriptor limit",
            {{"from", std::to_string(previous)}, {"to", std::to_string(limit.rlim_cur)}});
}

}  // namespace coapgw::device_sim
