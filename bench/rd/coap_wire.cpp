#include "coap_wire.hpp"

#include <cstdio>

namespace coapgw::bench {
namespace {

void AppendOption(std::string& out, uint16_t& last_number, uint16_t number,
                  std::string_view value) {
  const uint16_t delta = static_cast<uint16_t>(number - last_number);
  last_number = number;
  const auto nibble = [](size_t n) -> uint8_t {
    return n < 13 ? static_cast<uint8_t>(n) : (n < 269 ? 13 : 14);
  };
  const uint8_t delta_nibble = nibble(delta);
  const uint8_t length_nibble = nibble(value.size());
  out.push_back(static_cast<char>((delta_nibble << 4U) | length_nibble));
  const auto extend = [&out](uint8_t nib, size_t n) {
    if (nib == 13) {
      out.push_back(static_cast<char>(n - 13));
    } else if (nib == 14) {
      const size_t extended = n - 269;
      out.push_back(static_cast<char>(extended >> 8U));
      out.push_back(static_cast<char>(extended & 0xFFU));
    }
  };
  extend(delta_nibble, delta);
  extend(length_nibble, value.size());
  out.append(value);
}

}  // namespace

void EncodeRequest(const WireRequest& request, std::string& out) {
  out.clear();
  out.push_back(static_cast<char>(0x40U | (static_cast<unsigned>(request.type) << 4U) | 8U));
  out.push_back(static_cast<char>(request.code));
  out.push_back(static_cast<char>(request.message_id >> 8U));
  out.push_back(static_cast<char>(request.message_id & 0xFFU));
  for (int shift = 56; shift >= 0; shift -= 8) {
    out.push_back(static_cast<char>((request.token >> static_cast<unsigned>(shift)) & 0xFFU));
  }
  uint16_t last = 0;
  for (const auto& segment : request.path) {
    AppendOption(out, last, 11, segment);
  }
  if (request.content_format) {
    std::string value;
    if (*request.content_format > 255) {
      value.push_back(static_cast<char>(*request.content_format >> 8U));
    }
    if (*request.content_format > 0) {
      value.push_back(static_cast<char>(*request.content_format & 0xFFU));
    }
    AppendOption(out, last, 12, value);
  }
  for (const auto& item : request.query) {
    AppendOption(out, last, 15, item);
  }
  if (!request.payload.empty()) {
    out.push_back(static_cast<char>(0xFF));
    out.append(request.payload);
  }
}

std::string EmptyAck(uint16_t message_id) {
  std::string out;
  out.push_back(static_cast<char>(0x60));
  out.push_back(0);
  out.push_back(static_cast<char>(message_id >> 8U));
  out.push_back(static_cast<char>(message_id & 0xFFU));
  return out;
}

std::optional<WireMessage> Decode(std::string_view datagram) {
  if (datagram.size() < 4) {
    return std::nullopt;
  }
  const auto byte = [&](size_t i) { return static_cast<uint8_t>(datagram[i]); };
  if ((byte(0) >> 6U) != 1) {
    return std::nullopt;
  }
  WireMessage message;
  message.type = static_cast<MessageType>((byte(0) >> 4U) & 3U);
  message.token_length = byte(0) & 0xFU;
  message.code = byte(1);
  message.message_id = static_cast<uint16_t>((byte(2) << 8U) | byte(3));
  if (message.token_length > 8 || datagram.size() < 4 + message.token_length) {
    return std::nullopt;
  }
  for (size_t i = 0; i < message.token_length; ++i) {
    message.token = (message.token << 8U) | byte(4 + i);
  }
  size_t pos = 4 + message.token_length;
  // Options are skipped: the generator only needs the payload.
  while (pos < datagram.size() && byte(pos) != 0xFF) {
    const uint8_t head = byte(pos++);
    const auto extended = [&](uint8_t nib) -> std::optional<size_t> {
      if (nib < 13) {
        return nib;
      }
      if (nib == 13 && pos < datagram.size()) {
        return 13 + byte(pos++);
      }
      if (nib == 14 && pos + 1 < datagram.size()) {
        const size_t value = 269 + ((byte(pos) << 8U) | byte(pos + 1));
        pos += 2;
        return value;
      }
      return std::nullopt;
    };
    const auto delta = extended(head >> 4U);
    const auto length = extended(head & 0xFU);
    if (!delta || !length || pos + *length > datagram.size()) {
      return std::nullopt;
    }
    pos += *length;
  }
  if (pos < datagram.size()) {
    message.payload = datagram.substr(pos + 1);
  }
  return message;
}

std::string CodeText(uint8_t code) {
  char text[8];
  std::snprintf(text, sizeof text, "%u.%02u", code >> 5U, code & 0x1FU);
  return text;
}

}  // namespace coapgw::bench
