#pragma once

// A CoAP peer on a plain UDP socket, for the RD's process tests where libs/coap cannot play the
// part: a client that must send from a chosen loopback address (127.0.0.2, for the "first come
// first remembered" policy), and a registrant that must answer the RD's GET /.well-known/core on
// the very socket its simple registration came from (RFC 9176 §5.1). The codec covers RFC 7252's
// message format (header, token, options with extended deltas and lengths, payload) and nothing
// else: no block-wise transfer, no retransmission (loopback does not lose datagrams).

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "coapgw/coap/message.hpp"

namespace coapgw::rd::test {

enum class RawType : uint8_t { kCon = 0, kNon = 1, kAck = 2, kRst = 3 };

/// One CoAP message as on the wire. `code` is class * 100 + detail for responses and the method
/// number (1 GET, 2 POST, ...) for requests; 0 is the empty message.
struct RawMessage {
  RawType type = RawType::kCon;
  int code = 0;
  uint16_t message_id = 0;
  std::string token;
  std::vector<coap::Option> options;  // any order; Encode sorts them by number
  std::string payload;

  bool IsRequest() const { return code >= 1 && code <= 31; }
  bool IsResponse() const { return code >= 200; }
  /// The values of every option `number`, in order.
  std::vector<std::string> OptionValues(uint16_t number) const;
  /// "/a/b" from the Location-Path options ("" when there are none).
  std::string LocationPath() const;
  /// "/a/b" from the Uri-Path options ("/" when there are none).
  std::string UriPath() const;
  /// The uint value of option `number`, nullopt when absent.
  std::optional<uint32_t> UintOption(uint16_t number) const;
};

/// The datagram of `message`.
std::string Encode(const RawMessage& message);
/// The message in `datagram`; nullopt when it is not a well-formed CoAP message.
std::optional<RawMessage> Decode(std::string_view datagram);

/// A request for RawPeer::Exchange: method, path, query items and an optional payload.
struct RawRequest {
  coap::Method method = coap::Method::kGet;
  std::string path;                // "/rd"
  std::vector<std::string> query;  // "ep=node1"
  std::optional<uint16_t> content_format;
  std::string payload;
};

/// Answers a request that arrives at the peer while it waits for its own response (e.g. the RD's
/// GET /.well-known/core during a simple registration): returns the response to send back
/// (piggybacked on the ACK), or nullopt to answer 4.04.
using RawServe = std::function<std::optional<RawMessage>(const RawMessage& request)>;

/// A UDP socket bound to `ip`:0 (a loopback address) that exchanges CoAP messages with one peer.
class RawPeer {
 public:
  /// Throws std::runtime_error when the socket cannot be bound.
  explicit RawPeer(const std::string& ip);
  ~RawPeer();
  RawPeer(const RawPeer&) = delete;
  RawPeer& operator=(const RawPeer&) = delete;

  const std::string& ip() const { return ip_; }
  uint16_t port() const { return port_; }

  /// Sends `request` as a CON to 127.0.0.1:`server_port` and returns its response: piggybacked,
  /// or separate (which is acknowledged). Requests arriving meanwhile go to `serve`. nullopt when
  /// no response came within `timeout`.
  std::optional<RawMessage> Exchange(uint16_t server_port, const RawRequest& request,
                                     std::chrono::milliseconds timeout,
                                     const RawServe& serve = nullptr);
  /// Requests `serve` answered so far.
  int served() const { return served_; }

 private:
  void Send(uint16_t port, const RawMessage& message) const;
  std::optional<RawMessage> Receive(std::chrono::milliseconds timeout, uint16_t* from_port);

  std::string ip_;
  int fd_ = -1;
  uint16_t port_ = 0;
  uint16_t next_message_id_;
  uint32_t next_token_ = 1;
  int served_ = 0;
};

}  // namespace coapgw::rd::test
