#include "sim_harness.hpp"

#include <chrono>
#include <csignal>
#include <cstdlib>

#include "coapgw/test/http.hpp"

namespace coapgw::device_sim::test {
namespace {

constexpr milliseconds kStartTimeout{10'000};
constexpr milliseconds kStopTimeout{5000};

// The body of an HTTP response ("" when there is none).
std::string BodyOf(const std::string& response) {
  const size_t at = response.find("\r\n\r\n");
  return at == std::string::npos ? "" : response.substr(at + 4);
}

}  // namespace

RdStack::RdStack() = default;

RdStack::~RdStack() {
  if (rd_) {
    rd_->Stop(SIGTERM, kStopTimeout);
  }
  if (bus_) {
    bus_->Stop(SIGTERM, kStopTimeout);
  }
}

bool RdStack::Start(std::string* error) {
  auto bus = coapgw::test::StartBus(kStartTimeout);
  bus_ = std::move(bus.process);
  if (bus.pub.empty()) {
    *error = "coapgw-bus did not start:\n" + bus_->Stderr();
    return false;
  }
  // The RD binds its CoAP port itself and names it in its log.
  rd_ = std::make_unique<coapgw::test::Process>(
      std::vector<std::string>{coapgw::test::BinaryPath("coapgw-rd")},
      std::map<std::string, std::string>{{"COAPGW_DATABASE_URL", database_.url()},
                                         {"COAPGW_RD_LISTEN", "127.0.0.1:0"},
                                         {"COAPGW_BUS_PUB", bus.pub},
                                         {"COAPGW_BUS_SUB", bus.sub}});
  if (rd_->WaitForStderr("INFO rd: ready", kStartTimeout)) {
    rd_port_ = coapgw::test::LoggedPort(rd_->Stderr(), "rd: listening address=127.0.0.1:");
  }
  if (rd_port_ == 0) {
    *error = "coapgw-rd did not get ready:\n" + rd_->Stderr();
    return false;
  }
  return true;
}

std::string RdStack::RdUri() const {
  return "coap://127.0.0.1:" + std::to_string(rd_port_);
}

std::string RdStack::Get(const std::string& target) {
  auto response = coap_.Send(coap::Method::kGet, RdUri() + target);
  if (!response.ok() || response->code != coap::Code::kContent) {
    return "<" + Describe(response) + ">";
  }
  return response->payload;
}

std::string RdStack::RdLog() const {
  return rd_ ? rd_->Stderr() : "";
}

SimProcess::SimProcess(std::map<std::string, std::string> env, const std::string& ready) {
  env["COAPGW_DEVICE_SIM_CONTROL"] = "127.0.0.1:0";
  process_ = std::make_unique<coapgw::test::Process>(
      std::vector<std::string>{coapgw::test::BinaryPath("coapgw-device-sim")}, env);
  started_ = process_->WaitForStderr(ready, kStartTimeout) &&
             process_->WaitForStderr(coapgw::test::kHttpListening, kStartTimeout);
  control_port_ = coapgw::test::LoggedPort(process_->Stderr(), coapgw::test::kHttpListening);
  started_ = started_ && control_port_ != 0;
}

std::vector<SimDevice> SimProcess::Devices() const {
  return ParseDevices(BodyOf(coapgw::test::HttpGet(control_port_, "/devices")));
}

SimDevice SimProcess::Device(size_t index) const {
  const auto devices = ParseDevices(
      BodyOf(coapgw::test::HttpGet(control_port_, "/devices/" + std::to_string(index))));
  return devices.empty() ? SimDevice{} : devices.front();
}

std::pair<int, std::string> SimProcess::Control(const std::string& id,
                                                const std::string& action) const {
  const std::string response =
      coapgw::test::HttpRequest(control_port_, "POST", "/devices/" + id + "/" + action);
  // "HTTP/1.1 200 OK\r\n...": the status is the second word.
  const int status =
      response.size() > 12 ? static_cast<int>(std::strtol(response.c_str() + 9, nullptr, 10)) : 0;
  return {status, BodyOf(response)};
}

}  // namespace coapgw::device_sim::test
