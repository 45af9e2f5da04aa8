#pragma once

// A misbehaving CoAP device for tests: a plain UDP socket on 127.0.0.1 that records every
// datagram and either ignores it (a device that never answers), resets it (RST for every CON),
// or answers only when the test says so (a late response). libcoap devices cannot be made to do
// these things, hence raw bytes.

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace coapgw::test {

class RawDevice {
 public:
  enum class Mode { kSilent, kReset };

  /// Binds 127.0.0.1 on a free port and starts receiving.
  explicit RawDevice(Mode mode);
  ~RawDevice();
  RawDevice(const RawDevice&) = delete;
  RawDevice& operator=(const RawDevice&) = delete;

  uint16_t port() const { return port_; }
  /// "coap://127.0.0.1:<port>".
  std::string base() const;
  /// Datagrams received so far.
  size_t received() const;
  /// The source port of each datagram received so far.
  std::vector<uint16_t> sender_ports() const;
  /// Answers the first CON request received with a piggybacked 2.05 (ACK, same message id and
  /// token) carrying `payload`; false when no request arrived yet.
  bool AnswerFirst(const std::string& payload);

 private:
  void Run();

  Mode mode_;
  int fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  mutable std::mutex mutex_;
  std::vector<std::string> datagrams_;
  std::vector<std::vector<uint8_t>> peers_;  // sockaddr bytes of each datagram's sender
  std::thread thread_;
};

}  // namespace coapgw::test
