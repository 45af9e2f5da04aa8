// The Watcher against a real CoAP server on loopback (libs/coap on both sides, separate loop
// threads). Polls and retries run on a fake clock the test advances; libcoap's own timers
// (Max-Age silence, request deadlines) run in real time.

#include "observer/watcher.hpp"

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "coapgw/coap/server.hpp"
#include "coapgw/test/process.hpp"
#include "coapgw/test/wait.hpp"
#include "observer/scheduler.hpp"

namespace coapgw::observer {
namespace {

using std::chrono::milliseconds;

constexpr milliseconds kWait{5000};

// Every value the watcher delivers, readable from the test thread.
class RecordingSink final : public DataSink {
 public:
  void Deliver(uint64_t resource_key, events::ObservedData data) override {
    (void)resource_key;
    const std::lock_guard<std::mutex> lock(mutex_);
    values_.push_back(std::move(data));
  }
  size_t size() const {
    const std::lock_guard<std::mutex> lock(mutex_);
    return values_.size();
  }
  events::ObservedData at(size_t i) const {
    const std::lock_guard<std::mutex> lock(mutex_);
    return values_.at(i);
  }
  bool WaitForSize(size_t size) const {
    return test::WaitUntil([&] { return this->size() >= size; }, kWait);
  }

 private:
  mutable std::mutex mutex_;
  std::vector<events::ObservedData> values_;
};

class WatcherTest : public testing::Test {
 protected:
  void SetUp() override {
    devices_.Call([&] {
      server_ = std::make_unique<coap::Server>(devices_.context());
      auto bound = server_->AddEndpoint("127.0.0.1:0");
      ASSERT_TRUE(bound.ok());
      endpoint_ = coap::EndpointOf(*bound);
    });
  }

  void TearDown() override {
    loop_.Call([&] {
      watcher_.reset();
      client_.reset();
    });
    devices_.Call([&] { server_.reset(); });
  }

  void StartWatcher(WatcherOptions options = {}) {
    loop_.Call([&] {
      client_ = std::make_unique<coap::Client>(loop_.context());
      watcher_ = std::make_unique<Watcher>(*client_, sink_, options, [this] {
        return SteadyTime() + std::chrono::hours(1) + milliseconds(fake_ms_.load());
      });
    });
  }

  // A resource answering its counter ("0", "1", ...) as JSON (libcoap 4.3.1 leaves Content-Format
  // 0 out of a response); `observable` decides whether the server accepts observations of it.
  void AddResource(const std::string& path, bool observable,
                   std::optional<uint32_t> max_age = std::nullopt) {
    devices_.Call([&] {
      coap::ResourceOptions options;
      options.observable = observable;
      server_->AddResource(path, options)
          .On(coap::Method::kGet,
              [this, path, max_age](const coap::Request& request, coap::Response& response) {
                if (request.observe == 1U) {
                  ++deregistrations_;
                }
                response.SetPayload(std::to_string(counters_[path].load()),
                                    coap::content_format::kJson);
                if (max_age) {
                  response.SetMaxAge(*max_age);
                }
              });
    });
  }

  void Bump(const std::string& path) {
    devices_.Call([&] {
      ++counters_[path];
      server_->NotifyObservers(path);
    });
  }

  size_t Observers(const std::string& path) {
    return devices_.Call([&] { return server_->ObserverCount(path); });
  }

  static WatchedResource Resource(const std::string& path, bool observable,
                                  milliseconds poll_interval = milliseconds(10000)) {
    WatchedResource resource;
    resource.path = path;
    resource.segments = coap::SplitPath(path);
    resource.observable = observable;
    resource.poll_interval = poll_interval;
    return resource;
  }

  void Watch(const std::string& device_id, std::vector<WatchedResource> resources,
             const std::optional<coap::Endpoint>& endpoint = std::nullopt) {
    DeviceTarget target;
    target.endpoint = endpoint.value_or(endpoint_);
    target.resources = std::move(resources);
    loop_.Call([&] { watcher_->Watch(device_id, target); });
  }

  void Advance(milliseconds by) {
    fake_ms_ += by.count();
    loop_.Call([&] { watcher_->Tick(); });
  }

  Watcher::Stats Stats() {
    return loop_.Call([&] { return watcher_->stats(); });
  }

  coap::ContextThread devices_;
  coap::ContextThread loop_;
  std::unique_ptr<coap::Server> server_;
  std::unique_ptr<coap::Client> client_;
  std::unique_ptr<Watcher> watcher_;
  coap::Endpoint endpoint_;
  RecordingSink sink_;
  std::atomic<int64_t> fake_ms_{0};
  std::atomic<int> deregistrations_{0};  // GETs with Observe=1 the server received
  std::map<std::string, std::atomic<int>> counters_;
};

TEST_F(WatcherTest, NotificationsBecomeObservedData) {
  AddResource("/temp", true);
  StartWatcher();
  Watch("device-1", {Resource("/temp", true)});
  ASSERT_TRUE(sink_.WaitForSize(1));  // the registration's response
  Bump("/temp");
  ASSERT_TRUE(sink_.WaitForSize(2));
  const events::ObservedData value = sink_.at(1);
  EXPECT_EQ(value.device_id, "device-1");
  EXPECT_EQ(value.service, "GET /temp");
  EXPECT_EQ(value.path, "/temp");
  EXPECT_EQ(value.code, "2.05");
  EXPECT_EQ(value.content_format, std::optional<uint16_t>(coap::content_format::kJson));
  EXPECT_EQ(value.payload.data, "1");
  EXPECT_EQ(value.payload.encoding, events::PayloadEncoding::kText);
  EXPECT_TRUE(value.observed);
  EXPECT_LT(std::chrono::system_clock::now() - value.time, std::chrono::seconds(5));
  EXPECT_EQ(Observers("/temp"), 1U);
  const auto stats = Stats();
  EXPECT_EQ(stats.registrations, 1U);
  EXPECT_EQ(stats.established, 1U);
  EXPECT_EQ(stats.notifications, 2U);
  EXPECT_EQ(loop_.Call([&] { return watcher_->observing(); }), 1U);
}

TEST_F(WatcherTest, UnwatchDeregistersOnTheDevice) {
  AddResource("/temp", true);
  StartWatcher();
  Watch("device-1", {Resource("/temp", true)});
  ASSERT_TRUE(test::WaitUntil([&] { return Observers("/temp") == 1; }, kWait));
  loop_.Call([&] { watcher_->Unwatch("device-1"); });
  EXPECT_TRUE(test::WaitUntil([&] { return Observers("/temp") == 0; }, kWait));
  EXPECT_EQ(Stats().deregistrations, 1U);
  EXPECT_FALSE(loop_.Call([&] { return watcher_->Watching("device-1"); }));
}

TEST_F(WatcherTest, UnwatchDuringTheRegistrationDeregistersOnceAnswered) {
  AddResource("/temp", true);
  StartWatcher();
  DeviceTarget target;
  target.endpoint = endpoint_;
  target.resources = {Resource("/temp", true)};
  loop_.Call([&] {
    watcher_->Watch("device-1", target);
    watcher_->Unwatch("device-1");  // the registration is on its way, unanswered
  });
  EXPECT_TRUE(test::WaitUntil([&] { return deregistrations_.load() == 1; }, kWait));
  EXPECT_TRUE(test::WaitUntil([&] { return Observers("/temp") == 0; }, kWait));
  EXPECT_EQ(Stats().deregistrations, 1U);
  EXPECT_EQ(sink_.size(), 0U);
}

TEST_F(WatcherTest, DestroyingTheWatcherDeregistersToo) {
  AddResource("/temp", true);
  StartWatcher();
  Watch("device-1", {Resource("/temp", true)});
  ASSERT_TRUE(test::WaitUntil([&] { return Observers("/temp") == 1; }, kWait));
  loop_.Call([&] { watcher_.reset(); });
  EXPECT_TRUE(test::WaitUntil([&] { return Observers("/temp") == 0; }, kWait));
}

TEST_F(WatcherTest, ARefusedObservationIsPolled) {
  AddResource("/plain", false);  // the link says obs, the device does not observe it
  StartWatcher();
  Watch("device-1", {Resource("/plain", true, milliseconds(10000))});
  ASSERT_TRUE(sink_.WaitForSize(1));
  EXPECT_FALSE(sink_.at(0).observed);
  EXPECT_EQ(sink_.at(0).payload.data, "0");
  EXPECT_TRUE(test::WaitUntil([&] { return Stats().refused == 1; }, kWait));
  EXPECT_EQ(loop_.Call([&] { return watcher_->polling(); }), 1U);
  Bump("/plain");
  Advance(milliseconds(9999));
  EXPECT_EQ(Stats().polls, 0U);
  Advance(milliseconds(1));
  ASSERT_TRUE(sink_.WaitForSize(2));
  EXPECT_FALSE(sink_.at(1).observed);
  EXPECT_EQ(sink_.at(1).payload.data, "1");
  EXPECT_EQ(Stats().polls, 1U);
}

TEST_F(WatcherTest, PollsEachResourceAtItsOwnPhaseOfTheInterval) {
  AddResource("/a", false);
  StartWatcher();
  const milliseconds interval(10000);
  Watch("device-1", {Resource("/a", false, interval)});
  const milliseconds phase = SpreadOffset("device-1/a", interval);
  if (phase.count() > 0) {
    Advance(phase - milliseconds(1));
    EXPECT_EQ(Stats().polls, 0U);
  }
  Advance(milliseconds(phase.count() > 0 ? 1 : 0));
  ASSERT_TRUE(sink_.WaitForSize(1));
  Advance(interval);
  ASSERT_TRUE(sink_.WaitForSize(2));
  // A stall of several intervals gives one poll, not a burst of the missed ones.
  ASSERT_TRUE(test::WaitUntil(
      [&] { return loop_.Call([&] { return watcher_->in_flight(); }) == 0; }, kWait));
  Advance(interval * 5);
  ASSERT_TRUE(sink_.WaitForSize(3));
  EXPECT_EQ(Stats().polls, 3U);
  EXPECT_FALSE(sink_.at(2).observed);
}

TEST_F(WatcherTest, SilenceBeyondMaxAgeRegistersAgain) {
  AddResource("/temp", true, 1);  // Max-Age 1 s, and no notification follows
  WatcherOptions options;
  options.max_age_grace = milliseconds(200);
  StartWatcher(options);
  Watch("device-1", {Resource("/temp", true)});
  ASSERT_TRUE(sink_.WaitForSize(1));
  ASSERT_TRUE(test::WaitUntil([&] { return Stats().established == 2; }, kWait));
  const auto stats = Stats();
  EXPECT_EQ(stats.silences, 1U);
  EXPECT_EQ(stats.registrations, 2U);
  // The lost relation was deregistered; the new one is the device's only observer.
  EXPECT_TRUE(test::WaitUntil([&] { return Observers("/temp") == 1; }, kWait));
}

TEST_F(WatcherTest, ADeviceThatMovedIsObservedAtItsNewAddress) {
  AddResource("/temp", true);
  const auto second = devices_.Call([&] { return server_->AddEndpoint("127.0.0.1:0"); });
  ASSERT_TRUE(second.ok());
  StartWatcher();
  Watch("device-1", {Resource("/temp", true)});
  ASSERT_TRUE(test::WaitUntil([&] { return Stats().established == 1; }, kWait));
  Watch("device-1", {Resource("/temp", true)}, coap::EndpointOf(*second));
  ASSERT_TRUE(test::WaitUntil([&] { return Stats().established == 2; }, kWait));
  EXPECT_EQ(Stats().deregistrations, 1U);
  EXPECT_TRUE(test::WaitUntil([&] { return Observers("/temp") == 1; }, kWait));
  // An unchanged description changes nothing.
  Watch("device-1", {Resource("/temp", true)}, coap::EndpointOf(*second));
  EXPECT_EQ(Stats().registrations, 2U);
}

TEST_F(WatcherTest, ChangedLinksStartNewResourcesAndStopRemovedOnes) {
  AddResource("/a", true);
  AddResource("/b", true);
  StartWatcher();
  Watch("device-1", {Resource("/a", true)});
  ASSERT_TRUE(test::WaitUntil([&] { return Observers("/a") == 1; }, kWait));
  Watch("device-1", {Resource("/b", true)});
  EXPECT_TRUE(test::WaitUntil([&] { return Observers("/b") == 1 && Observers("/a") == 0; }, kWait));
}

TEST_F(WatcherTest, RegistrationsBeyondTheLimitWaitForAFreeSlot) {
  std::vector<WatchedResource> resources;
  for (int i = 0; i < 12; ++i) {
    AddResource("/r" + std::to_string(i), true);
    resources.push_back(Resource("/r" + std::to_string(i), true));
  }
  WatcherOptions options;
  options.max_in_flight = 2;
  StartWatcher(options);
  DeviceTarget target;
  target.endpoint = endpoint_;
  target.resources = resources;
  const size_t in_flight = loop_.Call([&] {
    watcher_->Watch("device-1", target);
    return watcher_->in_flight();
  });
  EXPECT_EQ(in_flight, 2U);
  EXPECT_TRUE(test::WaitUntil([&] { return Stats().established == 12; }, kWait));
  EXPECT_EQ(loop_.Call([&] { return watcher_->in_flight(); }), 0U);
}

TEST_F(WatcherTest, AFailedRegistrationIsRetriedAfterABackoffOrWhenTheDeviceRevives) {
  StartWatcher();
  coap::Endpoint nobody = endpoint_;
  nobody.port = test::FreeUdpPort();  // ICMP port unreachable: fails at once
  Watch("device-1", {Resource("/temp", true, milliseconds(60000))}, nobody);
  ASSERT_TRUE(test::WaitUntil([&] { return Stats().observe_failures == 1; }, kWait));
  Advance(milliseconds(999));
  EXPECT_EQ(Stats().registrations, 1U);
  Advance(milliseconds(1000));  // retry_min (1 s) plus at most a quarter of it
  ASSERT_TRUE(test::WaitUntil([&] { return Stats().observe_failures == 2; }, kWait));
  EXPECT_EQ(Stats().registrations, 2U);
  // The next wait is twice as long, unless the device proves it is alive.
  loop_.Call([&] { watcher_->Revive("device-1"); });
  EXPECT_TRUE(test::WaitUntil([&] { return Stats().registrations == 3; }, kWait));
}

}  // namespace
}  // namespace coapgw::observer
