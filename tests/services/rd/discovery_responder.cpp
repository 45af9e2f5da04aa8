#include "discovery_responder.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <future>
#include <stdexcept>
#include <utility>

#include <net/if.h>

#include "coapgw/coap/message.hpp"
#include "raw_coap.hpp"

namespace coapgw::rd::test {
namespace {

constexpr size_t kBlock = 512;
constexpr uint32_t kBlockSzx = 5;  // 2^(5+4) = 512

std::string Errno(const std::string& what) {
  return what + ": " + std::strerror(errno);
}

// Makes the socket (in `options.netns` when given: called on the responder's own thread).
int OpenSocket(const ResponderOptions& options, uint16_t* port) {
  if (!options.netns.empty()) {
    const std::string path = "/var/run/netns/" + options.netns;
    const int ns = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (ns < 0 || setns(ns, CLONE_NEWNET) != 0) {
      throw std::runtime_error(Errno("enter network namespace " + options.netns));
    }
    close(ns);
  }
  const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  const int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(options.port);
  inet_pton(AF_INET, options.bind_ip.c_str(), &address.sin_addr);
  if (bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    close(fd);
    throw std::runtime_error(Errno("bind " + options.bind_ip));
  }
  socklen_t length = sizeof address;
  getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  *port = ntohs(address.sin_port);
  if (!options.group.empty()) {
    ip_mreqn request{};
    inet_pton(AF_INET, options.group.c_str(), &request.imr_multiaddr);
    request.imr_ifindex = static_cast<int>(if_nametoindex(options.interface.c_str()));
    if (setsockopt(fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &request, sizeof request) != 0) {
      close(fd);
      throw std::runtime_error(Errno("join " + options.group + " on " + options.interface));
    }
  }
  return fd;
}

}  // namespace

Responder::Responder(ResponderOptions options, std::string links) : links_(std::move(links)) {
  std::promise<void> ready;
  auto started = ready.get_future();
  thread_ = std::thread([this, options, &ready] {
    try {
      fd_ = OpenSocket(options, &port_);
    } catch (...) {
      ready.set_exception(std::current_exception());
      return;
    }
    ready.set_value();
    Serve();
  });
  try {
    started.get();
  } catch (...) {
    thread_.join();
    throw;
  }
}

Responder::~Responder() {
  stop_ = true;
  thread_.join();
  if (fd_ >= 0) {
    close(fd_);
  }
}

void Responder::SetLinks(std::string links) {
  std::lock_guard<std::mutex> lock(mutex_);
  links_ = std::move(links);
}

std::string Responder::Links() {
  std::lock_guard<std::mutex> lock(mutex_);
  return links_;
}

void Responder::Serve() {
  char buffer[2048];
  while (!stop_) {
    pollfd waiting{fd_, POLLIN, 0};
    if (poll(&waiting, 1, 50) <= 0) {
      continue;
    }
    sockaddr_in from{};
    socklen_t from_length = sizeof from;
    const ssize_t n =
        recvfrom(fd_, buffer, sizeof buffer, 0, reinterpret_cast<sockaddr*>(&from), &from_length);
    auto request = n > 0 ? Decode(std::string_view(buffer, static_cast<size_t>(n))) : std::nullopt;
    if (!request || request->code != static_cast<int>(coap::Method::kGet) ||
        request->UriPath() != "/.well-known/core") {
      continue;
    }
    ++served_;
    const std::string links = Links();
    RawMessage response;
    response.type = request->type == RawType::kCon ? RawType::kAck : RawType::kNon;
    response.message_id = request->message_id;
    response.code = 205;
    response.token = request->token;
    response.options.push_back(
        {coap::option::kContentFormat, coap::EncodeUint(coap::content_format::kLinkFormat)});
    if (links.size() <= kBlock) {
      response.payload = links;
    } else {
      const uint32_t number = request->UintOption(coap::option::kBlock2).value_or(0) >> 4U;
      const size_t offset = number * kBlock;
      if (offset >= links.size()) {
        continue;
      }
      response.payload = links.substr(offset, kBlock);
      const uint32_t more = offset + kBlock < links.size() ? 1 : 0;
      response.options.push_back(
          {coap::option::kBlock2, coap::EncodeUint((number << 4U) | (more << 3U) | kBlockSzx)});
    }
    const std::string datagram = Encode(response);
    sendto(fd_, datagram.data(), datagram.size(), 0, reinterpret_cast<sockaddr*>(&from),
           from_length);
  }
}

}  // namespace coapgw::rd::test
