// Device deletions reach the platform whatever was down when they happened (gateway contract §3:
// explicit DELETE → `delete` then `commit`; lifetime expiry → `disconnect`, the platform keeps the
// device). Real processes (tests/support Stack): coapgw-bus, coapgw-rd on PostgreSQL,
// coapgw-platform-sim (which, as the Go server, keeps a device after `clear` and answers 500 to a
// `delete` of a device it does not have) and coapgw-ws-connector; the test registers and deletes
// over CoAP itself.
#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <string>

#include <gtest/gtest.h>

#include "coapgw/coap/uri.hpp"
#include "coapgw/test/wait.hpp"
#include "e2e_testing.hpp"
#include "pg_fixture.hpp"
#include "rd_harness.hpp"

namespace coapgw::ws_connector::test {
namespace {

using coapgw::test::Stack;
using coapgw::test::WaitUntil;
using e2e::Part;
using std::chrono::milliseconds;

// The mirror's periodic check finds events lost while the bus was down within two of its 5 s
// intervals.
constexpr milliseconds kWait{20'000};

class DeletionsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string error;
    for (const Part part : {Part::kBus, Part::kRd, Part::kPlatformSim, Part::kWsConnector}) {
      ASSERT_TRUE(stack_.StartPart(part, &error)) << error;
    }
    for (const char* ep : {"keeps", "deleted", "expires"}) {
      locations_[ep] = Register(ep);
      ASSERT_FALSE(locations_[ep].empty()) << ep;
    }
    ASSERT_TRUE(WaitUntil([&] { return Listened().size() == 3; }, kWait))
        << Logs("the platform did not get the three devices");
    for (const auto& device : e2e::PlatformDevices(stack_)) {
      ids_[device.name] = device.uri;
    }
    ASSERT_EQ(StoredIds(), (std::set<std::string>{Id("keeps"), Id("deleted"), Id("expires")}));
  }

  void TearDown() override {
    std::string error;
    EXPECT_TRUE(stack_.StopAll(&error)) << error;
  }

  coap::Outcome<coap::ClientResponse> ToRd(coap::Method method, const std::string& target) {
    const bool registration = method == coap::Method::kPost && target.rfind("/rd?", 0) == 0;
    return coap_.Send(
        method, stack_.rd_port(), target, registration ? "</sensors/temp>;obs" : "",
        registration ? std::optional<uint16_t>(coap::content_format::kLinkFormat) : std::nullopt);
  }

  // Registers `ep` with type `et` (by default one the platform knows); its location ("" when
  // refused).
  std::string Register(const std::string& ep, const std::string& et = "iot%23e2e-device") {
    auto response = ToRd(coap::Method::kPost, "/rd?ep=" + ep + "&et=" + et +
                                                  "&lt=3600"
                                                  "&base=coap://127.0.0.1:9");
    return response.ok() && response->code == coap::Code::kCreated
               ? coap::JoinPath(response->location_path)
               : "";
  }

  // An explicit DELETE of `ep`'s registration.
  void Delete(const std::string& ep) {
    auto removed = ToRd(coap::Method::kDelete, locations_[ep]);
    ASSERT_TRUE(removed.ok() && removed->code == coap::Code::kDeleted) << Logs("DELETE " + ep);
  }

  // Cuts `ep`'s lifetime to 1 s and waits until the RD has expired it.
  void Expire(const std::string& ep) {
    auto updated = ToRd(coap::Method::kPost, locations_[ep] + "?lt=1");
    ASSERT_TRUE(updated.ok() && updated->code == coap::Code::kChanged) << Logs("lt=1 " + ep);
    ASSERT_TRUE(WaitUntil([&] { return !e2e::RdDevice(stack_, ep).has_value(); }, kWait))
        << Logs(ep + " did not expire");
  }

  std::string Id(const std::string& ep) { return ids_[ep]; }

  // Names of the devices the platform has (only those it listens to with `listened_only`).
  std::set<std::string> OnPlatform(bool listened_only = false) {
    std::set<std::string> names;
    for (const auto& device : e2e::PlatformDevices(stack_)) {
      if (device.listened || !listened_only) {
        names.insert(device.name);
      }
    }
    return names;
  }
  std::set<std::string> Listened() { return OnPlatform(true); }

  // How many `handler` requests the connector sent for `ep`'s device, and whether a `commit`
  // followed the last of them.
  size_t Sent(const std::string& handler, const std::string& ep, bool* committed = nullptr) {
    size_t count = 0;
    bool commit_after = false;
    for (const auto& request : e2e::PlatformRequests(stack_)) {
      if (request.handler == handler && request.payload == "\"" + Id(ep) + "\"") {
        ++count;
        commit_after = false;
      } else if (request.handler == "commit") {
        commit_after = true;
      }
    }
    if (committed != nullptr) {
      *committed = commit_after;
    }
    return count;
  }

  std::set<std::string> StoredIds() {
    const std::string rows =
        stack_.database().Query("SELECT string_agg(device_id, ',') FROM wsc_platform_devices");
    std::set<std::string> ids;
    size_t start = 0;
    while (start < rows.size()) {
      const size_t end = std::min(rows.find(',', start), rows.size());
      ids.insert(rows.substr(start, end - start));
      start = end + 1;
    }
    return ids;
  }

  // After the deletion of "deleted" and the expiry of "expires": only "deleted" left the
  // platform, by `delete` and `commit`; "expires" stays there, released; the connector forgot the
  // deleted id only.
  void ExpectDeletedAndExpired(const std::string& step) {
    bool committed = false;
    EXPECT_TRUE(WaitUntil(
        [&] {
          return Sent("delete", "deleted", &committed) >= 1 && committed &&
                 OnPlatform() == std::set<std::string>{"keeps", "expires"} &&
                 Listened() == std::set<std::string>{"keeps"};
        },
        kWait))
        << Logs(step + ": platform has " + Join(OnPlatform()) + ", listens to " + Join(Listened()));
    EXPECT_EQ(Sent("delete", "expires"), 0U);
    EXPECT_TRUE(WaitUntil(
        [&] {
          return StoredIds() == std::set<std::string>{Id("keeps"), Id("expires")};
        },
        kWait))
        << Logs(step + ": wsc_platform_devices");
  }

  // Kills `part` (SIGKILL), deletes "deleted", lets "expires" expire and starts `part` again.
  void DeleteAndExpireWhileDown(Part part) {
    stack_.Kill(part);
    ASSERT_NO_FATAL_FAILURE(Delete("deleted"));
    ASSERT_NO_FATAL_FAILURE(Expire("expires"));
    std::string error;
    ASSERT_TRUE(stack_.StartPart(part, &error)) << error;
  }

  static std::string Join(const std::set<std::string>& names) {
    std::string text;
    for (const auto& name : names) {
      text += (text.empty() ? "" : ",") + name;
    }
    return "{" + text + "}";
  }

  std::string Logs(const std::string& what) {
    return e2e::Failure(stack_, "deletions", what,
                        {Part::kWsConnector, Part::kRd, Part::kPlatformSim});
  }

  Stack stack_;
  rd::test::SyncCoapClient coap_;
  std::map<std::string, std::string> locations_;  // ep -> /rd/<n>
  std::map<std::string, std::string> ids_;        // ep -> device id
};

TEST_F(DeletionsTest, ADeletionWhileTheConnectorIsDownIsDeletedAfterItsRestart) {
  ASSERT_NO_FATAL_FAILURE(DeleteAndExpireWhileDown(Part::kWsConnector));
  ExpectDeletedAndExpired("after the restart");
}

TEST_F(DeletionsTest, ADeletionWhileTheBusIsDownIsADeleteAndAnExpiryADisconnect) {
  ASSERT_NO_FATAL_FAILURE(DeleteAndExpireWhileDown(Part::kBus));
  ExpectDeletedAndExpired("after the bus came back");
  EXPECT_EQ(Sent("disconnect", "expires"), 1U) << Logs("no disconnect for the expired device");
}

// The connection drops instead of the platform's answer to `delete`: the id is kept and the
// deletion sent again on the next connection.
TEST_F(DeletionsTest, ADeleteWithoutAnAnswerIsSentAgain) {
  ASSERT_EQ(stack_.PlatformPost("/api/hooks", R"({"action":"drop_on","handler":"delete"})").status,
            200);
  ASSERT_NO_FATAL_FAILURE(Delete("deleted"));
  ASSERT_NO_FATAL_FAILURE(Expire("expires"));
  ExpectDeletedAndExpired("after the reconnect");
  EXPECT_EQ(Sent("delete", "deleted"), 2U);
}

// After an outage the outbox holds thousands of events for a device deleted meanwhile, among
// events for a live device, some of them for a service its type lacks. The platform would count
// every refused event toward its limit of 5 errors in a row and close the connection; the
// connector drops the deleted device's events before sending, sends the bad service's events
// only until the platform has refused one, and the connection stays up.
TEST_F(DeletionsTest, StaleOutboxEventsAreDroppedWithoutLosingTheConnection) {
  constexpr int kStale = 3000;
  constexpr int kLiveEvery = 100;  // every 100th row: a live event
  constexpr int kBadEvery = 7;     // every 7th row (else): a live device's unknown service
  stack_.Kill(Part::kWsConnector);
  ASSERT_NO_FATAL_FAILURE(Delete("deleted"));
  const std::string event =
      R"('{"device_uri":"' || CASE WHEN i % )" + std::to_string(kLiveEvery) + " = 0 OR i % " +
      std::to_string(kBadEvery) + " = 0 THEN '" + Id("keeps") + "' ELSE '" + Id("deleted") +
      R"(' END || '","service_uri":"GET /sensors/' || CASE WHEN i % )" +
      std::to_string(kLiveEvery) + " <> 0 AND i % " + std::to_string(kBadEvery) +
      R"( = 0 THEN 'nope' ELSE 'temp' END || '","value":[{"name":"metadata","value":"{}"},)"
      R"({"name":"data","value":"' || i || '"}]}')";
  stack_.database().Query("INSERT INTO wsc_outbox (handler, payload) SELECT 'event', " + event +
                          " FROM generate_series(1, " + std::to_string(kStale) + ") AS i");
  int live = 0;
  int bad = 0;
  for (int i = 1; i <= kStale; ++i) {
    live += i % kLiveEvery == 0 ? 1 : 0;
    bad += i % kLiveEvery != 0 && i % kBadEvery == 0 ? 1 : 0;
  }
  const int stale = kStale - live - bad;
  const uint64_t before = e2e::PlatformLastSeq(stack_);
  std::string error;
  ASSERT_TRUE(stack_.StartPart(Part::kWsConnector, &error)) << error;

  ASSERT_TRUE(WaitUntil(
      [&] { return stack_.database().Query("SELECT count(*) FROM wsc_outbox") == "0"; }, kWait))
      << Logs("the outbox did not empty");
  const auto metric = [&](const std::string& name) {
    return stack_.Metric(Part::kWsConnector, name).value_or(-1);
  };
  EXPECT_EQ(metric("coapgw_wsc_connects_total"), 1) << Logs("the connection was lost");
  EXPECT_EQ(metric("coapgw_wsc_disconnects_total"), 0) << Logs("the connection was lost");
  int live_arrived = 0;
  int bad_sent = 0;
  int stale_sent = 0;
  for (const auto& received : e2e::PlatformEvents(stack_, before)) {
    if (received.device_uri == Id("deleted")) {
      ++stale_sent;
    } else if (received.service_uri == "GET /sensors/temp" && received.accepted) {
      ++live_arrived;
    } else {
      ++bad_sent;
    }
  }
  EXPECT_EQ(stale_sent, 0);
  EXPECT_EQ(live_arrived, live);
  // Probes of the unknown service until the first refusal arrives (at most the error budget).
  EXPECT_GE(bad_sent, 1);
  EXPECT_LE(bad_sent, 3);
  EXPECT_EQ(metric("coapgw_wsc_events_rejected_total"), bad_sent);
  EXPECT_EQ(metric("coapgw_wsc_events_dropped_total"), stale + bad - bad_sent);
  EXPECT_EQ(metric("coapgw_wsc_events_sent_total"), live);
  const std::string log = stack_.Tail(Part::kWsConnector, 400);
  EXPECT_NE(log.find("event dropped: the platform does not listen to the device"),
            std::string::npos)
      << log;
  EXPECT_EQ(log.find("max consecutive error count exceeded"), std::string::npos) << log;
}

// Many devices of a type the platform refuses: their refused `put`s, in the sync and after it,
// never make 6 refusals in a row (an accepted `commit` resets the platform's count), so the
// connection stays up and the others are listened to.
TEST_F(DeletionsTest, RefusedPutsInARowDoNotCloseTheConnection) {
  // With 21 such devices among the 3 others, at least 6 follow each other in the sync.
  constexpr int kRefused = 21;
  stack_.Kill(Part::kWsConnector);
  for (int i = 0; i < kRefused; ++i) {
    ASSERT_FALSE(Register("unknown-" + std::to_string(i), "iot%23no-such-type").empty()) << i;
  }
  std::string error;
  ASSERT_TRUE(stack_.StartPart(Part::kWsConnector, &error)) << error;
  ASSERT_TRUE(WaitUntil([&] { return Listened().size() == 3; }, kWait))
      << Logs("the platform lost the three devices");
  EXPECT_EQ(stack_.Metric(Part::kWsConnector, "coapgw_wsc_connects_total"), 1)
      << Logs("the connection was lost during the sync");
  // After the sync: refused one by one as device changes.
  for (int i = kRefused; i < 2 * kRefused; ++i) {
    ASSERT_FALSE(Register("unknown-" + std::to_string(i), "iot%23no-such-type").empty()) << i;
  }
  ASSERT_TRUE(WaitUntil(
      [&] {
        size_t puts = 0;
        for (const auto& request : e2e::PlatformRequests(stack_)) {
          puts +=
              request.handler == "put" && request.payload.find("no-such-type") != std::string::npos
                  ? 1
                  : 0;
        }
        return puts >= 2 * kRefused;
      },
      kWait))
      << Logs("not every device was put");
  EXPECT_EQ(stack_.Metric(Part::kWsConnector, "coapgw_wsc_connects_total"), 1)
      << Logs("the connection was lost");
  EXPECT_EQ(Listened().size(), 3U);
}

}  // namespace
}  // namespace coapgw::ws_connector::test
