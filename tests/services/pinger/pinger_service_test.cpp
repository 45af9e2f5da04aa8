// coapgw-pinger as a process: the real binary with the real coapgw-bus and coapgw-rd (on a fresh
// PostgreSQL database) and libcoap's coap-server-notls as the device, killed and restarted on the
// same port.

#include <signal.h>

#include <string>

#include <gtest/gtest.h>

#include "coapgw/events/codec.hpp"
#include "coapgw/test/command.hpp"
#include "coapgw/test/http.hpp"
#include "coapgw/test/process.hpp"
#include "coapgw/test/wait.hpp"
#include "gateway_harness.hpp"
#include "raw_device.hpp"

namespace coapgw::test {
namespace {

// Short settings, so that a test sees a disconnection within seconds.
constexpr milliseconds kInterval{500};
constexpr int kMisses = 2;

std::map<std::string, std::string> PingSettings() {
  return {{"COAPGW_PING_INTERVAL", "500ms"},
          {"COAPGW_PING_TIMEOUT", "300ms"},
          {"COAPGW_PING_MISSES", std::to_string(kMisses)},
          {"COAPGW_PING_SOURCE", "127.0.0.1:0"}};
}

std::unique_ptr<Process> StartLibcoapDevice(uint16_t port) {
  return std::make_unique<Process>(std::vector<std::string>{
      "/usr/bin/coap-server-notls", "-A", "127.0.0.1", "-p", std::to_string(port)});
}

class PingerServiceTest : public testing::Test {
 protected:
  void SetUp() override {
    std::string error;
    ASSERT_TRUE(gateway_.Start(&error)) << error;
  }

  // The next rd.device.status for `device_id` with `status`, within `timeout`.
  bool WaitForStatus(const std::string& device_id, events::DeviceStatus status,
                     milliseconds timeout) {
    return gateway_
        .WaitFor(
            events::DeviceStatusChanged::kTopic,
            [&](const bus::Message& message) {
              auto changed = events::DecodeDeviceStatusChanged(message.data());
              return changed.ok() && changed->device.device_id == device_id &&
                     changed->device.status == status;
            },
            timeout)
        .has_value();
  }

  GatewayHarness gateway_;
};

TEST_F(PingerServiceTest, AKilledDeviceGoesDisconnectedAndComesBackWhenRestarted) {
  // coap-server-notls cannot bind port 0 and name it: a port below the ephemeral range, which
  // no service binding port 0 can take first.
  const uint16_t port = StableUdpPort();
  auto device = StartLibcoapDevice(port);
  ASSERT_TRUE(gateway_.WaitForDevice(port)) << "coap-server-notls does not answer";
  const std::string id = gateway_.Register("pinged", "coap://127.0.0.1:" + std::to_string(port));
  ASSERT_FALSE(id.empty());
  ASSERT_NE(gateway_.StartService("coapgw-pinger", "pinger", PingSettings()), nullptr);
  // Pinged and answering: the pinger has nothing to say.
  ASSERT_TRUE(WaitUntil(
      [&] {
        return gateway_.service()->Stderr().find("DEBUG pinger: pong device_id=" + id) !=
               std::string::npos;
      },
      milliseconds(5000)))
      << gateway_.Logs();

  device->Kill();
  const auto killed = std::chrono::steady_clock::now();
  // Misses in a row, each a slot apart, plus the timeout of the last one: within
  // PING_INTERVAL × (PING_MISSES + 1), and a second for the bus, the RD and its database.
  const milliseconds bound = kInterval * (kMisses + 1) + milliseconds(1000);
  ASSERT_TRUE(WaitForStatus(id, events::DeviceStatus::kDisconnected, bound * 3)) << gateway_.Logs();
  EXPECT_LE(std::chrono::steady_clock::now() - killed, bound) << "status 0 came late";
  auto record = gateway_.RdRecord(id);
  ASSERT_TRUE(record.has_value());
  EXPECT_EQ(record->status, events::DeviceStatus::kDisconnected);
  auto verdict = gateway_.WaitFor(
      events::DeviceLiveness::kTopic, [](const bus::Message&) { return true; }, milliseconds(0));
  ASSERT_TRUE(verdict.has_value()) << "the pinger's message that made the RD act";
  auto liveness = events::DecodeDeviceLiveness(verdict->data());
  ASSERT_TRUE(liveness.ok());
  EXPECT_EQ(liveness->device_id, id);
  EXPECT_FALSE(liveness->reachable);
  EXPECT_GE(liveness->consecutive_misses, static_cast<uint32_t>(kMisses));

  device = StartLibcoapDevice(port);
  ASSERT_TRUE(WaitForStatus(id, events::DeviceStatus::kConnected, milliseconds(5000)))
      << gateway_.Logs();
  record = gateway_.RdRecord(id);
  ASSERT_TRUE(record.has_value());
  EXPECT_EQ(record->status, events::DeviceStatus::kConnected);
}

TEST_F(PingerServiceTest, ADeviceThatIsDownAtStartIsDisconnectedOnce) {
  const uint16_t port = FreeUdpPort();  // nothing listens: ICMP port unreachable
  const std::string id = gateway_.Register("never-up", "coap://127.0.0.1:" + std::to_string(port));
  ASSERT_FALSE(id.empty());
  ASSERT_NE(gateway_.StartService("coapgw-pinger", "pinger", PingSettings()), nullptr);
  ASSERT_TRUE(WaitForStatus(id, events::DeviceStatus::kDisconnected, milliseconds(5000)))
      << gateway_.Logs();
  // Once the RD agrees, further misses publish nothing: wait for a few more misses.
  const auto misses = [&] {
    const std::string log = gateway_.service()->Stderr();
    size_t count = 0;
    for (size_t at = log.find("no pong device_id=" + id); at != std::string::npos;
         at = log.find("no pong device_id=" + id, at + 1)) {
      ++count;
    }
    return count;
  };
  const size_t seen = misses();
  ASSERT_TRUE(WaitUntil([&] { return misses() >= seen + 3; }, milliseconds(5000)));
  size_t verdicts = 0;
  while (gateway_.WaitFor(
      events::DeviceLiveness::kTopic,
      [&](const bus::Message& message) {
        auto liveness = events::DecodeDeviceLiveness(message.data());
        return liveness.ok() && liveness->device_id == id;
      },
      milliseconds(0))) {
    ++verdicts;
  }
  EXPECT_GE(verdicts, 1u);
  EXPECT_LE(verdicts, 2u) << "a verdict per miss after the RD agreed";
}

TEST_F(PingerServiceTest, DevicesSeenAliveOnTheBusAreNotPinged) {
  RawDevice device(RawDevice::Mode::kReset);  // answers pings with RST and counts them
  const std::string id = gateway_.Register("busy", device.base());
  ASSERT_FALSE(id.empty());
  ASSERT_NE(gateway_.StartService("coapgw-pinger", "pinger", PingSettings()), nullptr);
  ASSERT_TRUE(WaitUntil([&] { return device.received() > 0; }, milliseconds(5000)));
  // What the observer and the executer publish when the device answers them, alternately.
  int sent = 0;
  const auto prove = [&] {
    if (sent++ % 2 == 0) {
      events::ObservedData data;
      data.device_id = id;
      data.service = "GET /temp";
      data.path = "/temp";
      data.code = "2.05";
      data.payload = {"21.5", events::PayloadEncoding::kText};
      data.observed = true;
      data.time = std::chrono::system_clock::now();
      return gateway_.Publish(events::ObservedData::kTopic, events::Encode(data));
    }
    events::CommandResult result;
    result.command_id = "c" + std::to_string(sent);
    result.device_id = id;
    result.code = "2.04";
    return gateway_.Publish(events::CommandResult::kTopic, events::Encode(result));
  };
  // A proof every 50 ms for `duration`, each followed by a look for what must not come: a
  // liveness verdict about the device.
  const auto keep_proving = [&](milliseconds duration) {
    const auto end = std::chrono::steady_clock::now() + duration;
    while (std::chrono::steady_clock::now() < end) {
      ASSERT_TRUE(prove());
      ASSERT_FALSE(gateway_.WaitFor(
          events::DeviceLiveness::kTopic,
          [&](const bus::Message& message) {
            auto liveness = events::DecodeDeviceLiveness(message.data());
            return liveness.ok() && liveness->device_id == id;
          },
          milliseconds(50)));
    }
  };
  keep_proving(kInterval * 2);  // the pinger's subscription settles; a ping may slip through
  const size_t pinged = device.received();
  keep_proving(kInterval * 3);
  EXPECT_EQ(device.received(), pinged) << "pinged although proven alive";
  EXPECT_EQ(HttpGet(gateway_.service_http_port(), "/metrics").find("coapgw_pinger_skipped_total 0"),
            std::string::npos);
  // Without proofs, pings resume.
  EXPECT_TRUE(WaitUntil([&] { return device.received() > pinged; }, kInterval * 4));
}

TEST_F(PingerServiceTest, OperationsEndpointsAndACleanStop) {
  ASSERT_NE(gateway_.StartService("coapgw-pinger", "pinger", PingSettings()), nullptr);
  EXPECT_NE(HttpGet(gateway_.service_http_port(), "/healthz").find("200"), std::string::npos);
  EXPECT_NE(HttpGet(gateway_.service_http_port(), "/readyz").find("200"), std::string::npos);
  const std::string metrics = HttpGet(gateway_.service_http_port(), "/metrics");
  for (const char* name : {"coapgw_pinger_pings_total", "coapgw_pinger_misses_total",
                           "coapgw_pinger_devices", "coapgw_pinger_liveness_total"}) {
    EXPECT_NE(metrics.find(name), std::string::npos) << name;
  }
  const auto code = gateway_.service()->Stop(SIGTERM, milliseconds(5000));
  ASSERT_TRUE(code.has_value()) << "did not stop within 5 s";
  EXPECT_EQ(*code, 0);
}

TEST(PingerBinaryTest, HelpVersionAndBadSettings) {
  const std::string binary = BinaryPath("coapgw-pinger");
  const CommandOutput help = RunCommand(binary + " --help");
  EXPECT_EQ(help.exit_code, 0);
  for (const char* setting : {"COAPGW_PING_INTERVAL", "COAPGW_PING_TIMEOUT", "COAPGW_PING_MISSES",
                              "COAPGW_PING_MAX_IN_FLIGHT", "COAPGW_PING_SOURCE", "COAPGW_RD_URI",
                              "COAPGW_BUS_PUB", "COAPGW_DTLS_PSK_FILE"}) {
    EXPECT_NE(help.text.find(setting), std::string::npos) << setting;
  }
  const CommandOutput version = RunCommand(binary + " --version");
  EXPECT_EQ(version.exit_code, 0);
  EXPECT_NE(version.text.find("coapgw-pinger"), std::string::npos);
  for (const char* bad :
       {"--ping-interval=1s --ping-timeout=1s", "--ping-misses=0", "--ping-interval=often",
        "--rd-uri=ftp://x", "--ping-source=localhost:0", "--bus-sub=tcp://x"}) {
    ExpectBadSetting(binary + " " + bad, "coapgw-pinger: COAPGW_");
  }
}

}  // namespace
}  // namespace coapgw::test
