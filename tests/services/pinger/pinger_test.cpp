// The Pinger engine against real CoAP peers on loopback: a libcoap server (answers pings with
// RST), a UDP socket that never answers, and a closed port; device records given by hand in
// place of the RD mirror.

#include "pinger/pinger.hpp"

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "coapgw/coap/server.hpp"
#include "coapgw/test/wait.hpp"
#include "echo_device.hpp"
#include "raw_device.hpp"

namespace coapgw::pinger {
namespace {

using test::RawDevice;
using test::WaitUntil;

constexpr milliseconds kWait{5000};

class PingerTest : public testing::Test {
 protected:
  void SetUp() override {
    device_loop_.Call([&] {
      server_ = std::make_unique<coap::Server>(device_loop_.context());
      auto bound = server_->AddEndpoint("127.0.0.1:0");
      ASSERT_TRUE(bound.ok());
      alive_base_ = "coap://127.0.0.1:" + std::to_string(bound->port);
    });
    PingerOptions options;
    options.policy.interval = milliseconds(400);
    options.policy.misses = 2;
    options.timeout = ping_timeout_;
    loop_.Call([&] {
      // As in the service: a session (source port) per ping. libcoap peers send at most one RST
      // per peer every 250 ms, which a reused session could run into.
      coap::ClientOptions client_options;
      client_options.idle_session_timeout = milliseconds(100);
      client_ = std::make_unique<coap::Client>(loop_.context(), client_options);
      pinger_ = std::make_unique<Pinger>(loop_.context(), *client_, options,
                                         [this](const events::DeviceLiveness& liveness) {
                                           const std::lock_guard<std::mutex> lock(mutex_);
                                           published_.push_back(liveness);
                                         });
    });
  }

  void TearDown() override {
    loop_.Call([&] {
      pinger_->Stop();
      pinger_.reset();
      client_.reset();
    });
    device_loop_.Call([&] { server_.reset(); });
  }

  void Upsert(const std::string& id, const std::string& base, events::DeviceStatus status) {
    loop_.Call([&] {
      events::Device device;
      device.device_id = id;
      device.endpoint = id;
      device.base = base;
      device.status = status;
      pinger_->OnDeviceUpsert(device, nullptr, {});
    });
  }

  std::vector<events::DeviceLiveness> Published() {
    const std::lock_guard<std::mutex> lock(mutex_);
    return published_;
  }

  uint64_t Pings() {
    return loop_.Call([&] { return pinger_->schedule().stats().pings; });
  }

  // Short, so the tests with silent devices reach their verdicts quickly.
  milliseconds ping_timeout_{250};
  coap::ContextThread device_loop_;
  std::unique_ptr<coap::Server> server_;
  std::string alive_base_;
  coap::ContextThread loop_;
  std::unique_ptr<coap::Client> client_;
  std::unique_ptr<Pinger> pinger_;
  std::mutex mutex_;
  std::vector<events::DeviceLiveness> published_;
};

// Tests asserting that nothing is published: a timeout with room for a loaded machine, where
// two late RSTs in a row would otherwise read as an unreachable device.
class PingerPatientTest : public PingerTest {
 protected:
  PingerPatientTest() { ping_timeout_ = milliseconds(2000); }
};

TEST_F(PingerPatientTest, AnAnsweringConnectedDeviceProducesNoVerdict) {
  Upsert("alive", alive_base_, events::DeviceStatus::kConnected);
  ASSERT_TRUE(WaitUntil([&] { return Pings() >= 3; }, kWait));
  EXPECT_TRUE(Published().empty());
  loop_.Call([&] { EXPECT_GE(pinger_->schedule().stats().replies, 2u); });
}

TEST_F(PingerTest, ASilentDeviceIsReportedUnreachableAfterTheMisses) {
  RawDevice silent(RawDevice::Mode::kSilent);
  Upsert("silent", silent.base(), events::DeviceStatus::kConnected);
  ASSERT_TRUE(WaitUntil([&] { return !Published().empty(); }, kWait));
  const events::DeviceLiveness liveness = Published().front();
  EXPECT_EQ(liveness.device_id, "silent");
  EXPECT_FALSE(liveness.reachable);
  EXPECT_EQ(liveness.consecutive_misses, 2u);
  EXPECT_FALSE(liveness.rtt.has_value());
  EXPECT_GE(silent.received(), 2u) << "the empty CONs reached the device";
}

TEST_F(PingerTest, AClosedPortCountsAsMisses) {
  std::string closed_base;
  {
    const RawDevice gone(RawDevice::Mode::kSilent);
    closed_base = gone.base();
  }
  Upsert("closed", closed_base, events::DeviceStatus::kConnected);
  ASSERT_TRUE(WaitUntil([&] { return !Published().empty(); }, kWait));
  EXPECT_FALSE(Published().front().reachable);
}

TEST_F(PingerTest, ADisconnectedDeviceThatAnswersIsReportedReachable) {
  Upsert("back", alive_base_, events::DeviceStatus::kDisconnected);
  ASSERT_TRUE(WaitUntil([&] { return !Published().empty(); }, kWait));
  const events::DeviceLiveness liveness = Published().front();
  EXPECT_EQ(liveness.device_id, "back");
  EXPECT_TRUE(liveness.reachable);
  EXPECT_EQ(liveness.consecutive_misses, 0u);
  ASSERT_TRUE(liveness.rtt.has_value());
  EXPECT_GT(liveness.rtt->count(), 0);
  // The RD announces status 1: no more verdicts for it.
  Upsert("back", alive_base_, events::DeviceStatus::kConnected);
  const size_t published = Published().size();
  const uint64_t pings = Pings();
  ASSERT_TRUE(WaitUntil([&] { return Pings() >= pings + 2; }, kWait));
  EXPECT_EQ(Published().size(), published);
}

TEST_F(PingerTest, AGoneDeviceIsNoLongerPinged) {
  RawDevice silent(RawDevice::Mode::kSilent);
  Upsert("gone", silent.base(), events::DeviceStatus::kConnected);
  ASSERT_TRUE(WaitUntil([&] { return silent.received() >= 1; }, kWait));
  loop_.Call([&] {
    events::Device device;
    device.device_id = "gone";
    pinger_->OnDeviceGone(device, devices::GoneReason::kRemoved);
    EXPECT_EQ(pinger_->schedule().size(), 0u);
  });
  // Another device's pings show time passing; the gone one's socket hears nothing new.
  const size_t heard = silent.received();
  Upsert("alive", alive_base_, events::DeviceStatus::kConnected);
  ASSERT_TRUE(WaitUntil([&] { return Pings() >= 4; }, kWait));
  EXPECT_EQ(silent.received(), heard);
  EXPECT_TRUE(Published().empty());
}

TEST_F(PingerTest, PingsComeFromTheConfiguredSourcePort) {
  RawDevice device(RawDevice::Mode::kReset);
  std::unique_ptr<coap::Server> holder;
  std::unique_ptr<Pinger> pinger;
  coap::Address source;
  loop_.Call([&] {
    holder = std::make_unique<coap::Server>(loop_.context());
    source = *holder->AddEndpoint("127.0.0.1:0");
    PingerOptions options;
    options.policy.interval = milliseconds(300);
    options.timeout = milliseconds(250);
    options.sources = {coap::Address{coap::Family::kIpv6, "::1", 1}, source};
    pinger = std::make_unique<Pinger>(loop_.context(), *client_, options,
                                      [](const events::DeviceLiveness&) {});
    events::Device record;
    record.device_id = "d";
    record.base = device.base();
    pinger->OnDeviceUpsert(record, nullptr, {});
  });
  ASSERT_TRUE(WaitUntil([&] { return device.received() >= 3; }, kWait));
  loop_.Call([&] {
    pinger.reset();
    holder.reset();
  });
  for (const uint16_t port : device.sender_ports()) {
    EXPECT_EQ(port, source.port) << "a ping from an ephemeral port";
  }
}

TEST_F(PingerTest, ABaseThatIsNoCoapUriIsNotPinged) {
  Upsert("odd", "http://127.0.0.1:1", events::DeviceStatus::kConnected);
  loop_.Call([&] {
    EXPECT_EQ(pinger_->stats().unpingable, 1u);
    EXPECT_EQ(pinger_->schedule().size(), 0u);
  });
}

}  // namespace
}  // namespace coapgw::pinger

namespace coapgw::pinger {
namespace {

// A coaps:// device is checked inside a DTLS session (keys from the PSK store), a fresh one each
// time as in the service (sessions closed 200 ms after use).
TEST(PingerDtlsTest, ADtlsDeviceIsCheckedOverDtls) {
  test::EchoDeviceOptions device_options;
  device_options.dtls_identity_key = std::make_pair("gw", "secret");
  test::EchoDevice device(device_options);
  coap::StaticPskKeyStore keys;
  keys.SetDefault({"gw", "secret"});
  coap::ContextThread loop;
  std::unique_ptr<coap::Client> client;
  std::unique_ptr<Pinger> pinger;
  std::mutex mutex;
  std::vector<events::DeviceLiveness> published;
  PingerOptions options;
  options.policy.interval = milliseconds(300);
  options.timeout = milliseconds(200);
  loop.Call([&] {
    coap::ClientOptions client_options;
    client_options.psk_keys = &keys;
    client_options.idle_session_timeout = milliseconds(200);
    client = std::make_unique<coap::Client>(loop.context(), client_options);
    pinger = std::make_unique<Pinger>(loop.context(), *client, options,
                                      [&](const events::DeviceLiveness& liveness) {
                                        const std::lock_guard<std::mutex> lock(mutex);
                                        published.push_back(liveness);
                                      });
    events::Device record;
    record.device_id = "secure";
    record.base = device.base();
    record.status = events::DeviceStatus::kDisconnected;
    pinger->OnDeviceUpsert(record, nullptr, {});
  });
  ASSERT_TRUE(WaitUntil(
      [&] {
        const std::lock_guard<std::mutex> lock(mutex);
        return !published.empty();
      },
      kWait));
  EXPECT_TRUE(published.front().reachable);
  ASSERT_TRUE(WaitUntil(
      [&] { return loop.Call([&] { return pinger->schedule().stats().replies >= 3; }); }, kWait));
  loop.Call([&] {
    EXPECT_EQ(pinger->schedule().stats().misses, 0u);
    pinger.reset();
    client.reset();
  });
}

}  // namespace
}  // namespace coapgw::pinger
