#pragma once

// The least of RFC 7252's message format a load generator needs: encode a request with a token,
// Uri-Path/Uri-Query/Content-Format options and a payload; decode type, code, message id, token
// and payload of what comes back. No libcoap here on purpose: the generator must cost far less
// than the server it measures.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace coapgw::bench {

enum class MessageType : uint8_t { kCon = 0, kNon = 1, kAck = 2, kRst = 3 };

struct WireRequest {
  MessageType type = MessageType::kCon;
  uint8_t code = 1;  // 0.01 GET, 0.02 POST, ...
  uint16_t message_id = 0;
  uint64_t token = 0;  // sent as 8 bytes
  std::vector<std::string> path;
  std::vector<std::string> query;
  std::optional<uint16_t> content_format;
  std::string payload;
};

struct WireMessage {
  MessageType type = MessageType::kCon;
  uint8_t code = 0;  // class << 5 | detail; 0 for an empty message
  uint16_t message_id = 0;
  uint64_t token = 0;
  size_t token_length = 0;
  std::string_view payload;
};

/// Appends the encoded request to `out` (cleared first).
void EncodeRequest(const WireRequest& request, std::string& out);

/// Encodes an empty ACK for `message_id`.
std::string EmptyAck(uint16_t message_id);

/// Decodes a datagram; nullopt when it is not a CoAP message. `payload` points into `datagram`.
std::optional<WireMessage> Decode(std::string_view datagram);

/// "2.05" for 0x45.
std::string CodeText(uint8_t code);

}  // namespace coapgw::bench
