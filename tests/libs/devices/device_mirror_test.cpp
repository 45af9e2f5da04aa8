#include "coapgw/devices/device_mirror.hpp"

#include <mutex>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "coapgw/coap/server.hpp"
#include "coapgw/events/codec.hpp"
#include "coapgw/test/wait.hpp"

namespace coapgw::devices {
namespace {

using std::chrono::milliseconds;

events::Device MakeDevice(const std::string& id, const std::string& ep) {
  events::Device device;
  device.device_id = id;
  device.endpoint = ep;
  device.base = "coap://127.0.0.1:5999";
  device.location = "/rd/1";
  return device;
}

bus::Message MakeMessage(std::string_view topic, const std::string& publisher, uint64_t seq,
                         const std::string& data) {
  bus::Message message;
  message.topic = std::string(topic);
  message.publisher = publisher;
  message.seq = seq;
  const std::string envelope = "{\"data\":" + data + "}";
  message.document.Parse(envelope.c_str());
  return message;
}

struct Recorded {
  std::string what;  // "upsert <id>", "gone <id> <reason>", "synced <n>"
};

class RecordingListener final : public DeviceListener {
 public:
  void OnDeviceUpsert(const events::Device& device, const events::Device* before,
                      const std::vector<events::DeviceChange>& changes) override {
    (void)changes;
    Add(std::string(before == nullptr ? "add " : "change ") + device.device_id);
  }
  void OnDeviceGone(const events::Device& device, GoneReason reason) override {
    const char* why = reason == GoneReason::kRemoved   ? "removed"
                      : reason == GoneReason::kExpired ? "expired"
                                                       : "resync";
    Add("gone " + device.device_id + " " + why);
  }
  void OnSynced(size_t devices) override { Add("synced " + std::to_string(devices)); }

  std::vector<std::string> Take() {
    const std::lock_guard<std::mutex> lock(mutex_);
    return std::exchange(log_, {});
  }
  size_t size() {
    const std::lock_guard<std::mutex> lock(mutex_);
    return log_.size();
  }

 private:
  void Add(std::string entry) {
    const std::lock_guard<std::mutex> lock(mutex_);
    log_.push_back(std::move(entry));
  }
  std::mutex mutex_;
  std::vector<std::string> log_;
};

// A stand-in RD on loopback: a real CoAP server whose /coapgw/devices answers what the test set.
class DeviceMirrorTest : public testing::Test {
 protected:
  void SetUp() override {
    loop_.Call([&] {
      server_ = std::make_unique<coap::Server>(loop_.context());
      client_ = std::make_unique<coap::Client>(loop_.context());
      auto bound = server_->AddEndpoint("127.0.0.1:0");
      ASSERT_TRUE(bound.ok());
      server_->AddResource("/coapgw/devices")
          .On(coap::Method::kGet, [this](const coap::Request&, coap::Response& response) {
            ++fetches_;
            if (refuse_ > 0) {
              --refuse_;
              response.SetCode(coap::Code::kServiceUnavailable);
              return;
            }
            response.SetPayload(snapshot_, coap::content_format::kJson);
          });
      options_.rd_uri = "coap://127.0.0.1:" + std::to_string(bound->port);
      options_.retry_interval = milliseconds(50);
      mirror_ = std::make_unique<DeviceMirror>(loop_.context(), *client_, listener_, options_);
    });
  }
  void TearDown() override {
    loop_.Call([&] {
      mirror_.reset();
      client_.reset();
      server_.reset();
    });
  }

  // `expired`: the snapshot's "expired" member as JSON text ("" leaves it out, as an older RD);
  // `more`: further members, e.g. ",\"directory\":\"d\"".
  void SetSnapshot(const std::string& publisher, const std::string& seqs,
                   const std::vector<events::Device>& devices, const std::string& expired = "",
                   const std::string& more = "") {
    std::string body = "{\"publisher\":\"" + publisher + "\",\"seq\":{" + seqs + "},\"devices\":[";
    for (size_t i = 0; i < devices.size(); ++i) {
      body += (i == 0 ? "" : ",") + events::Encode(events::DeviceRegistered{devices[i]});
    }
    body += "]" + (expired.empty() ? "" : ",\"expired\":" + expired) + more + "}";
    loop_.Call([&] { snapshot_ = body; });
  }

  // A new mirror that checks the RD every `interval`.
  void CheckEvery(milliseconds interval) {
    loop_.Call([&] {
      options_.check_interval = interval;
      mirror_ = std::make_unique<DeviceMirror>(loop_.context(), *client_, listener_, options_);
    });
  }

  uint64_t Resyncs() {
    return loop_.Call([&] { return mirror_->stats().resyncs; });
  }

  void Start() {
    loop_.Call([&] { mirror_->Start(); });
    ASSERT_TRUE(test::WaitUntil([&] { return loop_.Call([&] { return mirror_->synced(); }); },
                                milliseconds(5000)));
  }

  void Deliver(const bus::Message& message) {
    loop_.Call([&] { mirror_->OnMessage(message); });
  }

  std::vector<std::string> WaitFor(size_t entries) {
    test::WaitUntil([&] { return listener_.size() >= entries; }, milliseconds(5000));
    return listener_.Take();
  }

  coap::ContextThread loop_;
  std::unique_ptr<coap::Server> server_;
  std::unique_ptr<coap::Client> client_;
  DeviceMirrorOptions options_;
  std::unique_ptr<DeviceMirror> mirror_;
  RecordingListener listener_;
  std::string snapshot_;
  int refuse_ = 0;
  int fetches_ = 0;
};

const std::string kRegistered(events::DeviceRegistered::kTopic);

TEST_F(DeviceMirrorTest, FirstSnapshotReportsEveryDevice) {
  SetSnapshot("rd-1", "", {MakeDevice("a", "node-a"), MakeDevice("b", "node-b")});
  Start();
  EXPECT_EQ(WaitFor(3), (std::vector<std::string>{"add a", "add b", "synced 2"}));
  EXPECT_NE(loop_.Call([&] { return mirror_->Find("a"); }), nullptr);
}

// The snapshot grows with the directory: its own limit, not the CoAP context's, decides.
TEST_F(DeviceMirrorTest, SnapshotOverItsLimitIsRefusedAndFetchedAgain) {
  SetSnapshot("rd-1", "", {MakeDevice("a", "node-a"), MakeDevice("b", "node-b")});
  loop_.Call([&] {
    options_.max_snapshot_bytes = 64;
    mirror_ = std::make_unique<DeviceMirror>(loop_.context(), *client_, listener_, options_);
    mirror_->Start();
  });
  ASSERT_TRUE(test::WaitUntil([&] { return loop_.Call([&] { return fetches_ >= 3; }); },
                              milliseconds(5000)));
  EXPECT_FALSE(loop_.Call([&] { return mirror_->synced(); }));
  EXPECT_TRUE(listener_.Take().empty());
}

TEST_F(DeviceMirrorTest, EventsInTheSnapshotAreSkippedAndLaterOnesApplied) {
  SetSnapshot("rd-1", "\"rd.device.registered\":2", {MakeDevice("a", "node-a")});
  Start();
  listener_.Take();
  Deliver(MakeMessage(kRegistered, "rd-1", 2,
                      events::Encode(events::DeviceRegistered{MakeDevice("a", "node-a")})));
  Deliver(MakeMessage(kRegistered, "rd-1", 3,
                      events::Encode(events::DeviceRegistered{MakeDevice("c", "node-c")})));
  EXPECT_EQ(WaitFor(1), (std::vector<std::string>{"add c"}));
  EXPECT_EQ(loop_.Call([&] { return mirror_->stats().skipped; }), 1U);
}

TEST_F(DeviceMirrorTest, GapTriggersResyncAndReportsTheDifference) {
  SetSnapshot("rd-1", "\"rd.device.registered\":1", {MakeDevice("a", "node-a")});
  Start();
  listener_.Take();
  // seq 2 is lost; meanwhile "a" was removed and "b" registered.
  SetSnapshot("rd-1", "\"rd.device.registered\":3,\"rd.device.removed\":1",
              {MakeDevice("b", "node-b")});
  Deliver(MakeMessage(kRegistered, "rd-1", 3,
                      events::Encode(events::DeviceRegistered{MakeDevice("b", "node-b")})));
  EXPECT_EQ(WaitFor(3), (std::vector<std::string>{"gone a resync", "add b", "synced 1"}));
  EXPECT_EQ(loop_.Call([&] { return mirror_->stats().resyncs; }), 1U);
}

TEST_F(DeviceMirrorTest, AnotherRdPublisherTriggersResync) {
  SetSnapshot("rd-1", "\"rd.device.registered\":1", {MakeDevice("a", "node-a")});
  Start();
  listener_.Take();
  SetSnapshot("rd-2", "\"rd.device.registered\":1", {MakeDevice("a", "node-a")});
  Deliver(MakeMessage(kRegistered, "rd-2", 1,
                      events::Encode(events::DeviceRegistered{MakeDevice("a", "node-a")})));
  EXPECT_EQ(WaitFor(1), (std::vector<std::string>{"synced 1"}));  // nothing changed
}

TEST_F(DeviceMirrorTest, RemovedExpiredAndStatusEventsAreReported) {
  SetSnapshot("rd-1", "", {MakeDevice("a", "node-a"), MakeDevice("b", "node-b")});
  Start();
  listener_.Take();
  events::Device offline = MakeDevice("a", "node-a");
  offline.status = events::DeviceStatus::kDisconnected;
  Deliver(MakeMessage(events::DeviceStatusChanged::kTopic, "rd-1", 1,
                      events::Encode(events::DeviceStatusChanged{offline})));
  Deliver(MakeMessage(events::DeviceRemoved::kTopic, "rd-1", 1,
                      events::Encode(events::DeviceRemoved{MakeDevice("a", "node-a")})));
  Deliver(MakeMessage(events::DeviceExpired::kTopic, "rd-1", 1,
                      events::Encode(events::DeviceExpired{MakeDevice("b", "node-b")})));
  EXPECT_EQ(WaitFor(3), (std::vector<std::string>{"change a", "gone a removed", "gone b expired"}));
}

// A resync tells an expiry from a deletion by the snapshot's "expired" ids.
TEST_F(DeviceMirrorTest, ResyncReportsExpiredAndRemovedDevicesByTheSnapshotsExpiredIds) {
  SetSnapshot("rd-1", "\"rd.device.registered\":3",
              {MakeDevice("a", "node-a"), MakeDevice("b", "node-b"), MakeDevice("c", "node-c")},
              R"(["x"])");
  Start();
  listener_.Take();
  EXPECT_TRUE(loop_.Call([&] { return mirror_->knows_expired(); }));
  EXPECT_EQ(loop_.Call([&] { return mirror_->expired(); }), std::set<std::string>{"x"});
  // The events of a's expiry, b's deletion and x's return are lost.
  SetSnapshot("rd-1", "\"rd.device.registered\":4,\"rd.device.expired\":1",
              {MakeDevice("c", "node-c"), MakeDevice("x", "node-x")}, R"(["a"])");
  loop_.Call([&] { mirror_->Resync("test"); });
  EXPECT_EQ(WaitFor(4),
            (std::vector<std::string>{"gone a expired", "gone b removed", "add x", "synced 2"}));
  EXPECT_EQ(loop_.Call([&] { return mirror_->expired(); }), std::set<std::string>{"a"});
  // Events keep the set: c expires, a registers again.
  Deliver(MakeMessage(events::DeviceExpired::kTopic, "rd-1", 2,
                      events::Encode(events::DeviceExpired{MakeDevice("c", "node-c")})));
  Deliver(MakeMessage(kRegistered, "rd-1", 5,
                      events::Encode(events::DeviceRegistered{MakeDevice("a", "node-a")})));
  EXPECT_EQ(WaitFor(2), (std::vector<std::string>{"gone c expired", "add a"}));
  EXPECT_EQ(loop_.Call([&] { return mirror_->expired(); }), std::set<std::string>{"c"});
}

// An RD whose snapshot lists no expired ids: the cause of a vanished device stays unknown.
TEST_F(DeviceMirrorTest, ResyncWithoutExpiredIdsReportsTheCauseAsUnknown) {
  SetSnapshot("rd-1", "", {MakeDevice("a", "node-a")});
  Start();
  listener_.Take();
  EXPECT_FALSE(loop_.Call([&] { return mirror_->knows_expired(); }));
  SetSnapshot("rd-1", "", {});
  loop_.Call([&] { mirror_->Resync("test"); });
  EXPECT_EQ(WaitFor(2), (std::vector<std::string>{"gone a resync", "synced 0"}));
}

// The snapshot's "directory" (the RD database's identity) is exposed as of the last snapshot.
TEST_F(DeviceMirrorTest, DirectoryIdIsTakenFromEverySnapshot) {
  SetSnapshot("rd-1", "", {MakeDevice("a", "node-a")}, "[]", R"(,"directory":"dir-1")");
  Start();
  listener_.Take();
  EXPECT_EQ(loop_.Call([&] { return mirror_->directory(); }), "dir-1");
  SetSnapshot("rd-2", "", {}, "[]", R"(,"directory":"dir-2")");
  loop_.Call([&] { mirror_->Resync("test"); });
  EXPECT_EQ(WaitFor(2), (std::vector<std::string>{"gone a removed", "synced 0"}));
  EXPECT_EQ(loop_.Call([&] { return mirror_->directory(); }), "dir-2");
  // An RD that does not send it.
  SetSnapshot("rd-3", "", {}, "[]");
  loop_.Call([&] { mirror_->Resync("test"); });
  EXPECT_EQ(WaitFor(1), (std::vector<std::string>{"synced 0"}));
  EXPECT_EQ(loop_.Call([&] { return mirror_->directory(); }), "");
}

TEST_F(DeviceMirrorTest, SnapshotWithANonStringDirectoryIsRefused) {
  SetSnapshot("rd-1", "", {MakeDevice("a", "node-a")}, "[]", R"(,"directory":7)");
  loop_.Call([&] { mirror_->Start(); });
  ASSERT_TRUE(test::WaitUntil(
      [&] { return loop_.Call([&] { return mirror_->stats().failed_fetches; }) >= 1; },
      milliseconds(5000)));
  EXPECT_FALSE(loop_.Call([&] { return mirror_->synced(); }));
  EXPECT_EQ(loop_.Call([&] { return mirror_->directory(); }), "");
}

TEST_F(DeviceMirrorTest, FailedFetchIsRetriedAndHeldEventsReplayed) {
  loop_.Call([&] { refuse_ = 2; });
  SetSnapshot("rd-1", "\"rd.device.registered\":1", {MakeDevice("a", "node-a")});
  loop_.Call([&] { mirror_->Start(); });
  // Arrives before the snapshot: held, then replayed after it.
  Deliver(MakeMessage(kRegistered, "rd-1", 2,
                      events::Encode(events::DeviceRegistered{MakeDevice("b", "node-b")})));
  EXPECT_EQ(WaitFor(3), (std::vector<std::string>{"add a", "synced 1", "add b"}));
  EXPECT_EQ(loop_.Call([&] { return fetches_; }), 3);
}

TEST_F(DeviceMirrorTest, MalformedSnapshotIsRetried) {
  loop_.Call([&] { snapshot_ = "{\"devices\":[{\"nonsense\":1}],\"publisher\":\"rd-1\"}"; });
  loop_.Call([&] { mirror_->Start(); });
  ASSERT_TRUE(test::WaitUntil([&] { return loop_.Call([&] { return fetches_; }) >= 2; },
                              milliseconds(5000)));
  EXPECT_FALSE(loop_.Call([&] { return mirror_->synced(); }));
  SetSnapshot("rd-1", "", {});
  ASSERT_TRUE(test::WaitUntil([&] { return loop_.Call([&] { return mirror_->synced(); }); },
                              milliseconds(5000)));
}

// Events lost on the bus with no later event to reveal the gap (the bus restarted, then nothing
// happened): the periodic check of the RD's sequence numbers finds them.
TEST_F(DeviceMirrorTest, ACheckFindsEventsLostWithNoneAfterThem) {
  CheckEvery(milliseconds(50));
  SetSnapshot("rd-1", "\"rd.device.registered\":1", {MakeDevice("a", "node-a")});
  Start();
  EXPECT_EQ(WaitFor(2), (std::vector<std::string>{"add a", "synced 1"}));
  // The RD registers b; its event never arrives.
  SetSnapshot("rd-1", "\"rd.device.registered\":2",
              {MakeDevice("a", "node-a"), MakeDevice("b", "node-b")});
  EXPECT_EQ(WaitFor(2), (std::vector<std::string>{"add b", "synced 2"}));
  EXPECT_EQ(Resyncs(), 1U);
}

TEST_F(DeviceMirrorTest, ACheckFindsARestartedRdThatPublishedNothing) {
  CheckEvery(milliseconds(50));
  SetSnapshot("rd-1", "\"rd.device.registered\":1", {MakeDevice("a", "node-a")});
  Start();
  EXPECT_EQ(WaitFor(2), (std::vector<std::string>{"add a", "synced 1"}));
  SetSnapshot("rd-2", "", {MakeDevice("b", "node-b")});
  EXPECT_EQ(WaitFor(3), (std::vector<std::string>{"gone a resync", "add b", "synced 1"}));
}

TEST_F(DeviceMirrorTest, ACheckLeavesEventsThatArriveWithinAnInterval) {
  CheckEvery(milliseconds(50));
  SetSnapshot("rd-1", "\"rd.device.registered\":1", {MakeDevice("a", "node-a")});
  Start();
  EXPECT_EQ(WaitFor(2), (std::vector<std::string>{"add a", "synced 1"}));
  SetSnapshot("rd-1", "\"rd.device.registered\":2",
              {MakeDevice("a", "node-a"), MakeDevice("b", "node-b")});
  Deliver(MakeMessage(kRegistered, "rd-1", 2,
                      events::Encode(events::DeviceRegistered{MakeDevice("b", "node-b")})));
  EXPECT_EQ(WaitFor(1), (std::vector<std::string>{"add b"}));
  const int fetches = loop_.Call([&] { return fetches_; });
  ASSERT_TRUE(test::WaitUntil([&] { return loop_.Call([&] { return fetches_; }) >= fetches + 4; },
                              milliseconds(5000)));
  EXPECT_EQ(Resyncs(), 0U);
}

}  // namespace
}  // namespace coapgw::devices
