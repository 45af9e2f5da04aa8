#pragma once

// The running system of one RD process test: a fresh PostgreSQL database (TestDatabase), the real
// coapgw-rd binary on a free loopback UDP port, optionally the real coapgw-bus with a subscriber
// to the RD's events, and a CoAP client (libs/coap) that waits for each answer.

#include <chrono>
#include <cstdint>
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
#include "coapgw/test/process.hpp"
#include "pg_fixture.hpp"

namespace coapgw::rd::test {

using std::chrono::milliseconds;

/// A CoAP client on its own loop thread whose calls block until the exchange is over.
class SyncCoapClient {
 public:
  SyncCoapClient();
  ~SyncCoapClient();
  SyncCoapClient(const SyncCoapClient&) = delete;
  SyncCoapClient& operator=(const SyncCoapClient&) = delete;

  /// `method` to coap://127.0.0.1:`port``target` (target: "/rd?ep=a&lt=60"), waiting at most
  /// `timeout` for the response or the failure.
  coap::Outcome<coap::ClientResponse> Send(coap::Method method, uint16_t port,
                                           std::string_view target, std::string payload = {},
                                           std::optional<uint16_t> content_format = std::nullopt,
                                           milliseconds timeout = milliseconds(5000));

  /// The loop the client runs on (for observations: create and cancel them inside Call()).
  coap::ContextThread& loop() { return loop_; }
  coap::Client& client() { return *client_; }

 private:
  coap::ContextThread loop_;
  std::unique_ptr<coap::Client> client_;
};

/// "2.01" for a response, the failure's name otherwise: what assertion messages print.
std::string Describe(const coap::Outcome<coap::ClientResponse>& outcome);
/// "/rd/3" from a response's Location-Path ("" when there is none).
std::string LocationOf(const coap::ClientResponse& response);

class RdHarness {
 public:
  /// Creates the database and picks the RD's CoAP port (below the ephemeral range, so that it stays
  /// free across a restart of the RD); starts nothing. The bus and the RD's HTTP server bind their
  /// ports themselves, read back from their logs.
  RdHarness();
  ~RdHarness();
  RdHarness(const RdHarness&) = delete;
  RdHarness& operator=(const RdHarness&) = delete;

  const TestDatabase& database() const { return database_; }
  uint16_t coap_port() const { return coap_port_; }
  /// The running RD's HTTP port (0 before StartRd, a new one at each start).
  uint16_t http_port() const { return http_port_; }

  /// The RD's environment: database, listen address, bus endpoints (wildcards before StartBus),
  /// HTTP on port 0.
  std::map<std::string, std::string> Env() const;
  /// Starts coapgw-rd with Env() overridden by `extra` (and coapgw-bus first, unless running) and
  /// waits until it is ready; returns false (stderr in `error`) when it did not get there in 10 s.
  bool StartRd(const std::map<std::string, std::string>& extra = {}, std::string* error = nullptr);
  /// SIGTERM; the exit code, nullopt when it did not exit within 5 s.
  std::optional<int> StopRd();
  /// The running RD (nullptr before StartRd).
  coapgw::test::Process* rd() { return rd_.get(); }
  /// Everything the RD wrote to stderr (all runs of this harness, for failure messages).
  std::string RdLog() const;

  /// Starts coapgw-bus and subscribes to rd.device.*; the subscription is proven to reach the bus.
  /// StartRd calls it when the bus is not running yet.
  bool StartBus();
  /// Registers a throw-away endpoint (ep=bus-probe, d=bus-probe) and refreshes it until one of
  /// its events arrives: from then on the RD's publisher holds the test's subscription. Events
  /// received so far are dropped.
  bool WaitForRdEvents(milliseconds timeout = milliseconds(10'000));
  /// The next rd.device.* message, skipping the bus probe's; nullopt after `timeout`.
  std::optional<bus::Message> NextEvent(milliseconds timeout = milliseconds(5000));
  /// Publishes `data_json` on `topic` as the test's own publisher (after StartBus); false when
  /// ZeroMQ dropped it.
  bool PublishOnBus(std::string_view topic, const std::string& data_json);

  /// CoAP to the RD.
  coap::Outcome<coap::ClientResponse> Get(std::string_view target);
  coap::Outcome<coap::ClientResponse> Post(std::string_view target, std::string payload = {},
                                           std::optional<uint16_t> content_format = 40);
  coap::Outcome<coap::ClientResponse> Delete(std::string_view target);
  /// POST /rd?`query` with `links`; the location ("/rd/N"), or "" (with a test failure) when the
  /// answer was not 2.01.
  std::string Register(std::string_view query, std::string links);
  /// The payload of a 2.05 GET (a test failure and "<code>" otherwise).
  std::string Lookup(std::string_view target);
  SyncCoapClient& coap() { return coap_; }

 private:
  TestDatabase database_;
  uint16_t coap_port_;
  uint16_t http_port_ = 0;
  std::string bus_pub_;
  std::string bus_sub_;
  std::unique_ptr<coapgw::test::Process> bus_;
  std::unique_ptr<coapgw::test::Process> rd_;
  std::string previous_logs_;
  zmq::context_t zmq_context_;
  std::unique_ptr<bus::Subscriber> subscriber_;
  std::unique_ptr<bus::Publisher> publisher_;
  SyncCoapClient coap_;
};

}  // namespace coapgw::rd::test
