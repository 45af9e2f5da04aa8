#pragma once

// The running gateway of a process test of the executer or the pinger: the real coapgw-bus and
// coapgw-rd on a fresh PostgreSQL database (the bus and RD parts of a test::Stack, logging at
// debug), the service under test as its real binary, and the test's own bus
// publisher and subscriber plus a CoAP client to the RD. Devices are registered the way a
// commissioning tool would (third-party registration: POST /rd?ep=…&base=…).

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <zmq.hpp>

#include "coapgw/bus/publisher.hpp"
#include "coapgw/bus/subscriber.hpp"
#include "coapgw/coap/client.hpp"
#include "coapgw/coap/context.hpp"
#include "coapgw/events/messages.hpp"
#include "coapgw/test/process.hpp"
#include "coapgw/test/stack.hpp"
#include "rd_harness.hpp"

namespace coapgw::test {

using std::chrono::milliseconds;

class GatewayHarness {
 public:
  /// Creates the database and picks the RD's and the bus's ports; starts nothing.
  GatewayHarness();
  ~GatewayHarness();
  GatewayHarness(const GatewayHarness&) = delete;
  GatewayHarness& operator=(const GatewayHarness&) = delete;

  /// Starts coapgw-bus and coapgw-rd and waits until the test's subscriber receives the RD's
  /// events (a throw-away registration proves the route). False, with the logs in `error`, when
  /// that did not happen within 10 s (20 s for each process to get ready).
  bool Start(std::string* error);

  /// The settings a service needs to join this gateway (bus, RD, debug logs, HTTP on port 0).
  std::map<std::string, std::string> ServiceEnv() const;
  /// Starts `binary` (e.g. "coapgw-executer") with ServiceEnv() overridden by `extra` and waits
  /// until it logs "<component>: ready" (10 s) and the HTTP port it bound. nullptr, with a test
  /// failure, otherwise.
  Process* StartService(const std::string& binary, const std::string& component,
                        const std::map<std::string, std::string>& extra = {});
  /// The service started last (nullptr before).
  Process* service() { return service_.get(); }
  /// Its HTTP port (/healthz, /readyz, /metrics), read from its log; 0 before StartService.
  uint16_t service_http_port() const { return service_http_port_; }

  /// Registers endpoint `ep` with base `base` and returns the device id the RD gave it; "" (and a
  /// test failure) when the RD refused.
  std::string Register(const std::string& ep, const std::string& base);
  /// The RD's record of `device_id` (GET /coapgw/devices); nullopt when it has none.
  std::optional<events::Device> RdRecord(const std::string& device_id);
  /// Every record of the RD (GET /coapgw/devices).
  std::vector<events::Device> RdDevices();

  /// Waits until a CoAP device on 127.0.0.1:`port` answers a CoAP ping (e.g. a coap-server-notls
  /// just started); false after `timeout`.
  bool WaitForDevice(uint16_t port, milliseconds timeout = milliseconds(5000));

  /// Publishes `data_json` on `topic` as the test; false when ZeroMQ dropped it.
  bool Publish(std::string_view topic, const std::string& data_json);
  /// The first message on `topic` for which `match` holds, among those received and not taken
  /// yet and those arriving within `timeout`; it is taken, the others are kept.
  std::optional<bus::Message> WaitFor(std::string_view topic,
                                      const std::function<bool(const bus::Message&)>& match,
                                      milliseconds timeout);

  /// Everything the processes wrote to stderr, for failure messages.
  std::string Logs() const;

 private:
  coap::Outcome<coap::ClientResponse> ToRd(coap::Method method, const std::string& target,
                                           std::string payload,
                                           std::optional<uint16_t> content_format);

  Stack stack_;  // its bus and RD only; stops them last
  uint16_t service_http_port_ = 0;
  std::unique_ptr<Process> service_;
  zmq::context_t zmq_context_;
  std::unique_ptr<bus::Subscriber> subscriber_;
  std::unique_ptr<bus::Publisher> publisher_;
  std::deque<bus::Message> received_;
  rd::test::SyncCoapClient coap_;
};

}  // namespace coapgw::test
