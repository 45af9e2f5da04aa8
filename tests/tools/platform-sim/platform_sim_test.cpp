// Conformance of coapgw-platform-sim with platform-protocol.md, driven as a gateway would drive
// the platform: the real binary on 127.0.0.1, coapgw::ws::Client on the other end, the control
// API over HTTP. Section numbers refer to platform-protocol.md.

#include <csignal>
#include <fstream>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "coapgw/test/command.hpp"
#include "coapgw/test/process.hpp"
#include "coapgw/test/wait.hpp"
#include "coapgw/ws/platform_protocol.hpp"
#include "platform_sim_testing.hpp"

namespace coapgw::platform_sim {
namespace {

using std::chrono::milliseconds;
using test::GatewayClient;
using test::PlatformSimProcess;
using ws::platform::Envelope;

constexpr const char* kOk = R"("ok")";
constexpr const char* kDummyHash = "dc78faada1e6851c3eea733ab7a1cf8d75f75a9a";

// The reply's status and payload as one comparable string: "200 \"ok\"".
std::string Outcome(const std::optional<Envelope>& reply) {
  return reply ? std::to_string(reply->status) + " " + reply->payload : "no reply";
}

std::string Quoted(const std::string& text) {
  return ws::platform::JsonQuote(text);
}

// A session after the handshake, its gateway id in `gid`.
struct Gateway {
  std::unique_ptr<GatewayClient> client;
  std::string gid;
  std::string hash;
};

Gateway Connect(const PlatformSimProcess& sim, const std::string& gid = "",
                ws::ClientOptions options = GatewayClient::Options()) {
  Gateway gateway;
  gateway.client = std::make_unique<GatewayClient>(sim.url(), options);
  const auto reply = gateway.client->Handshake("demo", "demo", gid);
  EXPECT_TRUE(reply) << "no handshake reply";
  if (reply) {
    const auto decoded = ws::platform::DecodeHandshakeReply(*reply);
    EXPECT_TRUE(decoded.ok()) << decoded.error().message;
    if (decoded.ok()) {
      gateway.gid = decoded->gateway_id;
      gateway.hash = decoded->hash;
    }
  }
  return gateway;
}

// The §4 sync: clear, put every device, commit their gateway hash.
void Sync(GatewayClient& client, const std::vector<ws::platform::HashedDevice>& devices) {
  ASSERT_EQ(Outcome(client.Request("clear", "null")), std::string("200 ") + kOk);
  for (const auto& device : devices) {
    ASSERT_EQ(Outcome(client.Request("put", GatewayClient::PutPayload(device))),
              std::string("200 ") + kOk);
  }
  ASSERT_EQ(Outcome(client.Request("commit", Quoted(ws::platform::GatewayHashOf(devices)))),
            std::string("200 ") + kOk);
}

const rapidjson::Value* FindById(const rapidjson::Value& list, const char* key,
                                 const std::string& value) {
  for (const auto& item : list.GetArray()) {
    if (item[key].GetString() == value) {
      return &item;
    }
  }
  return nullptr;
}

std::string Event(const std::string& uri, const std::string& service, const std::string& data) {
  return "{\"device_uri\":" + Quoted(uri) + ",\"service_uri\":" + Quoted(service) +
         R"(,"value":[{"name":"metadata","value":null},{"name":"data","value":)" + Quoted(data) +
         "}]}";
}

TEST(PlatformSimTest, ABadSettingPrintsOnlyItsErrorLineAndExits2) {
  const std::string binary = coapgw::test::BinaryPath("coapgw-platform-sim");
  coapgw::test::ExpectBadSetting(binary + " --platform-sim-listen=nowhere",
                                 "coapgw-platform-sim: COAPGW_PLATFORM_SIM_LISTEN: ");
  coapgw::test::ExpectBadSetting(binary + " --platform-sim-tls-cert=/nonexistent.pem",
                                 "coapgw-platform-sim: COAPGW_PLATFORM_SIM_TLS_CERT and "
                                 "COAPGW_PLATFORM_SIM_TLS_KEY go together");
}

TEST(PlatformSimTest, HandshakeReplyIsTheServersExactFrame) {
  PlatformSimProcess sim;
  GatewayClient client(sim.url("/any/path"));
  ASSERT_TRUE(client.WaitOpen());
  ASSERT_TRUE(client.SendText(R"({"user":"demo","pw":"demo","gid":"","token":"credentials"})"));
  const auto text = client.WaitText([](const std::string&) { return true; });
  ASSERT_TRUE(text);
  const std::string prefix =
      R"({"status":200,"handler":"response","token":"credentials","content_type":"map","payload":{"gid":"iot#)";
  EXPECT_EQ(text->rfind(prefix, 0), 0U) << *text;
  EXPECT_NE(text->find(R"(,"hash":""}})"), std::string::npos) << *text;
}

TEST(PlatformSimTest, SyncCommitsTheHashAndReconnectRelistensCommittedDevices) {
  PlatformSimProcess sim;
  const auto devices = GatewayClient::DummyDevices();
  std::string gid;
  {
    Gateway gateway = Connect(sim);
    ASSERT_EQ(gateway.gid.rfind("iot#", 0), 0U);
    EXPECT_EQ(gateway.hash, "");
    gid = gateway.gid;
    Sync(*gateway.client, devices);

    const auto state = sim.Get("/api/state");
    ASSERT_TRUE(state.IsObject());
    const auto* stored = FindById(state["gateways"], "id", gid);
    ASSERT_NE(stored, nullptr);
    EXPECT_STREQ((*stored)["hash"].GetString(), kDummyHash);
    EXPECT_EQ((*stored)["devices"].Size(), 3U);
    EXPECT_TRUE((*stored)["connected"].GetBool());
    ASSERT_EQ(state["devices"].Size(), 3U);
    for (const auto& device : state["devices"].GetArray()) {
      EXPECT_TRUE(device["listened"].GetBool());
      EXPECT_EQ(device["gateway"].GetString(), gid);
    }
  }
  ASSERT_TRUE(coapgw::test::WaitUntil(
      [&] {
        const auto state = sim.Get("/api/state");
        return state.IsObject() && state["sessions"].Empty();
      },
      milliseconds(5000)));
  EXPECT_FALSE(sim.Get("/api/state")["devices"][0]["listened"].GetBool());

  // §3.1 step 3.3: the committed devices are listened to again before the reply, so an event is
  // accepted without any put.
  Gateway again = Connect(sim, gid);
  EXPECT_EQ(again.gid, gid);
  EXPECT_EQ(again.hash, kDummyHash);
  EXPECT_EQ(Outcome(again.client->Request("event", Event("46j5j67j6rt", "GET /x", "1"))),
            std::string("200 ") + kOk);
  const auto state = sim.Get("/api/state");
  for (const auto& device : state["devices"].GetArray()) {
    EXPECT_TRUE(device["listened"].GetBool()) << device["uri"].GetString();
  }
}

TEST(PlatformSimTest, UnknownOrForeignGatewayIdGetsANewGateway) {
  PlatformSimProcess sim({"--platform-sim-users=demo:demo,alice:secret"});
  Gateway demo = Connect(sim);
  Gateway unknown = Connect(sim, "iot#00000000-0000-0000-0000-000000000000");
  EXPECT_NE(unknown.gid, "iot#00000000-0000-0000-0000-000000000000");
  GatewayClient alice(sim.url());
  const auto reply = alice.Handshake("alice", "secret", demo.gid);
  ASSERT_TRUE(reply);
  const auto decoded = ws::platform::DecodeHandshakeReply(*reply);
  ASSERT_TRUE(decoded.ok());
  EXPECT_NE(decoded->gateway_id, demo.gid);
  EXPECT_EQ(sim.Get("/api/state")["gateways"].Size(), 3U);
}

TEST(PlatformSimTest, BadCredentialsCloseWithoutAnyReply) {
  PlatformSimProcess sim;
  for (const std::string credentials :
       {R"({"user":"demo","pw":"wrong","gid":"","token":"credentials"})", "not json",
        R"({"user":1})"}) {
    GatewayClient client(sim.url());
    ASSERT_TRUE(client.WaitOpen());
    ASSERT_TRUE(client.SendText(credentials));
    const auto closed = client.WaitClose();
    ASSERT_TRUE(closed) << credentials;
    EXPECT_EQ(closed->initiator, ws::CloseInitiator::kFailure) << credentials;
    EXPECT_EQ(closed->code, 1006) << credentials;
    EXPECT_TRUE(client.texts().empty()) << credentials;
  }
}

TEST(PlatformSimTest, HandshakeTimeoutDropsASilentClient) {
  PlatformSimProcess sim({"--platform-sim-handshake-timeout=200ms"});
  GatewayClient client(sim.url());
  ASSERT_TRUE(client.WaitOpen());
  const auto closed = client.WaitClose();
  ASSERT_TRUE(closed);
  EXPECT_EQ(closed->code, 1006);
  EXPECT_TRUE(client.texts().empty());
}

TEST(PlatformSimTest, EveryErrorPathHasItsStatusAndMessage) {
  PlatformSimProcess sim;
  Gateway gateway = Connect(sim);
  GatewayClient& client = *gateway.client;
  const auto device = GatewayClient::DummyDevices()[0];
  // A success between errors keeps the consecutive-error count below the closing limit.
  const auto reset = [&] { ASSERT_EQ(Outcome(client.Request("response", "{}")), "200 \"ok\""); };

  EXPECT_EQ(Outcome(client.Request("remove", Quoted("x"))).substr(0, 4), "400 ");
  EXPECT_EQ(Outcome(client.Request("disconnect", "42")), "400 \"expect uri as string in payload\"");
  EXPECT_EQ(Outcome(client.Request("disconnect", Quoted("nope"))),
            "500 \"not listening to device with uri 'nope'\"");
  EXPECT_EQ(Outcome(client.Request("delete", "{}")), "400 \"expect uri as string in payload\"");
  reset();
  EXPECT_EQ(Outcome(client.Request("delete", Quoted("nope"))),
            "500 \"cant find exactly one device with given uri\"");
  EXPECT_EQ(Outcome(client.Request("commit", "null")), "400 \"expect hash as string in payload\"");
  EXPECT_EQ(Outcome(client.Request("put", R"({"uri":"a","name":"a","iot_type":"","tags":[]})")),
            "500 \"empty iot_type\"");
  EXPECT_EQ(Outcome(client.Request("put", R"({"uri":"a","name":"a","iot_type":"t","tags":[1]})")),
            "500 \"json: cannot unmarshal number into Go struct field ConnectorDevice.tags of "
            "type string\"");
  reset();
  EXPECT_EQ(Outcome(client.Request("put", Quoted("x"))),
            "500 \"json: cannot unmarshal string into Go value of type model.ConnectorDevice\"");
  EXPECT_EQ(Outcome(client.Request("event", Event("nope", "GET /a", "1"))),
            "400 \"error event: not listen to this device {nope GET /a [{metadata } {data 1}]}\"");
  EXPECT_EQ(
      Outcome(client.Request(
          "event", R"({"device_uri":"x","service_uri":"s","value":[{"name":"data","value":5}]})")),
      "400 \"json: cannot unmarshal number into Go struct field ProtocolPart.value of type "
      "string\"");
  reset();

  ASSERT_EQ(Outcome(client.Request("put", GatewayClient::PutPayload(device))), "200 \"ok\"");
  EXPECT_EQ(Outcome(client.Request("event", Event(device.id, "GET /a", "21.5"))), "200 \"ok\"");
  EXPECT_EQ(Outcome(client.Request("disconnect", Quoted(device.id))), "200 \"ok\"");
  // §5.3: once disconnected, events for it are refused.
  EXPECT_EQ(Outcome(client.Request("event", Event(device.id, "GET /a", "1"))).substr(0, 4), "400 ");
  EXPECT_EQ(Outcome(client.Request("delete", Quoted(device.id))), "200 \"ok\"");
  EXPECT_EQ(sim.Get("/api/state")["devices"].Size(), 0U);
}

TEST(PlatformSimTest, UnknownHandlerEchoesTheTokenAndTheRawMessage) {
  PlatformSimProcess sim;
  Gateway gateway = Connect(sim);
  const std::string raw =
      R"({"status":0,"handler":"remove","token":"t-1","content_type":"","payload":"x"})";
  ASSERT_TRUE(gateway.client->SendText(raw));
  const auto text = gateway.client->WaitText(
      [](const std::string& t) { return t.find("\"token\":\"t-1\"") != std::string::npos; });
  ASSERT_TRUE(text);
  EXPECT_EQ(*text, R"({"status":400,"handler":"response","token":"t-1","content_type":"string",)"
                   R"("payload":"unknown handler in request ({\"status\":0,\"handler\":\"remove\",)"
                   R"j(\"token\":\"t-1\",\"content_type\":\"\",\"payload\":\"x\"})"})j");
}

TEST(PlatformSimTest, UnparsableMessageGetsTwo400sWithEmptyToken) {
  PlatformSimProcess sim;
  Gateway gateway = Connect(sim);
  ASSERT_TRUE(gateway.client->SendText("not json"));
  const auto first = gateway.client->WaitText(
      [](const std::string& t) { return t.find("unable to parse") != std::string::npos; });
  const auto second = gateway.client->WaitText(
      [](const std::string& t) { return t.find("unknown handler") != std::string::npos; });
  ASSERT_TRUE(first && second);
  EXPECT_EQ(*first, R"({"status":400,"handler":"response","token":"","content_type":"string",)"
                    R"j("payload":"unable to parse request from message (not json)"})j");
  EXPECT_EQ(*second, R"({"status":400,"handler":"response","token":"","content_type":"string",)"
                     R"j("payload":"unknown handler in request (not json)"})j");
  EXPECT_EQ(sim.Get("/api/state")["sessions"][0]["consecutive_errors"].GetInt(), 2);
}

TEST(PlatformSimTest, SixConsecutiveErrorsCloseTheSession) {
  PlatformSimProcess sim;
  Gateway gateway = Connect(sim);
  GatewayClient& client = *gateway.client;
  for (int i = 0; i < 5; ++i) {
    ASSERT_EQ(Outcome(client.Request("commit", "1")), "400 \"expect hash as string in payload\"");
  }
  // A success resets the count (§9.1).
  ASSERT_EQ(Outcome(client.Request("response", "{}")), "200 \"ok\"");
  for (int i = 0; i < 5; ++i) {
    ASSERT_EQ(Outcome(client.Request("commit", "1")).substr(0, 4), "400 ");
  }
  EXPECT_EQ(client.client().state(), ws::ClientState::kOpen);
  ASSERT_EQ(Outcome(client.Request("commit", "1")).substr(0, 4), "400 ");
  const auto closed = client.WaitClose();
  ASSERT_TRUE(closed);
  EXPECT_EQ(closed->initiator, ws::CloseInitiator::kPeer);
  EXPECT_EQ(closed->code, 1000);
  EXPECT_EQ(closed->peer_reason, "ERROR: max consecutive error count exceeded");
}

TEST(PlatformSimTest, CommandReachesTheListeningGatewayAndItsResponseIsRecorded) {
  PlatformSimProcess sim;
  Gateway gateway = Connect(sim);
  Gateway bystander = Connect(sim);
  const auto device = GatewayClient::DummyDevices()[1];
  Sync(*gateway.client, {device});

  const auto sent =
      sim.Post("/api/command", R"({"device_uri":")" + device.id +
                                   R"(","service_url":"PUT /led","data":"on",)"
                                   R"("extra":{"completion_strategy":"optimistic"}})");
  ASSERT_EQ(sent.status, 200) << sent.body;
  const auto answer = test::ParseJson(sent.body);
  const std::string task_id = answer["task_id"].GetString();
  EXPECT_EQ(answer["delivered"].GetInt(), 1);

  const auto command = gateway.client->WaitCommand();
  ASSERT_TRUE(command);
  EXPECT_EQ(command->status, 0);
  EXPECT_EQ(command->token, "");
  EXPECT_EQ(command->content_type, "map");
  // Keys arrive sorted, as from a Go map (§6.2).
  EXPECT_EQ(command->payload.rfind(
                R"({"completion_strategy":"optimistic","device_instance_id":"iot#)", 0),
            0U)
      << command->payload;
  const auto payload = test::ParseJson(command->payload);
  EXPECT_EQ(payload["device_url"].GetString(), device.id);
  EXPECT_STREQ(payload["service_url"].GetString(), "PUT /led");
  EXPECT_EQ(payload["task_id"].GetString(), task_id);
  EXPECT_STREQ(payload["protocol_parts"][0]["name"].GetString(), "data");
  EXPECT_STREQ(payload["protocol_parts"][0]["value"].GetString(), "on");
  for (const char* key : {"worker_id", "service_id", "output_name", "time", "service"}) {
    EXPECT_TRUE(payload.HasMember(key)) << key;
  }
  EXPECT_FALSE(bystander.client->WaitCommand(100));

  // Nothing recorded yet; a long poll waits for the answer.
  EXPECT_EQ(ws::test::Http(sim.port(), "GET", "/api/responses?task_id=" + task_id).status, 404);
  ws::test::HttpResult polled;
  std::thread poller([&] {
    polled =
        ws::test::Http(sim.port(), "GET", "/api/responses?task_id=" + task_id + "&wait_ms=4000");
  });
  std::string response = command->payload;
  const auto parts_at = response.find("\"protocol_parts\":");
  const auto parts_end = response.find(']', parts_at);
  response.replace(parts_at, parts_end + 1 - parts_at,
                   R"("protocol_parts":[{"name":"metadata","value":"{\"code\":\"2.04\"}"},)"
                   R"({"name":"data","value":"done"}])");
  EXPECT_EQ(Outcome(gateway.client->Request("response", response)), "200 \"ok\"");
  poller.join();
  ASSERT_EQ(polled.status, 200) << polled.body;
  const auto recorded = test::ParseJson(polled.body);
  EXPECT_EQ(recorded["task_id"].GetString(), task_id);
  EXPECT_STREQ(recorded["payload"]["protocol_parts"][1]["value"].GetString(), "done");
  EXPECT_EQ(recorded["gateway"].GetString(), gateway.gid);

  // A device nobody listens to: the command goes nowhere, as on the platform.
  ASSERT_EQ(Outcome(gateway.client->Request("disconnect", Quoted(device.id))), "200 \"ok\"");
  const auto lost =
      sim.Post("/api/command", R"({"device_uri":")" + device.id + R"(","service_url":"PUT /led"})");
  EXPECT_EQ(test::ParseJson(lost.body)["delivered"].GetInt(), 0);
  EXPECT_EQ(sim.Post("/api/command", R"({"device_uri":"nope","service_url":"x"})").status, 404);
  EXPECT_EQ(sim.Post("/api/command", "{}").status, 400);
}

TEST(PlatformSimTest, AcceptedEventsAreVisibleInTheState) {
  PlatformSimProcess sim;
  Gateway gateway = Connect(sim);
  const auto device = GatewayClient::DummyDevices()[0];
  Sync(*gateway.client, {device});
  ASSERT_EQ(Outcome(gateway.client->Request(
                "event", Event(device.id, "GET /sensors/temp", R"({"value": 21.5})"))),
            "200 \"ok\"");
  const auto state = sim.Get("/api/state");
  ASSERT_EQ(state["events"].Size(), 1U);
  const auto& event = state["events"][0];
  EXPECT_TRUE(event["accepted"].GetBool());
  EXPECT_EQ(event["device_uri"].GetString(), device.id);
  EXPECT_STREQ(event["device_name"].GetString(), "Dummy Device 1");
  EXPECT_STREQ(event["service_uri"].GetString(), "GET /sensors/temp");
  EXPECT_STREQ(event["value"][1]["value"].GetString(), R"({"value": 21.5})");
  const auto events = sim.Get("/api/events?after=" + std::to_string(event["seq"].GetUint64() - 1));
  EXPECT_EQ(events["events"].Size(), 1U);
  EXPECT_EQ(
      sim.Get("/api/events?after=" + std::to_string(event["seq"].GetUint64()))["events"].Size(),
      0U);
}

TEST(PlatformSimTest, ServerPingsUntilTheClientPingsAndPongsKeepTheSessionAlive) {
  PlatformSimProcess sim(
      {"--platform-sim-ping-interval=50ms", "--platform-sim-idle-timeout=300ms"});
  Gateway gateway = Connect(sim);
  // Pongs to the server's pings are inbound frames: far past the idle timeout, still open.
  ASSERT_TRUE(coapgw::test::WaitUntil(
      [&] {
        const auto state = sim.Get("/api/state");
        return state.IsObject() && state["counters"].HasMember("pongs") &&
               state["counters"]["pongs"].GetInt() >= 12;
      },
      milliseconds(5000)));
  EXPECT_EQ(gateway.client->client().state(), ws::ClientState::kOpen);

  ws::ClientOptions pinging = GatewayClient::Options();
  pinging.ping_idle = milliseconds(50);
  Gateway active = Connect(sim, "", pinging);
  ASSERT_TRUE(coapgw::test::WaitUntil(
      [&] {
        const auto state = sim.Get("/api/state");
        for (const auto& session : state["sessions"].GetArray()) {
          if (session["gateway"].GetString() == active.gid) {
            return !session["server_pings"].GetBool();
          }
        }
        return false;
      },
      milliseconds(5000)));
}

TEST(PlatformSimTest, SilentSessionIsClosedAfterTheIdleTimeout) {
  PlatformSimProcess sim({"--platform-sim-ping-interval=0", "--platform-sim-idle-timeout=300ms"});
  Gateway gateway = Connect(sim);
  const auto closed = gateway.client->WaitClose();
  ASSERT_TRUE(closed);
  EXPECT_EQ(closed->initiator, ws::CloseInitiator::kPeer);
  EXPECT_EQ(closed->peer_reason, "read-error: i/o timeout\nmsg: ");
}

TEST(PlatformSimTest, HooksDelayRefuseDropAndRejectHandshakes) {
  PlatformSimProcess sim;
  ASSERT_TRUE(sim.Hook(R"({"action":"reject_handshake","count":1})"));
  GatewayClient rejected(sim.url());
  EXPECT_FALSE(rejected.Handshake("demo", "demo", ""));
  EXPECT_EQ(rejected.WaitClose()->code, 1006);

  Gateway gateway = Connect(sim);
  GatewayClient& client = *gateway.client;
  // Delayed put: the commit sent right after it is answered after it, in order (one reader).
  ASSERT_TRUE(sim.Hook(R"({"action":"delay","handler":"put","ms":200,"count":1})"));
  Envelope put;
  put.handler = "put";
  put.token = "slow-put";
  put.payload = GatewayClient::PutPayload(GatewayClient::DummyDevices()[0]);
  Envelope commit;
  commit.handler = "commit";
  commit.token = "fast-commit";
  commit.payload = Quoted("h");
  ASSERT_TRUE(client.SendText(ws::platform::EncodeEnvelope(put)));
  ASSERT_TRUE(client.SendText(ws::platform::EncodeEnvelope(commit)));
  ASSERT_TRUE(client.WaitText(
      [](const std::string& t) { return t.find("fast-commit") != std::string::npos; }));
  const auto texts = client.texts();
  ASSERT_GE(texts.size(), 3U);
  EXPECT_NE(texts[texts.size() - 2].find("slow-put"), std::string::npos);

  ASSERT_TRUE(
      sim.Hook(R"({"action":"refuse","handler":"commit","status":500,"message":"backend down"})"));
  EXPECT_EQ(Outcome(client.Request("commit", Quoted("h"))), "500 \"backend down\"");
  EXPECT_EQ(Outcome(client.Request("commit", Quoted("h"))), "200 \"ok\"");

  // Late reply for a token whose request was answered long ago.
  ASSERT_TRUE(sim.Hook(R"({"action":"late_reply","token":"slow-put"})"));
  ASSERT_TRUE(client.WaitText(
      [](const std::string& t) { return t.find("slow-put") != std::string::npos; }));
  ASSERT_TRUE(sim.Hook(R"({"action":"garbage"})"));
  ASSERT_TRUE(client.WaitText(
      [](const std::string& t) { return t == "ERROR: unable to create response"; }));

  ASSERT_TRUE(sim.Hook(R"({"action":"drop_on","handler":"clear"})"));
  EXPECT_FALSE(client.Request("clear", "null"));
  const auto closed = client.WaitClose();
  ASSERT_TRUE(closed);
  EXPECT_EQ(closed->code, 1006);
  ASSERT_EQ(ws::test::Http(sim.port(), "DELETE", "/api/hooks").status, 200);
}

TEST(PlatformSimTest, CloseDropAndStallHooks) {
  PlatformSimProcess sim;
  Gateway closing = Connect(sim);
  ASSERT_TRUE(sim.Hook(R"({"action":"close","code":1001,"reason":"maintenance"})"));
  const auto closed = closing.client->WaitClose();
  ASSERT_TRUE(closed);
  EXPECT_EQ(closed->code, 1001);
  EXPECT_EQ(closed->peer_reason, "maintenance");

  Gateway dropped = Connect(sim);
  ASSERT_TRUE(sim.Hook(R"({"action":"drop"})"));
  ASSERT_TRUE(dropped.client->WaitClose());
  EXPECT_EQ(dropped.client->WaitClose()->code, 1006);

  // A stalled platform answers neither requests nor pings: the client's keepalive notices.
  ws::ClientOptions keepalive = GatewayClient::Options();
  keepalive.ping_idle = milliseconds(100);
  keepalive.pong_timeout = milliseconds(200);
  Gateway stalled = Connect(sim, "", keepalive);
  ASSERT_TRUE(sim.Hook(R"({"action":"stall"})"));
  EXPECT_FALSE(stalled.client->Request("clear", "null"));
  const auto failed = stalled.client->WaitClose();
  ASSERT_TRUE(failed);
  EXPECT_EQ(failed->reason, "keepalive: no frame within 200ms after ping");
  EXPECT_EQ(sim.Post("/api/hooks", R"({"action":"nonsense"})").status, 400);
}

TEST(PlatformSimTest, StateFileKeepsGatewaysAndDevicesAcrossRestarts) {
  ws::test::TempDir dir;
  const std::string file = "--platform-sim-state-file=" + dir.path() + "/state.json";
  std::string gid;
  {
    PlatformSimProcess sim({file});
    Gateway gateway = Connect(sim);
    gid = gateway.gid;
    Sync(*gateway.client, GatewayClient::DummyDevices());
    gateway.client.reset();
    EXPECT_EQ(sim.Stop(), 0);
  }
  PlatformSimProcess restarted({file});
  Gateway gateway = Connect(restarted, gid);
  EXPECT_EQ(gateway.gid, gid);
  EXPECT_EQ(gateway.hash, kDummyHash);
  EXPECT_EQ(restarted.Get("/api/state")["devices"].Size(), 3U);
}

TEST(PlatformSimTest, SigtermClosesSessionsWithConnectorShutdown) {
  PlatformSimProcess sim;
  Gateway gateway = Connect(sim);
  EXPECT_EQ(sim.Stop(), 0);
  const auto closed = gateway.client->WaitClose();
  ASSERT_TRUE(closed);
  EXPECT_EQ(closed->code, 1000);
  EXPECT_EQ(closed->peer_reason, "connector shutdown");
}

TEST(PlatformSimTest, StrictTypesAndConfiguredServices) {
  ws::test::TempDir dir;
  const std::string types = dir.path() + "/types.json";
  std::ofstream(types) << R"([{"id":"iot#lamp","services":[)"
                          R"({"id":"iot#s1","service_type":"Sensor","url":"GET /state"},)"
                          R"({"id":"iot#s2","service_type":"Actuator","url":"PUT /state"}]}])";
  PlatformSimProcess sim(
      {"--platform-sim-device-types=" + types, "--platform-sim-strict-types=true"});
  Gateway gateway = Connect(sim);
  EXPECT_EQ(Outcome(gateway.client->Request(
                "put", R"({"uri":"x","name":"x","iot_type":"iot#other","tags":[]})")),
            "500 \"error while creating device skeleton: unknown device type 'iot#other'\"");
  ASSERT_EQ(Outcome(gateway.client->Request(
                "put", R"({"uri":"lamp","name":"Lamp","iot_type":"iot#lamp","tags":[]})")),
            "200 \"ok\"");
  EXPECT_EQ(Outcome(gateway.client->Request("event", Event("lamp", "GET /state", "on"))),
            "200 \"ok\"");
  EXPECT_EQ(Outcome(gateway.client->Request("event", Event("lamp", "GET /other", "on"))),
            "400 \"no matching service to 'GET /other' found in[{iot#s1 Sensor GET /state} "
            "{iot#s2 Actuator PUT /state}]\\n\"");
  const auto sent =
      sim.Post("/api/command", R"({"device_uri":"lamp","service_url":"PUT /state","data":"1"})");
  EXPECT_EQ(sent.status, 200) << sent.body;
  const auto command = gateway.client->WaitCommand();
  ASSERT_TRUE(command);
  EXPECT_STREQ(test::ParseJson(command->payload)["service_id"].GetString(), "iot#s2");
}

TEST(PlatformSimTest, WssWithTheSimsCertificate) {
  ws::test::TempDir dir;
  const auto cert = ws::test::MakeSelfSignedCert(dir.path(), "sim", "IP:127.0.0.1");
  PlatformSimProcess sim(
      {"--platform-sim-tls-cert=" + cert.cert, "--platform-sim-tls-key=" + cert.key});
  ASSERT_EQ(sim.url().rfind("wss://", 0), 0U);
  ws::ClientOptions options = GatewayClient::Options();
  options.ca_file = cert.cert;
  Gateway gateway = Connect(sim, "", options);
  EXPECT_EQ(gateway.gid.rfind("iot#", 0), 0U);
}

TEST(PlatformSimConsoleTest, PageReferencesTheApiAndHasStableIds) {
  PlatformSimProcess sim;
  const auto page = ws::test::Http(sim.port(), "GET", "/");
  ASSERT_EQ(page.status, 200);
  EXPECT_NE(page.head.find("Content-Type: text/html"), std::string::npos);
  for (const char* needle :
       {"/api/state", "/api/command", "/api/responses?task_id=", "/console", "id=\"device-list\"",
        "id=\"event-log\"", "id=\"command-form\"", "id=\"command-result\"", "id=\"command-device\"",
        "id=\"command-service\"", "id=\"command-data\""}) {
    EXPECT_NE(page.body.find(needle), std::string::npos) << needle;
  }
  // Self-contained: nothing loaded from elsewhere.
  EXPECT_EQ(page.body.find("http://"), std::string::npos);
  EXPECT_EQ(page.body.find("https://"), std::string::npos);
  EXPECT_EQ(ws::test::Http(sim.port(), "GET", "/nothing-here").status, 404);
}

TEST(PlatformSimConsoleTest, ConsoleFeedDeliversLiveEvents) {
  PlatformSimProcess sim;
  GatewayClient console(sim.url("/console"));
  ASSERT_TRUE(console.WaitText([](const std::string& t) { return t == R"({"type":"hello"})"; }));
  Gateway gateway = Connect(sim);
  const auto device = GatewayClient::DummyDevices()[2];
  Sync(*gateway.client, {device});
  ASSERT_EQ(Outcome(gateway.client->Request("event", Event(device.id, "GET /t", "42"))),
            "200 \"ok\"");
  const auto event = console.WaitText(
      [](const std::string& t) { return t.rfind(R"({"type":"event","record":)", 0) == 0; });
  ASSERT_TRUE(event);
  const auto update = test::ParseJson(*event);
  EXPECT_EQ(update["record"]["device_uri"].GetString(), device.id);
  EXPECT_STREQ(update["record"]["value"][1]["value"].GetString(), "42");
  EXPECT_TRUE(console.WaitText([](const std::string& t) { return t == R"({"type":"state"})"; }));
  // The console is not a gateway session.
  EXPECT_EQ(sim.Get("/api/state")["sessions"].Size(), 1U);
}

}  // namespace
}  // namespace coapgw::platform_sim
