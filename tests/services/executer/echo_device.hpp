#pragma once

// An in-test CoAP device (a coap::Server on its own loop thread, 127.0.0.1, free port) for the
// executer's tests:
//   /echo   GET: "hello" (text/plain); PUT and POST: 2.04 with the request's payload and
//           Content-Format (any size: block-wise both ways)
//   /big    GET ?n=N: N bytes of text (4096 without n)
//   /query  GET: "<query items joined by &>|cf=<Content-Format>|accept=<Accept>"
//   /seq    PUT: records the payload and answers 2.04 after `seq_delay` (a separate response),
//           tracking how many /seq requests were open at once
// Optionally over DTLS-PSK instead of UDP.

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "coapgw/coap/context.hpp"
#include "coapgw/coap/server.hpp"

namespace coapgw::test {

struct EchoDeviceOptions {
  std::chrono::milliseconds seq_delay{5};
  /// Serve DTLS-PSK only, accepting this identity with this key.
  std::optional<std::pair<std::string, std::string>> dtls_identity_key;
};

class EchoDevice {
 public:
  explicit EchoDevice(EchoDeviceOptions options = {});
  ~EchoDevice();
  EchoDevice(const EchoDevice&) = delete;
  EchoDevice& operator=(const EchoDevice&) = delete;

  uint16_t port() const { return port_; }
  /// "coap://127.0.0.1:<port>" (coaps:// for a DTLS device).
  std::string base() const;

  /// Payloads of the /seq requests, in arrival order.
  std::vector<std::string> sequence() const;
  /// The most /seq requests that were open at the same time.
  int max_concurrent() const;
  /// Requests received on any resource.
  int requests() const;

 private:
  EchoDeviceOptions options_;
  coap::ContextThread loop_;
  std::unique_ptr<coap::Server> server_;
  uint16_t port_ = 0;
  mutable std::mutex mutex_;
  std::vector<std::string> sequence_;
  int open_ = 0;
  int max_open_ = 0;
  int requests_ = 0;
};

}  // namespace coapgw::test
