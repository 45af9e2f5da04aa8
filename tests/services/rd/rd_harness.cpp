#include "rd_harness.hpp"

#include <csignal>
#include <future>
#include <utility>

#include <gtest/gtest.h>

#include "bus_testing.hpp"
#include "coapgw/test/wait.hpp"

namespace coapgw::rd::test {
namespace {

constexpr milliseconds kStartTimeout{10'000};
constexpr milliseconds kStopTimeout{5000};
constexpr char kProbeSector[] = "bus-probe";

// The bus endpoints until the bus has bound its own.
constexpr char kAnyLoopbackTcp[] = "tcp://127.0.0.1:*";

// The probe's events carry d=bus-probe; everything else is the test's.
bool IsProbe(const bus::Message& message) {
  const rapidjson::Value& data = message.data();
  const auto sector = data.FindMember("d");
  return sector != data.MemberEnd() && sector->value.IsString() &&
         std::string_view(sector->value.GetString()) == kProbeSector;
}

}  // namespace

SyncCoapClient::SyncCoapClient() {
  loop_.Call([this] { client_ = std::make_unique<coap::Client>(loop_.context()); });
}

SyncCoapClient::~SyncCoapClient() {
  loop_.Call([this] { client_.reset(); });
}

coap::Outcome<coap::ClientResponse> SyncCoapClient::Send(coap::Method method, uint16_t port,
                                                         std::string_view target,
                                                         std::string payload,
                                                         std::optional<uint16_t> content_format,
                                                         milliseconds timeout) {
  auto request = coap::ClientRequest::FromUri(
      method, "coap://127.0.0.1:" + std::to_string(port) + std::string(target));
  if (!request.ok()) {
    return {coap::Failure::kInvalid, request.error().message};
  }
  request->payload = std::move(payload);
  request->content_format = content_format;
  auto promise = std::make_shared<std::promise<coap::Outcome<coap::ClientResponse>>>();
  auto future = promise->get_future();
  coap::RequestOptions options;
  options.timeout = timeout;
  loop_.Call([&] {
    client_->Send(std::move(*request), options,
                  [promise](coap::Outcome<coap::ClientResponse> outcome) {
                    promise->set_value(std::move(outcome));
                  });
  });
  return future.get();  // the client calls back exactly once, by the deadline at the latest
}

std::string Describe(const coap::Outcome<coap::ClientResponse>& outcome) {
  if (!outcome.ok()) {
    return outcome.error().message;
  }
  return coap::FormatCode(outcome->code) + " '" + outcome->payload + "'";
}

std::string LocationOf(const coap::ClientResponse& response) {
  std::string location;
  for (const auto& segment : response.location_path) {
    location += "/" + segment;
  }
  return location;
}

RdHarness::RdHarness()
    : coap_port_(coapgw::test::StableUdpPort()),
      bus_pub_(kAnyLoopbackTcp),
      bus_sub_(kAnyLoopbackTcp) {}

RdHarness::~RdHarness() = default;

std::map<std::string, std::string> RdHarness::Env() const {
  return {{"COAPGW_DATABASE_URL", database_.url()},
          {"COAPGW_RD_LISTEN", "127.0.0.1:" + std::to_string(coap_port_)},
          {"COAPGW_BUS_PUB", bus_pub_},
          {"COAPGW_BUS_SUB", bus_sub_},
          {"COAPGW_HTTP_LISTEN", "127.0.0.1:0"},
          {"COAPGW_LOG_LEVEL", "debug"}};
}

bool RdHarness::StartRd(const std::map<std::string, std::string>& extra, std::string* error) {
  // Every RD gets a bus: it waits (up to 2 s) for one before it announces anything.
  if (!bus_ && !StartBus()) {
    if (error != nullptr) {
      *error = "coapgw-bus did not start";
    }
    return false;
  }
  if (rd_) {
    previous_logs_ += rd_->Stderr();
    rd_.reset();
  }
  auto env = Env();
  for (const auto& [name, value] : extra) {
    env[name] = value;
  }
  http_port_ = 0;
  rd_ = std::make_unique<coapgw::test::Process>(
      std::vector<std::string>{coapgw::test::BinaryPath("coapgw-rd")}, env);
  if (rd_->WaitForStderr("INFO rd: ready", kStartTimeout)) {
    http_port_ = coapgw::test::LoggedPort(rd_->Stderr(), coapgw::test::kHttpListening);
  }
  if (http_port_ == 0) {
    if (error != nullptr) {
      const std::string log = rd_->Stderr();
      const bool running = rd_->running();
      *error = "coapgw-rd (pid " + std::to_string(rd_->pid()) + ") " +
               (running ? "not ready within 10 s"
                        : "exited with " + std::to_string(rd_->Wait(kStopTimeout).value_or(-1)) +
                              " before it was ready") +
               (log.find("in use by another process") != std::string::npos
                    ? "; its CoAP port " + std::to_string(coap_port_) +
                          " (kept across restarts) was taken by another process"
                    : std::string()) +
               "; stderr:\n" + log;
    }
    return false;
  }
  return true;
}

std::optional<int> RdHarness::StopRd() {
  if (!rd_) {
    return std::nullopt;
  }
  return rd_->Stop(SIGTERM, kStopTimeout);
}

std::string RdHarness::RdLog() const {
  return previous_logs_ + (rd_ ? rd_->Stderr() : "");
}

bool RdHarness::StartBus() {
  auto bus = coapgw::test::StartBus(kStartTimeout);
  bus_ = std::move(bus.process);
  if (bus.pub.empty()) {
    return false;
  }
  bus_pub_ = bus.pub;
  bus_sub_ = bus.sub;
  subscriber_ = std::make_unique<bus::Subscriber>(
      zmq_context_, bus_sub_, std::vector<std::string>{"rd.device.", "test.probe"});
  publisher_ = std::make_unique<bus::Publisher>(zmq_context_, bus_pub_, "test");
  return coapgw::test::WaitForRoute(*publisher_, *subscriber_, "test.probe");
}

bool RdHarness::PublishOnBus(std::string_view topic, const std::string& data_json) {
  return publisher_ && publisher_->Publish(topic, data_json).ok();
}

bool RdHarness::WaitForRdEvents(milliseconds timeout) {
  const std::string location = Register(std::string("ep=bus-probe&d=") + kProbeSector, "</probe>");
  if (location.empty() || !subscriber_) {
    return false;
  }
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    auto message = subscriber_->Receive(milliseconds(100));
    if (message && IsProbe(*message)) {
      while (subscriber_->Receive(milliseconds(0))) {
      }
      return true;
    }
    if (!message) {
      (void)Post(location, "", std::nullopt);  // a refresh: one more rd.device.updated
    }
  }
  return false;
}

std::optional<bus::Message> RdHarness::NextEvent(milliseconds timeout) {
  if (!subscriber_) {
    return std::nullopt;
  }
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const auto left =
        std::chrono::duration_cast<milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() < 0) {
      return std::nullopt;
    }
    auto message = subscriber_->Receive(left);
    if (!message) {
      return std::nullopt;
    }
    if (message->topic.rfind("rd.device.", 0) == 0 && !IsProbe(*message)) {
      return message;
    }
  }
}

coap::Outcome<coap::ClientResponse> RdHarness::Get(std::string_view target) {
  return coap_.Send(coap::Method::kGet, coap_port_, target);
}

coap::Outcome<coap::ClientResponse> RdHarness::Post(std::string_view target, std::string payload,
                                                    std::optional<uint16_t> content_format) {
  return coap_.Send(coap::Method::kPost, coap_port_, target, std::move(payload), content_format);
}

coap::Outcome<coap::ClientResponse> RdHarness::Delete(std::string_view target) {
  return coap_.Send(coap::Method::kDelete, coap_port_, target);
}

std::string RdHarness::Register(std::string_view query, std::string links) {
  auto response = Post("/rd?" + std::string(query), std::move(links));
  if (!response.ok() || response->code != coap::Code::kCreated) {
    ADD_FAILURE() << "POST /rd?" << query << ": " << Describe(response);
    return "";
  }
  return LocationOf(*response);
}

std::string RdHarness::Lookup(std::string_view target) {
  auto response = Get(target);
  if (!response.ok() || response->code != coap::Code::kContent) {
    ADD_FAILURE() << "GET " << target << ": " << Describe(response);
    return "<" + Describe(response) + ">";
  }
  return response->payload;
}

}  // namespace coapgw::rd::test
