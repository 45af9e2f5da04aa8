// The Executer engine against real CoAP devices on loopback (in-test coap::Servers and raw UDP
// sockets), with a hand-filled device list in place of the RD mirror.

#include "executer/executer.hpp"

#include <algorithm>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "coapgw/test/wait.hpp"
#include "command_testing.hpp"
#include "echo_device.hpp"
#include "raw_device.hpp"

namespace coapgw::executer {
namespace {

using std::chrono::milliseconds;
using test::EchoDevice;
using test::RawDevice;
using test::TestCommand;
using test::WaitUntil;

constexpr milliseconds kWait{5000};

// The device list the executer reads; changed on the loop thread only.
class MapLookup final : public DeviceLookup {
 public:
  const events::Device* Find(const std::string& device_id) const override {
    const auto it = devices.find(device_id);
    return it == devices.end() ? nullptr : &it->second;
  }
  bool synced() const override { return is_synced; }

  std::map<std::string, events::Device> devices;
  bool is_synced = true;
};

class ExecuterTest : public testing::Test {
 protected:
  void TearDown() override {
    loop_.Call([&] {
      executer_.reset();
      client_.reset();
    });
  }

  void Start(ExecuterOptions options = {}) {
    loop_.Call([&] {
      client_ = std::make_unique<coap::Client>(loop_.context());
      executer_ = std::make_unique<Executer>(loop_.context(), *client_, lookup_, options,
                                             [this](const events::CommandResult& result) {
                                               const std::lock_guard<std::mutex> lock(mutex_);
                                               results_.push_back(result);
                                             });
    });
  }

  void AddDevice(const std::string& id, const std::string& base,
                 events::DeviceStatus status = events::DeviceStatus::kConnected) {
    loop_.Call([&] {
      events::Device device;
      device.device_id = id;
      device.endpoint = id;
      device.base = base;
      device.status = status;
      lookup_.devices[id] = device;
    });
  }

  void Submit(events::Command command) {
    loop_.Call([&] { executer_->Submit(std::move(command)); });
  }

  // The result of `command_id`, waiting at most kWait (nullopt and a failure if none came).
  std::optional<events::CommandResult> ResultFor(const std::string& command_id,
                                                 milliseconds wait = kWait) {
    std::optional<events::CommandResult> found;
    const bool arrived = WaitUntil(
        [&] {
          const std::lock_guard<std::mutex> lock(mutex_);
          for (const auto& result : results_) {
            if (result.command_id == command_id) {
              found = result;
              return true;
            }
          }
          return false;
        },
        wait);
    EXPECT_TRUE(arrived) << "no result for " << command_id;
    return found;
  }

  // The code of `command_id`'s result ("<none>" when none came within `wait`).
  std::string CodeOf(const std::string& command_id, milliseconds wait = kWait) {
    const auto result = ResultFor(command_id, wait);
    return result ? result->code : "<none>";
  }

  size_t ResultCount(const std::string& command_id) {
    const std::lock_guard<std::mutex> lock(mutex_);
    return static_cast<size_t>(
        std::count_if(results_.begin(), results_.end(),
                      [&](const auto& result) { return result.command_id == command_id; }));
  }

  coap::ContextThread loop_;
  MapLookup lookup_;
  std::unique_ptr<coap::Client> client_;
  std::unique_ptr<Executer> executer_;
  std::mutex mutex_;
  std::vector<events::CommandResult> results_;
};

TEST_F(ExecuterTest, GetPutPostDeleteRoundTrips) {
  EchoDevice device;
  Start();
  AddDevice("d", device.base());
  Submit(TestCommand("get", "d", events::Method::kGet, "/echo"));
  Submit(TestCommand("put", "d", events::Method::kPut, "/echo", "on"));
  events::Command post_command =
      TestCommand("post", "d", events::Method::kPost, "/echo", "{\"x\":1}");
  post_command.content_format = 50;
  Submit(post_command);
  Submit(TestCommand("delete", "d", events::Method::kDelete, "/echo"));
  auto get = ResultFor("get");
  ASSERT_TRUE(get);
  EXPECT_EQ(get->code, "2.05");
  EXPECT_EQ(get->payload.data, "hello");
  EXPECT_EQ(get->device_id, "d");
  auto put = ResultFor("put");
  ASSERT_TRUE(put);
  EXPECT_EQ(put->code, "2.04");
  EXPECT_EQ(put->payload.data, "on");
  auto post = ResultFor("post");
  ASSERT_TRUE(post);
  EXPECT_EQ(post->payload.data, "{\"x\":1}");
  EXPECT_EQ(post->content_format, 50);
  EXPECT_EQ(CodeOf("delete"), "2.02");
}

TEST_F(ExecuterTest, QueryContentFormatAndAcceptReachTheDevice) {
  EchoDevice device;
  Start();
  AddDevice("d", device.base());
  events::Command command = TestCommand("q", "d", events::Method::kGet, "/query");
  command.query = "a=1&b=x%20y";
  command.content_format = 50;
  command.accept = 0;
  Submit(command);
  auto result = ResultFor("q");
  ASSERT_TRUE(result);
  EXPECT_EQ(result->payload.data, "a=1&b=x y|cf=50|accept=0");
}

TEST_F(ExecuterTest, LargePayloadsGoBlockWiseBothWays) {
  EchoDevice device;
  Start();
  AddDevice("d", device.base());
  std::string payload(70 * 1024, '\0');
  for (size_t i = 0; i < payload.size(); ++i) {
    payload[i] = static_cast<char>((i * 7919) % 251);
  }
  events::Command command = TestCommand("big", "d", events::Method::kPut, "/echo");
  command.content_format = 42;
  command.payload = events::EncodePayload(payload, 42);
  ASSERT_EQ(command.payload.encoding, events::PayloadEncoding::kBase64);
  Submit(command);
  auto result = ResultFor("big");
  ASSERT_TRUE(result);
  ASSERT_EQ(result->code, "2.04") << result->detail.value_or("");
  EXPECT_EQ(result->content_format, 42);
  auto bytes = events::DecodePayload(result->payload);
  ASSERT_TRUE(bytes.ok());
  EXPECT_EQ(bytes->size(), payload.size());
  EXPECT_TRUE(*bytes == payload);
}

TEST_F(ExecuterTest, OversizedPayloadIsRefusedWithoutSending) {
  EchoDevice device;
  ExecuterOptions options;
  options.max_body_bytes = 1024;
  Start(options);
  AddDevice("d", device.base());
  Submit(TestCommand("big", "d", events::Method::kPut, "/echo", std::string(1025, 'x')));
  EXPECT_EQ(CodeOf("big"), events::kCodeTooLarge);
  EXPECT_EQ(device.requests(), 0);
}

// The Executer holds responses to its own limit, whatever the Context accepts (the service's
// Context accepts more: the RD snapshot of its device mirror comes through it).
TEST_F(ExecuterTest, OversizedResponseIsTooLargeUnderTheExecutersLimit) {
  EchoDevice device;
  ExecuterOptions options;
  options.max_body_bytes = 4096;
  Start(options);
  AddDevice("d", device.base());
  events::Command fits = TestCommand("fits", "d", events::Method::kGet, "/big");
  fits.query = "n=4096";
  Submit(fits);
  events::Command too_big = TestCommand("too-big", "d", events::Method::kGet, "/big");
  too_big.query = "n=4097";
  Submit(too_big);
  auto result = ResultFor("fits");
  ASSERT_TRUE(result);
  EXPECT_EQ(result->code, "2.05");
  EXPECT_EQ(result->payload.data.size(), 4096u);
  result = ResultFor("too-big");
  ASSERT_TRUE(result);
  EXPECT_EQ(result->code, events::kCodeTooLarge);
  EXPECT_EQ(result->detail.value_or(""), "response body of 4097 bytes exceeds the limit of 4096");
}

// A response above the Context's limit (ContextOptions::max_body_size) is too-large as well.
TEST(ExecuterLimitTest, OversizedResponseIsTooLarge) {
  EchoDevice device;
  coap::ContextOptions context_options;
  context_options.max_body_size = 4096;
  coap::ContextThread loop(context_options);
  MapLookup lookup;
  std::unique_ptr<coap::Client> client;
  std::unique_ptr<Executer> executer;
  std::mutex mutex;
  std::vector<events::CommandResult> results;
  loop.Call([&] {
    events::Device record;
    record.device_id = "d";
    record.base = device.base();
    lookup.devices["d"] = record;
    client = std::make_unique<coap::Client>(loop.context());
    executer = std::make_unique<Executer>(loop.context(), *client, lookup, ExecuterOptions{},
                                          [&](const events::CommandResult& result) {
                                            const std::lock_guard<std::mutex> lock(mutex);
                                            results.push_back(result);
                                          });
    events::Command fits = TestCommand("fits", "d", events::Method::kGet, "/big");
    fits.query = "n=4096";
    executer->Submit(fits);
    events::Command too_big = TestCommand("too-big", "d", events::Method::kGet, "/big");
    too_big.query = "n=5000";
    executer->Submit(too_big);
  });
  ASSERT_TRUE(WaitUntil(
      [&] {
        const std::lock_guard<std::mutex> lock(mutex);
        return results.size() == 2;
      },
      kWait));
  loop.Call([&] {
    executer.reset();
    client.reset();
  });
  EXPECT_EQ(results[0].code, "2.05");
  EXPECT_EQ(results[0].payload.data.size(), 4096u);
  EXPECT_EQ(results[1].code, events::kCodeTooLarge);
}

TEST_F(ExecuterTest, OneCommandAtATimePerDeviceInArrivalOrder) {
  EchoDevice device;
  Start();
  AddDevice("d", device.base());
  std::vector<std::string> expected;
  loop_.Call([&] {
    for (int i = 0; i < 20; ++i) {
      expected.push_back(std::to_string(i));
      executer_->Submit(
          TestCommand("c" + std::to_string(i), "d", events::Method::kPut, "/seq", expected.back()));
    }
    EXPECT_EQ(executer_->queue().in_flight(), 1u);
    EXPECT_EQ(executer_->queue().waiting(), 19u);
  });
  for (int i = 0; i < 20; ++i) {
    auto result = ResultFor("c" + std::to_string(i));
    ASSERT_TRUE(result);
    EXPECT_EQ(result->code, "2.04");
  }
  EXPECT_EQ(device.sequence(), expected);
  EXPECT_EQ(device.max_concurrent(), 1);
}

TEST_F(ExecuterTest, DevicesProceedInParallelUnderTheGlobalCap) {
  EchoDevice first;
  EchoDevice second;
  ExecuterOptions options;
  options.limits.max_in_flight = 1;
  Start(options);
  AddDevice("a", first.base());
  AddDevice("b", second.base());
  loop_.Call([&] {
    executer_->Submit(TestCommand("a0", "a", events::Method::kPut, "/seq", "a0"));
    executer_->Submit(TestCommand("b0", "b", events::Method::kPut, "/seq", "b0"));
    EXPECT_EQ(executer_->queue().in_flight(), 1u) << "the global cap holds b0 back";
  });
  ASSERT_TRUE(ResultFor("a0"));
  ASSERT_TRUE(ResultFor("b0"));
  EXPECT_EQ(second.sequence(), std::vector<std::string>{"b0"});
}

TEST_F(ExecuterTest, SilentDeviceTimesOutAndTheQueueBehindItToo) {
  RawDevice silent(RawDevice::Mode::kSilent);
  Start();
  AddDevice("d", silent.base());
  Submit(TestCommand("first", "d", events::Method::kGet, "/x", {}, milliseconds(300)));
  Submit(TestCommand("second", "d", events::Method::kGet, "/x", {}, milliseconds(200)));
  auto second = ResultFor("second");
  ASSERT_TRUE(second);
  EXPECT_EQ(second->code, events::kCodeTimeout);
  EXPECT_NE(second->detail.value_or("").find("earlier commands"), std::string::npos)
      << second->detail.value_or("");
  auto first = ResultFor("first");
  ASSERT_TRUE(first);
  EXPECT_EQ(first->code, events::kCodeTimeout);
  EXPECT_GE(silent.received(), 1u);
  // The late answer is acknowledged by nobody's callback: no second result, executer healthy.
  ASSERT_TRUE(silent.AnswerFirst("too late"));
  EchoDevice healthy;
  AddDevice("h", healthy.base());
  Submit(TestCommand("after", "h", events::Method::kGet, "/echo"));
  EXPECT_EQ(CodeOf("after"), "2.05");
  EXPECT_EQ(ResultCount("first"), 1u);
}

TEST_F(ExecuterTest, ResetAndUnreachableAreResults) {
  RawDevice resetting(RawDevice::Mode::kReset);
  Start();
  AddDevice("rst", resetting.base());
  // A port nobody listens on: the kernel answers ICMP port unreachable on loopback.
  std::string closed_base;
  {
    const RawDevice gone(RawDevice::Mode::kSilent);
    closed_base = gone.base();
  }
  AddDevice("closed", closed_base);
  Submit(TestCommand("r", "rst", events::Method::kGet, "/x"));
  Submit(TestCommand("u", "closed", events::Method::kGet, "/x"));
  EXPECT_EQ(CodeOf("r"), events::kCodeReset);
  EXPECT_EQ(CodeOf("u"), events::kCodeUnreachable);
}

TEST_F(ExecuterTest, UnknownAndDisconnectedDevicesFailFast) {
  EchoDevice device;
  Start();
  AddDevice("off", device.base(), events::DeviceStatus::kDisconnected);
  Submit(TestCommand("u", "nobody", events::Method::kGet, "/echo"));
  Submit(TestCommand("o", "off", events::Method::kGet, "/echo"));
  EXPECT_EQ(CodeOf("u"), events::kCodeUnknownDevice);
  EXPECT_EQ(CodeOf("o"), events::kCodeDeviceDisconnected);
  EXPECT_EQ(device.requests(), 0);
}

TEST_F(ExecuterTest, CommandsWaitForTheFirstSnapshot) {
  EchoDevice device;
  Start();
  loop_.Call([&] { lookup_.is_synced = false; });
  Submit(TestCommand("early", "d", events::Method::kGet, "/echo"));
  loop_.Call([&] { EXPECT_EQ(executer_->queue().waiting(), 1u); });
  AddDevice("d", device.base());
  loop_.Call([&] {
    lookup_.is_synced = true;
    executer_->OnSynced(1);
  });
  EXPECT_EQ(CodeOf("early"), "2.05");
}

TEST_F(ExecuterTest, WaitingCommandsOfAGoneOrDisconnectedDeviceFail) {
  RawDevice silent(RawDevice::Mode::kSilent);
  Start();
  AddDevice("d", silent.base());
  Submit(TestCommand("running", "d", events::Method::kGet, "/x", {}, milliseconds(400)));
  Submit(TestCommand("waiting1", "d", events::Method::kGet, "/x"));
  Submit(TestCommand("waiting2", "d", events::Method::kGet, "/x"));
  loop_.Call([&] {
    events::Device device = lookup_.devices["d"];
    device.status = events::DeviceStatus::kDisconnected;
    executer_->OnDeviceUpsert(device, &lookup_.devices["d"], {events::DeviceChange::kStatus});
  });
  EXPECT_EQ(CodeOf("waiting1", milliseconds(100)), events::kCodeDeviceDisconnected);
  ASSERT_TRUE(ResultFor("waiting2", milliseconds(100)));
  Submit(TestCommand("waiting3", "d", events::Method::kGet, "/x"));
  loop_.Call([&] { executer_->OnDeviceGone(lookup_.devices["d"], devices::GoneReason::kRemoved); });
  EXPECT_EQ(CodeOf("waiting3", milliseconds(100)), events::kCodeUnknownDevice);
  EXPECT_EQ(CodeOf("running"), events::kCodeTimeout);
}

TEST_F(ExecuterTest, AMovedDeviceIsReachedAtItsNewAddress) {
  EchoDevice old_place;
  EchoDevice new_place;
  Start();
  AddDevice("d", old_place.base());
  Submit(TestCommand("before", "d", events::Method::kGet, "/echo"));
  ASSERT_TRUE(ResultFor("before"));
  AddDevice("d", new_place.base());
  Submit(TestCommand("after", "d", events::Method::kGet, "/echo"));
  ASSERT_TRUE(ResultFor("after"));
  EXPECT_EQ(old_place.requests(), 1);
  EXPECT_EQ(new_place.requests(), 1);
}

TEST_F(ExecuterTest, FullQueuesAnswerError) {
  RawDevice silent(RawDevice::Mode::kSilent);
  ExecuterOptions options;
  options.limits.device_queue = 1;
  Start(options);
  AddDevice("d", silent.base());
  Submit(TestCommand("running", "d", events::Method::kGet, "/x", {}, milliseconds(300)));
  Submit(TestCommand("waiting", "d", events::Method::kGet, "/x", {}, milliseconds(300)));
  Submit(TestCommand("refused", "d", events::Method::kGet, "/x"));
  auto refused = ResultFor("refused", milliseconds(100));
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->code, events::kCodeError);
  EXPECT_NE(refused->detail.value_or("").find("queue full"), std::string::npos);
  loop_.Call([&] { EXPECT_EQ(executer_->stats().rejected, 1u); });
}

TEST_F(ExecuterTest, PastDeadlineIsATimeoutAtOnce) {
  EchoDevice device;
  Start();
  AddDevice("d", device.base());
  Submit(TestCommand("late", "d", events::Method::kGet, "/echo", {}, milliseconds(-1)));
  EXPECT_EQ(CodeOf("late", milliseconds(100)), events::kCodeTimeout);
  Submit(TestCommand("probe", "nobody", events::Method::kGet, "/echo", {}, milliseconds(-1)));
  EXPECT_EQ(CodeOf("probe", milliseconds(100)), events::kCodeUnknownDevice);
  EXPECT_EQ(device.requests(), 0);
}

TEST_F(ExecuterTest, ShutdownAnswersEveryHeldCommand) {
  RawDevice silent(RawDevice::Mode::kSilent);
  Start();
  AddDevice("d", silent.base());
  Submit(TestCommand("running", "d", events::Method::kGet, "/x"));
  Submit(TestCommand("waiting", "d", events::Method::kGet, "/x"));
  loop_.Call([&] {
    executer_->Shutdown();
    executer_->Submit(TestCommand("after", "d", events::Method::kGet, "/x"));
  });
  for (const char* id : {"running", "waiting", "after"}) {
    auto result = ResultFor(id, milliseconds(100));
    ASSERT_TRUE(result) << id;
    EXPECT_EQ(result->code, events::kCodeError) << id;
    EXPECT_EQ(result->detail, "executer stopping");
  }
  EXPECT_EQ(ResultCount("running"), 1u);
}

}  // namespace
}  // namespace coapgw::executer
