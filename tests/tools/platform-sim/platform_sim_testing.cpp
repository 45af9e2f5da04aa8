#include "platform_sim_testing.hpp"

#include <csignal>
#include <cstdlib>

#include <gtest/gtest.h>

#include "coapgw/common/ids.hpp"
#include "coapgw/test/wait.hpp"

namespace coapgw::platform_sim::test {
namespace {

using std::chrono::milliseconds;

}  // namespace

rapidjson::Document ParseJson(const std::string& text) {
  rapidjson::Document document;
  document.Parse(text.c_str(), text.size());
  if (document.HasParseError()) {
    document.SetNull();
  }
  return document;
}

PlatformSimProcess::PlatformSimProcess(std::vector<std::string> arguments,
                                       std::map<std::string, std::string> env) {
  std::vector<std::string> argv{coapgw::test::BinaryPath("coapgw-platform-sim"),
                                "--platform-sim-listen=127.0.0.1:0"};
  for (const auto& argument : arguments) {
    secure_ = secure_ || argument.rfind("--platform-sim-tls-cert", 0) == 0;
    argv.push_back(argument);
  }
  process_ = std::make_unique<coapgw::test::Process>(argv, std::move(env));
  if (!process_->WaitForStderr(" port=", milliseconds(10'000))) {
    ADD_FAILURE() << "coapgw-platform-sim did not start:\n" << process_->Stderr();
    return;
  }
  const std::string log = process_->Stderr();
  port_ = static_cast<uint16_t>(std::atoi(log.c_str() + log.find(" port=") + 6));
}

PlatformSimProcess::~PlatformSimProcess() {
  if (process_->running()) {
    process_->Stop(SIGTERM, milliseconds(5000));
  }
}

std::string PlatformSimProcess::url(const std::string& path) const {
  return std::string(secure_ ? "wss" : "ws") + "://127.0.0.1:" + std::to_string(port_) + path;
}

rapidjson::Document PlatformSimProcess::Get(const std::string& target) const {
  const auto result = ws::test::Http(port_, "GET", target);
  if (result.status != 200) {
    rapidjson::Document none;
    none.SetNull();
    return none;
  }
  return ParseJson(result.body);
}

ws::test::HttpResult PlatformSimProcess::Post(const std::string& target,
                                              const std::string& body) const {
  return ws::test::Http(port_, "POST", target, body);
}

bool PlatformSimProcess::Hook(const std::string& body) const {
  const auto result = Post("/api/hooks", body);
  EXPECT_EQ(result.status, 200) << result.body;
  return result.status == 200;
}

std::optional<int> PlatformSimProcess::Stop() {
  return process_->Stop(SIGTERM, milliseconds(5000));
}

GatewayClient::GatewayClient(const std::string& url, ws::ClientOptions options)
    : client_(std::make_unique<ws::Client>(std::move(options), events_.Handlers())) {
  EXPECT_TRUE(client_->Connect(url).ok());
}

GatewayClient::~GatewayClient() {
  client_.reset();
}

ws::ClientOptions GatewayClient::Options() {
  ws::ClientOptions options;
  options.connect_timeout = milliseconds(5000);
  options.close_timeout = milliseconds(1000);
  options.ping_idle = milliseconds(0);
  return options;
}

bool GatewayClient::WaitOpen() {
  return events_.WaitOpens(1);
}

std::optional<ws::platform::Envelope> GatewayClient::Handshake(const std::string& user,
                                                               const std::string& password,
                                                               const std::string& gateway_id) {
  if (!WaitOpen() ||
      !SendText(ws::platform::EncodeCredentials({user, password, gateway_id, "credentials"}))) {
    return std::nullopt;
  }
  const auto text = WaitText([](const std::string& received) {
    const auto envelope = ws::platform::DecodeEnvelope(received);
    return envelope.ok() && envelope->token == "credentials";
  });
  if (!text) {
    return std::nullopt;
  }
  return ws::platform::DecodeEnvelope(*text).value();
}

std::optional<ws::platform::Envelope> GatewayClient::Request(const std::string& handler,
                                                             const std::string& payload_json) {
  ws::platform::Envelope request;
  request.handler = handler;
  request.token = RandomUuid();
  request.payload = payload_json;
  if (!SendText(ws::platform::EncodeEnvelope(request))) {
    return std::nullopt;
  }
  const auto text = WaitText([&](const std::string& received) {
    const auto envelope = ws::platform::DecodeEnvelope(received);
    return envelope.ok() && envelope->handler == "response" && envelope->token == request.token;
  });
  if (!text) {
    return std::nullopt;
  }
  return ws::platform::DecodeEnvelope(*text).value();
}

bool GatewayClient::SendText(const std::string& text) {
  return client_->Send(text).ok();
}

std::optional<std::string> GatewayClient::WaitText(
    const std::function<bool(const std::string&)>& match, int timeout_ms) {
  std::optional<std::string> found;
  coapgw::test::WaitUntil(
      [&] {
        const auto texts = events_.texts();
        consumed_.resize(texts.size(), false);
        for (size_t i = 0; i < texts.size(); ++i) {
          if (!consumed_[i] && match(texts[i])) {
            consumed_[i] = true;
            found = texts[i];
            return true;
          }
        }
        // Nothing more can arrive once the connection has ended.
        return !events_.closes().empty();
      },
      milliseconds(timeout_ms));
  return found;
}

std::optional<ws::platform::Envelope> GatewayClient::WaitCommand(int timeout_ms) {
  const auto text = WaitText(
      [](const std::string& received) {
        const auto envelope = ws::platform::DecodeEnvelope(received);
        return envelope.ok() && envelope->handler == "command";
      },
      timeout_ms);
  if (!text) {
    return std::nullopt;
  }
  return ws::platform::DecodeEnvelope(*text).value();
}

std::vector<ws::platform::HashedDevice> GatewayClient::DummyDevices() {
  const std::string type = "iot#d66ec9bc-e37f-4f35-a788-027301aad6c2";
  return {{"asdsdfsf24t", type, "Dummy Device 1", {}},
          {"3g46h4h6h436h", type, "Dummy Device 2", {{"type", "Dummy"}}},
          {"46j5j67j6rt", type, "Dummy Device 3", {}}};
}

std::string GatewayClient::PutPayload(const ws::platform::HashedDevice& device) {
  std::string tags = "[";
  for (const auto& [key, value] : device.tags) {
    tags += (tags.size() > 1 ? "," : "") + ws::platform::JsonQuote(key + ":" + value);
  }
  return "{\"uri\":" + ws::platform::JsonQuote(device.id) +
         ",\"name\":" + ws::platform::JsonQuote(device.name) +
         ",\"iot_type\":" + ws::platform::JsonQuote(device.type) + ",\"tags\":" + tags + "]}";
}

}  // namespace coapgw::platform_sim::test
