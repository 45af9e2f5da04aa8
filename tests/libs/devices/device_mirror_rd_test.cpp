// DeviceMirror against the real coapgw-rd on a real PostgreSQL (rd_harness, as rd_service_test):
// devices that vanish while the mirror hears no events (the bus was down) are reported as expired
// or removed exactly as the RD ended them, also after a restart of the RD.
#include <algorithm>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include "coapgw/devices/device_mirror.hpp"
#include "coapgw/test/wait.hpp"
#include "rd_harness.hpp"

namespace coapgw::devices {
namespace {

using std::chrono::milliseconds;
constexpr milliseconds kWait{10'000};

class GoneRecorder final : public DeviceListener {
 public:
  void OnDeviceUpsert(const events::Device&, const events::Device*,
                      const std::vector<events::DeviceChange>&) override {}
  void OnDeviceGone(const events::Device& device, GoneReason reason) override {
    const std::lock_guard<std::mutex> lock(mutex_);
    gone_.push_back(device.endpoint + (reason == GoneReason::kRemoved   ? " removed"
                                       : reason == GoneReason::kExpired ? " expired"
                                                                        : " resync"));
  }
  void OnSynced(size_t) override {
    const std::lock_guard<std::mutex> lock(mutex_);
    ++syncs_;
  }
  int syncs() {
    const std::lock_guard<std::mutex> lock(mutex_);
    return syncs_;
  }
  std::vector<std::string> Take() {
    const std::lock_guard<std::mutex> lock(mutex_);
    return std::exchange(gone_, {});
  }

 private:
  std::mutex mutex_;
  std::vector<std::string> gone_;
  int syncs_ = 0;
};

// The device ids of the RD's snapshot: (registered, expired).
std::pair<std::set<std::string>, std::set<std::string>> SnapshotIds(const std::string& json) {
  rapidjson::Document document;
  document.Parse(json.c_str());
  std::pair<std::set<std::string>, std::set<std::string>> ids;
  if (!document.IsObject() || !document.HasMember("expired")) {
    return ids;
  }
  for (const auto& device : document["devices"].GetArray()) {
    ids.first.insert(device["device_id"].GetString());
  }
  for (const auto& id : document["expired"].GetArray()) {
    ids.second.insert(id.GetString());
  }
  return ids;
}

class DeviceMirrorRdTest : public testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(rd_.StartRd({}, &error_)) << error_;
    loop_.Call([&] {
      client_ = std::make_unique<coap::Client>(loop_.context());
      DeviceMirrorOptions options;
      options.rd_uri = "coap://127.0.0.1:" + std::to_string(rd_.coap_port());
      options.retry_interval = milliseconds(50);
      options.check_interval = milliseconds(0);  // no bus here: resyncs are the test's
      mirror_ = std::make_unique<DeviceMirror>(loop_.context(), *client_, listener_, options);
    });
  }
  void TearDown() override {
    loop_.Call([&] {
      mirror_.reset();
      client_.reset();
    });
  }

  // Resyncs and waits until the snapshot was applied.
  void Resync() {
    const int before = listener_.syncs();
    loop_.Call([&] { before == 0 ? mirror_->Start() : mirror_->Resync("test"); });
    ASSERT_TRUE(test::WaitUntil([&] { return listener_.syncs() > before; }, kWait)) << rd_.RdLog();
  }

  std::string IdOf(const std::string& ep) {
    return loop_.Call([&] {
      for (const auto& [id, device] : mirror_->devices()) {
        if (device.endpoint == ep) {
          return id;
        }
      }
      return std::string();
    });
  }

  rd::test::RdHarness rd_;
  std::string error_;
  coap::ContextThread loop_;
  std::unique_ptr<coap::Client> client_;
  GoneRecorder listener_;
  std::unique_ptr<DeviceMirror> mirror_;
};

TEST_F(DeviceMirrorRdTest, AResyncTellsAnExpiryFromADeletionAlsoAfterAnRdRestart) {
  ASSERT_FALSE(rd_.Register("ep=stays&lt=3600", "</a>").empty());
  const std::string deleted = rd_.Register("ep=deleted&lt=3600", "</b>");
  ASSERT_FALSE(deleted.empty());
  const std::string expires = rd_.Register("ep=expires&lt=3600", "</c>");
  ASSERT_FALSE(expires.empty());
  ASSERT_NO_FATAL_FAILURE(Resync());
  const std::string expires_id = IdOf("expires");
  const std::string deleted_id = IdOf("deleted");
  ASSERT_FALSE(expires_id.empty());
  ASSERT_FALSE(deleted_id.empty());

  // No events reach the mirror: one device expires (its lifetime cut to 1 s), one is deleted.
  auto shortened = rd_.Post(expires + "?lt=1");
  ASSERT_TRUE(shortened.ok());
  ASSERT_EQ(shortened->code, coap::Code::kChanged);
  ASSERT_TRUE(test::WaitUntil(
      [&] { return SnapshotIds(rd_.Lookup("/coapgw/devices")).second.count(expires_id) == 1; },
      kWait))
      << rd_.RdLog();
  auto removed = rd_.Delete(deleted);
  ASSERT_TRUE(removed.ok());
  ASSERT_EQ(removed->code, coap::Code::kDeleted);
  ASSERT_NO_FATAL_FAILURE(Resync());
  auto gone = listener_.Take();
  std::sort(gone.begin(), gone.end());  // reported in device id order
  EXPECT_EQ(gone, (std::vector<std::string>{"deleted removed", "expires expired"}));
  EXPECT_EQ(loop_.Call([&] { return mirror_->expired(); }), std::set<std::string>{expires_id});
  EXPECT_TRUE(loop_.Call([&] { return mirror_->knows_expired(); }));

  // The RD reloads the expired id from its database; the deleted one stays unknown.
  ASSERT_EQ(rd_.StopRd(), 0);
  ASSERT_TRUE(rd_.StartRd({}, &error_)) << error_;
  const auto ids = SnapshotIds(rd_.Lookup("/coapgw/devices"));
  EXPECT_EQ(ids.second, std::set<std::string>{expires_id});
  EXPECT_EQ(ids.first.count(deleted_id), 0U);
  const auto one = SnapshotIds(rd_.Lookup("/coapgw/devices?device_id=" + expires_id));
  EXPECT_TRUE(one.first.empty());
  EXPECT_EQ(one.second, std::set<std::string>{expires_id});
  ASSERT_NO_FATAL_FAILURE(Resync());
  EXPECT_TRUE(listener_.Take().empty());
  EXPECT_EQ(loop_.Call([&] { return mirror_->expired(); }), std::set<std::string>{expires_id});

  // A new registration brings the device back under its id and out of the expired ones.
  ASSERT_FALSE(rd_.Register("ep=expires&lt=3600", "</c>").empty());
  ASSERT_NO_FATAL_FAILURE(Resync());
  EXPECT_EQ(IdOf("expires"), expires_id);
  EXPECT_TRUE(loop_.Call([&] { return mirror_->expired().empty(); }));
}

}  // namespace
}  // namespace coapgw::devices
