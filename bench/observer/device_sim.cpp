#include "device_sim.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <unordered_map>

namespace coapgw::bench {
namespace {

constexpr uint8_t kCon = 0;
constexpr uint8_t kNon = 1;
constexpr uint8_t kAck = 2;
constexpr uint8_t kRst = 3;
constexpr uint8_t kGet = 0x01;
constexpr uint8_t kContent = 0x45;   // 2.05
constexpr uint8_t kNotFound = 0x84;  // 4.04
constexpr uint16_t kObserve = 6;
constexpr uint16_t kUriPath = 11;
constexpr uint16_t kContentFormat = 12;
constexpr uint16_t kMaxAge = 14;
constexpr int kSocketBuffer = 4 * 1024 * 1024;

struct Request {
  uint8_t type = 0;
  uint8_t code = 0;
  uint16_t mid = 0;
  std::string token;
  std::vector<std::string> path;
  int64_t observe = -1;  // -1: no Observe option
};

bool ParseRequest(const uint8_t* data, size_t size, Request& out) {
  if (size < 4 || (data[0] >> 6U) != 1) {
    return false;
  }
  out.type = (data[0] >> 4U) & 3U;
  const size_t token_length = data[0] & 0x0FU;
  out.code = data[1];
  out.mid = static_cast<uint16_t>((data[2] << 8U) | data[3]);
  if (token_length > 8 || 4 + token_length > size) {
    return false;
  }
  out.token.assign(reinterpret_cast<const char*>(data + 4), token_length);
  size_t pos = 4 + token_length;
  uint32_t number = 0;
  while (pos < size && data[pos] != 0xFF) {
    uint32_t delta = data[pos] >> 4U;
    uint32_t length = data[pos] & 0x0FU;
    ++pos;
    const auto extend = [&](uint32_t& value) {
      if (value == 13 && pos < size) {
        value = 13U + data[pos++];
      } else if (value == 14 && pos + 1 < size) {
        value = 269U + ((data[pos] << 8U) | data[pos + 1]);
        pos += 2;
      }
      return value < 15;
    };
    if (!extend(delta) || !extend(length) || pos + length > size) {
      return false;
    }
    number += delta;
    if (number == kUriPath) {
      out.path.emplace_back(reinterpret_cast<const char*>(data + pos), length);
    } else if (number == kObserve) {
      uint32_t value = 0;
      for (size_t i = 0; i < length; ++i) {
        value = (value << 8U) | data[pos + i];
      }
      out.observe = value;
    }
    pos += length;
  }
  return true;
}

// Appends one option (every number and length used here fits the 4-bit fields).
void AddOption(std::string& out, uint16_t& last, uint16_t number, const std::string& value) {
  out.push_back(static_cast<char>(((number - last) << 4U) | value.size()));
  out += value;
  last = number;
}

std::string Uint(uint32_t value, size_t bytes) {
  std::string out(bytes, '\0');
  for (size_t i = 0; i < bytes; ++i) {
    out[bytes - 1 - i] = static_cast<char>((value >> (8 * i)) & 0xFFU);
  }
  return out;
}

std::string Encode(uint8_t type, uint8_t code, uint16_t mid, const std::string& token,
                   int64_t observe, uint32_t max_age, const std::string& payload) {
  std::string out;
  out.reserve(32 + payload.size());
  out.push_back(static_cast<char>(0x40U | (type << 4U) | token.size()));
  out.push_back(static_cast<char>(code));
  out.push_back(static_cast<char>(mid >> 8U));
  out.push_back(static_cast<char>(mid & 0xFFU));
  out += token;
  uint16_t last = 0;
  if (observe >= 0) {
    AddOption(out, last, kObserve, Uint(static_cast<uint32_t>(observe) & 0xFFFFFFU, 3));
  }
  if (code == kContent) {
    AddOption(out, last, kContentFormat, "");  // 0, text/plain
    AddOption(out, last, kMaxAge, Uint(max_age, 2));
  }
  if (!payload.empty()) {
    out.push_back(static_cast<char>(0xFF));
    out += payload;
  }
  return out;
}

void SetBuffer(int fd, int option_force, int option) {
  if (setsockopt(fd, SOL_SOCKET, option_force, &kSocketBuffer, sizeof kSocketBuffer) != 0) {
    setsockopt(fd, SOL_SOCKET, option, &kSocketBuffer, sizeof kSocketBuffer);
  }
}

// One observe relation: who observes which device, with which token.
struct Relation {
  size_t socket = 0;
  sockaddr_in peer{};
  std::string token;
  uint32_t device = 0;
  uint32_t observe = 2;
};

}  // namespace

struct DeviceSim::State {
  std::vector<int> fds;
  int epoll_fd = -1;
  std::vector<Relation> relations;
  std::unordered_map<std::string, size_t> by_key;  // socket|peer|token -> index in relations
  std::vector<int> per_device;                     // relations per device
  size_t next = 0;                                 // round-robin position
  uint16_t mid = 1;
  uint64_t seq = 0;

  static std::string Key(size_t socket, const sockaddr_in& peer, const std::string& token) {
    std::string key(reinterpret_cast<const char*>(&socket), sizeof socket);
    key.append(reinterpret_cast<const char*>(&peer.sin_addr), sizeof peer.sin_addr);
    key.append(reinterpret_cast<const char*>(&peer.sin_port), sizeof peer.sin_port);
    return key + token;
  }
};

DeviceSim::DeviceSim(DeviceSimOptions options)
    : options_(options), state_(std::make_unique<State>()) {
  state_->per_device.assign(static_cast<size_t>(options_.devices), 0);
  state_->epoll_fd = epoll_create1(0);
  for (int i = 0; i < options_.sockets; ++i) {
    const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
      throw std::runtime_error(std::string("device socket: ") + std::strerror(errno));
    }
    SetBuffer(fd, SO_RCVBUFFORCE, SO_RCVBUF);
    SetBuffer(fd, SO_SNDBUFFORCE, SO_SNDBUF);
    socklen_t length = sizeof address;
    getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
    ports_.push_back(ntohs(address.sin_port));
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.u64 = static_cast<uint64_t>(i);
    epoll_ctl(state_->epoll_fd, EPOLL_CTL_ADD, fd, &event);
    state_->fds.push_back(fd);
  }
  thread_ = std::thread([this] { Run(); });
}

DeviceSim::~DeviceSim() {
  stopping_.store(true);
  thread_.join();
  for (const int fd : state_->fds) {
    close(fd);
  }
  close(state_->epoll_fd);
}

uint16_t DeviceSim::PortOf(int device) const {
  return ports_.at(static_cast<size_t>(device % options_.sockets));
}

std::string DeviceSim::PathOf(int device) {
  return "/d/" + std::to_string(device);
}

void DeviceSim::SetRate(double rate) {
  rate_.store(rate);
}

void DeviceSim::Run() {
  using Clock = std::chrono::steady_clock;
  std::vector<epoll_event> events(128);
  auto last = Clock::now();
  double credit = 0;
  while (!stopping_.load()) {
    const int ready =
        epoll_wait(state_->epoll_fd, events.data(), static_cast<int>(events.size()), 1);
    for (int i = 0; i < ready; ++i) {
      Receive(static_cast<size_t>(events[static_cast<size_t>(i)].data.u64));
    }
    const auto now = Clock::now();
    const double rate = rate_.load();
    credit += rate * std::chrono::duration<double>(now - last).count();
    last = now;
    // No catch-up bursts beyond 100 ms, and short batches so that requests and a stop are seen.
    credit = std::min({credit, rate * 0.1, 4096.0});
    if (credit >= 1) {
      const auto count = static_cast<uint64_t>(credit);
      Notify(count);
      credit -= static_cast<double>(count);
    }
  }
}

void DeviceSim::Receive(size_t socket_index) {
  State& state = *state_;
  const int fd = state.fds[socket_index];
  uint8_t buffer[1500];
  for (int n = 0; n < 512; ++n) {
    sockaddr_in peer{};
    socklen_t peer_length = sizeof peer;
    const ssize_t size =
        recvfrom(fd, buffer, sizeof buffer, 0, reinterpret_cast<sockaddr*>(&peer), &peer_length);
    if (size <= 0) {
      return;
    }
    Request request;
    if (!ParseRequest(buffer, static_cast<size_t>(size), request) || request.type == kAck ||
        request.type == kRst) {
      continue;  // nothing to answer (an RST to a notification is ignored: see PathOf)
    }
    requests_.fetch_add(1);
    const uint8_t type = request.type == kCon ? kAck : kNon;
    const uint16_t mid = request.type == kCon ? request.mid : state.mid++;
    std::string reply;
    int device = -1;
    if (request.code == kGet && request.path.size() == 2 && request.path[0] == "d") {
      device = static_cast<int>(std::strtol(request.path[1].c_str(), nullptr, 10));
    }
    if (request.code == 0) {
      reply = Encode(kRst, 0, request.mid, "", -1, 0, "");  // CoAP ping
    } else if (device < 0 || device >= options_.devices ||
               static_cast<size_t>(device % options_.sockets) != socket_index) {
      reply = Encode(type, kNotFound, mid, request.token, -1, 0, "");
    } else {
      const std::string payload = std::to_string(device) + ":" + std::to_string(++state.seq);
      const std::string key = State::Key(socket_index, peer, request.token);
      int64_t observe = -1;
      const auto found = state.by_key.find(key);
      if (request.observe == 0) {
        size_t index = 0;
        if (found == state.by_key.end()) {
          index = state.relations.size();
          state.relations.push_back(
              {socket_index, peer, request.token, static_cast<uint32_t>(device), 2});
          state.by_key.emplace(key, index);
          const int count = ++state.per_device[static_cast<size_t>(device)];
          observed_devices_.fetch_add(count == 1 ? 1 : 0);
          multiply_observed_.fetch_add(count == 2 ? 1 : 0);
        } else {
          index = found->second;
        }
        observe = state.relations[index].observe++;
      } else if (request.observe == 1 && found != state.by_key.end()) {
        const size_t index = found->second;
        const int count = --state.per_device[static_cast<size_t>(device)];
        observed_devices_.fetch_sub(count == 0 ? 1 : 0);
        multiply_observed_.fetch_sub(count == 1 ? 1 : 0);
        state.by_key.erase(found);
        if (index + 1 != state.relations.size()) {
          Relation& moved = state.relations.back();
          state.by_key[State::Key(moved.socket, moved.peer, moved.token)] = index;
          state.relations[index] = std::move(moved);
        }
        state.relations.pop_back();
      }
      relations_.store(static_cast<int64_t>(state.relations.size()));
      reply = Encode(type, kContent, mid, request.token, observe, options_.max_age_s, payload);
    }
    sendto(fd, reply.data(), reply.size(), 0, reinterpret_cast<const sockaddr*>(&peer),
           peer_length);
  }
}

void DeviceSim::Notify(uint64_t count) {
  State& state = *state_;
  for (uint64_t i = 0; i < count && !state.relations.empty(); ++i) {
    state.next = (state.next + 1) % state.relations.size();
    Relation& relation = state.relations[state.next];
    const std::string payload = std::to_string(relation.device) + ":" + std::to_string(++state.seq);
    const std::string message = Encode(kNon, kContent, state.mid++, relation.token,
                                       relation.observe++, options_.max_age_s, payload);
    if (sendto(state.fds[relation.socket], message.data(), message.size(), 0,
               reinterpret_cast<const sockaddr*>(&relation.peer), sizeof relation.peer) < 0) {
      send_failures_.fetch_add(1);
      return;
    }
    sent_.fetch_add(1);
  }
}

}  // namespace coapgw::bench
