// coapgw-observer as a process: the real binary with the real coapgw-bus and coapgw-rd (on a
// fresh PostgreSQL database), libcoap's coap-server-notls as an independent device, and simulated
// devices on loopback (DeviceFarm). Values are checked where the platform side would see them:
// observer.data on the bus.

#include <signal.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "coapgw/test/command.hpp"
#include "coapgw/test/http.hpp"
#include "coapgw/test/process.hpp"
#include "coapgw/test/wait.hpp"
#include "observer_harness.hpp"

namespace coapgw::observer::test {
namespace {

using coapgw::test::BinaryPath;
using coapgw::test::ExpectBadSetting;
using coapgw::test::HttpGet;
using coapgw::test::RunCommand;
using coapgw::test::WaitUntil;
using std::chrono::steady_clock;
using testing::HasSubstr;

constexpr milliseconds kWait{10000};

// The value of the Prometheus sample `name` (with its labels, if any) in a /metrics response;
// -1 if absent.
double Metric(const std::string& metrics, const std::string& name) {
  const size_t at = metrics.find("\n" + name + " ");
  return at == std::string::npos ? -1 : std::stod(metrics.substr(at + name.size() + 2));
}

TEST(ObserverBinaryTest, HelpVersionAndBadSettings) {
  const auto help = RunCommand(BinaryPath("coapgw-observer") + " --help");
  EXPECT_EQ(help.exit_code, 0);
  for (const char* setting :
       {"COAPGW_BUS_PUB", "COAPGW_BUS_SUB", "COAPGW_RD_URI", "COAPGW_POLL_INTERVAL",
        "COAPGW_OBSERVER_FILTER", "COAPGW_OBSERVER_HEARTBEAT_INTERVAL", "COAPGW_HTTP_LISTEN",
        "COAPGW_LOG_LEVEL", "--observer-filter"}) {
    EXPECT_THAT(help.text, HasSubstr(setting));
  }
  const auto version = RunCommand(BinaryPath("coapgw-observer") + " --version");
  EXPECT_EQ(version.exit_code, 0);
  EXPECT_THAT(version.text, HasSubstr("coapgw-observer "));

  const std::string binary = BinaryPath("coapgw-observer");
  ExpectBadSetting(binary + " --poll-interval=soon", "coapgw-observer: COAPGW_POLL_INTERVAL");
  ExpectBadSetting("COAPGW_OBSERVER_FILTER=core.s " + binary,
                   "coapgw-observer: COAPGW_OBSERVER_FILTER: filter term 'core.s'");
  ExpectBadSetting(binary + " --rd-uri=http://x", "coapgw-observer: COAPGW_RD_URI");
  ExpectBadSetting(binary + " --bus-pub=nowhere", "coapgw-observer: COAPGW_BUS_PUB");
  ExpectBadSetting(binary + " --observer-heartbeat-interval=1ms",
                   "coapgw-observer: COAPGW_OBSERVER_HEARTBEAT_INTERVAL: 1ms is outside");
}

class ObserverServiceTest : public testing::Test {
 protected:
  struct Device {
    std::string ep;
    std::string path;
    uint16_t port = 0;
  };

  void SetUp() override {
    std::string error;
    ASSERT_TRUE(stack_.Start(&error)) << error;
  }

  int StartObserver(const std::map<std::string, std::string>& extra = {}) {
    std::string error;
    const int index = stack_.StartObserver(extra, &error);
    EXPECT_GE(index, 0) << error;
    return index;
  }

  // `count` devices "obs<i>" each with an observable resource "/obs<i>/temp", registered.
  std::vector<Device> AddDevices(int count, const std::string& prefix = "obs",
                                 std::optional<uint32_t> max_age = std::nullopt) {
    std::vector<Device> devices;
    for (int i = 0; i < count; ++i) {
      Device device;
      device.ep = prefix + std::to_string(i);
      device.path = "/" + device.ep + "/temp";
      device.port = farm_.AddDevice(device.path, true, max_age);
      EXPECT_NE(stack_.Register(farm_, device.ep, Base(device.port),
                                "<" + device.path + ">;obs;ct=0;rt=temperature"),
                "")
          << device.ep;
      devices.push_back(device);
    }
    return devices;
  }

  static std::string Base(uint16_t port) { return "coap://127.0.0.1:" + std::to_string(port); }

  bool AllObserved(const std::vector<Device>& devices, size_t observers = 1) {
    return std::all_of(devices.begin(), devices.end(), [&](const Device& device) {
      return farm_.Observers(device.path) == observers;
    });
  }

  std::vector<SeenData> DataFor(const std::string& path) {
    std::vector<SeenData> found;
    for (auto& seen : stack_.recorder().Data()) {
      if (seen.data.path == path) {
        found.push_back(std::move(seen));
      }
    }
    return found;
  }

  // True once a value with `payload` of `path` arrived.
  bool WaitForValue(const std::string& path, const std::string& payload,
                    milliseconds timeout = kWait) {
    return WaitUntil(
        [&] {
          const auto seen = DataFor(path);
          return std::any_of(seen.begin(), seen.end(),
                             [&](const SeenData& s) { return s.data.payload.data == payload; });
        },
        timeout);
  }

  std::string Metrics(int observer) {
    return HttpGet(stack_.observer_http_port(observer), "/metrics");
  }

  // Two observers sharing `devices`: the first observes them all, the second joins, and both
  // settle on a split where every device has exactly one observer.
  void StartPair(const std::vector<Device>& devices, int& first, int& second) {
    first = StartObserver();
    ASSERT_GE(first, 0);
    ASSERT_TRUE(WaitUntil([&] { return AllObserved(devices); }, kWait)) << stack_.Logs();
    second = StartObserver();
    ASSERT_GE(second, 0);
    const std::string a = stack_.InstanceId(first);
    const std::string b = stack_.InstanceId(second);
    ASSERT_FALSE(a.empty());
    ASSERT_FALSE(b.empty());
    ASSERT_TRUE(WaitUntil(
        [&] {
          const auto beats = stack_.recorder().Heartbeats();
          return beats.count(a) != 0 && beats.count(b) != 0 && beats.at(b).owned_devices > 0 &&
                 beats.at(a).owned_devices + beats.at(b).owned_devices == devices.size() &&
                 AllObserved(devices);
        },
        kWait))
        << stack_.Logs();
  }

  DeviceFarm farm_;  // outlives the stack: observers deregister from it when they stop
  ObserverStack stack_;
};

TEST_F(ObserverServiceTest, TheTimeOfLibcoapsServerArrivesAsObservedData) {
  // coap-server-notls cannot bind port 0 and name it: a port below the ephemeral range, which
  // no service binding port 0 can take first.
  const uint16_t port = coapgw::test::StableUdpPort();
  coapgw::test::Process clock(
      {"/usr/bin/coap-server-notls", "-A", "127.0.0.1", "-p", std::to_string(port)});
  ASSERT_NE(stack_.Register(farm_, "clock", Base(port), "</time>;obs;ct=0"), "");
  const int observer = StartObserver();
  ASSERT_GE(observer, 0);
  // coap-server-notls notifies /time once a second.
  ASSERT_TRUE(WaitUntil([&] { return DataFor("/time").size() >= 3; }, kWait)) << stack_.Logs();
  const auto device = stack_.recorder().Device("clock");
  ASSERT_TRUE(device);
  for (const auto& seen : DataFor("/time")) {
    EXPECT_EQ(seen.instance, stack_.InstanceId(observer));
    EXPECT_EQ(seen.data.device_id, device->device_id);
    EXPECT_EQ(seen.data.service, "GET /time");
    EXPECT_EQ(seen.data.code, "2.05");
    EXPECT_TRUE(seen.data.observed);
    EXPECT_EQ(seen.data.payload.encoding, events::PayloadEncoding::kText);
    EXPECT_FALSE(seen.data.payload.data.empty());
    EXPECT_LT(std::chrono::system_clock::now() - seen.data.time, std::chrono::seconds(15));
  }
  const auto start = steady_clock::now();
  EXPECT_EQ(stack_.observer(observer).Stop(SIGTERM, milliseconds(5000)), 0);
  EXPECT_LT(steady_clock::now() - start, std::chrono::seconds(5));
}

TEST_F(ObserverServiceTest, ServesHealthReadinessAndMetrics) {
  AddDevices(1);
  const int observer = StartObserver();
  ASSERT_GE(observer, 0);
  const uint16_t http = stack_.observer_http_port(observer);
  EXPECT_THAT(HttpGet(http, "/healthz"), HasSubstr("200"));
  EXPECT_THAT(HttpGet(http, "/readyz"), HasSubstr("200"));
  ASSERT_TRUE(WaitUntil(
      [&] { return Metric(Metrics(observer), "coapgw_observer_observed_resources") == 1; }, kWait));
  const std::string metrics = Metrics(observer);
  for (const char* name :
       {"coapgw_observer_events_total", "coapgw_observer_coalesced_total",
        "coapgw_observer_outbox_pending", "coapgw_observer_owned_devices",
        "coapgw_observer_handed_over_devices_total", "coapgw_observer_taken_over_devices_total"}) {
    EXPECT_GE(Metric(metrics, name), 0) << name;
  }
  EXPECT_EQ(Metric(metrics, "coapgw_observer_known_devices"), 1);
  EXPECT_EQ(Metric(metrics, "coapgw_observer_settled"), 1);
}

TEST_F(ObserverServiceTest, ResourcesThatCannotBeObservedArePolled) {
  const uint16_t plain = farm_.AddDevice("/plain/temp", false);
  ASSERT_NE(stack_.Register(farm_, "plain", Base(plain), "</plain/temp>;ct=0"), "");
  // The link says obs, but the device answers without Observe.
  const uint16_t refusing = farm_.AddDevice("/refusing/temp", false);
  ASSERT_NE(stack_.Register(farm_, "refusing", Base(refusing), "</refusing/temp>;obs"), "");
  const int observer = StartObserver();  // polls every 500 ms
  ASSERT_GE(observer, 0);
  for (const std::string path : {"/plain/temp", "/refusing/temp"}) {
    farm_.Notify(path);  // the value changes; no notification can go out
    ASSERT_TRUE(WaitForValue(path, path + "#1")) << stack_.Logs();
    EXPECT_TRUE(WaitUntil([&] { return DataFor(path).size() >= 3; }, kWait));
    for (const auto& seen : DataFor(path)) {
      EXPECT_FALSE(seen.data.observed) << path;
      EXPECT_EQ(seen.data.service, "GET " + path);
    }
    EXPECT_EQ(farm_.Observers(path), 0U);
  }
  EXPECT_TRUE(WaitUntil(
      [&] {
        const std::string metrics = Metrics(observer);
        return Metric(metrics, "coapgw_observer_registrations_refused_total") == 1 &&
               Metric(metrics, "coapgw_observer_polled_resources") == 2;
      },
      kWait));
}

TEST_F(ObserverServiceTest, TwoObserversShareTwentyDevicesWithoutDuplicates) {
  const auto devices = AddDevices(20);
  int a = -1;
  int b = -1;
  ASSERT_NO_FATAL_FAILURE(StartPair(devices, a, b));
  const std::string id_a = stack_.InstanceId(a);
  const std::string id_b = stack_.InstanceId(b);

  // Three notifications per device, then a fourth as a marker: once every marker arrived, any
  // duplicate of the earlier ones (from either instance, each in order) has arrived too.
  stack_.recorder().ClearData();
  for (int round = 1; round <= 4; ++round) {
    for (const auto& device : devices) {
      farm_.Notify(device.path);
    }
  }
  for (const auto& device : devices) {
    ASSERT_TRUE(WaitForValue(device.path, device.path + "#4")) << device.path;
  }
  std::map<std::string, int> copies;
  std::map<std::string, std::set<std::string>> instances_by_path;
  std::set<std::string> instances;
  for (const auto& seen : stack_.recorder().Data()) {
    ++copies[seen.data.payload.data];
    instances_by_path[seen.data.path].insert(seen.instance);
    instances.insert(seen.instance);
  }
  for (const auto& device : devices) {
    for (int round = 1; round <= 4; ++round) {
      EXPECT_EQ(copies[device.path + "#" + std::to_string(round)], 1)
          << device.path << " round " << round;
    }
    EXPECT_EQ(instances_by_path[device.path].size(), 1U) << device.path;
  }
  EXPECT_EQ(instances, (std::set<std::string>{id_a, id_b}));

  // The first instance gave the second its devices and deregistered them: counted, and no
  // device has two relations (checked by StartPair).
  const auto beats = stack_.recorder().Heartbeats();
  EXPECT_TRUE(WaitUntil(
      [&] {
        const std::string metrics = Metrics(a);
        return Metric(metrics, "coapgw_observer_handed_over_devices_total") ==
                   beats.at(id_b).owned_devices &&
               Metric(metrics, "coapgw_observer_deregistrations_total") ==
                   beats.at(id_b).owned_devices;
      },
      kWait))
      << Metrics(a);
}

TEST_F(ObserverServiceTest, AKilledObserversDevicesAreTakenOverWithinTenSeconds) {
  const auto devices = AddDevices(20);
  int a = -1;
  int b = -1;
  ASSERT_NO_FATAL_FAILURE(StartPair(devices, a, b));
  const std::string id_a = stack_.InstanceId(a);
  stack_.observer(b).Kill();
  const auto killed = steady_clock::now();
  stack_.recorder().ClearData();
  // Every device, including those the killed instance had, soon reports through the survivor.
  std::set<std::string> covered;
  const bool all = WaitUntil(
      [&] {
        for (const auto& device : devices) {
          if (covered.count(device.path) == 0) {
            farm_.Notify(device.path);
          }
        }
        for (const auto& seen : stack_.recorder().Data()) {
          if (seen.instance == id_a) {
            covered.insert(seen.data.path);
          }
        }
        return covered.size() == devices.size();
      },
      milliseconds(10000));
  const auto took = steady_clock::now() - killed;
  EXPECT_TRUE(all) << covered.size() << " of " << devices.size() << "\n" << stack_.Logs();
  EXPECT_LT(took, std::chrono::seconds(10));
  RecordProperty("takeover_ms",
                 static_cast<int>(std::chrono::duration_cast<milliseconds>(took).count()));
  EXPECT_TRUE(WaitUntil(
      [&] {
        const std::string metrics = Metrics(a);
        return Metric(metrics, "coapgw_observer_taken_over_devices_total") > 0 &&
               Metric(metrics, "coapgw_observer_owned_devices") == 20;
      },
      kWait));
}

TEST_F(ObserverServiceTest, CleanStopsLeaveNoObserveRelationBehind) {
  const auto devices = AddDevices(8);
  int a = -1;
  int b = -1;
  ASSERT_NO_FATAL_FAILURE(StartPair(devices, a, b));
  // b stops cleanly: it deregisters, and a takes its devices over at once (b's last heartbeat
  // says it is leaving).
  const auto start = steady_clock::now();
  EXPECT_EQ(stack_.observer(b).Stop(SIGTERM, milliseconds(5000)), 0);
  EXPECT_LT(steady_clock::now() - start, std::chrono::seconds(5));
  EXPECT_TRUE(WaitUntil([&] { return AllObserved(devices); }, milliseconds(3000))) << stack_.Logs();
  EXPECT_EQ(stack_.observer(a).Stop(SIGTERM, milliseconds(5000)), 0);
  EXPECT_TRUE(WaitUntil([&] { return AllObserved(devices, 0); }, kWait));
}

TEST_F(ObserverServiceTest, ADeviceMarkedDisconnectedIsReleasedAndObservedAgainWhenBack) {
  const auto devices = AddDevices(1);
  const Device& device = devices[0];
  const int observer = StartObserver();
  ASSERT_GE(observer, 0);
  ASSERT_TRUE(WaitUntil([&] { return AllObserved(devices); }, kWait));
  ASSERT_TRUE(stack_.SetReachable(device.ep, false));  // rd.device.status 0
  EXPECT_TRUE(WaitUntil([&] { return farm_.Observers(device.path) == 0; }, kWait));
  ASSERT_TRUE(stack_.SetReachable(device.ep, true));  // and back to 1
  EXPECT_TRUE(WaitUntil([&] { return farm_.Observers(device.path) == 1; }, kWait));
  farm_.Notify(device.path);
  EXPECT_TRUE(WaitForValue(device.path, device.path + "#1"));
}

TEST_F(ObserverServiceTest, ASilentDeviceIsObservedAgainWhenItReturns) {
  // Max-Age 1 s: the observer notices the silence after 1.5 s (grace 500 ms).
  const auto devices = AddDevices(1, "silent", 1);
  const Device& device = devices[0];
  const int observer = StartObserver();
  ASSERT_GE(observer, 0);
  ASSERT_TRUE(WaitUntil([&] { return AllObserved(devices); }, kWait));
  ASSERT_TRUE(farm_.Close(device.port));  // gone, with its observe relations
  EXPECT_TRUE(WaitUntil(
      [&] { return Metric(Metrics(observer), "coapgw_observer_observe_silences_total") >= 1; },
      kWait));
  ASSERT_TRUE(farm_.Reopen(device.port));  // back, knowing nobody
  EXPECT_TRUE(WaitUntil([&] { return farm_.Observers(device.path) == 1; }, kWait)) << stack_.Logs();
  farm_.Notify(device.path);
  EXPECT_TRUE(WaitForValue(device.path, device.path + "#1"));
}

TEST_F(ObserverServiceTest, ADeviceAtANewAddressIsObservedThere) {
  const auto devices = AddDevices(1, "mover");
  const Device& device = devices[0];
  const int observer = StartObserver();
  ASSERT_GE(observer, 0);
  ASSERT_TRUE(WaitUntil([&] { return AllObserved(devices); }, kWait));
  // The device re-registers from another port (every farm endpoint serves every path).
  const uint16_t new_port = farm_.AddDevice("/mover0/other", true);
  ASSERT_NE(stack_.Register(farm_, device.ep, Base(new_port),
                            "<" + device.path + ">;obs;ct=0;rt=temperature"),
            "");
  ASSERT_TRUE(WaitUntil(
      [&] { return Metric(Metrics(observer), "coapgw_observer_registrations_total") == 2; },
      kWait));
  EXPECT_TRUE(WaitUntil([&] { return farm_.Observers(device.path) == 1; }, kWait));
  ASSERT_TRUE(farm_.Close(device.port));  // the old address is gone; values keep coming
  farm_.Notify(device.path);
  EXPECT_TRUE(WaitForValue(device.path, device.path + "#1"));
}

TEST_F(ObserverServiceTest, AFilterNarrowsTheResourcesRead) {
  const uint16_t port = farm_.AddDevice("/f/s", true);
  farm_.AddResource("/f/a", true);
  ASSERT_NE(stack_.Register(farm_, "filtered", Base(port),
                            "</f/s>;obs;if=\"core.s\",</f/a>;obs;if=\"core.a\""),
            "");
  const int observer = StartObserver({{"COAPGW_OBSERVER_FILTER", "if=core.s"}});
  ASSERT_GE(observer, 0);
  ASSERT_TRUE(WaitUntil([&] { return farm_.Observers("/f/s") == 1; }, kWait));
  farm_.Notify("/f/s");
  farm_.Notify("/f/a");
  ASSERT_TRUE(WaitForValue("/f/s", "/f/s#1"));
  EXPECT_EQ(farm_.Observers("/f/a"), 0U);
  EXPECT_TRUE(DataFor("/f/a").empty());
}

}  // namespace
}  // namespace coapgw::observer::test
