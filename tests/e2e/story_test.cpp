// The gateway's story end to end, one step per test, each on a fresh stack of real processes
// (tests/support Stack): real PostgreSQL, coapgw-bus, coapgw-rd, coapgw-ws-connector,
// coapgw-executer, coapgw-pinger, coapgw-observer, coapgw-platform-sim and coapgw-device-sim.
// Each step starts from what the earlier steps established and checks it again on the way.

#include <algorithm>
#include <chrono>

#include <gtest/gtest.h>

#include "coapgw/common/time_format.hpp"
#include "coapgw/test/wait.hpp"
#include "coapgw/ws/platform_protocol.hpp"
#include "e2e_testing.hpp"

namespace coapgw::e2e {
namespace {

using std::chrono::milliseconds;
using test::WaitUntil;

constexpr milliseconds kWait{20'000};
constexpr char kType[] = "iot#e2e-device";

class StoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string error;
    ASSERT_TRUE(stack_.Start(&error)) << "starting the stack: " << error;
  }

  void TearDown() override {
    std::string error;
    EXPECT_TRUE(stack_.StopAll(&error)) << "stopping the stack (SIGTERM): " << error;
  }

  // Step 1: every simulated device is on the platform, listened to and committed to the
  // gateway, as the contract maps it; returns their platform ids by endpoint name.
  std::map<std::string, std::string> ExpectDevicesOnPlatform(const std::string& step) {
    std::map<std::string, std::string> ids;
    std::vector<ws::platform::HashedDevice> hashed;
    for (int i = 0; i < 3; ++i) {
      const std::string ep = "e2e-" + std::to_string(i);
      const auto record = RdDevice(stack_, ep);
      EXPECT_TRUE(record) << Failure(stack_, step, "the RD has no record of " + ep,
                                     {Part::kRd, Part::kDeviceSim});
      if (!record) {
        return {};
      }
      ids[ep] = record->device_id;
      hashed.push_back({record->device_id, kType, ep, {}});
      std::optional<PlatformDevice> device;
      EXPECT_TRUE(WaitUntil(
          [&] {
            device = PlatformDeviceNamed(stack_, ep);
            return device && device->listened;
          },
          kWait))
          << Failure(stack_, step, ep + " is not listened to on the platform",
                     {Part::kWsConnector, Part::kPlatformSim});
      if (!device) {
        return {};
      }
      EXPECT_EQ(device->uri, record->device_id) << Failure(stack_, step, "platform id of " + ep);
      EXPECT_EQ(device->iot_type, kType) << Failure(stack_, step, "platform type of " + ep);
      EXPECT_TRUE(device->tags.empty()) << Failure(stack_, step, "tags of " + ep);
    }
    const std::string hash = ws::platform::GatewayHashOf(hashed);
    std::optional<PlatformGateway> gateway;
    EXPECT_TRUE(WaitUntil(
        [&] {
          gateway = Gateway(stack_);
          return gateway && gateway->connected && gateway->hash == hash;
        },
        kWait))
        << Failure(stack_, step,
                   "the gateway's committed hash is not that of the 3 devices (" + hash + "), " +
                       "it is " + (gateway ? gateway->hash : std::string("(no gateway)")),
                   {Part::kWsConnector, Part::kPlatformSim});
    if (gateway) {
      std::vector<std::string> expected;
      for (const auto& device : PlatformDevices(stack_)) {
        if (ids.count(device.name) != 0) {
          expected.push_back(device.id);
        }
      }
      std::sort(expected.begin(), expected.end());
      std::sort(gateway->devices.begin(), gateway->devices.end());
      EXPECT_EQ(gateway->devices, expected) << Failure(stack_, step, "the gateway's devices");
    }
    return ids;
  }

  // The handlers of the requests the gateway sent for device `uri` after `after` (payload is the
  // uri, or an object with that uri), and commits.
  std::vector<std::string> HandlersFor(const std::string& uri, uint64_t after) {
    std::vector<std::string> handlers;
    for (const auto& request : PlatformRequests(stack_, after)) {
      if (request.handler == "commit" || request.payload == "\"" + uri + "\"" ||
          request.payload.find("\"uri\":\"" + uri + "\"") != std::string::npos) {
        handlers.push_back(request.handler);
      }
    }
    return handlers;
  }

  // True when the gateway sent a request with each of `wanted` for device `uri` (commits: any)
  // after `after`.
  bool Sent(const std::string& uri, uint64_t after, std::initializer_list<const char*> wanted) {
    const auto handlers = HandlersFor(uri, after);
    return std::all_of(wanted.begin(), wanted.end(), [&](const char* handler) {
      return std::find(handlers.begin(), handlers.end(), handler) != handlers.end();
    });
  }

  // Waits for the platform's response to task `task_id`; its payload as a document.
  rapidjson::Document CommandResponse(const std::string& task_id) {
    const auto response =
        stack_.PlatformGet("/api/responses?task_id=" + task_id + "&wait_ms=15000");
    rapidjson::Document payload;
    if (response.IsObject() && response.HasMember("payload")) {
      payload.CopyFrom(response["payload"], payload.GetAllocator());
    }
    return payload;
  }

  test::Stack stack_;
};

// Step 1: a device registers with the RD → the platform gets put + commit.
TEST_F(StoryTest, ARegisteredDeviceAppearsOnThePlatform) {
  const auto ids = ExpectDevicesOnPlatform("1 (registration → platform)");
  ASSERT_EQ(ids.size(), 3U);
  const auto puts = PlatformRequests(stack_);
  for (const auto& [ep, id] : ids) {
    const std::string expected = R"({"uri":")" + id + R"(","name":")" + ep + R"(","iot_type":")" +
                                 std::string(kType) + R"(","tags":[]})";
    EXPECT_TRUE(std::any_of(puts.begin(), puts.end(),
                            [&](const PlatformRequest& request) {
                              return request.handler == "put" && request.payload == expected;
                            }))
        << Failure(stack_, "1 (registration → platform)", "no put " + expected,
                   {Part::kWsConnector});
  }
  EXPECT_TRUE(std::any_of(puts.begin(), puts.end(), [](const PlatformRequest& request) {
    return request.handler == "commit";
  })) << Failure(stack_, "1 (registration → platform)", "no commit", {Part::kWsConnector});
}

// Step 2: sensor values → observer → bus → ws-connector → platform `event`s in the contract's
// format: service "GET <path>", metadata {content_format, code, observed, time}, data as text.
TEST_F(StoryTest, DeviceDataArrivesAsEventsInTheContractsFormat) {
  const std::string step = "2 (data → platform events)";
  const auto ids = ExpectDevicesOnPlatform(step);
  ASSERT_EQ(ids.size(), 3U);
  // e2e-1 announces obs (observed); e2e-0 does not (polled): COAPGW_DEVICE_SIM_OBS_PERCENT 60.
  struct Expected {
    std::string ep;
    std::string service;
    int content_format;
    bool observed;
  };
  const std::vector<Expected> expected = {{"e2e-1", "GET /sensors/temp", 0, true},
                                          {"e2e-1", "GET /sensors/hum", 110, true},
                                          {"e2e-0", "GET /sensors/temp", 0, false},
                                          {"e2e-0", "GET /sensors/hum", 110, false}};
  for (const auto& want : expected) {
    const std::string uri = ids.at(want.ep);
    std::optional<PlatformEvent> found;
    ASSERT_TRUE(WaitUntil(
        [&] {
          for (auto& event : PlatformEvents(stack_)) {
            if (event.device_uri == uri && event.service_uri == want.service) {
              found = event;
              return true;
            }
          }
          return false;
        },
        kWait))
        << Failure(stack_, step, "no event " + want.service + " of " + want.ep,
                   {Part::kObserver, Part::kWsConnector, Part::kDeviceSim});
    EXPECT_TRUE(found->accepted) << Failure(stack_, step, "refused: " + found->error);
    const auto metadata = Parse(found->metadata);
    ASSERT_TRUE(metadata.IsObject()) << Failure(stack_, step, "metadata " + found->metadata);
    ASSERT_TRUE(metadata.HasMember("content_format")) << Failure(
        stack_, step, want.ep + " " + want.service + ": no content_format in " + found->metadata,
        {Part::kObserver});
    EXPECT_EQ(metadata["content_format"].GetInt(), want.content_format) << found->metadata;
    ASSERT_TRUE(metadata.HasMember("code") && metadata["code"].IsString()) << found->metadata;
    EXPECT_STREQ(metadata["code"].GetString(), "2.05");
    ASSERT_TRUE(metadata.HasMember("observed") && metadata["observed"].IsBool()) << found->metadata;
    EXPECT_EQ(metadata["observed"].GetBool(), want.observed) << want.ep << " " << found->metadata;
    ASSERT_TRUE(metadata.HasMember("time") && metadata["time"].IsString()) << found->metadata;
    EXPECT_TRUE(ParseRfc3339(metadata["time"].GetString()).has_value()) << found->metadata;
    if (want.content_format == 0) {
      EXPECT_TRUE(std::strtod(found->data.c_str(), nullptr) != 0.0) << found->data;
    } else {
      const auto senml = Parse(found->data);
      ASSERT_TRUE(senml.IsArray() && senml.Size() == 1) << found->data;
      EXPECT_STREQ(senml[0]["bn"].GetString(), (want.ep + "/").c_str());
    }
  }
}

// Step 3: a platform command reaches the device (PUT, then GET of the actuator) and its response
// returns to the platform with the command's task id.
TEST_F(StoryTest, ACommandReachesTheDeviceAndItsResponseReturns) {
  const std::string step = "3 (platform command → device → response)";
  const auto ids = ExpectDevicesOnPlatform(step);
  ASSERT_EQ(ids.size(), 3U);
  const std::string uri = ids.at("e2e-2");

  const auto put = stack_.PlatformPost(
      "/api/command",
      R"({"device_uri":")" + uri +
          R"(","service_url":"PUT /actuators/led","data":"on","task_id":"e2e-put"})");
  ASSERT_EQ(put.status, 200) << put.body;
  auto response = CommandResponse("e2e-put");
  ASSERT_TRUE(response.IsObject())
      << Failure(stack_, step, "no response to the PUT", {Part::kWsConnector, Part::kExecuter});
  ASSERT_TRUE(response.HasMember("task_id") && response["task_id"] == "e2e-put")
      << Failure(stack_, step, "the response does not echo the command's task_id");
  ASSERT_TRUE(response.HasMember("device_url") && response["device_url"] == uri.c_str());
  const auto& put_parts = response["protocol_parts"];
  ASSERT_TRUE(put_parts.IsArray() && put_parts.Size() == 2);
  EXPECT_STREQ(put_parts[0]["value"].GetString(), R"({"code":"2.04","content_format":0})");
  EXPECT_STREQ(put_parts[1]["value"].GetString(), "on");
  const auto device = stack_.DeviceSimGet("/devices/e2e-2");
  ASSERT_TRUE(device.IsObject());
  EXPECT_EQ(device["led"], "on") << Failure(stack_, step, "the device's LED did not turn on",
                                            {Part::kDeviceSim, Part::kExecuter});

  const auto get = stack_.PlatformPost(
      "/api/command",
      R"({"device_uri":")" + uri + R"(","service_url":"GET /actuators/led","task_id":"e2e-get"})");
  ASSERT_EQ(get.status, 200) << get.body;
  response = CommandResponse("e2e-get");
  ASSERT_TRUE(response.IsObject())
      << Failure(stack_, step, "no response to the GET", {Part::kWsConnector, Part::kExecuter});
  ASSERT_TRUE(response.HasMember("task_id") && response["task_id"] == "e2e-get");
  const auto& get_parts = response["protocol_parts"];
  ASSERT_TRUE(get_parts.IsArray() && get_parts.Size() == 2);
  EXPECT_STREQ(get_parts[0]["value"].GetString(), R"({"code":"2.05","content_format":0})");
  EXPECT_STREQ(get_parts[1]["value"].GetString(), "on");
}

// Step 4: the device loses power → pinger → RD status 0 → platform `disconnect`; it comes back →
// RD status 1 → `put` + `commit`.
TEST_F(StoryTest, AnOfflineDeviceIsDisconnectedAndReconnectedWhenBack) {
  const std::string step = "4 (offline → disconnect, online → connected)";
  const auto ids = ExpectDevicesOnPlatform(step);
  ASSERT_EQ(ids.size(), 3U);
  const std::string uri = ids.at("e2e-2");
  const uint64_t before = PlatformLastSeq(stack_);

  ASSERT_EQ(stack_.DeviceAction("e2e-2", "offline").status, 200);
  ASSERT_TRUE(WaitUntil(
      [&] {
        const auto record = RdDevice(stack_, "e2e-2");
        return record && record->status == events::DeviceStatus::kDisconnected;
      },
      kWait))
      << Failure(stack_, step, "the RD did not set status 0", {Part::kPinger, Part::kRd});
  ASSERT_TRUE(WaitUntil(
      [&] {
        const auto device = PlatformDeviceNamed(stack_, "e2e-2");
        return device && !device->listened;
      },
      kWait))
      << Failure(stack_, step, "the platform still listens to e2e-2",
                 {Part::kWsConnector, Part::kPlatformSim});
  EXPECT_TRUE(WaitUntil(
      [&] {
        return Sent(uri, before, {"disconnect", "commit"});
      },
      kWait))
      << Failure(stack_, step, "no disconnect and commit sent", {Part::kWsConnector});
  EXPECT_FALSE(Sent(uri, before, {"delete"}))
      << Failure(stack_, step, "a delete was sent for an offline device", {Part::kWsConnector});
  // The others stay connected.
  for (const std::string ep : {"e2e-0", "e2e-1"}) {
    const auto device = PlatformDeviceNamed(stack_, ep);
    EXPECT_TRUE(device && device->listened) << Failure(stack_, step, ep + " was disconnected too");
  }

  const uint64_t back = PlatformLastSeq(stack_);
  ASSERT_EQ(stack_.DeviceAction("e2e-2", "online").status, 200);
  ASSERT_TRUE(WaitUntil(
      [&] {
        const auto device = PlatformDeviceNamed(stack_, "e2e-2");
        const auto record = RdDevice(stack_, "e2e-2");
        return device && device->listened && record &&
               record->status == events::DeviceStatus::kConnected;
      },
      kWait))
      << Failure(stack_, step, "e2e-2 is not connected again",
                 {Part::kRd, Part::kPinger, Part::kWsConnector});
  EXPECT_TRUE(WaitUntil(
      [&] {
        return Sent(uri, back, {"put", "commit"});
      },
      kWait))
      << Failure(stack_, step, "no put and commit after coming back", {Part::kWsConnector});
  EXPECT_EQ(RdDevice(stack_, "e2e-2")->device_id, uri) << "the device id changed";
  // Its data flows again.
  const uint64_t resumed = PlatformLastSeq(stack_);
  EXPECT_TRUE(WaitUntil(
      [&] {
        for (const auto& event : PlatformEvents(stack_, resumed)) {
          if (event.device_uri == uri && event.accepted) {
            return true;
          }
        }
        return false;
      },
      kWait))
      << Failure(stack_, step, "no data from e2e-2 after it came back",
                 {Part::kObserver, Part::kWsConnector});
}

// Step 5: the device deletes its registration → `delete` (and `commit`) on the platform.
TEST_F(StoryTest, ADeletedRegistrationIsDeletedOnThePlatform) {
  const std::string step = "5 (deregistration → delete)";
  const auto ids = ExpectDevicesOnPlatform(step);
  ASSERT_EQ(ids.size(), 3U);
  const std::string uri = ids.at("e2e-1");
  const uint64_t before = PlatformLastSeq(stack_);
  ASSERT_EQ(stack_.DeviceAction("e2e-1", "deregister").status, 200);
  ASSERT_TRUE(WaitUntil([&] { return !RdDevice(stack_, "e2e-1"); }, kWait))
      << Failure(stack_, step, "the RD still has e2e-1", {Part::kRd, Part::kDeviceSim});
  ASSERT_TRUE(WaitUntil([&] { return !PlatformDeviceNamed(stack_, "e2e-1"); }, kWait)) << Failure(
      stack_, step, "the platform still has e2e-1", {Part::kWsConnector, Part::kPlatformSim});
  EXPECT_TRUE(WaitUntil(
      [&] {
        return Sent(uri, before, {"delete", "commit"});
      },
      kWait))
      << Failure(stack_, step, "no delete and commit sent", {Part::kWsConnector});
  std::optional<PlatformGateway> gateway;
  EXPECT_TRUE(WaitUntil(
      [&] {
        gateway = Gateway(stack_);
        return gateway && gateway->devices.size() == 2;
      },
      kWait))
      << Failure(stack_, step, "the gateway does not hold exactly the 2 other devices",
                 {Part::kWsConnector});
}

}  // namespace
}  // namespace coapgw::e2e
