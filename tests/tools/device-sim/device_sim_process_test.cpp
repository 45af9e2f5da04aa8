// coapgw-device-sim as a process against the real coapgw-rd (PostgreSQL from
// COAPGW_TEST_DATABASE_URL, as the RD's own process tests) and the real coapgw-bus: what the RD
// learns from the devices, what a client reaching them through the RD's addresses sees, the
// control API, a clean stop, and libcoap's coap-client-notls as an independent client.

#include <algorithm>
#include <csignal>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include "coapgw/linkformat/link_format.hpp"
#include "coapgw/test/command.hpp"
#include "coapgw/test/wait.hpp"
#include "device_sim/device_model.hpp"
#include "sim_harness.hpp"

namespace coapgw::device_sim::test {
namespace {

using coap::Code;
using coap::Method;
using linkformat::Link;

constexpr milliseconds kWait{5000};
constexpr milliseconds kStopTimeout{5000};

// The links of a link-format payload (a test failure and none when it does not parse).
std::vector<Link> ParseLinks(const std::string& payload) {
  auto links = linkformat::Parse(payload);
  EXPECT_TRUE(links.ok()) << payload;
  return links.ok() ? *links : std::vector<Link>{};
}

// The value of `name` on the link, "" when absent.
std::string ValueOf(const Link& link, const std::string& name) {
  const auto value = link.Find(name);
  return value ? std::string(*value) : "";
}

// ep -> device_id from the RD's /coapgw/devices snapshot.
std::map<std::string, std::string> DeviceIds(const std::string& json) {
  std::map<std::string, std::string> ids;
  rapidjson::Document document;
  document.Parse(json.c_str());
  EXPECT_FALSE(document.HasParseError()) << json;
  if (document.HasParseError() || !document.HasMember("devices")) {
    return ids;
  }
  for (const auto& device : document["devices"].GetArray()) {
    ids[device["ep"].GetString()] = device["device_id"].GetString();
  }
  return ids;
}

class DeviceSimProcessTest : public testing::Test {
 protected:
  void SetUp() override {
    std::string error;
    ASSERT_TRUE(stack_.Start(&error)) << error;
  }

  std::map<std::string, std::string> SimEnv(
      const std::map<std::string, std::string>& extra = {}) const {
    std::map<std::string, std::string> env = {
        {"COAPGW_RD_URI", stack_.RdUri()},       {"COAPGW_DEVICE_SIM_DEVICES", "5"},
        {"COAPGW_DEVICE_SIM_INTERVAL", "100ms"}, {"COAPGW_DEVICE_SIM_TYPE", "thermo"},
        {"COAPGW_DEVICE_SIM_OBS_PERCENT", "60"}, {"COAPGW_DEVICE_SIM_LIFETIME", "60"}};
    for (const auto& [name, value] : extra) {
      env[name] = value;
    }
    return env;
  }

  // Starts a simulator and checks it came up.
  std::unique_ptr<SimProcess> StartSim(const std::map<std::string, std::string>& extra = {}) {
    auto sim = std::make_unique<SimProcess>(SimEnv(extra));
    EXPECT_TRUE(sim->started()) << sim->process().Stderr() << "\nRD:\n" << stack_.RdLog();
    return sim;
  }

  // The /rd-lookup/ep links by endpoint name.
  std::map<std::string, Link> Endpoints() {
    std::map<std::string, Link> by_ep;
    for (const Link& link : ParseLinks(stack_.Get("/rd-lookup/ep"))) {
      by_ep[ValueOf(link, "ep")] = link;
    }
    return by_ep;
  }

  RdStack stack_;
  BlockingClient coap_;
};

TEST_F(DeviceSimProcessTest, HelpListsEverySettingAndABadOneExitsTwo) {
  const auto help =
      coapgw::test::RunCommand(coapgw::test::BinaryPath("coapgw-device-sim") + " --help");
  EXPECT_EQ(help.exit_code, 0);
  for (const char* setting :
       {"COAPGW_DEVICE_SIM_DEVICES", "--device-sim-devices", "COAPGW_DEVICE_SIM_LISTEN",
        "COAPGW_RD_URI", "--rd-uri", "COAPGW_DEVICE_SIM_REGISTRATION", "COAPGW_DEVICE_SIM_LIFETIME",
        "COAPGW_DEVICE_SIM_OBS_PERCENT", "COAPGW_DEVICE_SIM_INTERVAL",
        "COAPGW_DEVICE_SIM_LARGE_SIZE", "COAPGW_DEVICE_SIM_DEREGISTER", "COAPGW_DEVICE_SIM_CONTROL",
        "COAPGW_LOG_LEVEL", "COAPGW_HTTP_LISTEN"}) {
    EXPECT_NE(help.text.find(setting), std::string::npos) << setting << " in\n" << help.text;
  }
  coapgw::test::ExpectBadSetting(
      "COAPGW_DEVICE_SIM_REGISTRATION=sometimes " + coapgw::test::BinaryPath("coapgw-device-sim"),
      "coapgw-device-sim: COAPGW_DEVICE_SIM_REGISTRATION: 'sometimes'");
}

TEST_F(DeviceSimProcessTest, EveryDeviceRegistersFromItsOwnAddress) {
  auto sim = StartSim({{"COAPGW_DEVICE_SIM_DEVICES_PER_LOOP", "2"}});  // three loops
  const std::vector<SimDevice> devices = sim->Devices();
  ASSERT_EQ(devices.size(), 5U);
  const auto endpoints = Endpoints();
  ASSERT_EQ(endpoints.size(), 5U) << stack_.Get("/rd-lookup/ep");
  for (const SimDevice& device : devices) {
    EXPECT_EQ(device.registration, "registered") << device.ep;
    const auto it = endpoints.find(device.ep);
    ASSERT_NE(it, endpoints.end()) << device.ep;
    // No base= was sent: the RD took the source address of the registration, the device's.
    EXPECT_EQ(ValueOf(it->second, "base"), "coap://" + device.address) << device.ep;
    EXPECT_EQ(ValueOf(it->second, "et"), "thermo");
    EXPECT_EQ(it->second.target, device.location);
  }
  EXPECT_NE(stack_.RdLog().find("base=coap://" + devices[0].address), std::string::npos);
}

TEST_F(DeviceSimProcessTest, ResourceLookupCarriesObsWhereTheDeviceAnnouncesIt) {
  auto sim = StartSim();
  size_t with_obs = 0;
  for (const SimDevice& device : sim->Devices()) {
    const std::vector<Link> links = ParseLinks(stack_.Get("/rd-lookup/res?ep=" + device.ep));
    ASSERT_EQ(links.size(), 8U) << device.ep;
    for (const Link& link : links) {
      EXPECT_EQ(link.target.rfind(device.Uri("/"), 0), 0U) << link.target;
      const bool sensor = link.target.find("/sensors/") != std::string::npos;
      EXPECT_EQ(link.Has("obs"), sensor && device.obs) << device.ep << " " << link.target;
    }
    with_obs += device.obs ? 1 : 0;
  }
  EXPECT_EQ(with_obs, 3U);  // 60 % of 5
  const std::vector<Link> observable = ParseLinks(stack_.Get("/rd-lookup/res?obs"));
  EXPECT_EQ(observable.size(), 6U);  // two sensors of each of the three
}

TEST_F(DeviceSimProcessTest, ObservingASensorAtItsRdAddressYieldsChangingValues) {
  auto sim = StartSim();
  std::string target;
  for (const Link& link : ParseLinks(stack_.Get("/rd-lookup/res?rt=temperature-c&obs"))) {
    target = link.target;
  }
  ASSERT_FALSE(target.empty());
  auto request = coap::ClientRequest::FromUri(Method::kGet, target);
  ASSERT_TRUE(request.ok()) << target;
  std::mutex mutex;
  std::vector<std::string> values;
  coap::Observation observation = coap_.loop().Call([&] {
    return coap_.client().Observe(*request, {}, [&](coap::Outcome<coap::Notification> event) {
      const std::lock_guard<std::mutex> lock(mutex);
      values.push_back(event.ok() && event->observing ? event->response.payload : "ended");
    });
  });
  EXPECT_TRUE(coapgw::test::WaitUntil(
      [&] {
        const std::lock_guard<std::mutex> lock(mutex);
        return values.size() >= 4;
      },
      kWait));
  coap_.loop().Call([&] { observation.Cancel(); });
  const std::lock_guard<std::mutex> lock(mutex);
  ASSERT_GE(values.size(), 4U);
  for (size_t i = 1; i < values.size(); ++i) {
    EXPECT_NE(values[i], "ended");
    EXPECT_NE(values[i], values[i - 1]) << i;
  }
}

TEST_F(DeviceSimProcessTest, CommandsChangeTheActuatorAndEchoTheirPayload) {
  auto sim = StartSim();
  const SimDevice device = sim->Device(2);
  auto put = coap_.Send(Method::kPut, device.Uri(paths::kLed), "on");
  ASSERT_TRUE(put.ok()) << Describe(put);
  EXPECT_EQ(put->code, Code::kChanged);
  EXPECT_EQ(put->payload, "on");
  EXPECT_EQ(coap_.Send(Method::kGet, device.Uri(paths::kLed))->payload, "on");
  EXPECT_EQ(sim->Device(2).led, "on");
  EXPECT_EQ(sim->Device(1).led, "off");
  auto toggle = coap_.Send(Method::kPost, device.Uri(paths::kLedToggle));
  ASSERT_TRUE(toggle.ok());
  EXPECT_EQ(toggle->payload, "off");
  auto echo = coap_.Send(Method::kPost, device.Uri(paths::kEcho), "ping 42");
  ASSERT_TRUE(echo.ok());
  EXPECT_EQ(echo->code, Code::kChanged);
  EXPECT_EQ(echo->payload, "ping 42");
  EXPECT_EQ(coap_.Send(Method::kDelete, device.Uri(paths::kLabel))->code, Code::kDeleted);
}

TEST_F(DeviceSimProcessTest, OfflineDeviceStopsAnsweringPingsAndComesBack) {
  auto sim = StartSim();
  const SimDevice device = sim->Device(1);
  ASSERT_TRUE(coap_.WaitForPong(device.address, kWait));
  const auto [status, body] = sim->Control("1", "offline");
  ASSERT_EQ(status, 200) << body;
  auto ping = coap_.Ping(device.address, milliseconds(700));
  ASSERT_FALSE(ping.ok());
  EXPECT_EQ(ping.failure(), coap::Failure::kTimeout) << ping.message();
  EXPECT_FALSE(sim->Device(1).online);

  EXPECT_EQ(sim->Control("sim-1", "online").first, 200);
  EXPECT_TRUE(coap_.WaitForPong(device.address, kWait));
  // Back from a reboot it registers anew.
  EXPECT_TRUE(coapgw::test::WaitUntil(
      [&] {
        const SimDevice now = sim->Device(1);
        return now.registration == "registered" && now.registrations >= 2;
      },
      kWait));
  EXPECT_EQ(sim->Device(1).boots, 2U);
}

TEST_F(DeviceSimProcessTest, MovedDeviceKeepsItsRdIdentityAtItsNewAddress) {
  auto sim = StartSim();
  const SimDevice before = sim->Device(3);
  const std::string id_before = DeviceIds(stack_.Get("/coapgw/devices"))[before.ep];
  ASSERT_FALSE(id_before.empty());
  const auto [status, body] = sim->Control("3", "move");
  ASSERT_EQ(status, 200) << body;
  const SimDevice moved = ParseDevices(body).at(0);
  ASSERT_NE(moved.address, before.address);
  EXPECT_TRUE(coapgw::test::WaitUntil(
      [&] { return ValueOf(Endpoints()[before.ep], "base") == "coap://" + moved.address; }, kWait))
      << stack_.Get("/rd-lookup/ep");
  EXPECT_EQ(Endpoints()[before.ep].target, before.location);
  EXPECT_EQ(DeviceIds(stack_.Get("/coapgw/devices"))[before.ep], id_before);
  auto info = coap_.Send(Method::kGet, moved.Uri(paths::kInfo));
  ASSERT_TRUE(info.ok()) << Describe(info);
  EXPECT_NE(info->payload.find("\"ep\":\"" + before.ep + "\""), std::string::npos);
}

TEST_F(DeviceSimProcessTest, RegistrationsAreRefreshedBeforeTheirLifetimeEnds) {
  auto sim = StartSim({{"COAPGW_DEVICE_SIM_LIFETIME", "1"}});
  // Refreshes every 750 ms; three per device need a little over 1.5 s.
  EXPECT_TRUE(coapgw::test::WaitUntil(
      [&] {
        const std::vector<SimDevice> devices = sim->Devices();
        return devices.size() == 5 &&
               std::all_of(devices.begin(), devices.end(),
                           [](const SimDevice& device) { return device.registrations >= 3; });
      },
      kWait));
  // Well past the 1 s lifetime, every registration is still there.
  EXPECT_EQ(Endpoints().size(), 5U);
}

TEST_F(DeviceSimProcessTest, SimpleRegistrationLetsTheRdFetchTheDevicesLinks) {
  auto sim = StartSim({{"COAPGW_DEVICE_SIM_REGISTRATION", "simple"},
                       {"COAPGW_DEVICE_SIM_PREFIX", "simple"},
                       {"COAPGW_DEVICE_SIM_DEVICES", "3"}});
  const auto endpoints = Endpoints();
  ASSERT_EQ(endpoints.size(), 3U) << stack_.Get("/rd-lookup/ep");
  for (const SimDevice& device : sim->Devices()) {
    EXPECT_EQ(device.registration, "registered");
    EXPECT_TRUE(device.location.empty());  // RFC 9176 §5.1: no location is returned
    ASSERT_EQ(endpoints.count(device.ep), 1U) << device.ep;
    EXPECT_EQ(ValueOf(endpoints.at(device.ep), "base"), "coap://" + device.address);
    const std::vector<Link> links = ParseLinks(stack_.Get("/rd-lookup/res?ep=" + device.ep));
    EXPECT_EQ(links.size(), 8U) << device.ep;
  }
}

TEST_F(DeviceSimProcessTest, CleanStopDeregistersEveryDevice) {
  auto sim = StartSim({{"COAPGW_DEVICE_SIM_DEVICES_PER_LOOP", "2"}});
  ASSERT_EQ(Endpoints().size(), 5U);
  EXPECT_EQ(sim->process().Stop(SIGTERM, kStopTimeout), 0);
  EXPECT_EQ(stack_.Get("/rd-lookup/ep"), "");
  EXPECT_NE(sim->process().Stderr().find("stopping deregistering=5"), std::string::npos);
}

TEST_F(DeviceSimProcessTest, StopWithoutDeregistrationLeavesTheRegistrations) {
  auto sim = StartSim({{"COAPGW_DEVICE_SIM_DEREGISTER", "false"}});
  EXPECT_EQ(sim->process().Stop(SIGTERM, kStopTimeout), 0);
  EXPECT_EQ(Endpoints().size(), 5U);
}

TEST_F(DeviceSimProcessTest, ControlDeregisterRemovesOneDevice) {
  auto sim = StartSim();
  EXPECT_EQ(sim->Control("sim-4", "deregister").first, 200);
  EXPECT_TRUE(coapgw::test::WaitUntil([&] { return Endpoints().count("sim-4") == 0; }, kWait));
  EXPECT_EQ(Endpoints().size(), 4U);
  EXPECT_TRUE(coapgw::test::WaitUntil([&] { return sim->Device(4).registration == "unregistered"; },
                                      kWait));
  EXPECT_EQ(sim->Control("4", "register").first, 200);
  EXPECT_TRUE(coapgw::test::WaitUntil([&] { return Endpoints().count("sim-4") == 1; }, kWait));
}

TEST_F(DeviceSimProcessTest, LibcoapClientReadsADeviceIncludingItsLargeResource) {
  if (std::string(COAP_CLIENT_NOTLS).empty()) {
    GTEST_SKIP() << "coap-client-notls (libcoap3-bin) is not installed";
  }
  auto sim = StartSim({{"COAPGW_DEVICE_SIM_LARGE_SIZE", "70000"}});
  const SimDevice device = sim->Device(0);
  const auto temperature = coapgw::test::RunCommand(
      std::string(COAP_CLIENT_NOTLS) + " -m get -B 5 " + device.Uri(paths::kTemperature));
  ASSERT_EQ(temperature.exit_code, 0) << temperature.text;
  EXPECT_NO_THROW((void)std::stod(temperature.text)) << temperature.text;
  const auto firmware = coapgw::test::RunCommand(std::string(COAP_CLIENT_NOTLS) + " -m get -B 5 " +
                                                 device.Uri(paths::kFirmware));
  ASSERT_EQ(firmware.exit_code, 0) << firmware.text.substr(0, 300);
  // coap-client prints the body and a newline.
  EXPECT_EQ(firmware.text.substr(0, 70000), LargeBody(device.ep, 70000));
}

}  // namespace
}  // namespace coapgw::device_sim::test
