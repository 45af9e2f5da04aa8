#pragma once

// Test helpers around coapgw-platform-sim, meant for every test that needs a platform: the
// binary started on a free port, a gateway-side client speaking the protocol through libs/ws
// (handshake, requests with token-correlated replies, commands), and the control API.
//
//   PlatformSimProcess sim({"--platform-sim-idle-timeout", "500ms"});
//   GatewayClient gateway(sim.url());
//   auto reply = gateway.Handshake("demo", "demo", "");          // the handshake reply
//   auto ok = gateway.Request("put", R"({"uri":"1","name":"n","iot_type":"t","tags":[]})");
//   auto state = sim.Get("/api/state");                           // rapidjson::Document

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <rapidjson/document.h>

#include "coapgw/test/process.hpp"
#include "coapgw/ws/client.hpp"
#include "coapgw/ws/platform_protocol.hpp"
#include "ws_testing.hpp"

namespace coapgw::platform_sim::test {

/// Parses JSON text; an empty document (IsNull) when it does not parse.
rapidjson::Document ParseJson(const std::string& text);

/// coapgw-platform-sim on 127.0.0.1 port 0 with `arguments`; stopped (SIGTERM) by the destructor.
class PlatformSimProcess {
 public:
  explicit PlatformSimProcess(std::vector<std::string> arguments = {},
                              std::map<std::string, std::string> env = {});
  ~PlatformSimProcess();
  PlatformSimProcess(const PlatformSimProcess&) = delete;
  PlatformSimProcess& operator=(const PlatformSimProcess&) = delete;

  uint16_t port() const { return port_; }
  /// ws://127.0.0.1:<port>/ (wss:// when started with TLS).
  std::string url(const std::string& path = "/") const;
  coapgw::test::Process& process() { return *process_; }

  /// GET `target`; the JSON body (IsNull when the status was not 200 or the body not JSON).
  rapidjson::Document Get(const std::string& target) const;
  /// POST `body` to `target`; the whole result.
  ws::test::HttpResult Post(const std::string& target, const std::string& body) const;
  /// The control API's hooks (POST /api/hooks); false when the sim refused.
  bool Hook(const std::string& body) const;

  /// SIGTERM and wait; the exit code (nullopt when it did not stop within 5 s).
  std::optional<int> Stop();

 private:
  std::unique_ptr<coapgw::test::Process> process_;
  uint16_t port_ = 0;
  bool secure_ = false;
};

/// A gateway's end of the protocol over coapgw::ws::Client. Every wait is bounded (5 s default).
class GatewayClient {
 public:
  explicit GatewayClient(const std::string& url, ws::ClientOptions options = Options());
  ~GatewayClient();
  GatewayClient(const GatewayClient&) = delete;
  GatewayClient& operator=(const GatewayClient&) = delete;

  /// Options with short timeouts and keepalive off (tests turn it on where they test it).
  static ws::ClientOptions Options();

  /// True once the WebSocket is open (waits).
  bool WaitOpen();
  /// Sends the credentials message and waits for the reply with token "credentials".
  std::optional<ws::platform::Envelope> Handshake(const std::string& user,
                                                  const std::string& password,
                                                  const std::string& gateway_id);
  /// Sends a request (status 0, a fresh token, content_type "") with `payload_json`, waits for
  /// the response with the same token.
  std::optional<ws::platform::Envelope> Request(const std::string& handler,
                                                const std::string& payload_json);
  /// Sends raw text.
  bool SendText(const std::string& text);
  /// Waits for a received message that satisfies `match` (looking from the first one not yet
  /// matched by an earlier wait); nullopt on timeout or once the connection has ended.
  std::optional<std::string> WaitText(const std::function<bool(const std::string&)>& match,
                                      int timeout_ms = 5000);
  /// The next command (handler "command") as an envelope.
  std::optional<ws::platform::Envelope> WaitCommand(int timeout_ms = 5000);
  /// Every text received so far.
  std::vector<std::string> texts() const { return events_.texts(); }
  /// How the connection ended, waiting for it.
  std::optional<ws::CloseEvent> WaitClose(int timeout_ms = 5000) const {
    return events_.WaitClose(timeout_ms);
  }
  ws::Client& client() { return *client_; }

  /// The platform's sample devices with the hash vectors of platform-protocol.md §11.
  static std::vector<ws::platform::HashedDevice> DummyDevices();
  /// The put payload of `device` (tags as "key:value").
  static std::string PutPayload(const ws::platform::HashedDevice& device);

 private:
  ws::test::ClientEvents events_;
  std::vector<bool> consumed_;
  std::unique_ptr<ws::Client> client_;
};

}  // namespace coapgw::platform_sim::test
