#include "raw_device.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>

namespace coapgw::test {
namespace {

constexpr uint8_t kTypeCon = 0;
constexpr uint8_t kTypeAck = 2;
constexpr uint8_t kTypeRst = 3;

uint8_t TypeOf(const std::string& datagram) {
  return static_cast<uint8_t>((static_cast<uint8_t>(datagram[0]) >> 4) & 0x3);
}

}  // namespace

RawDevice::RawDevice(Mode mode) : mode_(mode) {
  fd_ = socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  if (fd_ < 0 || bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
      getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    throw std::runtime_error(std::string("RawDevice: cannot bind: ") + std::strerror(errno));
  }
  port_ = ntohs(address.sin_port);
  thread_ = std::thread([this] { Run(); });
}

RawDevice::~RawDevice() {
  stopping_.store(true);
  thread_.join();
  close(fd_);
}

std::string RawDevice::base() const {
  return "coap://127.0.0.1:" + std::to_string(port_);
}

size_t RawDevice::received() const {
  const std::lock_guard<std::mutex> lock(mutex_);
  return datagrams_.size();
}

std::vector<uint16_t> RawDevice::sender_ports() const {
  const std::lock_guard<std::mutex> lock(mutex_);
  std::vector<uint16_t> ports;
  for (const auto& peer : peers_) {
    sockaddr_in address{};
    std::memcpy(&address, peer.data(), std::min(peer.size(), sizeof(address)));
    ports.push_back(ntohs(address.sin_port));
  }
  return ports;
}

bool RawDevice::AnswerFirst(const std::string& payload) {
  const std::lock_guard<std::mutex> lock(mutex_);
  for (size_t i = 0; i < datagrams_.size(); ++i) {
    const std::string& request = datagrams_[i];
    if (request.size() < 4 || TypeOf(request) != kTypeCon || request[1] == 0) {
      continue;
    }
    const size_t token_length = static_cast<uint8_t>(request[0]) & 0x0f;
    std::string response;
    response.push_back(static_cast<char>(0x40 | (kTypeAck << 4) | token_length));
    response.push_back(static_cast<char>(0x45));  // 2.05
    response.append(request, 2, 2);               // message id
    response.append(request, 4, token_length);
    response.push_back(static_cast<char>(0xff));
    response += payload;
    const auto& peer = peers_[i];
    return sendto(fd_, response.data(), response.size(), 0,
                  reinterpret_cast<const sockaddr*>(peer.data()),
                  static_cast<socklen_t>(peer.size())) == static_cast<ssize_t>(response.size());
  }
  return false;
}

void RawDevice::Run() {
  while (!stopping_.load()) {
    pollfd item{fd_, POLLIN, 0};
    if (poll(&item, 1, 50) <= 0) {
      continue;
    }
    char buffer[2048];
    sockaddr_storage peer{};
    socklen_t peer_length = sizeof(peer);
    const ssize_t n =
        recvfrom(fd_, buffer, sizeof(buffer), 0, reinterpret_cast<sockaddr*>(&peer), &peer_length);
    if (n < 4) {
      continue;
    }
    std::string datagram(buffer, static_cast<size_t>(n));
    if (mode_ == Mode::kReset && TypeOf(datagram) == kTypeCon) {
      const char reset[4] = {static_cast<char>(0x40 | (kTypeRst << 4)), 0, datagram[2],
                             datagram[3]};
      (void)sendto(fd_, reset, sizeof(reset), 0, reinterpret_cast<sockaddr*>(&peer), peer_length);
    }
    const auto* peer_bytes = reinterpret_cast<const uint8_t*>(&peer);
    const std::lock_guard<std::mutex> lock(mutex_);
    datagrams_.push_back(std::move(datagram));
    peers_.emplace_back(peer_bytes, peer_bytes + peer_length);
  }
}

}  // namespace coapgw::test
