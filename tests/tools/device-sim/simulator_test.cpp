// The Simulator in-process, without an RD (registration none): real CoAP over loopback UDP to
// its devices, the control API through ControlApi::Handle, options and port helpers.

#include "device_sim/simulator.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <mutex>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "coapgw/common/settings.hpp"
#include "coapgw/test/wait.hpp"
#include "device_sim/control.hpp"
#include "device_sim/device_model.hpp"
#include "device_sim/options.hpp"
#include "device_sim/sockets.hpp"
#include "sim_testing.hpp"

namespace coapgw::device_sim {
namespace {

using coap::Code;
using coap::Method;
using std::chrono::milliseconds;
using test::BlockingClient;
using test::Describe;
using test::ParseDevices;
using test::SimDevice;

constexpr milliseconds kWait{5000};

// Payloads of notifications, collected on the client loop and read from the test thread.
class Notifications {
 public:
  coap::NotificationCallback Callback() {
    return [this](coap::Outcome<coap::Notification> event) {
      const std::lock_guard<std::mutex> lock(mutex_);
      payloads_.push_back(event.ok() ? event->response.payload : "failure");
    };
  }
  std::vector<std::string> Payloads() const {
    const std::lock_guard<std::mutex> lock(mutex_);
    return payloads_;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<std::string> payloads_;
};

class SimulatorTest : public testing::Test {
 protected:
  explicit SimulatorTest(size_t devices = 3, size_t devices_per_loop = 1000) {
    options_.devices = devices;
    options_.devices_per_loop = devices_per_loop;
    options_.registration = RegistrationMode::kNone;
    options_.interval = milliseconds(50);
    options_.obs_percent = 50;
    options_.large_size = 4096;
    simulator_ = std::make_unique<Simulator>(options_, metrics_, health_);
  }

  void TearDown() override { simulator_->Stop(milliseconds(0)); }

  SimDevice Device(size_t index) {
    return ParseDevices(DeviceJson(simulator_->StatusOf(index))).at(0);
  }

  std::optional<HttpReply> Control(const std::string& method, const std::string& target) {
    return ControlApi(*simulator_).Handle(method, target);
  }

  SimOptions options_;
  MetricsRegistry metrics_;
  Health health_;
  std::unique_ptr<Simulator> simulator_;
  BlockingClient coap_;
};

TEST_F(SimulatorTest, EachDeviceServesItsOwnState) {
  EXPECT_TRUE(health_.ready());  // nothing to register
  std::set<std::string> addresses;
  for (size_t i = 0; i < 3; ++i) {
    const SimDevice device = Device(i);
    addresses.insert(device.address);
    auto info = coap_.Send(Method::kGet, device.Uri(paths::kInfo));
    ASSERT_TRUE(info.ok() && info->code == Code::kContent) << Describe(info);
    EXPECT_NE(info->payload.find("\"ep\":\"sim-" + std::to_string(i) + "\""), std::string::npos)
        << info->payload;
    auto links = coap_.Send(Method::kGet, device.Uri("/.well-known/core"));
    ASSERT_TRUE(links.ok()) << Describe(links);
    EXPECT_EQ(links->content_format, coap::content_format::kLinkFormat);
    EXPECT_EQ(links->payload.find(";obs") != std::string::npos, device.obs) << links->payload;
  }
  EXPECT_EQ(addresses.size(), 3U);

  const SimDevice first = Device(0);
  const SimDevice second = Device(1);
  auto put = coap_.Send(Method::kPut, first.Uri(paths::kLed), "on");
  ASSERT_TRUE(put.ok()) << Describe(put);
  EXPECT_EQ(put->code, Code::kChanged);
  EXPECT_EQ(put->payload, "on");
  EXPECT_EQ(coap_.Send(Method::kGet, first.Uri(paths::kLed))->payload, "on");
  EXPECT_EQ(coap_.Send(Method::kGet, second.Uri(paths::kLed))->payload, "off");
  EXPECT_EQ(Device(0).led, "on");
}

TEST_F(SimulatorTest, ActuatorsEchoAndTheLargeResourceGoBothWays) {
  const SimDevice device = Device(2);
  auto bad = coap_.Send(Method::kPut, device.Uri(paths::kLed), "purple");
  ASSERT_TRUE(bad.ok());
  EXPECT_EQ(bad->code, Code::kBadRequest);
  auto toggled = coap_.Send(Method::kPost, device.Uri(paths::kLedToggle));
  ASSERT_TRUE(toggled.ok());
  EXPECT_EQ(toggled->code, Code::kChanged);
  EXPECT_EQ(toggled->payload, "on");

  auto echo =
      coap_.Send(Method::kPost, device.Uri(paths::kEcho), "{\"x\":1}", coap::content_format::kJson);
  ASSERT_TRUE(echo.ok());
  EXPECT_EQ(echo->code, Code::kChanged);
  EXPECT_EQ(echo->payload, "{\"x\":1}");
  EXPECT_EQ(echo->content_format, coap::content_format::kJson);

  EXPECT_EQ(coap_.Send(Method::kPut, device.Uri(paths::kLabel), "porch")->code, Code::kChanged);
  EXPECT_EQ(coap_.Send(Method::kGet, device.Uri(paths::kLabel))->payload, "porch");
  EXPECT_EQ(coap_.Send(Method::kDelete, device.Uri(paths::kLabel))->code, Code::kDeleted);
  EXPECT_EQ(coap_.Send(Method::kGet, device.Uri(paths::kLabel))->payload, "sim-2");

  auto firmware = coap_.Send(Method::kGet, device.Uri(paths::kFirmware));
  ASSERT_TRUE(firmware.ok()) << Describe(firmware);
  EXPECT_EQ(firmware->payload, LargeBody("sim-2", 4096));
  const std::string image(100'000, 'z');
  auto stored = coap_.Send(Method::kPut, device.Uri(paths::kFirmware), image,
                           coap::content_format::kOctetStream);
  ASSERT_TRUE(stored.ok()) << Describe(stored);
  EXPECT_EQ(stored->code, Code::kChanged);
  EXPECT_EQ(stored->payload, "stored 100000 bytes fnv1a64=" + Fnv1aHex(image));
  EXPECT_EQ(coap_.Send(Method::kGet, device.Uri(paths::kFirmware))->payload, image);
}

TEST_F(SimulatorTest, ObserversGetAChangedValueAtEveryInterval) {
  const SimDevice device = Device(1);
  Notifications seen;
  auto request = coap::ClientRequest::FromUri(Method::kGet, device.Uri(paths::kTemperature));
  ASSERT_TRUE(request.ok());
  coap::Observation observation =
      coap_.loop().Call([&] { return coap_.client().Observe(*request, {}, seen.Callback()); });
  ASSERT_TRUE(coapgw::test::WaitUntil([&] { return seen.Payloads().size() >= 4; }, kWait));
  coap_.loop().Call([&] { observation.Cancel(); });
  const std::vector<std::string> payloads = seen.Payloads();
  for (size_t i = 1; i < 4; ++i) {
    EXPECT_NE(payloads[i], payloads[i - 1]) << i;
    EXPECT_NE(payloads[i], "failure");
  }
}

TEST_F(SimulatorTest, OfflineDeviceIsSilentUntilItComesBackOnTheSamePort) {
  const SimDevice before = Device(0);
  ASSERT_TRUE(coap_.WaitForPong(before.address, kWait));
  auto reply = Control("POST", "/devices/0/offline");
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ(reply->status, 200) << reply->body;
  EXPECT_FALSE(ParseDevices(reply->body).at(0).online);

  // Silence, not ICMP port unreachable: the ping and the request run into their deadlines.
  auto ping = coap_.Ping(before.address, milliseconds(600));
  ASSERT_FALSE(ping.ok());
  EXPECT_EQ(ping.failure(), coap::Failure::kTimeout) << ping.message();
  auto get =
      coap_.Send(Method::kGet, before.Uri(paths::kInfo), {}, std::nullopt, milliseconds(600));
  ASSERT_FALSE(get.ok());
  EXPECT_EQ(get.failure(), coap::Failure::kTimeout) << get.message();
  EXPECT_EQ(Control("POST", "/devices/0/offline")->status, 409);

  EXPECT_EQ(Control("POST", "/devices/sim-0/online")->status, 200);
  EXPECT_TRUE(coap_.WaitForPong(before.address, kWait));
  const SimDevice after = Device(0);
  EXPECT_TRUE(after.online);
  EXPECT_EQ(after.address, before.address);
  EXPECT_EQ(after.boots, 2U);
  EXPECT_EQ(Control("POST", "/devices/0/online")->status, 409);
}

TEST_F(SimulatorTest, MovedDeviceAnswersOnANewPortOnly) {
  const SimDevice before = Device(1);
  auto reply = Control("POST", "/devices/1/move");
  ASSERT_TRUE(reply.has_value());
  ASSERT_EQ(reply->status, 200) << reply->body;
  const SimDevice after = ParseDevices(reply->body).at(0);
  EXPECT_NE(after.address, before.address);
  EXPECT_TRUE(after.online);
  auto info = coap_.Send(Method::kGet, after.Uri(paths::kInfo));
  ASSERT_TRUE(info.ok()) << Describe(info);
  EXPECT_NE(info->payload.find("\"ep\":\"sim-1\""), std::string::npos);
  EXPECT_FALSE(
      coap_.Send(Method::kGet, before.Uri(paths::kInfo), {}, std::nullopt, milliseconds(600)).ok());
}

TEST_F(SimulatorTest, ControlApiAnswersWithStatusCodesThatSayWhy) {
  auto all = Control("GET", "/devices");
  ASSERT_TRUE(all.has_value());
  EXPECT_EQ(all->status, 200);
  EXPECT_EQ(all->content_type, "application/json");
  const std::vector<SimDevice> devices = ParseDevices(all->body);
  ASSERT_EQ(devices.size(), 3U);
  EXPECT_EQ(devices[2].ep, "sim-2");
  EXPECT_EQ(devices[0].registration, "unregistered");

  EXPECT_EQ(Control("GET", "/devices/sim-2")->status, 200);
  EXPECT_EQ(Control("GET", "/devices/3")->status, 404);
  EXPECT_EQ(Control("POST", "/devices/nobody/offline")->status, 404);
  EXPECT_EQ(Control("POST", "/devices/1/fly")->status, 400);
  EXPECT_EQ(Control("DELETE", "/devices")->status, 405);
  EXPECT_EQ(Control("GET", "/devices/1/offline")->status, 405);
  EXPECT_EQ(Control("POST", "/devices/1/register")->status, 409);  // registration is none
  EXPECT_FALSE(Control("GET", "/healthz").has_value());
  EXPECT_FALSE(Control("GET", "/devicesx").has_value());

  auto offline = Control("POST", "/devices/all/offline");
  EXPECT_EQ(offline->body, "{\"devices\":3,\"changed\":3}\n");
  for (const SimDevice& device : ParseDevices(Control("GET", "/devices")->body)) {
    EXPECT_FALSE(device.online) << device.ep;
  }
  EXPECT_EQ(Control("POST", "/devices/all/online")->body, "{\"devices\":3,\"changed\":3}\n");
}

// Seven devices on loops of three: 0-2, 3-5, 6.
class SeveralLoopsTest : public SimulatorTest {
 protected:
  SeveralLoopsTest() : SimulatorTest(7, 3) {}
};

TEST_F(SeveralLoopsTest, DevicesOnSeveralLoopsBehaveAsOneFleet) {
  const std::vector<SimDevice> devices = ParseDevices(Control("GET", "/devices")->body);
  ASSERT_EQ(devices.size(), 7U);
  for (size_t i = 0; i < devices.size(); ++i) {
    EXPECT_EQ(devices[i].index, i);
    auto info = coap_.Send(Method::kGet, devices[i].Uri(paths::kInfo));
    ASSERT_TRUE(info.ok()) << Describe(info);
    EXPECT_NE(info->payload.find("\"ep\":\"sim-" + std::to_string(i) + "\""), std::string::npos)
        << info->payload;
  }
  EXPECT_EQ(Control("POST", "/devices/sim-6/offline")->status, 200);
  EXPECT_FALSE(coap_.Ping(devices[6].address, milliseconds(500)).ok());
  EXPECT_TRUE(coap_.WaitForPong(devices[5].address, kWait));
  EXPECT_EQ(Control("POST", "/devices/all/online")->body, "{\"devices\":7,\"changed\":1}\n");
  EXPECT_TRUE(Device(6).online);
  EXPECT_EQ(metrics_.Render().find("coapgw_device_sim_devices_online 7\n") != std::string::npos,
            true)
      << metrics_.Render();
}

TEST(SimOptionsTest, DefaultsAndClearErrorsNamingTheSetting) {
  const auto load = [](const std::map<std::string, std::string>& values) {
    Settings settings("coapgw-device-sim", "test");
    AddSettings(settings);
    settings.LoadFromMap(values);
    return OptionsFromSettings(settings);
  };
  const SimOptions defaults = load({});
  EXPECT_EQ(defaults.devices, 5U);
  EXPECT_EQ(defaults.prefix, "sim");
  EXPECT_EQ(defaults.rd.host, "127.0.0.1");
  EXPECT_EQ(defaults.rd.port, 5683);
  EXPECT_EQ(defaults.registration, RegistrationMode::kFull);
  EXPECT_EQ(defaults.listen.port, 0);
  EXPECT_FALSE(defaults.control.has_value());

  const SimOptions set = load({{"COAPGW_DEVICE_SIM_DEVICES", "1000"},
                               {"COAPGW_DEVICE_SIM_LISTEN", "127.0.0.1:20000"},
                               {"COAPGW_DEVICE_SIM_REGISTRATION", "simple"},
                               {"COAPGW_DEVICE_SIM_CONTROL", "127.0.0.1:0"},
                               {"COAPGW_RD_URI", "coap://[::1]:5700"}});
  EXPECT_EQ(set.devices, 1000U);
  EXPECT_EQ(set.listen.port, 20000);
  EXPECT_EQ(set.registration, RegistrationMode::kSimple);
  EXPECT_TRUE(set.control.has_value());
  EXPECT_EQ(set.rd.host, "::1");

  const auto error = [&](const std::map<std::string, std::string>& values) -> std::string {
    try {
      load(values);
    } catch (const SettingsError& caught) {
      return caught.what();
    }
    return "no error";
  };
  EXPECT_EQ(error({{"COAPGW_DEVICE_SIM_REGISTRATION", "maybe"}})
                .rfind("COAPGW_DEVICE_SIM_REGISTRATION: 'maybe'", 0),
            0U);
  EXPECT_EQ(error({{"COAPGW_RD_URI", "coaps://127.0.0.1"}}).rfind("COAPGW_RD_URI: ", 0), 0U);
  EXPECT_EQ(error({{"COAPGW_RD_URI", "http://x"}}).rfind("COAPGW_RD_URI: ", 0), 0U);
  EXPECT_EQ(
      error({{"COAPGW_DEVICE_SIM_DEVICES", "10"}, {"COAPGW_DEVICE_SIM_LISTEN", "127.0.0.1:65530"}})
          .rfind("COAPGW_DEVICE_SIM_LISTEN: ", 0),
      0U);
  EXPECT_EQ(error({{"COAPGW_DEVICE_SIM_DEVICES", "0"}}).rfind("COAPGW_DEVICE_SIM_DEVICES: ", 0),
            0U);
}

TEST(SocketsTest, PortsInUseAreRefusedAndFreePortsAreDistinct) {
  const int fd = socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  socklen_t length = sizeof address;
  getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  const uint16_t taken = ntohs(address.sin_port);
  EXPECT_THROW(CheckPortsFree(static_cast<uint16_t>(taken - 1), 3), std::runtime_error);
  close(fd);

  auto ports = PickFreePorts("127.0.0.1", 50);
  ASSERT_TRUE(ports.ok()) << ports.error().message;
  EXPECT_EQ(std::set<uint16_t>(ports->begin(), ports->end()).size(), 50U);
  EXPECT_FALSE(PickFreePorts("localhost", 1).ok());
}

}  // namespace
}  // namespace coapgw::device_sim
