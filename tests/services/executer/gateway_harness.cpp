#include "gateway_harness.hpp"

#include <signal.h>

#include <future>
#include <memory>
#include <utility>

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include "bus_testing.hpp"
#include "coapgw/events/codec.hpp"
#include "coapgw/test/wait.hpp"

namespace coapgw::test {
namespace {

constexpr milliseconds kStartTimeout{10'000};
constexpr milliseconds kCoapTimeout{5000};
constexpr char kProbeEndpoint[] = "route-probe";

std::string EndpointOf(const bus::Message& message) {
  const auto ep = message.data().FindMember("ep");
  return ep != message.data().MemberEnd() && ep->value.IsString() ? ep->value.GetString() : "";
}

}  // namespace

GatewayHarness::GatewayHarness()
    : stack_([] {
        StackOptions options;
        options.log_level = "debug";
        return options;
      }()) {}

GatewayHarness::~GatewayHarness() {
  // The service first; stack_ then stops the RD and the bus, so that nothing waits on what is
  // already gone.
  if (service_) {
    service_->Stop(SIGTERM, milliseconds(5000));
  }
}

bool GatewayHarness::Start(std::string* error) {
  const auto fail = [&](const std::string& what) {
    *error = what + "\n" + Logs();
    return false;
  };
  std::string part_error;
  if (!stack_.StartPart(Stack::Part::kBus, &part_error)) {
    return fail(part_error);
  }
  subscriber_ = std::make_unique<bus::Subscriber>(
      zmq_context_, stack_.bus_sub(),
      std::vector<std::string>{"rd.device.", std::string(events::CommandResult::kTopic),
                               std::string(events::DeviceLiveness::kTopic), "test.probe"});
  publisher_ = std::make_unique<bus::Publisher>(zmq_context_, stack_.bus_pub(), "test");
  if (!WaitForRoute(*publisher_, *subscriber_, "test.probe")) {
    return fail("the test's bus route did not work");
  }
  if (!stack_.StartPart(Stack::Part::kRd, &part_error)) {
    return fail(part_error);
  }
  // The RD's events reach the test once its publisher holds the test's subscription: register a
  // throw-away endpoint again and again until one of its events arrives, then remove it.
  const auto deadline = std::chrono::steady_clock::now() + kStartTimeout;
  std::string location;
  while (std::chrono::steady_clock::now() < deadline) {
    auto posted =
        ToRd(coap::Method::kPost,
             std::string("/rd?ep=") + kProbeEndpoint + "&base=coap://127.0.0.1:9", "</probe>", 40);
    if (!posted.ok() || posted->code != coap::Code::kCreated) {
      return fail("the RD refused the probe registration");
    }
    location.clear();
    for (const auto& segment : posted->location_path) {
      location += "/" + segment;
    }
    if (WaitFor(
            "rd.device.registered",
            [](const bus::Message& message) { return EndpointOf(message) == kProbeEndpoint; },
            milliseconds(100)) ||
        WaitFor(
            "rd.device.updated",
            [](const bus::Message& message) { return EndpointOf(message) == kProbeEndpoint; },
            milliseconds(0))) {
      (void)ToRd(coap::Method::kDelete, location, "", std::nullopt);
      return true;
    }
  }
  return fail("the RD's events did not reach the test");
}

std::map<std::string, std::string> GatewayHarness::ServiceEnv() const {
  return {{"COAPGW_BUS_PUB", stack_.bus_pub()},
          {"COAPGW_BUS_SUB", stack_.bus_sub()},
          {"COAPGW_RD_URI", stack_.rd_uri()},
          {"COAPGW_HTTP_LISTEN", "127.0.0.1:0"},
          {"COAPGW_LOG_LEVEL", "debug"}};
}

Process* GatewayHarness::StartService(const std::string& binary, const std::string& component,
                                      const std::map<std::string, std::string>& extra) {
  auto env = ServiceEnv();
  for (const auto& [name, value] : extra) {
    env[name] = value;
  }
  service_ = std::make_unique<Process>(std::vector<std::string>{BinaryPath(binary)}, env);
  if (!service_->WaitForStderr("INFO " + component + ": ready", kStartTimeout)) {
    ADD_FAILURE() << binary << " did not get ready:\n" << Logs();
    return nullptr;
  }
  service_http_port_ = LoggedPort(service_->Stderr(), kHttpListening);
  if (service_http_port_ == 0) {
    ADD_FAILURE() << binary << " did not log its HTTP port:\n" << Logs();
    return nullptr;
  }
  return service_.get();
}

std::string GatewayHarness::Register(const std::string& ep, const std::string& base) {
  auto posted = ToRd(coap::Method::kPost, "/rd?ep=" + ep + "&base=" + base, "</x>", 40);
  if (!posted.ok() || posted->code != coap::Code::kCreated) {
    ADD_FAILURE() << "registration of " << ep << " refused: "
                  << (posted.ok() ? coap::FormatCode(posted->code) + " " + posted->payload
                                  : posted.error().message);
    return "";
  }
  for (auto& device : RdDevices()) {
    if (device.endpoint == ep) {
      return device.device_id;
    }
  }
  ADD_FAILURE() << "the RD does not list " << ep;
  return "";
}

std::optional<events::Device> GatewayHarness::RdRecord(const std::string& device_id) {
  for (auto& device : RdDevices()) {
    if (device.device_id == device_id) {
      return device;
    }
  }
  return std::nullopt;
}

std::vector<events::Device> GatewayHarness::RdDevices() {
  std::vector<events::Device> devices;
  auto snapshot = ToRd(coap::Method::kGet, "/coapgw/devices", "", std::nullopt);
  if (!snapshot.ok() || snapshot->code != coap::Code::kContent) {
    ADD_FAILURE() << "GET /coapgw/devices failed";
    return devices;
  }
  rapidjson::Document document;
  document.Parse(snapshot->payload.c_str(), snapshot->payload.size());
  if (document.HasParseError() || !document.IsObject() || !document.HasMember("devices") ||
      !document["devices"].IsArray()) {
    ADD_FAILURE() << "GET /coapgw/devices: not a snapshot: " << snapshot->payload;
    return devices;
  }
  for (const auto& item : document["devices"].GetArray()) {
    auto decoded = events::DecodeDeviceRegistered(item);
    if (decoded.ok()) {
      devices.push_back(std::move(decoded->device));
    }
  }
  return devices;
}

bool GatewayHarness::WaitForDevice(uint16_t port, milliseconds timeout) {
  return WaitUntil(
      [&] {
        auto promise = std::make_shared<std::promise<bool>>();
        auto answered = promise->get_future();
        coap_.loop().Call([&] {
          coap_.client().Ping({coap::Transport::kUdp, "127.0.0.1", port}, milliseconds(200),
                              [promise](const coap::Outcome<Millis>& outcome) {
                                promise->set_value(outcome.ok());
                              });
        });
        return answered.get();
      },
      timeout);
}

bool GatewayHarness::Publish(std::string_view topic, const std::string& data_json) {
  return publisher_ && publisher_->Publish(topic, data_json).ok();
}

std::optional<bus::Message> GatewayHarness::WaitFor(
    std::string_view topic, const std::function<bool(const bus::Message&)>& match,
    milliseconds timeout) {
  for (auto it = received_.begin(); it != received_.end(); ++it) {
    if (it->topic == topic && match(*it)) {
      bus::Message found = std::move(*it);
      received_.erase(it);
      return found;
    }
  }
  if (!subscriber_) {
    return std::nullopt;
  }
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const auto left =
        std::chrono::duration_cast<milliseconds>(deadline - std::chrono::steady_clock::now());
    auto message = subscriber_->Receive(std::max(left, milliseconds(0)));
    if (!message) {
      return std::nullopt;
    }
    if (message->topic == topic && match(*message)) {
      return message;
    }
    received_.push_back(std::move(*message));
  }
}

std::string GatewayHarness::Logs() const {
  std::string logs = stack_.Tails(400);
  if (service_) {
    logs += "---- service ----\n" + service_->Stderr();
  }
  return logs;
}

coap::Outcome<coap::ClientResponse> GatewayHarness::ToRd(coap::Method method,
                                                         const std::string& target,
                                                         std::string payload,
                                                         std::optional<uint16_t> content_format) {
  return coap_.Send(method, stack_.rd_port(), target, std::move(payload), content_format,
                    kCoapTimeout);
}

}  // namespace coapgw::test
