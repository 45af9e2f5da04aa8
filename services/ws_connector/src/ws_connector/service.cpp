#include "ws_connector/service.hpp"

#include <memory>
#include <string>
#include <vector>

#include <zmq.hpp>

#include "coapgw/bus/publisher.hpp"
#include "coapgw/coap/client.hpp"
#include "coapgw/coap/context.hpp"
#include "coapgw/common/log.hpp"
#include "coapgw/devices/bus_feed.hpp"
#include "coapgw/devices/device_mirror.hpp"
#include "coapgw/devices/service_wiring.hpp"
#include "coapgw/events/codec.hpp"
#include "ws_connector/connector.hpp"
#include "ws_connector/store.hpp"

namespace coapgw::ws_connector {
namespace {

constexpr const char* kComponent = "ws-connector";

struct Config {
  devices::DeviceMirrorOptions mirror;  // the RD; the bus endpoints are checked too
  std::string database_url;
  bool outbox_synchronous_commit = false;
  ConnectorOptions connector;
};

Config LoadConfig(const Settings& settings) {
  Config config;
  config.mirror = devices::MirrorOptionsFrom(settings);
  config.database_url = settings.String("COAPGW_DATABASE_URL");
  config.outbox_synchronous_commit = settings.Bool("COAPGW_WS_OUTBOX_SYNC_COMMIT");
  ConnectorOptions& options = config.connector;
  options.platform_url = settings.String("COAPGW_PLATFORM_URL");
  if (options.platform_url.rfind("ws://", 0) != 0 && options.platform_url.rfind("wss://", 0) != 0) {
    throw SettingsError("COAPGW_PLATFORM_URL: '" + options.platform_url +
                        "' is not a ws:// or wss:// URL");
  }
  options.user = settings.String("COAPGW_PLATFORM_USER");
  options.password = settings.String("COAPGW_PLATFORM_PASSWORD");
  options.gateway_id = settings.String("COAPGW_GATEWAY_ID");
  options.default_device_type = settings.String("COAPGW_DEFAULT_DEVICE_TYPE");
  options.command_timeout =
      settings.Duration("COAPGW_COMMAND_TIMEOUT", Millis(10), Millis(3'600'000));
  options.request_timeout =
      settings.Duration("COAPGW_WS_REQUEST_TIMEOUT", Millis(10), Millis(600'000));
  options.handshake_timeout =
      settings.Duration("COAPGW_WS_HANDSHAKE_TIMEOUT", Millis(10), Millis(600'000));
  options.backoff.initial =
      settings.Duration("COAPGW_WS_RECONNECT_MIN", Millis(10), Millis(3'600'000));
  options.backoff.max =
      settings.Duration("COAPGW_WS_RECONNECT_MAX", Millis(10), Millis(86'400'000));
  if (options.backoff.max < options.backoff.initial) {
    throw SettingsError("COAPGW_WS_RECONNECT_MAX: must not be below COAPGW_WS_RECONNECT_MIN");
  }
  options.client.ping_idle = settings.Duration("COAPGW_WS_PING_IDLE", Millis(0), Millis(3'600'000));
  options.client.pong_timeout =
      settings.Duration("COAPGW_WS_PONG_TIMEOUT", Millis(10), Millis(3'600'000));
  options.client.max_message_size = static_cast<size_t>(settings.Int("COAPGW_WS_MAX_FRAME"));
  options.client.ca_file = settings.String("COAPGW_WS_CA_FILE");
  options.outbox_limit = static_cast<uint64_t>(settings.Int("COAPGW_WS_OUTBOX_LIMIT"));
  options.accept_new_directory = settings.Bool("COAPGW_WS_ACCEPT_NEW_DIRECTORY");
  options.outbox_max_age = std::chrono::duration_cast<std::chrono::seconds>(
      settings.Duration("COAPGW_WS_OUTBOX_MAX_AGE", Millis(1000), Millis(31'536'000'000)));
  return config;
}

// Everything that lives on the loop thread, built and destroyed there.
struct LoopState {
  std::unique_ptr<bus::Publisher> publisher;
  std::unique_ptr<coap::Client> client;
  std::unique_ptr<Store> store;
  std::unique_ptr<Connector> connector;
  std::unique_ptr<devices::DeviceMirror> mirror;
  bool running = true;
};

}  // namespace

void AddSettings(Settings& settings) {
  settings.Add({"COAPGW_PLATFORM_URL", "the platform's WebSocket URL (ws://host:port or wss://…)",
                "", SettingKind::kString, true});
  settings.Add({"COAPGW_PLATFORM_USER", "platform user name (handshake credentials)", ""});
  settings.Add({"COAPGW_PLATFORM_PASSWORD", "platform password (handshake credentials)", "",
                SettingKind::kString, false, true});
  settings.Add({"COAPGW_GATEWAY_ID",
                "gateway id to ask for when none is persisted yet; empty: the platform assigns "
                "one, which is persisted (wsc_gateway) and reused",
                ""});
  settings.Add({"COAPGW_DEFAULT_DEVICE_TYPE",
                "platform device type (iot_type) of devices that registered without et; empty: "
                "such devices are left off the platform (logged)",
                ""});
  settings.Add({"COAPGW_DATABASE_URL",
                "PostgreSQL (libpq URI) for the gateway id and the outbox (tables wsc_*)", "",
                SettingKind::kString, true, true});
  settings.Add(
      {"COAPGW_BUS_PUB", "bus endpoint ws.command is published to", "tcp://127.0.0.1:7100"});
  settings.Add({"COAPGW_BUS_SUB",
                "bus endpoint rd.device.*, observer.data and executer.command-result come from",
                "tcp://127.0.0.1:7101"});
  settings.Add(
      {"COAPGW_RD_URI", "the Resource Directory (device snapshot)", "coap://127.0.0.1:5683"});
  settings.Add({"COAPGW_COMMAND_TIMEOUT",
                "a command without a result within this is answered with code timeout", "10s",
                SettingKind::kDuration});
  settings.Add({"COAPGW_WS_REQUEST_TIMEOUT",
                "a platform request without a reply within this closes the connection", "10s",
                SettingKind::kDuration});
  settings.Add({"COAPGW_WS_HANDSHAKE_TIMEOUT", "wait this long for the handshake reply", "20s",
                SettingKind::kDuration});
  settings.Add({"COAPGW_WS_RECONNECT_MIN", "first reconnect delay ceiling (doubles, full jitter)",
                "1s", SettingKind::kDuration});
  settings.Add(
      {"COAPGW_WS_RECONNECT_MAX", "cap of the reconnect delay", "5m", SettingKind::kDuration});
  settings.Add({"COAPGW_WS_PING_IDLE",
                "send a WebSocket ping after this long without an inbound frame (0: never)", "15s",
                SettingKind::kDuration});
  settings.Add({"COAPGW_WS_PONG_TIMEOUT",
                "fail the connection when nothing answers a ping within this", "10s",
                SettingKind::kDuration});
  settings.Add({"COAPGW_WS_MAX_FRAME",
                "larger inbound frames close the connection (1009) and it is opened again",
                "1048576", SettingKind::kInt, false, false, 1024, 1LL << 30});
  settings.Add({"COAPGW_WS_CA_FILE", "wss://: PEM file of trusted CAs (empty: the system's)", ""});
  settings.Add({"COAPGW_WS_OUTBOX_LIMIT",
                "events waiting for the platform, at most; beyond it the oldest are dropped "
                "(counted, logged)",
                "100000", SettingKind::kInt, false, false, 1, 100'000'000});
  settings.Add({"COAPGW_WS_OUTBOX_SYNC_COMMIT",
                "true: every outbox write waits for PostgreSQL's WAL flush (survives a power loss; "
                "the event rate then follows the disk's fsync rate); false: asynchronous commit "
                "(a connector crash loses nothing, a database server crash the last ~0.6 s)",
                "false", SettingKind::kBool});
  settings.Add({"COAPGW_WS_OUTBOX_MAX_AGE", "events older than this are dropped from the outbox",
                "24h", SettingKind::kDuration});
  settings.Add({"COAPGW_WS_ACCEPT_NEW_DIRECTORY",
                "true: the RD runs on a new database on purpose; delete the platform devices it "
                "lacks (false: such deletions are held back and logged; see DirectoryGuard)",
                "false", SettingKind::kBool});
}

namespace {

int Run(ServiceContext& service, const Config& config) {
  service.health.SetNotReady("connecting to the platform");

  zmq::context_t zmq_context;
  LoopState state;  // before the loop: what runs on it refers to the state until the thread ends
  coap::ContextThread loop;
  coap::Context& context = loop.context();
  const devices::LoopTeardown teardown(loop, [&state] {
    state.running = false;
    state.mirror.reset();
    state.connector.reset();
    state.client.reset();
    state.store.reset();
    state.publisher.reset();
  });
  Health& health = service.health;

  loop.Call([&] {
    state.publisher =
        devices::ConnectPublisher(zmq_context, service.settings, service.metrics, kComponent);
    state.store = std::make_unique<Store>(config.database_url, config.outbox_synchronous_commit);
    state.client = std::make_unique<coap::Client>(context);
    bus::Publisher& publisher = *state.publisher;
    state.connector = std::make_unique<Connector>(
        context, *state.store, service.metrics, config.connector,
        [&publisher](std::string_view topic, const std::string& data) {
          return publisher.Publish(topic, data);
        },
        [&health](bool ready, const std::string& reason) {
          if (ready) {
            health.SetReady();
          } else {
            health.SetNotReady(reason);
          }
        });
    state.mirror = std::make_unique<devices::DeviceMirror>(context, *state.client, *state.connector,
                                                           config.mirror);
    state.connector->SetMirror(state.mirror.get());
  });

  // Subscribed before the first snapshot, so that no event falls between the two.
  auto feed = devices::SubscribeFeed(
      zmq_context, service.settings, service.metrics, kComponent,
      std::vector<std::string>{devices::kDeviceTopicPrefix,
                               std::string(events::ObservedData::kTopic),
                               std::string(events::CommandResult::kTopic)},
      context, [&state](const bus::Message& message) {
        if (!state.running) {
          return;
        }
        if (message.topic == events::ObservedData::kTopic) {
          auto data = events::DecodeObservedData(message.data());
          if (data.ok()) {
            state.connector->OnObservedData(*data);
          } else {
            log::Warn(kComponent, "bad observer.data", {{"error", data.error().message}});
          }
        } else if (message.topic == events::CommandResult::kTopic) {
          auto result = events::DecodeCommandResult(message.data());
          if (result.ok()) {
            state.connector->OnCommandResult(*result);
          } else {
            log::Warn(kComponent, "bad command result", {{"error", result.error().message}});
          }
        } else {
          state.mirror->OnMessage(message);
        }
      });

  loop.Call([&] {
    state.mirror->Start();
    state.connector->Start();
  });
  log::Info(kComponent, "started",
            {{"platform", config.connector.platform_url}, {"rd", config.mirror.rd_uri}});

  WaitForStop(service, kComponent);
  feed.reset();
  loop.Call([&] {
    state.running = false;
    state.connector->Stop();
  });
  return 0;  // the teardown, a loop turn later, takes the loop's objects down
}

}  // namespace

ServiceBody Configure(const Settings& settings) {
  auto config = std::make_shared<const Config>(LoadConfig(settings));
  return [config](ServiceContext& service) { return Run(service, *config); };
}

}  // namespace coapgw::ws_connector
