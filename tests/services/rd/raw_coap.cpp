#include "raw_coap.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <random>
#include <stdexcept>

#include "coapgw/coap/uri.hpp"

namespace coapgw::rd::test {
namespace {

constexpr uint8_t kPayloadMarker = 0xFF;

uint8_t CodeByte(int code) {
  if (code < 100) {
    return static_cast<uint8_t>(code);  // 0.xx: empty message and methods
  }
  return static_cast<uint8_t>(((code / 100) << 5) | (code % 100));
}

int CodeOf(uint8_t byte) {
  return (byte >> 5) * 100 + (byte & 0x1F);
}

// The 4-bit nibble and extension bytes of an option delta or length (RFC 7252 §3.1).
void AppendNibbleExtension(uint32_t value, uint8_t* nibble, std::string* extension) {
  if (value < 13) {
    *nibble = static_cast<uint8_t>(value);
  } else if (value < 269) {
    *nibble = 13;
    extension->push_back(static_cast<char>(value - 13));
  } else {
    *nibble = 14;
    const uint32_t rest = value - 269;
    extension->push_back(static_cast<char>(rest >> 8));
    extension->push_back(static_cast<char>(rest & 0xFF));
  }
}

// Reads an extended delta or length for `nibble`; false when malformed or truncated.
bool ReadNibble(uint8_t nibble, std::string_view data, size_t* at, uint32_t* value) {
  if (nibble < 13) {
    *value = nibble;
    return true;
  }
  if (nibble == 13) {
    if (*at + 1 > data.size()) {
      return false;
    }
    *value = static_cast<uint8_t>(data[*at]) + 13U;
    *at += 1;
    return true;
  }
  if (nibble == 14) {
    if (*at + 2 > data.size()) {
      return false;
    }
    *value = ((static_cast<uint32_t>(static_cast<uint8_t>(data[*at])) << 8) |
              static_cast<uint8_t>(data[*at + 1])) +
             269U;
    *at += 2;
    return true;
  }
  return false;  // 15 is reserved (the payload marker when both nibbles are 15)
}

std::string JoinSegments(const std::vector<std::string>& segments, const char* empty) {
  if (segments.empty()) {
    return empty;
  }
  std::string path;
  for (const auto& segment : segments) {
    path += "/" + segment;
  }
  return path;
}

}  // namespace

std::vector<std::string> RawMessage::OptionValues(uint16_t number) const {
  std::vector<std::string> values;
  for (const auto& option : options) {
    if (option.number == number) {
      values.push_back(option.value);
    }
  }
  return values;
}

std::string RawMessage::LocationPath() const {
  return JoinSegments(OptionValues(coap::option::kLocationPath), "");
}

std::string RawMessage::UriPath() const {
  return JoinSegments(OptionValues(coap::option::kUriPath), "/");
}

std::optional<uint32_t> RawMessage::UintOption(uint16_t number) const {
  const auto values = OptionValues(number);
  if (values.empty()) {
    return std::nullopt;
  }
  return coap::DecodeUint(values.front());
}

std::string Encode(const RawMessage& message) {
  std::string out;
  out.push_back(static_cast<char>(0x40 | (static_cast<uint8_t>(message.type) << 4) |
                                  static_cast<uint8_t>(message.token.size())));
  out.push_back(static_cast<char>(CodeByte(message.code)));
  out.push_back(static_cast<char>(message.message_id >> 8));
  out.push_back(static_cast<char>(message.message_id & 0xFF));
  out += message.token;
  std::vector<coap::Option> options = message.options;
  std::stable_sort(
      options.begin(), options.end(),
      [](const coap::Option& a, const coap::Option& b) { return a.number < b.number; });
  uint16_t previous = 0;
  for (const auto& option : options) {
    uint8_t delta_nibble = 0;
    uint8_t length_nibble = 0;
    std::string delta_extension;
    std::string length_extension;
    AppendNibbleExtension(option.number - previous, &delta_nibble, &delta_extension);
    AppendNibbleExtension(static_cast<uint32_t>(option.value.size()), &length_nibble,
                          &length_extension);
    out.push_back(static_cast<char>((delta_nibble << 4) | length_nibble));
    out += delta_extension;
    out += length_extension;
    out += option.value;
    previous = option.number;
  }
  if (!message.payload.empty()) {
    out.push_back(static_cast<char>(kPayloadMarker));
    out += message.payload;
  }
  return out;
}

std::optional<RawMessage> Decode(std::string_view datagram) {
  if (datagram.size() < 4) {
    return std::nullopt;
  }
  const auto first = static_cast<uint8_t>(datagram[0]);
  const size_t token_length = first & 0x0F;
  if ((first >> 6) != 1 || token_length > 8 || datagram.size() < 4 + token_length) {
    return std::nullopt;
  }
  RawMessage message;
  message.type = static_cast<RawType>((first >> 4) & 0x03);
  message.code = CodeOf(static_cast<uint8_t>(datagram[1]));
  message.message_id = static_cast<uint16_t>((static_cast<uint8_t>(datagram[2]) << 8) |
                                             static_cast<uint8_t>(datagram[3]));
  message.token = std::string(datagram.substr(4, token_length));
  size_t at = 4 + token_length;
  uint32_t number = 0;
  while (at < datagram.size()) {
    const auto head = static_cast<uint8_t>(datagram[at++]);
    if (head == kPayloadMarker) {
      if (at == datagram.size()) {
        return std::nullopt;  // a marker must be followed by a payload
      }
      message.payload = std::string(datagram.substr(at));
      break;
    }
    uint32_t delta = 0;
    uint32_t length = 0;
    if (!ReadNibble(head >> 4, datagram, &at, &delta) ||
        !ReadNibble(head & 0x0F, datagram, &at, &length) || at + length > datagram.size()) {
      return std::nullopt;
    }
    number += delta;
    message.options.push_back(
        {static_cast<uint16_t>(number), std::string(datagram.substr(at, length))});
    at += length;
  }
  return message;
}

RawPeer::RawPeer(const std::string& ip) : ip_(ip), fd_(socket(AF_INET, SOCK_DGRAM, 0)) {
  if (fd_ < 0) {
    throw std::runtime_error("RawPeer: socket: " + std::string(std::strerror(errno)));
  }
  sockaddr_in address{};
  address.sin_family = AF_INET;
  if (inet_pton(AF_INET, ip.c_str(), &address.sin_addr) != 1 ||
      bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    const std::string cause = std::strerror(errno);
    close(fd_);
    throw std::runtime_error("RawPeer: cannot bind " + ip + ": " + cause);
  }
  socklen_t length = sizeof address;
  getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length);
  port_ = ntohs(address.sin_port);
  std::random_device random;
  next_message_id_ = static_cast<uint16_t>(random());
}

RawPeer::~RawPeer() {
  close(fd_);
}

void RawPeer::Send(uint16_t port, const RawMessage& message) const {
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(port);
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const std::string datagram = Encode(message);
  if (sendto(fd_, datagram.data(), datagram.size(), 0, reinterpret_cast<sockaddr*>(&to),
             sizeof to) != static_cast<ssize_t>(datagram.size())) {
    throw std::runtime_error("RawPeer: sendto: " + std::string(std::strerror(errno)));
  }
}

std::optional<RawMessage> RawPeer::Receive(std::chrono::milliseconds timeout, uint16_t* from_port) {
  pollfd item{fd_, POLLIN, 0};
  if (poll(&item, 1, static_cast<int>(std::max<int64_t>(timeout.count(), 0))) <= 0) {
    return std::nullopt;
  }
  char buffer[65536];
  sockaddr_in from{};
  socklen_t length = sizeof from;
  const ssize_t n =
      recvfrom(fd_, buffer, sizeof buffer, 0, reinterpret_cast<sockaddr*>(&from), &length);
  if (n < 0) {
    return std::nullopt;
  }
  *from_port = ntohs(from.sin_port);
  return Decode(std::string_view(buffer, static_cast<size_t>(n)));
}

std::optional<RawMessage> RawPeer::Exchange(uint16_t server_port, const RawRequest& request,
                                            std::chrono::milliseconds timeout,
                                            const RawServe& serve) {
  RawMessage out;
  out.type = RawType::kCon;
  out.code = static_cast<int>(request.method);
  out.message_id = next_message_id_++;
  const uint32_t token = next_token_++;
  out.token = std::string(reinterpret_cast<const char*>(&token), sizeof token);
  for (const auto& segment : coap::SplitPath(request.path)) {
    out.options.push_back({coap::option::kUriPath, segment});
  }
  if (request.content_format) {
    out.options.push_back(
        {coap::option::kContentFormat, coap::EncodeUint(*request.content_format)});
  }
  for (const auto& item : request.query) {
    out.options.push_back({coap::option::kUriQuery, item});
  }
  out.payload = request.payload;
  Send(server_port, out);

  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      return std::nullopt;
    }
    uint16_t from_port = 0;
    auto in = Receive(left, &from_port);
    if (!in) {
      continue;
    }
    if (in->IsRequest()) {
      RawMessage answer;
      if (serve) {
        if (auto served = serve(*in)) {
          answer = std::move(*served);
          ++served_;
        } else {
          answer.code = static_cast<int>(coap::Code::kNotFound);
        }
      } else {
        answer.code = static_cast<int>(coap::Code::kNotFound);
      }
      answer.type = in->type == RawType::kCon ? RawType::kAck : RawType::kNon;
      answer.message_id = in->type == RawType::kCon ? in->message_id : next_message_id_++;
      answer.token = in->token;
      Send(from_port, answer);
      continue;
    }
    if (in->code == 0) {
      continue;  // the empty ACK of a separate response, or a stray RST
    }
    if (in->token != out.token) {
      continue;
    }
    if (in->type == RawType::kCon) {
      RawMessage ack;
      ack.type = RawType::kAck;
      ack.message_id = in->message_id;
      Send(from_port, ack);
    }
    return in;
  }
}

}  // namespace coapgw::rd::test
