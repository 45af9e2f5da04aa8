// The ws-connector, the RD and the bus are each killed (SIGKILL) and restarted while devices
// produce data and register and deregister; afterwards the platform must agree with the RD and
// no event may be lost from the connector's outbox or duplicated beyond what its at-least-once
// delivery allows.
//
// What "duplicated" means here. An event is identified by (device, service, the observer's
// `time`, value): the observer reads each value once and stamps it with the millisecond it
// arrived, and the bus never duplicates. The time alone is not enough: an observation's first
// answer and the device's next notification can reach the observer in the same millisecond, and
// the simulated sensors change at every notification. The ws-connector sends its outbox one event
// at a time and deletes a row only when the platform answered; a connection that ends (SIGKILL)
// after the platform recorded the event but before the row was deleted sends that row again, first
// of all events, on the next connection. So a second copy is allowed only as the first event of a
// later session, of the event that was the last one of the session before; anything else is a real
// duplicate.

#include <algorithm>
#include <chrono>
#include <map>
#include <set>

#include <gtest/gtest.h>

#include "coapgw/test/wait.hpp"
#include "e2e_testing.hpp"
#include "pg_fixture.hpp"

namespace coapgw::e2e {
namespace {

using std::chrono::milliseconds;
using test::WaitUntil;

constexpr milliseconds kWait{20'000};
constexpr int kDevices = 6;

std::string Ep(int index) {
  return "e2e-" + std::to_string(index);
}

// (device, service, observer time, value) of an event, from its metadata and data.
std::string EventKey(const std::string& device, const std::string& service,
                     const std::string& metadata, const std::string& data) {
  const auto parsed = Parse(metadata);
  const std::string time =
      parsed.IsObject() && parsed.HasMember("time") && parsed["time"].IsString()
          ? parsed["time"].GetString()
          : "?";
  return device + " " + service + " " + time + " " + data;
}

// The key of an outbox row (an `event` payload as the ws-connector stores it).
std::string OutboxKey(const std::string& payload) {
  const auto event = Parse(payload);
  if (!event.IsObject() || !event.HasMember("value") || !event["value"].IsArray()) {
    return payload;
  }
  std::string metadata;
  std::string data;
  for (const auto& part : event["value"].GetArray()) {
    if (part.HasMember("name") && part["value"].IsString()) {
      (part["name"] == "metadata" ? metadata : data) = part["value"].GetString();
    }
  }
  return EventKey(event["device_uri"].GetString(), event["service_uri"].GetString(), metadata,
                  data);
}

class RestartTest : public ::testing::Test {
 protected:
  RestartTest() : stack_(Options()) {}

  static test::StackOptions Options() {
    test::StackOptions options;
    options.devices = kDevices;
    return options;
  }

  void SetUp() override {
    std::string error;
    ASSERT_TRUE(stack_.Start(&error)) << "starting the stack: " << error;
  }

  void TearDown() override {
    std::string error;
    EXPECT_TRUE(stack_.StopAll(&error)) << "stopping the stack (SIGTERM): " << error;
  }

  // Waits until the platform agrees with the RD: the gateway holds exactly the RD's connected
  // devices (and its hash is committed), each listened to under its name and type, and no device
  // the RD no longer has is on the platform. `what` names the moment for the failure message.
  void ExpectPlatformEqualsRd(const std::string& step) {
    std::string difference;
    const bool equal = WaitUntil(
        [&] {
          const auto rd = stack_.RdDevices();
          const auto gateway = Gateway(stack_);
          if (!rd || !gateway) {
            difference = !rd ? "the RD did not answer" : "no gateway on the platform";
            return false;
          }
          std::set<std::string> connected;
          std::set<std::string> known;
          for (const auto& device : *rd) {
            known.insert(device.device_id);
            if (device.status == events::DeviceStatus::kConnected) {
              connected.insert(device.device_id);
            }
          }
          const std::set<std::string> gateway_ids(gateway->devices.begin(), gateway->devices.end());
          std::set<std::string> committed;
          std::set<std::string> listened;
          std::string stale;
          for (const auto& device : PlatformDevices(stack_)) {
            if (gateway_ids.count(device.id) != 0) {
              committed.insert(device.uri);
            }
            if (device.listened) {
              listened.insert(device.uri);
            }
            if (known.count(device.uri) == 0) {
              stale += " " + device.name + "(" + device.uri + ")";
            }
          }
          // Every deletion reaches the platform as `delete` followed by a `commit`.
          std::set<std::string> undeleted = deleted_;
          uint64_t last_delete = 0;
          uint64_t last_commit = 0;
          for (const auto& request : PlatformRequests(stack_)) {
            if (request.handler == "commit") {
              last_commit = request.seq;
            } else if (request.handler == "delete") {
              const auto id = Parse(request.payload);  // the device id as a JSON string
              if (id.IsString() && deleted_.count(id.GetString()) != 0) {
                undeleted.erase(id.GetString());
                last_delete = request.seq;
              }
            }
          }
          const bool committed_after = last_commit > last_delete;
          difference = "RD connected " + Join(connected) + "; gateway committed " +
                       Join(committed) + "; listened " + Join(listened) +
                       (stale.empty() ? "" : "; on the platform but not in the RD:" + stale) +
                       (undeleted.empty() ? "" : "; no delete for " + Join(undeleted)) +
                       (committed_after ? "" : "; no commit after the last delete");
          return committed == connected && listened == connected && stale.empty() &&
                 undeleted.empty() && committed_after;
        },
        kWait);
    EXPECT_TRUE(equal) << Failure(stack_, step, "the platform differs from the RD: " + difference,
                                  {Part::kWsConnector, Part::kRd, Part::kPlatformSim});
  }

  static std::string Join(const std::set<std::string>& ids) {
    std::string text = "{";
    for (const auto& id : ids) {
      text += (text.size() > 1 ? "," : "") + id.substr(0, 8);
    }
    return text + "}";
  }

  // How many registrations the simulated device has had answered (its control API).
  int64_t Registrations(int index) {
    const auto device = stack_.DeviceSimGet("/devices/" + Ep(index));
    return device.IsObject() && device.HasMember("registrations") &&
                   device["registrations"].IsInt64()
               ? device["registrations"].GetInt64()
               : -1;
  }

  void Deregister(int index, const std::string& step) {
    const auto result = stack_.DeviceAction(Ep(index), "deregister");
    ASSERT_EQ(result.status, 200) << Failure(stack_, step,
                                             "deregister " + Ep(index) + ": " + result.body);
  }

  void Register(int index, const std::string& step) {
    const auto result = stack_.DeviceAction(Ep(index), "register");
    ASSERT_EQ(result.status, 200) << Failure(stack_, step,
                                             "register " + Ep(index) + ": " + result.body);
  }

  void WaitRdHas(int index, bool present, const std::string& step) {
    ASSERT_TRUE(
        WaitUntil([&] { return RdDevice(stack_, Ep(index)).has_value() == present; }, kWait))
        << Failure(stack_, step,
                   "the RD " + std::string(present ? "lacks " : "still has ") + Ep(index),
                   {Part::kRd, Part::kDeviceSim});
  }

  void Restart(Part part, const std::string& step) {
    std::string error;
    ASSERT_TRUE(stack_.StartPart(part, &error)) << Failure(stack_, step, "restart: " + error);
  }

  // The platform id of device `index` now ("" when the RD has none).
  std::string IdOf(int index) {
    const auto record = RdDevice(stack_, Ep(index));
    return record ? record->device_id : "";
  }

  // Where each copy of an event arrived: its seq, its session and that session's first and last
  // event seq (a resend is allowed only from the last event of one session to the first of the
  // next), whether the platform accepted it, and what it carried.
  static std::string Copies(const std::vector<const PlatformEvent*>& list,
                            const std::map<int64_t, std::pair<uint64_t, uint64_t>>& sessions) {
    std::string text;
    for (const auto* event : list) {
      const auto& range = sessions.at(event->session);
      text += (text.empty() ? "" : ", ") + std::string("seq ") + std::to_string(event->seq) +
              " in session " + std::to_string(event->session) + " (events " +
              std::to_string(range.first) + ".." + std::to_string(range.second) + ", " +
              (event->accepted ? "accepted" : "refused: " + event->error) + ", data " +
              event->data + ", metadata " + event->metadata + ")";
    }
    return text;
  }

  test::Stack stack_;
  // Platform ids of the devices deleted in the RD so far, among them those deleted while the
  // ws-connector was down or before it had sent the `delete`, and while the bus was down: each
  // must reach the platform as `delete` then `commit`, and leave it.
  std::set<std::string> deleted_;
};

TEST_F(RestartTest, KillingConnectorRdAndBusLosesAndDuplicatesNothing) {
  ExpectPlatformEqualsRd("6.0 (start)");
  ASSERT_FALSE(HasFailure());

  // --- The ws-connector, with a backlog in its outbox. -----------------------------------
  {
    const std::string step = "6.1 (ws-connector killed)";
    // Data flows first, so that the connection killed has sent events of its own.
    ASSERT_TRUE(WaitUntil([&] { return PlatformEvents(stack_).size() >= 20; }, kWait)) << Failure(
        stack_, step, "no data reached the platform", {Part::kObserver, Part::kWsConnector});
    // A slow platform lets events pile up in the outbox, which the kill must not lose. Only rows
    // written after the hook are held back: those sent before it are answered at once, so rows
    // already in the outbox may all be gone by the kill.
    ASSERT_TRUE(stack_.PlatformPost("/api/hooks", R"({"action":"delay","ms":400})").status == 200);
    const std::string held_after =
        stack_.database().Query("SELECT coalesce(max(id), 0) FROM wsc_outbox");
    ASSERT_TRUE(WaitUntil(
        [&] {
          return std::stoi("0" + stack_.database().Query(
                                     "SELECT count(*) FROM wsc_outbox WHERE id > " + held_after)) >=
                 5;
        },
        kWait))
        << Failure(stack_, step, "no backlog in the outbox", {Part::kWsConnector});
    deleted_.insert(IdOf(5));
    Deregister(5, step);
    WaitRdHas(5, false, step);
    stack_.Kill(Part::kWsConnector);
    // The killed connection's session, the latest so far. What it sent stays on the platform,
    // also events of e2e-5 deleted just before (the platform listened to it until the `delete`)
    // whose acknowledgement the kill cut off, so that their rows are in the backlog too.
    int64_t killed_session = 0;
    for (const auto& event : PlatformEvents(stack_)) {
      killed_session = std::max(killed_session, event.session);
    }
    std::vector<std::string> backlog;
    {
      // Every row left behind, in order (the TestDatabase returns one field: aggregate them).
      const std::string rows =
          stack_.database().Query("SELECT string_agg(payload, E'\\n' ORDER BY id) FROM wsc_outbox");
      size_t start = 0;
      while (start < rows.size()) {
        const size_t end = std::min(rows.find('\n', start), rows.size());
        backlog.push_back(OutboxKey(rows.substr(start, end - start)));
        start = end + 1;
      }
    }
    ASSERT_FALSE(backlog.empty()) << Failure(stack_, step, "the outbox was empty at the kill");
    ASSERT_EQ(stack_.PlatformPost("/api/hooks", R"({"action":"clear"})").status, 200);
    // While it is down: one device leaves, one comes back.
    deleted_.insert(IdOf(4));
    Deregister(4, step);
    WaitRdHas(4, false, step);
    Register(5, step);
    WaitRdHas(5, true, step);
    Restart(Part::kWsConnector, step);
    ExpectPlatformEqualsRd(step);
    // Every event the outbox held at the kill reaches the platform, except those of the devices
    // deleted meanwhile: the platform no longer listens to them, so the connector drops them
    // unsent (it would refuse them, and refusals in a row close the connection).
    std::set<std::string> missing;
    std::set<std::string> of_deleted;
    for (const auto& key : backlog) {
      (deleted_.count(key.substr(0, key.find(' '))) != 0 ? of_deleted : missing).insert(key);
    }
    ASSERT_TRUE(WaitUntil(
        [&] {
          for (const auto& event : PlatformEvents(stack_)) {
            missing.erase(
                EventKey(event.device_uri, event.service_uri, event.metadata, event.data));
          }
          return missing.empty();
        },
        kWait))
        << Failure(stack_, step,
                   std::to_string(missing.size()) + " of the " + std::to_string(backlog.size()) +
                       " events in the outbox at the kill never reached the platform, e.g. " +
                       (missing.empty() ? "" : *missing.begin()),
                   {Part::kWsConnector});
    for (const auto& event : PlatformEvents(stack_)) {
      const std::string key =
          EventKey(event.device_uri, event.service_uri, event.metadata, event.data);
      EXPECT_FALSE(event.session > killed_session && of_deleted.count(key) != 0) << Failure(
          stack_, step,
          "an event of a deleted device was sent to the platform after the restart: " + key +
              " (seq " + std::to_string(event.seq) + ", session " + std::to_string(event.session) +
              ")",
          {Part::kWsConnector});
    }
    if (!of_deleted.empty()) {
      EXPECT_TRUE(WaitUntil(
          [&] {
            return stack_.Metric(Part::kWsConnector, "coapgw_wsc_events_dropped_total")
                       .value_or(0) > 0;
          },
          kWait))
          << Failure(stack_, step, "the deleted devices' events were not counted as dropped",
                     {Part::kWsConnector});
    }
  }

  // --- The RD, right after it accepted a deletion. -----------------------------------------
  {
    const std::string step = "6.2 (RD killed)";
    Register(4, step);
    WaitRdHas(4, true, step);
    Deregister(3, step);
    WaitRdHas(3, false, step);
    stack_.Kill(Part::kRd);
    // While it is down a device registers again (its retries reach the restarted RD).
    const int64_t registrations = Registrations(2);
    Register(2, step);
    Restart(Part::kRd, step);
    ASSERT_TRUE(WaitUntil([&] { return Registrations(2) > registrations; }, kWait))
        << Failure(stack_, step, "e2e-2 did not register again", {Part::kDeviceSim, Part::kRd});
    ExpectPlatformEqualsRd(step);
  }

  // --- The bus, with device changes while it is away. -------------------------------------
  {
    const std::string step = "6.3 (bus killed)";
    stack_.Kill(Part::kBus);
    deleted_.insert(IdOf(1));
    Deregister(1, step);
    WaitRdHas(1, false, step);
    Register(3, step);
    WaitRdHas(3, true, step);
    Restart(Part::kBus, step);
    ExpectPlatformEqualsRd(step);
  }

  // --- Afterwards: data flows from every connected device; nothing is duplicated. ---------
  const std::string step = "6.4 (after the restarts)";
  const uint64_t after = PlatformLastSeq(stack_);
  const auto rd = stack_.RdDevices();
  ASSERT_TRUE(rd) << Failure(stack_, step, "the RD did not answer", {Part::kRd});
  for (const auto& device : *rd) {
    EXPECT_TRUE(WaitUntil(
        [&] {
          for (const auto& event : PlatformEvents(stack_, after)) {
            if (event.device_uri == device.device_id && event.accepted) {
              return true;
            }
          }
          return false;
        },
        kWait))
        << Failure(stack_, step, "no data from " + device.endpoint + " after the restarts",
                   {Part::kObserver, Part::kWsConnector});
  }

  const auto events = PlatformEvents(stack_);
  std::map<int64_t, std::pair<uint64_t, uint64_t>> sessions;  // first and last event seq
  for (const auto& event : events) {
    auto [it, added] = sessions.try_emplace(event.session, event.seq, event.seq);
    it->second.first = std::min(it->second.first, event.seq);
    it->second.second = std::max(it->second.second, event.seq);
  }
  std::map<std::string, std::vector<const PlatformEvent*>> copies;
  for (const auto& event : events) {
    copies[EventKey(event.device_uri, event.service_uri, event.metadata, event.data)].push_back(
        &event);
  }
  size_t resent = 0;
  for (const auto& [key, list] : copies) {
    if (list.size() == 1) {
      continue;
    }
    const bool allowed = list.size() == 2 && list[1]->session != list[0]->session &&
                         sessions[list[0]->session].second == list[0]->seq &&
                         sessions[list[1]->session].first == list[1]->seq;
    EXPECT_TRUE(allowed) << Failure(
        stack_, step,
        key + " arrived " + std::to_string(list.size()) + " times: " + Copies(list, sessions),
        {Part::kWsConnector});
    resent += allowed ? 1 : 0;
  }
  // At most one resend per connection that ended.
  EXPECT_LE(resent, sessions.size() - 1);
  RecordProperty("events", static_cast<int>(events.size()));
  RecordProperty("sessions", static_cast<int>(sessions.size()));
  RecordProperty("resent", static_cast<int>(resent));
}

}  // namespace
}  // namespace coapgw::e2e
