// coapgw-ws-connector as a process, with the real coapgw-bus and coapgw-rd on a real PostgreSQL
// (COAPGW_TEST_DATABASE_URL; the bus and RD parts of a test::Stack), an in-test platform
// (FakePlatform, a libs/ws server) and a bus peer that plays the observer and the executer.
#include <signal.h>

#include <atomic>
#include <fstream>
#include <future>
#include <memory>
#include <mutex>
#include <set>
#include <thread>

#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <zmq.hpp>

#include "coapgw/bus/publisher.hpp"
#include "coapgw/bus/subscriber.hpp"
#include "coapgw/coap/client.hpp"
#include "coapgw/coap/context.hpp"
#include "coapgw/coap/uri.hpp"
#include "coapgw/common/time_format.hpp"
#include "coapgw/events/codec.hpp"
#include "coapgw/test/command.hpp"
#include "coapgw/test/http.hpp"
#include "coapgw/test/process.hpp"
#include "coapgw/test/stack.hpp"
#include "coapgw/test/wait.hpp"
#include "coapgw/ws/platform_protocol.hpp"
#include "fake_platform.hpp"
#include "headless_chromium.hpp"
#include "pg_fixture.hpp"
#include "platform_sim_testing.hpp"

namespace coapgw::ws_connector::test {
namespace {

using coapgw::test::BinaryPath;
using coapgw::test::HttpGet;
using coapgw::test::LoggedPort;
using coapgw::test::Process;
using coapgw::test::Stack;
using coapgw::test::WaitReady;
using coapgw::test::WaitUntil;
using std::chrono::milliseconds;

constexpr milliseconds kWait{10000};

// Records ws.command from the bus on its own thread.
class CommandRecorder {
 public:
  CommandRecorder(zmq::context_t& context, const std::string& endpoint)
      : subscriber_(std::make_shared<bus::Subscriber>(
            context, endpoint, std::vector<std::string>{std::string(events::Command::kTopic)})) {
    thread_ = std::thread([this, subscriber = subscriber_] {
      while (!stop_.load()) {
        auto message = subscriber->Receive(milliseconds(50));
        if (!message) {
          continue;
        }
        auto command = events::DecodeCommand(message->data());
        if (command.ok()) {
          const std::lock_guard<std::mutex> lock(mutex_);
          commands_.push_back(*command);
        }
      }
    });
  }
  ~CommandRecorder() {
    stop_.store(true);
    thread_.join();
  }
  std::vector<events::Command> Commands() const {
    const std::lock_guard<std::mutex> lock(mutex_);
    return commands_;
  }

 private:
  std::shared_ptr<bus::Subscriber> subscriber_;
  std::atomic<bool> stop_{false};
  mutable std::mutex mutex_;
  std::vector<events::Command> commands_;
  std::thread thread_;
};

class WsConnectorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string error;
    ASSERT_TRUE(stack_.StartPart(Stack::Part::kBus, &error)) << error;
    ASSERT_TRUE(stack_.StartPart(Stack::Part::kRd, &error)) << error;
    publisher_ = std::make_unique<bus::Publisher>(zmq_, stack_.bus_pub(), "wsc-test");
    commands_ = std::make_unique<CommandRecorder>(zmq_, stack_.bus_sub());
    coap_.Call([&] { client_ = std::make_unique<coap::Client>(coap_.context()); });
  }

  void TearDown() override {
    if (connector_) {
      connector_->Stop(SIGTERM, milliseconds(5000));
    }
    coap_.Call([&] { client_.reset(); });
    commands_.reset();
    publisher_.reset();
  }

  // Starts coapgw-ws-connector; with `wait_ready` waits until /readyz says 200.
  void StartConnector(const std::map<std::string, std::string>& extra = {},
                      bool wait_ready = true) {
    std::map<std::string, std::string> env = {
        {"COAPGW_PLATFORM_URL", platform_.url()}, {"COAPGW_PLATFORM_USER", "user"},
        {"COAPGW_PLATFORM_PASSWORD", "secret"},   {"COAPGW_DATABASE_URL", database_.url()},
        {"COAPGW_BUS_PUB", stack_.bus_pub()},     {"COAPGW_BUS_SUB", stack_.bus_sub()},
        {"COAPGW_RD_URI", stack_.rd_uri()},       {"COAPGW_HTTP_LISTEN", "127.0.0.1:0"},
        {"COAPGW_WS_RECONNECT_MIN", "50ms"},      {"COAPGW_WS_RECONNECT_MAX", "200ms"},
        {"COAPGW_WS_REQUEST_TIMEOUT", "2s"}};
    for (const auto& [name, value] : extra) {
      env[name] = value;
    }
    connector_ =
        std::make_unique<Process>(std::vector<std::string>{BinaryPath("coapgw-ws-connector")}, env);
    if (wait_ready) {
      connector_http_ = WaitReady(*connector_, kWait);
      ASSERT_NE(connector_http_, 0) << Logs();
    } else {
      ASSERT_TRUE(WaitUntil(
          [&] {
            connector_http_ = LoggedPort(connector_->Stderr(), coapgw::test::kHttpListening);
            return connector_http_ != 0;
          },
          kWait))
          << Logs();
    }
  }

  std::string Logs() const {
    return "---- ws-connector\n" + (connector_ ? connector_->Stderr() : "") + "---- rd\n" +
           stack_.Tail(Stack::Part::kRd, 200);
  }

  coap::Outcome<coap::ClientResponse> SendRd(coap::Method method, const std::string& target,
                                             std::string payload = {}) {
    auto request = coap::ClientRequest::FromUri(method, stack_.rd_uri() + target);
    EXPECT_TRUE(request.ok());
    request->payload = std::move(payload);
    if (!request->payload.empty()) {
      request->content_format = coap::content_format::kLinkFormat;
    }
    auto promise = std::make_shared<std::promise<coap::Outcome<coap::ClientResponse>>>();
    auto future = promise->get_future();
    coap_.Call([&] {
      client_->Send(*request, {}, [promise](coap::Outcome<coap::ClientResponse> outcome) {
        promise->set_value(std::move(outcome));
      });
    });
    return future.get();
  }

  // Registers `ep` (et = a platform type unless `et` says otherwise, sector "s1"); returns the
  // registration location.
  std::string Register(const std::string& ep, const std::string& et = "iot%23type-1") {
    auto response = SendRd(coap::Method::kPost,
                           "/rd?ep=" + ep + "&d=s1" + (et.empty() ? "" : "&et=" + et) +
                               "&base=coap://127.0.0.1:9&lt=3600",
                           "</sensors/temp>;obs,</actuators/led>");
    EXPECT_TRUE(response.ok());
    if (!response.ok() || response->code != coap::Code::kCreated) {
      return "";
    }
    return coap::JoinPath(response->location_path);
  }

  // The put request for device name `ep`, parsed; null document when none yet.
  std::optional<rapidjson::Document> PutFor(const std::string& ep) {
    for (const auto& request : platform_.Requests("put")) {
      rapidjson::Document doc;
      doc.Parse(request.payload.c_str());
      if (doc.IsObject() && doc.HasMember("name") && doc["name"] == ep.c_str()) {
        return doc;
      }
    }
    return std::nullopt;
  }

  bool NotReady() { return HttpGet(connector_http_, "/readyz").rfind("HTTP/1.1 503", 0) == 0; }

  std::string ConnectedGid() { return database_.Query("SELECT gid FROM wsc_gateway WHERE id = 1"); }

  void PublishData(const std::string& device_id, const std::string& payload) {
    events::ObservedData data;
    data.device_id = device_id;
    data.service = "GET /sensors/temp";
    data.path = "/sensors/temp";
    data.code = "2.05";
    data.content_format = 0;
    data.payload.data = payload;
    data.observed = true;
    data.time = std::chrono::system_clock::now();
    ASSERT_TRUE(publisher_->Publish(events::ObservedData::kTopic, events::Encode(data)).ok());
  }

  Stack stack_;  // its bus and RD only; stops them last
  const rd::test::TestDatabase& database_ = stack_.database();
  FakePlatform platform_;
  zmq::context_t zmq_;
  std::unique_ptr<Process> connector_;
  uint16_t connector_http_ = 0;
  std::unique_ptr<bus::Publisher> publisher_;
  std::unique_ptr<CommandRecorder> commands_;
  coap::ContextThread coap_;
  std::unique_ptr<coap::Client> client_;
};

TEST_F(WsConnectorTest, HandshakePersistsTheAssignedGidAndReusesItAfterARestart) {
  StartConnector();
  const std::string gid = ConnectedGid();
  ASSERT_FALSE(gid.empty()) << Logs();
  EXPECT_EQ(platform_.CredentialGids().front(), "");
  // An empty gateway still gets clear + commit(sha1("")): "" never equals a hash.
  ASSERT_TRUE(
      WaitUntil([&] { return platform_.GatewayHash(gid) == ws::platform::kEmptyListHash; }, kWait));
  EXPECT_EQ(platform_.Requests("clear").size(), 1U);

  ASSERT_EQ(connector_->Stop(SIGTERM, milliseconds(5000)), std::optional<int>(0)) << Logs();
  StartConnector();
  ASSERT_EQ(platform_.CredentialGids().size(), 2U);
  EXPECT_EQ(platform_.CredentialGids().back(), gid);
  EXPECT_EQ(ConnectedGid(), gid);
  EXPECT_EQ(platform_.Requests("clear").size(), 1U) << "same hash: no second sync";
}

TEST_F(WsConnectorTest, RegistrationIsPutAndCommittedAndDeleteIsDeleteAndCommit) {
  StartConnector();
  const std::string gid = ConnectedGid();
  const std::string location = Register("node-1");
  ASSERT_FALSE(location.empty());
  ASSERT_TRUE(WaitUntil([&] { return PutFor("node-1").has_value(); }, kWait)) << Logs();
  const auto put = *PutFor("node-1");
  const std::string uri = put["uri"].GetString();
  EXPECT_FALSE(uri.empty());
  EXPECT_STREQ(put["iot_type"].GetString(), "iot#type-1");
  ASSERT_EQ(put["tags"].Size(), 1U);
  EXPECT_STREQ(put["tags"][0].GetString(), "d:s1");
  ws::platform::HashedDevice device{uri, "iot#type-1", "node-1", {{"d", "s1"}}};
  const std::string hash = ws::platform::GatewayHashOf({device});
  ASSERT_TRUE(WaitUntil([&] { return platform_.GatewayHash(gid) == hash; }, kWait)) << Logs();
  EXPECT_EQ(platform_.CommittedDevices(gid), std::set<std::string>{uri});

  // A restart of the connector finds the same hash: no resync.
  const size_t clears = platform_.Requests("clear").size();
  ASSERT_EQ(connector_->Stop(SIGTERM, milliseconds(5000)), std::optional<int>(0));
  StartConnector();
  EXPECT_EQ(platform_.Requests("clear").size(), clears);

  auto removed = SendRd(coap::Method::kDelete, location);
  ASSERT_TRUE(removed.ok());
  ASSERT_TRUE(WaitUntil(
      [&] {
        const auto deletes = platform_.Requests("delete");
        return !deletes.empty() && deletes.back().payload == "\"" + uri + "\"" &&
               platform_.GatewayHash(gid) == ws::platform::kEmptyListHash;
      },
      kWait))
      << Logs();
  EXPECT_TRUE(platform_.CommittedDevices(gid).empty());
}

TEST_F(WsConnectorTest, ReconnectsWithoutASyncWhenThePlatformKeptTheHash) {
  StartConnector();
  ASSERT_FALSE(Register("node-2").empty());
  ASSERT_TRUE(WaitUntil([&] { return PutFor("node-2").has_value(); }, kWait)) << Logs();
  ASSERT_TRUE(WaitUntil([&] { return platform_.Requests("commit").size() >= 2; }, kWait));
  const size_t clears = platform_.Requests("clear").size();
  platform_.SetAccepting(false);
  ASSERT_TRUE(WaitUntil([&] { return NotReady(); }, kWait));
  platform_.SetAccepting(true);
  ASSERT_EQ(WaitReady(*connector_, kWait), connector_http_) << Logs();
  EXPECT_EQ(platform_.Requests("clear").size(), clears);
  EXPECT_GE(platform_.CredentialGids().size(), 2U);
}

TEST_F(WsConnectorTest, SyncsEverythingWhenThePlatformLostTheGateway) {
  StartConnector();
  const std::string old_gid = ConnectedGid();
  ASSERT_FALSE(Register("node-6").empty());
  ASSERT_TRUE(WaitUntil([&] { return PutFor("node-6").has_value(); }, kWait)) << Logs();
  const std::string uri = (*PutFor("node-6"))["uri"].GetString();
  ASSERT_TRUE(WaitUntil([&] { return platform_.Requests("commit").size() >= 2; }, kWait));

  platform_.SetAccepting(false);
  ASSERT_TRUE(WaitUntil([&] { return NotReady(); }, kWait));
  platform_.ForgetGateways();
  platform_.SetAccepting(true);
  ASSERT_TRUE(WaitUntil([&] { return ConnectedGid() != old_gid; }, kWait)) << Logs();
  const std::string new_gid = ConnectedGid();
  ASSERT_TRUE(WaitUntil([&] { return platform_.CommittedDevices(new_gid).count(uri) == 1; }, kWait))
      << Logs();
  EXPECT_EQ(platform_.Requests("clear").size(), 2U);
  EXPECT_EQ(platform_.CredentialGids().back(), old_gid);  // asked for the persisted one
}

TEST_F(WsConnectorTest, ARequestWithoutReplyClosesAndTheNextConnectionResyncs) {
  StartConnector({{"COAPGW_WS_REQUEST_TIMEOUT", "300ms"}});
  const std::string gid = ConnectedGid();
  platform_.SetSilent(true);
  ASSERT_FALSE(Register("node-7").empty());
  ASSERT_TRUE(WaitUntil([&] { return PutFor("node-7").has_value(); }, kWait)) << Logs();
  ASSERT_TRUE(WaitUntil([&] { return platform_.CredentialGids().size() >= 2; }, kWait)) << Logs();
  platform_.SetSilent(false);
  const std::string uri = (*PutFor("node-7"))["uri"].GetString();
  ASSERT_TRUE(WaitUntil([&] { return platform_.CommittedDevices(gid).count(uri) == 1; }, kWait))
      << Logs();
  EXPECT_EQ(WaitReady(*connector_, kWait), connector_http_);
  EXPECT_NE(connector_->Stderr().find("no reply within"), std::string::npos);
}

TEST_F(WsConnectorTest, CommandRoundTripTimeoutAndUnknownDevice) {
  StartConnector({{"COAPGW_COMMAND_TIMEOUT", "2s"}});
  ASSERT_FALSE(Register("node-3").empty());
  ASSERT_TRUE(WaitUntil([&] { return PutFor("node-3").has_value(); }, kWait)) << Logs();
  const std::string uri = (*PutFor("node-3"))["uri"].GetString();
  ASSERT_TRUE(WaitUntil([&] { return platform_.Requests("commit").size() >= 2; }, kWait));

  const std::string command =
      R"({"device_url":")" + uri +
      R"(","service_url":"PUT /actuators/led","task_id":"t-1","worker_id":"w-1",)"
      R"("protocol_parts":[{"name":"metadata","value":"{\"content_format\":0}"},)"
      R"({"name":"data","value":"on"}]})";
  ASSERT_TRUE(platform_.SendCommand(uri, command));
  ASSERT_TRUE(WaitUntil([&] { return !commands_->Commands().empty(); }, kWait)) << Logs();
  const events::Command seen = commands_->Commands().front();
  EXPECT_EQ(seen.device_id, uri);
  EXPECT_EQ(seen.method, events::Method::kPut);
  EXPECT_EQ(seen.path, "/actuators/led");
  EXPECT_EQ(seen.payload.data, "on");
  EXPECT_EQ(seen.content_format, std::optional<uint16_t>(0));
  EXPECT_FALSE(seen.command_id.empty());

  events::CommandResult result;
  result.command_id = seen.command_id;
  result.device_id = uri;
  result.code = "2.04";
  result.content_format = 0;
  result.payload.data = "done";
  ASSERT_TRUE(publisher_->Publish(events::CommandResult::kTopic, events::Encode(result)).ok());
  ASSERT_TRUE(WaitUntil([&] { return !platform_.Requests("response").empty(); }, kWait)) << Logs();
  rapidjson::Document response;
  response.Parse(platform_.Requests("response").front().payload.c_str());
  ASSERT_TRUE(response.IsObject());
  EXPECT_STREQ(response["task_id"].GetString(), "t-1");
  EXPECT_STREQ(response["worker_id"].GetString(), "w-1");
  EXPECT_STREQ(response["protocol_parts"][0]["value"].GetString(),
               R"({"code":"2.04","content_format":0})");
  EXPECT_STREQ(response["protocol_parts"][1]["value"].GetString(), "done");

  // Nobody answers the second command: timeout after COAPGW_COMMAND_TIMEOUT.
  ASSERT_TRUE(platform_.SendCommand(uri, command));
  ASSERT_TRUE(WaitUntil([&] { return platform_.Requests("response").size() == 2; }, kWait))
      << Logs();
  response.Parse(platform_.Requests("response").back().payload.c_str());
  EXPECT_STREQ(response["protocol_parts"][0]["value"].GetString(), R"({"code":"timeout"})");

  // A device the RD does not know: answered at once.
  ws::platform::Envelope unknown;
  unknown.handler = "command";
  unknown.payload = R"({"device_url":"no-such","service_url":"GET /x","task_id":"t-3"})";
  platform_.SendRaw(ws::platform::EncodeEnvelope(unknown));
  ASSERT_TRUE(WaitUntil([&] { return platform_.Requests("response").size() == 3; }, kWait));
  response.Parse(platform_.Requests("response").back().payload.c_str());
  EXPECT_STREQ(response["task_id"].GetString(), "t-3");
  EXPECT_STREQ(response["protocol_parts"][0]["value"].GetString(), R"({"code":"unknown-device"})");
  EXPECT_EQ(commands_->Commands().size(), 2U);
}

TEST_F(WsConnectorTest, EventsWhileThePlatformIsDownArriveInOrderOnce) {
  StartConnector();
  ASSERT_FALSE(Register("node-4").empty());
  ASSERT_TRUE(WaitUntil([&] { return PutFor("node-4").has_value(); }, kWait)) << Logs();
  const std::string uri = (*PutFor("node-4"))["uri"].GetString();
  ASSERT_TRUE(WaitUntil([&] { return platform_.Requests("commit").size() >= 2; }, kWait));
  // One event while up proves the bus subscription works before the platform goes away.
  PublishData(uri, "v0");
  ASSERT_TRUE(WaitUntil([&] { return platform_.Requests("event").size() == 1; }, kWait)) << Logs();

  platform_.SetAccepting(false);
  ASSERT_TRUE(WaitUntil([&] { return NotReady(); }, kWait));
  constexpr int kEvents = 1200;  // more than one outbox read (1000 rows)
  for (int i = 1; i <= kEvents; ++i) {
    PublishData(uri, "v" + std::to_string(i));
  }
  ASSERT_TRUE(WaitUntil(
      [&] { return database_.Query("SELECT count(*) FROM wsc_outbox") == std::to_string(kEvents); },
      kWait))
      << Logs();
  platform_.SetAccepting(true);
  ASSERT_TRUE(WaitUntil([&] { return platform_.Requests("event").size() == kEvents + 1; }, kWait))
      << Logs();
  const auto events = platform_.Requests("event");
  for (int i = 0; i <= kEvents; ++i) {
    rapidjson::Document doc;
    doc.Parse(events[i].payload.c_str());
    EXPECT_STREQ(doc["device_uri"].GetString(), uri.c_str());
    EXPECT_STREQ(doc["service_uri"].GetString(), "GET /sensors/temp");
    EXPECT_STREQ(doc["value"][1]["value"].GetString(), ("v" + std::to_string(i)).c_str());
  }
  EXPECT_TRUE(
      WaitUntil([&] { return database_.Query("SELECT count(*) FROM wsc_outbox") == "0"; }, kWait));
}

// Events are pipelined: the connection drops while a full window of them waits for replies. Every
// event still arrives, the first arrival of each in order, and exactly the unanswered ones twice
// (at least once).
TEST_F(WsConnectorTest, EventsInFlightWhenTheConnectionDropsAreSentAgainInOrder) {
  StartConnector({{"COAPGW_WS_REQUEST_TIMEOUT", "30s"}});
  ASSERT_FALSE(Register("node-10").empty());
  ASSERT_TRUE(WaitUntil([&] { return PutFor("node-10").has_value(); }, kWait)) << Logs();
  const std::string uri = (*PutFor("node-10"))["uri"].GetString();
  ASSERT_TRUE(WaitUntil([&] { return platform_.Requests("commit").size() >= 2; }, kWait));
  constexpr int kEvents = 1000;
  constexpr size_t kWindow = 256;  // the connector's pipeline
  for (int i = 0; i < kEvents / 2; ++i) {
    PublishData(uri, "v" + std::to_string(i));
  }
  ASSERT_TRUE(WaitUntil([&] { return platform_.Requests("event").size() == kEvents / 2; }, kWait))
      << Logs();
  // No more replies: the connector fills its window and waits.
  platform_.SetSilent(true);
  for (int i = kEvents / 2; i < kEvents; ++i) {
    PublishData(uri, "v" + std::to_string(i));
  }
  ASSERT_TRUE(
      WaitUntil([&] { return platform_.Requests("event").size() == kEvents / 2 + kWindow; }, kWait))
      << Logs();
  platform_.SetAccepting(false);
  ASSERT_TRUE(WaitUntil([&] { return NotReady(); }, kWait));
  platform_.SetSilent(false);
  platform_.SetAccepting(true);
  std::vector<std::string> first;  // the values in order of their first arrival
  size_t arrivals = 0;
  ASSERT_TRUE(WaitUntil(
      [&] {
        first.clear();
        std::set<std::string> seen;
        const auto events = platform_.Requests("event");
        arrivals = events.size();
        for (const auto& event : events) {
          rapidjson::Document doc;
          doc.Parse(event.payload.c_str());
          const std::string value = doc["value"][1]["value"].GetString();
          if (seen.insert(value).second) {
            first.push_back(value);
          }
        }
        return first.size() == kEvents;
      },
      kWait))
      << first.size() << " of " << kEvents << " arrived\n"
      << Logs();
  for (int i = 0; i < kEvents; ++i) {
    ASSERT_EQ(first[i], "v" + std::to_string(i)) << "at " << i;
  }
  EXPECT_EQ(arrivals, kEvents + kWindow);
  EXPECT_TRUE(
      WaitUntil([&] { return database_.Query("SELECT count(*) FROM wsc_outbox") == "0"; }, kWait));
}

TEST_F(WsConnectorTest, StatusZeroDisconnectsAndReachableAgainPutsAgain) {
  StartConnector();
  const std::string gid = ConnectedGid();
  ASSERT_FALSE(Register("node-8").empty());
  ASSERT_TRUE(WaitUntil([&] { return PutFor("node-8").has_value(); }, kWait)) << Logs();
  const std::string uri = (*PutFor("node-8"))["uri"].GetString();
  ASSERT_TRUE(WaitUntil([&] { return platform_.CommittedDevices(gid).count(uri) == 1; }, kWait));

  // As the pinger would: the RD turns the verdict into rd.device.status (said again until the
  // RD's bus subscription has arrived).
  const auto set_reachable = [&](bool reachable, const std::function<bool()>& done) {
    return WaitUntil(
        [&] {
          if (done()) {
            return true;
          }
          events::DeviceLiveness liveness;
          liveness.device_id = uri;
          liveness.reachable = reachable;
          liveness.consecutive_misses = reachable ? 0 : 1;
          if (reachable) {
            liveness.rtt = std::chrono::microseconds(100);
          }
          liveness.checked_at = std::chrono::system_clock::now();
          (void)publisher_->Publish(events::DeviceLiveness::kTopic, events::Encode(liveness));
          return false;
        },
        kWait);
  };
  ASSERT_TRUE(set_reachable(false, [&] {
    const auto disconnects = platform_.Requests("disconnect");
    return !disconnects.empty() && platform_.CommittedDevices(gid).count(uri) == 0;
  })) << Logs();
  EXPECT_EQ(platform_.Requests("disconnect").back().payload, "\"" + uri + "\"");
  EXPECT_EQ(platform_.GatewayHash(gid), std::string(ws::platform::kEmptyListHash));
  const size_t puts = platform_.Requests("put").size();
  ASSERT_TRUE(set_reachable(true, [&] {
    return platform_.Requests("put").size() > puts &&
           platform_.CommittedDevices(gid).count(uri) == 1;
  })) << Logs();
}

TEST_F(WsConnectorTest, AFullOutboxDropsTheOldestEventsAndCountsThem) {
  StartConnector({{"COAPGW_WS_OUTBOX_LIMIT", "5"}});
  ASSERT_FALSE(Register("node-9").empty());
  ASSERT_TRUE(WaitUntil([&] { return PutFor("node-9").has_value(); }, kWait)) << Logs();
  const std::string uri = (*PutFor("node-9"))["uri"].GetString();
  PublishData(uri, "v0");
  ASSERT_TRUE(WaitUntil([&] { return platform_.Requests("event").size() == 1; }, kWait)) << Logs();
  // v0 leaves the outbox only once its acknowledgement is back; closing the link before that
  // would keep it pending and make it the first of the dropped.
  ASSERT_TRUE(
      WaitUntil([&] { return database_.Query("SELECT count(*) FROM wsc_outbox") == "0"; }, kWait))
      << Logs();
  platform_.SetAccepting(false);
  ASSERT_TRUE(WaitUntil([&] { return NotReady(); }, kWait));
  for (int i = 1; i <= 8; ++i) {
    PublishData(uri, "v" + std::to_string(i));
  }
  ASSERT_TRUE(WaitUntil(
      [&] {
        return database_.Query("SELECT payload FROM wsc_outbox ORDER BY id LIMIT 1")
                   .find(R"("v4")") != std::string::npos;
      },
      kWait))
      << Logs();
  EXPECT_EQ(database_.Query("SELECT count(*) FROM wsc_outbox"), "5");
  EXPECT_TRUE(WaitUntil(
      [&] {
        return HttpGet(connector_http_, "/metrics").find("coapgw_wsc_outbox_dropped_total 3") !=
               std::string::npos;
      },
      kWait))
      << HttpGet(connector_http_, "/metrics");
  platform_.SetAccepting(true);
  ASSERT_TRUE(WaitUntil([&] { return platform_.Requests("event").size() == 6; }, kWait)) << Logs();
  const auto events = platform_.Requests("event");
  for (int i = 1; i < 6; ++i) {
    rapidjson::Document doc;
    doc.Parse(events[i].payload.c_str());
    EXPECT_STREQ(doc["value"][1]["value"].GetString(), ("v" + std::to_string(i + 3)).c_str());
  }
}

TEST_F(WsConnectorTest, BadPlatformInputIsIgnored) {
  StartConnector();
  platform_.SendRaw("not json at all");
  platform_.SendRaw(R"({"status":200,"handler":"response","token":"nobody","payload":"ok"})");
  platform_.SendRaw(R"({"status":0,"handler":"surprise","token":"","payload":null})");
  platform_.SendRaw(R"({"status":0,"handler":"command","token":"","payload":"not an object"})");
  ASSERT_TRUE(WaitUntil(
      [&] { return connector_->Stderr().find("unknown or expired token") != std::string::npos; },
      kWait));
  // Still the same connection, still working.
  ASSERT_FALSE(Register("node-5").empty());
  ASSERT_TRUE(WaitUntil([&] { return PutFor("node-5").has_value(); }, kWait)) << Logs();
  EXPECT_EQ(platform_.CredentialGids().size(), 1U);
  EXPECT_TRUE(connector_->running());
}

// The uri of the device named `name` when the simulator listens to it, else "".
std::string ListenedUri(const platform_sim::test::PlatformSimProcess& sim,
                        const std::string& name) {
  const auto state = sim.Get("/api/state");
  if (state.IsObject()) {
    for (const auto& device : state["devices"].GetArray()) {
      if (device["name"] == name.c_str() && device["listened"].GetBool()) {
        return device["uri"].GetString();
      }
    }
  }
  return "";
}

// The same paths against tools/platform-sim, the faithful simulator of the Go server.
TEST_F(WsConnectorTest, WorksWithThePlatformSimulator) {
  platform_sim::test::PlatformSimProcess sim;
  StartConnector({{"COAPGW_PLATFORM_URL", sim.url()},
                  {"COAPGW_PLATFORM_USER", "demo"},
                  {"COAPGW_PLATFORM_PASSWORD", "demo"}});
  ASSERT_FALSE(Register("node-sim").empty());
  std::string uri;
  ASSERT_TRUE(WaitUntil([&] { return !(uri = ListenedUri(sim, "node-sim")).empty(); }, kWait))
      << Logs();
  const std::string hash = ws::platform::GatewayHashOf(
      {ws::platform::HashedDevice{uri, "iot#type-1", "node-sim", {{"d", "s1"}}}});
  ASSERT_TRUE(WaitUntil(
      [&] {
        const auto state = sim.Get("/api/state");
        return state.IsObject() && state["gateways"].Size() == 1 &&
               state["gateways"][0]["hash"] == hash.c_str();
      },
      kWait))
      << Logs();

  const auto sent = sim.Post("/api/command", R"({"device_uri":")" + uri +
                                                 R"(","service_url":"PUT /actuators/led",)"
                                                 R"("data":"on","task_id":"sim-1"})");
  ASSERT_EQ(sent.status, 200) << sent.body;
  ASSERT_TRUE(WaitUntil([&] { return !commands_->Commands().empty(); }, kWait)) << Logs();
  events::CommandResult result;
  result.command_id = commands_->Commands().front().command_id;
  result.device_id = uri;
  result.code = "2.04";
  result.payload.data = "led on";
  ASSERT_TRUE(publisher_->Publish(events::CommandResult::kTopic, events::Encode(result)).ok());
  const auto response = sim.Get("/api/responses?task_id=sim-1&wait_ms=5000");
  ASSERT_TRUE(response.IsObject()) << Logs();
  EXPECT_STREQ(response["payload"]["protocol_parts"][0]["value"].GetString(), R"({"code":"2.04"})");
  EXPECT_STREQ(response["payload"]["protocol_parts"][1]["value"].GetString(), "led on");

  PublishData(uri, "21.5");
  ASSERT_TRUE(WaitUntil(
      [&] {
        const auto events = sim.Get("/api/events?after=0");
        return events.IsObject() && events["events"].Size() == 1 &&
               events["events"][0]["accepted"].GetBool();
      },
      kWait))
      << Logs();

  // Garbage and a late reply for an old token are ignored; the session stays.
  ASSERT_TRUE(sim.Hook(R"({"action":"garbage"})"));
  ASSERT_TRUE(sim.Hook(R"({"action":"late_reply"})"));
  ASSERT_FALSE(Register("node-sim-2").empty());
  ASSERT_TRUE(WaitUntil(
      [&] {
        const auto state = sim.Get("/api/state");
        return state.IsObject() && state["devices"].Size() == 2 &&
               state["counters"]["handshakes"].GetInt() == 1;
      },
      kWait))
      << Logs();
}

// The devices the simulator listens to, by name, with their iot_type.
std::map<std::string, std::string> ListenedDevices(
    const platform_sim::test::PlatformSimProcess& sim) {
  std::map<std::string, std::string> listened;
  const auto state = sim.Get("/api/state");
  if (state.IsObject()) {
    for (const auto& device : state["devices"].GetArray()) {
      if (device["listened"].GetBool()) {
        listened[device["name"].GetString()] = device["iot_type"].GetString();
      }
    }
  }
  return listened;
}

// A device without et (the platform answers 500 "empty iot_type") and one of a type the platform
// does not know are left out; all the others are synced, and COAPGW_DEFAULT_DEVICE_TYPE gives the
// typeless one a type.
TEST_F(WsConnectorTest, DevicesWithoutATypeOrRefusedByThePlatformDoNotFailTheSync) {
  ws::test::TempDir dir;
  const std::string types = dir.path() + "/types.json";
  {
    std::ofstream file(types);
    file << R"([{"id":"iot#type-1"}])";
  }
  platform_sim::test::PlatformSimProcess sim(
      {"--platform-sim-device-types=" + types, "--platform-sim-strict-types=true"});
  ASSERT_FALSE(Register("node-typed").empty());
  ASSERT_FALSE(Register("node-untyped", "").empty());
  ASSERT_FALSE(Register("node-badtype", "iot%23nobody-knows").empty());
  const std::map<std::string, std::string> sim_env = {{"COAPGW_PLATFORM_URL", sim.url()},
                                                      {"COAPGW_PLATFORM_USER", "demo"},
                                                      {"COAPGW_PLATFORM_PASSWORD", "demo"}};
  StartConnector(sim_env);
  EXPECT_EQ(ListenedDevices(sim),
            (std::map<std::string, std::string>{{"node-typed", "iot#type-1"}}))
      << Logs();
  EXPECT_NE(connector_->Stderr().find("registered without et"), std::string::npos) << Logs();
  EXPECT_NE(connector_->Stderr().find("device refused by the platform; left out of the sync"),
            std::string::npos)
      << Logs();
  // The platform's hash covers exactly what it accepted.
  const auto state = sim.Get("/api/state");
  ASSERT_TRUE(state.IsObject() && state["gateways"].Size() == 1);
  const std::string typed_uri = ListenedUri(sim, "node-typed");
  EXPECT_STREQ(
      state["gateways"][0]["hash"].GetString(),
      ws::platform::GatewayHashOf(
          {ws::platform::HashedDevice{typed_uri, "iot#type-1", "node-typed", {{"d", "s1"}}}})
          .c_str());

  ASSERT_EQ(connector_->Stop(SIGTERM, milliseconds(5000)), std::optional<int>(0)) << Logs();
  auto with_default = sim_env;
  with_default["COAPGW_DEFAULT_DEVICE_TYPE"] = "iot#type-1";
  StartConnector(with_default);
  EXPECT_EQ(ListenedDevices(sim),
            (std::map<std::string, std::string>{{"node-typed", "iot#type-1"},
                                                {"node-untyped", "iot#type-1"}}))
      << Logs();
}

// wss://: the platform's self-signed certificate is trusted through COAPGW_WS_CA_FILE; without it
// the connection is refused, the log names the certificate problem, and no handshake is sent.
// (The simulator's control API is https then too, so the connector's own view is checked.)
TEST_F(WsConnectorTest, WssNeedsTheCaFileAndNamesTheCertificateProblemWithoutIt) {
  ws::test::TempDir dir;
  const auto cert = ws::test::MakeSelfSignedCert(dir.path(), "platform", "IP:127.0.0.1");
  platform_sim::test::PlatformSimProcess sim(
      {"--platform-sim-tls-cert=" + cert.cert, "--platform-sim-tls-key=" + cert.key});
  ASSERT_EQ(sim.url().rfind("wss://", 0), 0U);
  const std::map<std::string, std::string> sim_env = {{"COAPGW_PLATFORM_URL", sim.url()},
                                                      {"COAPGW_PLATFORM_USER", "demo"},
                                                      {"COAPGW_PLATFORM_PASSWORD", "demo"}};
  StartConnector(sim_env, false);
  ASSERT_TRUE(connector_->WaitForStderr(
      "TLS handshake failed: certificate verification: self-signed certificate", kWait))
      << Logs();
  EXPECT_TRUE(NotReady());
  EXPECT_EQ(connector_->Stderr().find("state=handshake"), std::string::npos) << Logs();
  ASSERT_EQ(connector_->Stop(SIGTERM, milliseconds(5000)), std::optional<int>(0)) << Logs();

  auto trusted = sim_env;
  trusted["COAPGW_WS_CA_FILE"] = cert.cert;
  StartConnector(trusted);  // ready: handshake and device sync done over wss://
  EXPECT_NE(connector_->Stderr().find("state=ready"), std::string::npos);
  EXPECT_EQ(connector_->Stderr().find("certificate verification"), std::string::npos);
}

// The platform simulator's console in headless Chromium: the page lists the device the gateway
// registered, as online, and a command sent from its form reaches the gateway's bus (where this
// test plays the executer) and the response shows up in the page.
TEST_F(WsConnectorTest, ConsolePageShowsTheDeviceAndSendsACommand) {
  const std::string binary = ChromiumBinary();
  if (binary.empty()) {
    GTEST_SKIP() << "chromium is not installed (/usr/bin/chromium or $COAPGW_TEST_CHROMIUM); "
                    "scripts/install-deps installs Debian's chromium";
  }
  platform_sim::test::PlatformSimProcess sim;
  StartConnector({{"COAPGW_PLATFORM_URL", sim.url()},
                  {"COAPGW_PLATFORM_USER", "demo"},
                  {"COAPGW_PLATFORM_PASSWORD", "demo"}});
  ASSERT_FALSE(Register("node-ui").empty());
  std::string uri;
  ASSERT_TRUE(WaitUntil([&] { return !(uri = ListenedUri(sim, "node-ui")).empty(); }, kWait))
      << Logs();

  ws::test::TempDir profile;
  HeadlessChromium chromium(binary, profile.path());
  ASSERT_EQ(chromium.error(), "");
  auto page = chromium.Open("http://127.0.0.1:" + std::to_string(sim.port()) + "/");
  ASSERT_NE(page, nullptr) << chromium.error();
  const std::string row = "document.querySelector('#device-list tr[data-uri=\"" + uri + "\"]')";
  // The page fills the list from /api/state after it loaded: wait for the row, online.
  ASSERT_TRUE(WaitUntil(
      [&] {
        const auto text = page->Evaluate(row + " ? " + row + ".dataset.status + ' ' + " + row +
                                         ".innerText : ''");
        return text && text->rfind("\"online node-ui", 0) == 0;
      },
      kWait))
      << page->Evaluate("document.body.innerText").value_or("(no page)");

  // Fill the form as a person would and submit it.
  ASSERT_EQ(
      page->Evaluate("(() => {"
                     " const device = document.getElementById('command-device');"
                     " device.value = '" +
                     uri +
                     "';"
                     " device.dispatchEvent(new Event('change'));"
                     " document.getElementById('command-service').value = 'PUT /actuators/led';"
                     " document.getElementById('command-data').value = 'on';"
                     " document.getElementById('command-send').click();"
                     " return device.value; })()"),
      "\"" + uri + "\"");
  ASSERT_TRUE(WaitUntil([&] { return !commands_->Commands().empty(); }, kWait)) << Logs();
  const events::Command command = commands_->Commands().front();
  EXPECT_EQ(command.device_id, uri);
  EXPECT_EQ(command.method, events::Method::kPut);
  EXPECT_EQ(command.path, "/actuators/led");
  EXPECT_EQ(command.payload.data, "on");
  events::CommandResult result;
  result.command_id = command.command_id;
  result.device_id = uri;
  result.code = "2.04";
  result.payload.data = "led is on";
  ASSERT_TRUE(publisher_->Publish(events::CommandResult::kTopic, events::Encode(result)).ok());
  std::string shown;
  EXPECT_TRUE(WaitUntil(
      [&] {
        shown = page->Evaluate("document.getElementById('command-result').innerText").value_or("");
        return shown.find("response 2.04") != std::string::npos &&
               shown.find("data: led is on") != std::string::npos;
      },
      kWait))
      << shown;
}

TEST(WsConnectorBinaryTest, RequiresThePlatformUrlAndExplainsHelp) {
  const std::string binary = BinaryPath("coapgw-ws-connector");
  coapgw::test::ExpectBadSetting("env -u COAPGW_PLATFORM_URL COAPGW_DATABASE_URL=x " + binary,
                                 "coapgw-ws-connector: COAPGW_PLATFORM_URL is required");
  coapgw::test::ExpectBadSetting(
      "COAPGW_DATABASE_URL=x " + binary + " --platform-url=http://x",
      "coapgw-ws-connector: COAPGW_PLATFORM_URL: 'http://x' is not a ws:// or wss:// URL");
  coapgw::test::ExpectBadSetting(
      "COAPGW_DATABASE_URL=x COAPGW_PLATFORM_URL=ws://127.0.0.1:9 " + binary + " --bus-sub=nowhere",
      "coapgw-ws-connector: COAPGW_BUS_SUB");
  coapgw::test::ExpectBadSetting("COAPGW_DATABASE_URL=x COAPGW_PLATFORM_URL=ws://127.0.0.1:9 " +
                                     binary + " --ws-reconnect-min=1s --ws-reconnect-max=10ms",
                                 "coapgw-ws-connector: COAPGW_WS_RECONNECT_MAX: must not be below");
  auto help = coapgw::test::RunCommand(binary + " --help");
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.text.find("--platform-url"), std::string::npos);
  EXPECT_NE(help.text.find("--ws-outbox-limit"), std::string::npos);
}

}  // namespace
}  // namespace coapgw::ws_connector::test
