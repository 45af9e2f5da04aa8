// coapgw-executer as a process: the real binary with the real coapgw-bus and coapgw-rd (on a
// fresh PostgreSQL database), commands published on the bus by the test, devices on loopback:
// libcoap's coap-server-notls as an independent device, in-test coap::Servers (echo, DTLS) and
// raw UDP sockets (silent).

#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "coapgw/events/codec.hpp"
#include "coapgw/test/command.hpp"
#include "coapgw/test/http.hpp"
#include "coapgw/test/process.hpp"
#include "coapgw/test/wait.hpp"
#include "command_testing.hpp"
#include "echo_device.hpp"
#include "gateway_harness.hpp"
#include "raw_device.hpp"

namespace coapgw::test {
namespace {

constexpr milliseconds kResultWait{5000};

class ExecuterServiceTest : public testing::Test {
 protected:
  void SetUp() override {
    std::string error;
    ASSERT_TRUE(gateway_.Start(&error)) << error;
  }

  // Starts the executer with `extra` settings; it is ready once it has the RD's snapshot.
  void StartExecuter(const std::map<std::string, std::string>& extra = {}) {
    ASSERT_NE(gateway_.StartService("coapgw-executer", "executer", extra), nullptr);
  }

  void Send(const events::Command& command) {
    ASSERT_TRUE(gateway_.Publish(events::Command::kTopic, events::Encode(command)));
  }

  std::optional<events::CommandResult> ResultOf(const std::string& command_id,
                                                milliseconds wait = kResultWait) {
    auto message = gateway_.WaitFor(
        events::CommandResult::kTopic,
        [&](const bus::Message& candidate) {
          auto result = events::DecodeCommandResult(candidate.data());
          return result.ok() && result->command_id == command_id;
        },
        wait);
    if (!message) {
      return std::nullopt;
    }
    auto result = events::DecodeCommandResult(message->data());
    return result.ok() ? std::optional<events::CommandResult>(*result) : std::nullopt;
  }

  // Sends `command` and returns its result (a test failure and nullopt when none came).
  std::optional<events::CommandResult> Execute(const events::Command& command) {
    Send(command);
    auto result = ResultOf(command.command_id);
    EXPECT_TRUE(result) << "no result for " << command.command_id << "\n" << gateway_.Logs();
    return result;
  }

  std::string CodeOf(const events::Command& command) {
    auto result = Execute(command);
    return result ? result->code : "<none>";
  }

  // Probes with commands whose deadline has passed (they never reach the device) until the
  // executer answers `expected` for `device_id` instead of something else: its bus route works
  // and its mirror has the device in that state.
  bool WaitForExecuter(const std::string& device_id, std::string_view expected) {
    int probe = 0;
    return WaitUntil(
        [&] {
          const std::string id = "probe-" + device_id + "-" + std::to_string(probe++);
          Send(TestCommand(id, device_id, events::Method::kGet, "/", {}, milliseconds(-1000)));
          auto result = ResultOf(id, milliseconds(200));
          return result && result->code == expected;
        },
        milliseconds(10'000));
  }

  // Registers `ep` at `base` and waits until the executer knows it; returns the device id.
  std::string RegisterKnown(const std::string& ep, const std::string& base) {
    const std::string id = gateway_.Register(ep, base);
    EXPECT_TRUE(WaitForExecuter(id, events::kCodeTimeout)) << gateway_.Logs();
    return id;
  }

  GatewayHarness gateway_;
};

TEST_F(ExecuterServiceTest, CommandsRoundTripAgainstLibcoapServer) {
  // coap-server-notls cannot bind port 0 and name it: a port below the ephemeral range, which
  // no service binding port 0 can take first.
  const uint16_t port = StableUdpPort();
  // -d 10: PUT creates resources (2.01) that DELETE removes (2.02).
  Process server(
      {"/usr/bin/coap-server-notls", "-A", "127.0.0.1", "-p", std::to_string(port), "-d", "10"});
  ASSERT_TRUE(gateway_.WaitForDevice(port)) << "coap-server-notls does not answer";
  StartExecuter();
  const std::string id = RegisterKnown("libcoap", "coap://127.0.0.1:" + std::to_string(port));

  auto root = Execute(TestCommand("get-root", id, events::Method::kGet, "/"));
  ASSERT_TRUE(root);
  EXPECT_EQ(root->code, "2.05");
  EXPECT_NE(root->payload.data.find("libcoap"), std::string::npos) << root->payload.data;
  EXPECT_EQ(root->device_id, id);

  EXPECT_EQ(CodeOf(TestCommand("put", id, events::Method::kPut, "/dyn", "hi")), "2.01");
  auto get = Execute(TestCommand("get", id, events::Method::kGet, "/dyn"));
  ASSERT_TRUE(get);
  EXPECT_EQ(get->code, "2.05");
  EXPECT_EQ(get->payload.data, "hi");
  EXPECT_EQ(CodeOf(TestCommand("delete", id, events::Method::kDelete, "/dyn")), "2.02");
  EXPECT_EQ(CodeOf(TestCommand("get-time", id, events::Method::kGet, "/time")), "2.05");
  // The device's own error codes are results too.
  EXPECT_EQ(CodeOf(TestCommand("post", id, events::Method::kPost, "/example_data", "x")), "4.05");
  EXPECT_EQ(CodeOf(TestCommand("deleted", id, events::Method::kGet, "/dyn")), "4.04");
}

TEST_F(ExecuterServiceTest, PostRoundTripsWithAnEchoDevice) {
  EchoDevice device;
  StartExecuter();
  const std::string id = RegisterKnown("echo", device.base());
  events::Command command = TestCommand("post", id, events::Method::kPost, "/echo", "{\"a\":1}");
  command.content_format = 50;
  auto result = Execute(command);
  ASSERT_TRUE(result);
  EXPECT_EQ(result->code, "2.04");
  EXPECT_EQ(result->content_format, 50);
  EXPECT_EQ(result->payload.data, "{\"a\":1}");
  EXPECT_EQ(result->payload.encoding, events::PayloadEncoding::kText);
}

TEST_F(ExecuterServiceTest, LargePayloadsTravelBlockWiseBothWays) {
  EchoDevice device;
  StartExecuter();
  const std::string id = RegisterKnown("echo", device.base());
  std::string bytes(96 * 1024, '\0');
  for (size_t i = 0; i < bytes.size(); ++i) {
    bytes[i] = static_cast<char>((i * 131 + 7) % 256);
  }
  events::Command command = TestCommand("big", id, events::Method::kPut, "/echo");
  command.content_format = 42;
  command.payload = events::EncodePayload(bytes, 42);
  auto result = Execute(command);
  ASSERT_TRUE(result);
  ASSERT_EQ(result->code, "2.04") << result->detail.value_or("");
  auto echoed = events::DecodePayload(result->payload);
  ASSERT_TRUE(echoed.ok());
  EXPECT_EQ(echoed->size(), bytes.size());
  EXPECT_TRUE(*echoed == bytes);
}

// COAPGW_EXECUTER_MAX_BODY bounds command bodies, not the RD's snapshot the executer's device
// mirror fetches (about 1 KiB per device: 1,000 simulated devices exceed the default 1 MiB).
TEST_F(ExecuterServiceTest, TheBodyLimitBoundsCommandsButNotTheRdSnapshot) {
  EchoDevice device;
  for (int i = 0; i < 20; ++i) {
    gateway_.Register("filler-" + std::to_string(i),
                      "coap://127.0.0.1:" + std::to_string(20000 + i));
  }
  const std::string id = gateway_.Register("echo", device.base());
  ASSERT_GE(gateway_.RdDevices().size(), 21u);  // a snapshot of well above 1,024 bytes
  StartExecuter({{"COAPGW_EXECUTER_MAX_BODY", "1024"}});
  ASSERT_TRUE(WaitForExecuter(id, events::kCodeTimeout)) << gateway_.Logs();
  events::Command fits = TestCommand("fits", id, events::Method::kGet, "/big");
  fits.query = "n=1024";
  EXPECT_EQ(CodeOf(fits), "2.05");
  events::Command too_big = TestCommand("too-big", id, events::Method::kGet, "/big");
  too_big.query = "n=1025";
  EXPECT_EQ(CodeOf(too_big), events::kCodeTooLarge);
}

TEST_F(ExecuterServiceTest, ADeviceGetsItsCommandsOneAtATimeInOrder) {
  EchoDevice device;
  StartExecuter({{"COAPGW_EXECUTER_NSTART", "1"}});
  const std::string id = RegisterKnown("ordered", device.base());
  std::vector<std::string> expected;
  for (int i = 0; i < 20; ++i) {
    expected.push_back(std::to_string(i));
    Send(TestCommand("seq-" + expected.back(), id, events::Method::kPut, "/seq", expected.back()));
  }
  for (const auto& n : expected) {
    auto result = ResultOf("seq-" + n);
    ASSERT_TRUE(result) << "seq-" << n << "\n" << gateway_.Logs();
    EXPECT_EQ(result->code, "2.04");
  }
  EXPECT_EQ(device.sequence(), expected);
  EXPECT_EQ(device.max_concurrent(), 1);
}

TEST_F(ExecuterServiceTest, ASilentDeviceTimesOutAndItsLateAnswerIsDropped) {
  RawDevice silent(RawDevice::Mode::kSilent);
  EchoDevice healthy;
  StartExecuter();
  const std::string silent_id = RegisterKnown("silent", silent.base());
  const std::string healthy_id = RegisterKnown("healthy", healthy.base());
  Send(TestCommand("slow", silent_id, events::Method::kGet, "/x", {}, milliseconds(800)));
  auto result = ResultOf("slow");
  ASSERT_TRUE(result) << gateway_.Logs();
  EXPECT_EQ(result->code, events::kCodeTimeout);
  EXPECT_LT(result->duration.count(), 1500);
  ASSERT_TRUE(silent.AnswerFirst("late")) << "the request reached the device";
  // The executer goes on serving; the late answer produced nothing.
  EXPECT_EQ(CodeOf(TestCommand("after", healthy_id, events::Method::kGet, "/echo")), "2.05");
  EXPECT_FALSE(ResultOf("slow", milliseconds(200)).has_value());
}

TEST_F(ExecuterServiceTest, UnknownAndDisconnectedDevicesAreResults) {
  EchoDevice device;
  StartExecuter();
  EXPECT_TRUE(WaitForExecuter("no-such-device", events::kCodeUnknownDevice));
  const std::string id = RegisterKnown("flaky", device.base());
  // What the pinger says after its misses: the RD sets status 0 and announces it.
  events::DeviceLiveness liveness;
  liveness.device_id = id;
  liveness.reachable = false;
  liveness.consecutive_misses = 2;
  liveness.checked_at = std::chrono::system_clock::now();
  ASSERT_TRUE(gateway_.Publish(events::DeviceLiveness::kTopic, events::Encode(liveness)));
  ASSERT_TRUE(gateway_.WaitFor(
      events::DeviceStatusChanged::kTopic,
      [&](const bus::Message& message) {
        auto changed = events::DecodeDeviceStatusChanged(message.data());
        return changed.ok() && changed->device.device_id == id &&
               changed->device.status == events::DeviceStatus::kDisconnected;
      },
      kResultWait))
      << gateway_.Logs();
  EXPECT_TRUE(WaitForExecuter(id, events::kCodeDeviceDisconnected));
  EXPECT_EQ(CodeOf(TestCommand("off", id, events::Method::kGet, "/echo")),
            events::kCodeDeviceDisconnected);
  EXPECT_EQ(device.requests(), 0);
}

TEST_F(ExecuterServiceTest, AMovedDeviceIsReachedAtItsNewAddress) {
  EchoDevice before;
  EchoDevice after;
  StartExecuter();
  const std::string id = RegisterKnown("mover", before.base());
  EXPECT_EQ(CodeOf(TestCommand("at-old", id, events::Method::kGet, "/echo")), "2.05");
  EXPECT_EQ(before.requests(), 1);
  ASSERT_EQ(gateway_.Register("mover", after.base()), id) << "re-registration keeps the id";
  int n = 0;
  ASSERT_TRUE(WaitUntil(
      [&] {
        (void)CodeOf(TestCommand("move-" + std::to_string(n++), id, events::Method::kGet, "/echo"));
        return after.requests() > 0;
      },
      milliseconds(5000)));
  const int old_count = before.requests();
  EXPECT_EQ(CodeOf(TestCommand("at-new", id, events::Method::kGet, "/echo")), "2.05");
  EXPECT_EQ(before.requests(), old_count) << "nothing goes to the old address any more";
}

TEST_F(ExecuterServiceTest, CoapsDevicesAreReachedOverDtlsWithKeysFromTheKeyFile) {
  EchoDeviceOptions options;
  options.dtls_identity_key = std::make_pair("gateway", "s3cret-key");
  EchoDevice device(options);
  char path[] = "/tmp/coapgw-psk-XXXXXX";
  const int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  close(fd);
  std::ofstream(path) << "# test keys\nother,wrong,10.0.0.*\ngateway,s3cret-key,127.0.0.*\n";
  StartExecuter({{"COAPGW_DTLS_PSK_FILE", path}});
  const std::string id = RegisterKnown("secure", device.base());
  auto result = Execute(TestCommand("secure-get", id, events::Method::kGet, "/echo"));
  unlink(path);
  ASSERT_TRUE(result);
  EXPECT_EQ(result->code, "2.05") << result->detail.value_or("");
  EXPECT_EQ(result->payload.data, "hello");
}

TEST_F(ExecuterServiceTest, OperationsEndpointsAndACleanStop) {
  StartExecuter();
  EXPECT_NE(HttpGet(gateway_.service_http_port(), "/healthz").find("200"), std::string::npos);
  EXPECT_NE(HttpGet(gateway_.service_http_port(), "/readyz").find("200"), std::string::npos);
  EXPECT_TRUE(WaitForExecuter("nobody", events::kCodeUnknownDevice));
  ASSERT_TRUE(WaitUntil(
      [&] {
        return HttpGet(gateway_.service_http_port(), "/metrics")
                   .find("coapgw_executer_results_total{code=\"unknown-device\"} ") !=
               std::string::npos;
      },
      milliseconds(3000)));
  const std::string metrics = HttpGet(gateway_.service_http_port(), "/metrics");
  EXPECT_NE(metrics.find("coapgw_executer_commands_total"), std::string::npos);
  EXPECT_NE(metrics.find("coapgw_executer_in_flight"), std::string::npos);
  const auto code = gateway_.service()->Stop(SIGTERM, milliseconds(5000));
  ASSERT_TRUE(code.has_value()) << "did not stop within 5 s";
  EXPECT_EQ(*code, 0);
  EXPECT_NE(gateway_.service()->Stderr().find("executer: stopping"), std::string::npos);
}

TEST(ExecuterBinaryTest, HelpVersionAndBadSettings) {
  const std::string binary = BinaryPath("coapgw-executer");
  const CommandOutput help = RunCommand(binary + " --help");
  EXPECT_EQ(help.exit_code, 0);
  for (const char* setting :
       {"COAPGW_BUS_PUB", "COAPGW_BUS_SUB", "COAPGW_RD_URI", "COAPGW_COMMAND_TIMEOUT",
        "COAPGW_EXECUTER_NSTART", "COAPGW_EXECUTER_MAX_IN_FLIGHT", "COAPGW_DTLS_PSK_FILE",
        "COAPGW_HTTP_LISTEN"}) {
    EXPECT_NE(help.text.find(setting), std::string::npos) << setting;
  }
  const CommandOutput version = RunCommand(binary + " --version");
  EXPECT_EQ(version.exit_code, 0);
  EXPECT_NE(version.text.find("coapgw-executer"), std::string::npos);
  for (const char* bad :
       {"--executer-nstart=0", "--rd-uri=http://x", "--command-timeout=soon",
        "--dtls-psk-file=/nonexistent/keys", "--executer-block-size=100", "--bus-pub=nowhere"}) {
    ExpectBadSetting(binary + " " + bad, "coapgw-executer: COAPGW_");
  }
}

}  // namespace
}  // namespace coapgw::test
