#pragma once

// Shared by the device-sim tests: a CoAP client whose calls wait for their outcome, and the
// control API's JSON read back into structs.

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "coapgw/coap/client.hpp"
#include "coapgw/coap/context.hpp"
#include "coapgw/common/duration.hpp"

namespace coapgw::device_sim::test {

using std::chrono::milliseconds;

/// A coap::Client on its own loop thread; every call blocks until the exchange is over (the
/// client completes each by its deadline at the latest).
class BlockingClient {
 public:
  BlockingClient();
  ~BlockingClient();
  BlockingClient(const BlockingClient&) = delete;
  BlockingClient& operator=(const BlockingClient&) = delete;
  BlockingClient(BlockingClient&&) = delete;
  BlockingClient& operator=(BlockingClient&&) = delete;

  /// `method` to `uri` ("coap://127.0.0.1:5683/rd-lookup/ep?ep=x") with `payload`.
  coap::Outcome<coap::ClientResponse> Send(coap::Method method, const std::string& uri,
                                           std::string payload = {},
                                           std::optional<uint16_t> content_format = std::nullopt,
                                           milliseconds timeout = milliseconds(5000));
  /// A CoAP ping to `address` ("127.0.0.1:40123"). CONs are retransmitted after 1 s.
  coap::Outcome<Millis> Ping(const std::string& address, milliseconds timeout);
  /// Pings (1.5 s each, so one retransmission) until one is answered or `timeout` passes.
  bool WaitForPong(const std::string& address, milliseconds timeout);

  coap::ContextThread& loop() { return loop_; }
  coap::Client& client() { return *client_; }

 private:
  coap::ContextThread loop_;
  std::unique_ptr<coap::Client> client_;
};

/// "2.05 '21.5'" for a response, the failure otherwise: for assertion messages.
std::string Describe(const coap::Outcome<coap::ClientResponse>& outcome);

/// One device as the control API shows it.
struct SimDevice {
  size_t index = 0;
  std::string ep;
  std::string address;
  bool online = false;
  bool obs = false;
  std::string registration;
  std::string location;
  uint64_t registrations = 0;
  uint32_t boots = 0;
  std::string led;

  std::string Uri(const std::string& path) const { return "coap://" + address + path; }
};

/// The devices of a GET /devices body (an array) or of one device's body (an object); an
/// unparsable body adds a test failure and gives nothing.
std::vector<SimDevice> ParseDevices(const std::string& json);

}  // namespace coapgw::device_sim::test
