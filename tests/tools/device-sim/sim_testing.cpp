#include "sim_testing.hpp"

#include <future>
#include <utility>

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include "coapgw/coap/message.hpp"
#include "coapgw/coap/uri.hpp"
#include "coapgw/test/wait.hpp"

namespace coapgw::device_sim::test {

BlockingClient::BlockingClient() {
  // libcoap 4.3.1 may leave the first pings to a young process unanswered (its RST rate limit,
  // libs/coap/README.md): retransmit after 1 s rather than 2-3 s.
  coap::ClientOptions options;
  options.ack_timeout = milliseconds(1000);
  options.ack_random_factor = 1.0;
  loop_.Call(
      [this, options] { client_ = std::make_unique<coap::Client>(loop_.context(), options); });
}

BlockingClient::~BlockingClient() {
  loop_.Call([this] { client_.reset(); });
}

coap::Outcome<coap::ClientResponse> BlockingClient::Send(coap::Method method,
                                                         const std::string& uri,
                                                         std::string payload,
                                                         std::optional<uint16_t> content_format,
                                                         milliseconds timeout) {
  auto request = coap::ClientRequest::FromUri(method, uri);
  if (!request.ok()) {
    return {coap::Failure::kInvalid, request.error().message};
  }
  request->payload = std::move(payload);
  request->content_format = content_format;
  coap::RequestOptions options;
  options.timeout = timeout;
  auto promise = std::make_shared<std::promise<coap::Outcome<coap::ClientResponse>>>();
  auto future = promise->get_future();
  loop_.Call([&] {
    return client_->Send(*request, options, [promise](coap::Outcome<coap::ClientResponse> outcome) {
      promise->set_value(std::move(outcome));
    });
  });
  return future.get();
}

coap::Outcome<Millis> BlockingClient::Ping(const std::string& address, milliseconds timeout) {
  auto parsed = coap::ParseAddress(address);
  if (!parsed.ok()) {
    return {coap::Failure::kInvalid, parsed.error().message};
  }
  auto promise = std::make_shared<std::promise<coap::Outcome<Millis>>>();
  auto future = promise->get_future();
  loop_.Call([&] {
    return client_->Ping(
        coap::EndpointOf(*parsed), timeout,
        [promise](coap::Outcome<Millis> outcome) { promise->set_value(std::move(outcome)); });
  });
  return future.get();
}

bool BlockingClient::WaitForPong(const std::string& address, milliseconds timeout) {
  return coapgw::test::WaitUntil([&] { return Ping(address, milliseconds(1500)).ok(); }, timeout);
}

std::string Describe(const coap::Outcome<coap::ClientResponse>& outcome) {
  if (!outcome.ok()) {
    return outcome.error().message;
  }
  return coap::FormatCode(outcome->code) + " '" + outcome->payload.substr(0, 200) + "'";
}

namespace {

SimDevice ReadDevice(const rapidjson::Value& value) {
  SimDevice device;
  device.index = value["index"].GetUint64();
  device.ep = value["ep"].GetString();
  device.address = value["address"].GetString();
  device.online = value["online"].GetBool();
  device.obs = value["obs"].GetBool();
  device.registration = value["registration"].GetString();
  device.location = value["location"].GetString();
  device.registrations = value["registrations"].GetUint64();
  device.boots = value["boots"].GetUint();
  device.led = value["led"].GetString();
  return device;
}

}  // namespace

std::vector<SimDevice> ParseDevices(const std::string& json) {
  rapidjson::Document document;
  document.Parse(json.c_str());
  if (document.HasParseError() || !(document.IsArray() || document.IsObject())) {
    ADD_FAILURE() << "not a device list: " << json;
    return {};
  }
  std::vector<SimDevice> devices;
  if (document.IsObject()) {
    devices.push_back(ReadDevice(document));
    return devices;
  }
  for (const auto& value : document.GetArray()) {
    devices.push_back(ReadDevice(value));
  }
  return devices;
}

}  // namespace coapgw::device_sim::test
