#include "rd/service.hpp"

#include <atomic>
#include <memory>
#include <sstream>
#include <thread>
#include <vector>

#include <zmq.hpp>

#include "coapgw/bus/endpoint.hpp"
#include "coapgw/bus/publisher.hpp"
#include "coapgw/bus/subscriber.hpp"
#include "coapgw/coap/client.hpp"
#include "coapgw/coap/context.hpp"
#include "coapgw/coap/server.hpp"
#include "coapgw/common/log.hpp"
#include "coapgw/events/codec.hpp"
#include "discovery/discovery.hpp"
#include "discovery/dnssd.hpp"
#include "rd/coap_interface.hpp"
#include "rd/directory.hpp"
#include "rd/index.hpp"
#include "rd/pg_store.hpp"

namespace coapgw::rd {
namespace {

constexpr Millis kSweepInterval{200};  // expiry is noticed within this (RFC 9176 §5.3)
constexpr Millis kMetricsInterval{1000};
constexpr Millis kLoadRetry{2000};
constexpr Millis kBusConnectWait{2000};
constexpr Millis kBusSettle{200};

class BusEventSink final : public EventSink {
 public:
  explicit BusEventSink(bus::Publisher& publisher) : publisher_(publisher) {}

  // EventSink
  void Publish(std::string_view topic, const std::string& data) override {
    const Status status = publisher_.Publish(topic, data);
    if (!status.ok()) {
      // The message's sequence number is used even when dropped, so subscribers see the gap.
      log::Warn("rd", "event not published",
                {{"topic", std::string(topic)}, {"error", status.error().message}});
    }
  }

 private:
  bus::Publisher& publisher_;
};

Policy ParsePolicy(const std::string& text) {
  if (text == "fcfr") {
    return Policy::kFirstComeFirstRemembered;
  }
  if (text == "fcfr-port") {
    return Policy::kFirstComeFirstRememberedPort;
  }
  if (text == "open") {
    return Policy::kOpen;
  }
  throw SettingsError("COAPGW_RD_POLICY: '" + text + "' is not fcfr, fcfr-port or open");
}

// COAPGW_RD_LISTEN: comma-separated host:port addresses, checked before anything starts.
std::vector<HostPort> ParseListen(const std::string& text) {
  std::vector<HostPort> addresses;
  std::stringstream stream(text);
  std::string item;
  while (std::getline(stream, item, ',')) {
    if (item.empty()) {
      continue;
    }
    auto address = ParseHostPort(item);
    if (!address.ok()) {
      throw SettingsError("COAPGW_RD_LISTEN: '" + item + "': " + address.error().message);
    }
    addresses.push_back(*address);
  }
  if (addresses.empty()) {
    throw SettingsError("COAPGW_RD_LISTEN: no address given");
  }
  return addresses;
}

// "publisher":"rd-…","seq":{"rd.device.registered":12,…}: lets a consumer skip the events a
// snapshot already contains (libs/devices DeviceMirror).
std::string SnapshotHeaderOf(const bus::Publisher& publisher) {
  std::string header = "\"publisher\":\"" + publisher.id() + "\",\"seq\":{";
  bool first = true;
  for (const auto& [topic, seq] : publisher.sequences()) {
    header += (first ? "\"" : ",\"") + topic + "\":" + std::to_string(seq);
    first = false;
  }
  return header + "}";
}

// Notices when a socket's connection has completed its ZMTP handshake.
class HandshakeMonitor final : public zmq::monitor_t {
 public:
  bool connected() const { return connected_; }

 private:
  void on_event_handshake_succeeded(const zmq_event_t& /*event*/,
                                    const char* /*address*/) override {
    connected_ = true;
  }
  bool connected_ = false;
};

// ZeroMQ drops what a publisher sends before it has connected to the bus and received the
// subscriptions the bus sends right after the handshake; and the RD's first events come at once:
// the expiries of registrations whose lifetime ended while it was down. So it waits (boundedly)
// for the handshake, then lets the subscriptions arrive. A PUB socket cannot tell when they have
// (an XPUB could); kBusSettle covers the few milliseconds that takes on one host. Without a bus
// the RD starts anyway; consumers resync from /coapgw/devices when they see its new publisher id.
// A SIGTERM meanwhile stays pending for ServiceContext::stop (signals are blocked).
void WaitForBus(HandshakeMonitor& monitor) {
  const auto deadline = std::chrono::steady_clock::now() + kBusConnectWait;
  while (!monitor.connected() && std::chrono::steady_clock::now() < deadline) {
    monitor.check_event(50);
  }
  if (!monitor.connected()) {
    // Also when the handshake completed before monitoring began (rare): then the wait was long
    // enough anyway.
    log::Warn("rd", "no bus connection seen; events are lost until there is one",
              {{"waited", FormatDuration(kBusConnectWait)}});
    return;
  }
  std::this_thread::sleep_for(kBusSettle);
}

// Everything that lives on the CoAP loop thread, built and destroyed there.
struct LoopState {
  std::unique_ptr<bus::Publisher> publisher;
  std::unique_ptr<BusEventSink> events;
  std::unique_ptr<Index> index;
  std::unique_ptr<Directory> directory;
  std::unique_ptr<coap::Server> server;
  std::unique_ptr<coap::Client> client;
  std::unique_ptr<CoapInterface> coap;
  std::unique_ptr<discovery::Discovery> discovery;
  std::unique_ptr<discovery::DnsSd> dnssd;
  Directory::Stats reported;
  bool running = true;  // false once shutdown began: timers stop rescheduling themselves
};

// Timers stop rescheduling themselves once the directory is gone (shutdown).
void Sweep(coap::Context& context, LoopState& state) {
  if (!state.running) {
    return;
  }
  state.directory->ExpireDue(std::chrono::system_clock::now());
  context.After(kSweepInterval, [&context, &state] { Sweep(context, state); });
}

struct RdMetrics {
  Counter& registered;
  Counter& updates;
  Counter& removals;
  Counter& expiries;
  Counter& rejected;
  Counter& unavailable;
  Gauge& active;
  Gauge& database_up;
};

// Copies the loop-owned counters into the (thread-safe) metrics registry.
void Report(coap::Context& context, LoopState& state, RdMetrics& metrics, const PgStore& store) {
  if (!state.running) {
    return;
  }
  const Directory::Stats& now = state.directory->stats();
  metrics.registered.Inc(now.registrations - state.reported.registrations);
  metrics.updates.Inc(now.updates - state.reported.updates);
  metrics.removals.Inc(now.removals - state.reported.removals);
  metrics.expiries.Inc(now.expiries - state.reported.expiries);
  metrics.rejected.Inc(now.rejected - state.reported.rejected);
  metrics.unavailable.Inc(now.unavailable - state.reported.unavailable);
  state.reported = now;
  metrics.active.Set(static_cast<int64_t>(state.index->size()));
  metrics.database_up.Set(store.available() ? 1 : 0);
  context.After(kMetricsInterval,
                [&context, &state, &metrics, &store] { Report(context, state, metrics, store); });
}

}  // namespace

void AddSettings(Settings& settings) {
  settings.Add({"COAPGW_DATABASE_URL", "PostgreSQL URI (libpq) for the RD's tables", "",
                SettingKind::kString, true, true});
  settings.Add({"COAPGW_BUS_PUB", "bus endpoint events are published to", "tcp://127.0.0.1:7100"});
  settings.Add(
      {"COAPGW_BUS_SUB", "bus endpoint liveness events come from", "tcp://127.0.0.1:7101"});
  settings.Add({"COAPGW_RD_LISTEN",
                "CoAP/UDP listen addresses, comma-separated (e.g. 0.0.0.0:5683,[::]:5683)",
                "0.0.0.0:5683"});
  settings.Add({"COAPGW_RD_MULTICAST",
                "join the All-CoAP-Nodes groups 224.0.1.187, ff02::fd, ff05::fd", "false",
                SettingKind::kBool});
  settings.Add(
      {"COAPGW_RD_MULTICAST_INTERFACE", "interface for multicast (default: the kernel's)", ""});
  settings.Add({"COAPGW_RD_POLICY",
                "who may change a registration: fcfr (first come first remembered, by source "
                "IP or DTLS identity), fcfr-port (by IP and port), open",
                "fcfr"});
  settings.Add({"COAPGW_RD_DEFAULT_LIFETIME", "lifetime in seconds of a registration without lt=",
                "90000", SettingKind::kInt, false, false, 1, 4294967295LL});
  settings.Add({"COAPGW_RD_DEFAULT_SECTOR", "sector (d) of registrations that give none", ""});
  settings.Add({"COAPGW_RD_MAX_PAYLOAD", "largest registration payload in bytes (else 4.13)",
                "65536", SettingKind::kInt, false, false, 64, 16 * 1024 * 1024});
  discovery::AddSettings(settings);
  discovery::AddDnsSdSettings(settings);
  settings.Add({"COAPGW_RD_SIMPLE_REGISTRATION", "serve simple registration (POST /.well-known/rd)",
                "true", SettingKind::kBool});
}

namespace {

// Everything the RD reads from its settings, checked before anything starts.
struct RdConfig {
  DirectoryOptions directory;
  CoapInterfaceOptions coap;
  discovery::DiscoveryOptions discovery;
  std::vector<HostPort> listen;
  discovery::DnsSdOptions dnssd;
  std::string bus_pub;
  std::string bus_sub;
  std::string database_url;
  bool multicast = false;
  std::string multicast_interface;
};

RdConfig LoadConfig(const Settings& settings) {
  RdConfig config;
  config.directory.policy = ParsePolicy(settings.String("COAPGW_RD_POLICY"));
  config.directory.default_lifetime_s = settings.Int("COAPGW_RD_DEFAULT_LIFETIME");
  config.directory.default_sector = settings.String("COAPGW_RD_DEFAULT_SECTOR");
  config.coap.max_payload_bytes = static_cast<size_t>(settings.Int("COAPGW_RD_MAX_PAYLOAD"));
  config.coap.simple_registration = settings.Bool("COAPGW_RD_SIMPLE_REGISTRATION");
  config.discovery = discovery::OptionsFromSettings(settings, config.directory.default_sector,
                                                    config.coap.max_payload_bytes);
  config.listen = ParseListen(settings.String("COAPGW_RD_LISTEN"));
  config.dnssd = discovery::DnsSdOptionsFromSettings(
      settings, config.listen.empty() ? uint16_t{5683} : config.listen.front().port,
      config.discovery.lifetime_s);
  config.bus_pub = bus::EndpointSetting(settings, bus::kPubEndpointSetting);
  config.bus_sub = bus::EndpointSetting(settings, bus::kSubEndpointSetting);
  config.database_url = settings.String("COAPGW_DATABASE_URL");
  config.multicast = settings.Bool("COAPGW_RD_MULTICAST");
  config.multicast_interface = settings.String("COAPGW_RD_MULTICAST_INTERFACE");
  return config;
}

int RunRd(ServiceContext& service, const RdConfig& config) {
  const DirectoryOptions& directory_options = config.directory;
  const CoapInterfaceOptions& coap_options = config.coap;
  discovery::DiscoveryOptions discovery_options = config.discovery;
  discovery_options.metrics = &service.metrics;
  const std::vector<HostPort>& listen = config.listen;
  const discovery::DnsSdOptions& dnssd_options = config.dnssd;
  const std::string& bus_pub = config.bus_pub;
  const std::string& bus_sub = config.bus_sub;

  service.health.SetNotReady("loading registrations");
  auto store_owner = std::make_unique<PgStore>(config.database_url);
  PgStore& store = *store_owner;
  // Without its state the RD cannot answer anything correctly: wait for the database.
  StoredState stored;
  for (;;) {
    auto loaded = store.Load();
    if (loaded.ok()) {
      stored = std::move(*loaded);
      break;
    }
    service.health.SetNotReady("database unreachable: " + loaded.error().message);
    log::Warn("rd", "cannot load registrations; retrying", {{"error", loaded.error().message}});
    if (service.stop.WaitFor(kLoadRetry)) {
      return 0;
    }
  }

  zmq::context_t zmq_context;
  coap::ContextThread loop;
  coap::Context& context = loop.context();
  LoopState state;
  MetricsRegistry& registry = service.metrics;
  RdMetrics metrics{
      registry.AddCounter("coapgw_rd_registrations_total",
                          "Registrations accepted (new and re-registrations)."),
      registry.AddCounter("coapgw_rd_updates_total", "Registration updates accepted."),
      registry.AddCounter("coapgw_rd_removals_total", "Registrations removed by DELETE."),
      registry.AddCounter("coapgw_rd_expiries_total", "Registrations expired."),
      registry.AddCounter("coapgw_rd_rejected_total", "Requests refused with a 4.xx code."),
      registry.AddCounter("coapgw_rd_unavailable_total",
                          "Requests answered 5.03 because the database was away."),
      registry.AddGauge("coapgw_rd_registrations", "Active registrations in the directory."),
      registry.AddGauge("coapgw_rd_database_up",
                        "1 while the RD's database connection works, else 0."),
  };

  HandshakeMonitor bus_monitor;  // of the publisher's socket, until start-up waited for the bus
  // The loop-owned state goes on the loop thread (a coap::Server or Client refuses to be destroyed
  // elsewhere), also when start-up fails half-way.
  const auto tear_down = [&] {
    loop.Call([&] {
      state.running = false;
      state.dnssd.reset();
      state.discovery.reset();
      state.coap.reset();
      state.server.reset();  // stop taking requests first
      state.client.reset();
    });
    // Writes still queued are committed (bounded) and their completions reach the loop, which
    // still runs; then the loop-owned state goes in reverse order of construction.
    store_owner.reset();
    loop.Call([&] {
      state.directory.reset();
      state.index.reset();
      state.events.reset();
      bus_monitor.abort();  // if start-up failed while it watched
      state.publisher.reset();
    });
  };
  try {
    loop.Call([&] {
      bus::PublisherOptions publisher_options;
      publisher_options.metrics = &service.metrics;
      publisher_options.metrics_labels = "publisher=\"rd\"";
      state.publisher =
          std::make_unique<bus::Publisher>(zmq_context, bus_pub, "rd", publisher_options);
      // At once, so that the handshake is seldom over before it is watched; the socket belongs
      // to the loop thread, so monitoring starts and ends there.
      bus_monitor.init(state.publisher->socket(), "inproc://rd-publisher-monitor",
                       ZMQ_EVENT_HANDSHAKE_SUCCEEDED);
    });
    WaitForBus(bus_monitor);
    loop.Call([&] {
      bus_monitor.abort();
      state.events = std::make_unique<BusEventSink>(*state.publisher);
      state.index = std::make_unique<Index>();
      state.directory = std::make_unique<Directory>(
          *state.index, store, *state.events,
          [&context](std::function<void()> task) { context.Post(std::move(task)); },
          [] { return std::chrono::system_clock::now(); }, directory_options);
      state.server = std::make_unique<coap::Server>(context, CoapInterface::ServerOptions());
      state.client = std::make_unique<coap::Client>(context);
      for (const auto& address : listen) {
        auto bound = state.server->AddEndpoint(address);
        if (!bound.ok()) {
          throw std::runtime_error("COAPGW_RD_LISTEN " + FormatHostPort(address) + ": " +
                                   bound.error().message);
        }
        log::Info("rd", "listening", {{"address", bound->ToString()}, {"transport", "udp"}});
      }
      if (config.multicast) {
        for (const char* group : {"224.0.1.187", "ff02::fd", "ff05::fd"}) {
          const Status joined = state.server->JoinMulticast(group, config.multicast_interface);
          if (joined.ok()) {
            log::Info("rd", "joined multicast group", {{"group", group}});
          } else {
            log::Warn("rd", "cannot join multicast group",
                      {{"group", group}, {"error", joined.error().message}});
          }
        }
      }
      bus::Publisher& publisher = *state.publisher;
      state.coap = std::make_unique<CoapInterface>(
          context, *state.server, *state.client, *state.directory, *state.index, coap_options,
          [&publisher] { return SnapshotHeaderOf(publisher); });
      CoapInterface& coap_interface = *state.coap;
      state.directory->SetChangeListener([&coap_interface] { coap_interface.DirectoryChanged(); });
      state.directory->Load(std::move(stored));
      state.discovery = std::make_unique<discovery::Discovery>(
          context, *state.server, *state.client, *state.directory, *state.index, discovery_options);
      state.discovery->Start();
      state.dnssd = std::make_unique<discovery::DnsSd>(context, *state.discovery, dnssd_options);
      Sweep(context, state);
      Report(context, state, metrics, store);
    });
  } catch (...) {
    tear_down();
    throw;
  }

  // Liveness verdicts from the pinger arrive on the bus; the directory applies them on its loop.
  std::atomic<bool> stopping{false};
  std::thread liveness_thread([&] {
    bus::SubscriberOptions subscriber_options;
    subscriber_options.metrics = &service.metrics;
    subscriber_options.metrics_labels = "subscriber=\"rd\"";
    bus::Subscriber subscriber(zmq_context, bus_sub, {std::string(events::DeviceLiveness::kTopic)},
                               subscriber_options);
    while (!stopping.load()) {
      auto message = subscriber.Receive(Millis(200));
      if (!message) {
        continue;
      }
      auto liveness = events::DecodeDeviceLiveness(message->data());
      if (!liveness.ok()) {
        log::Warn("rd", "bad liveness event", {{"error", liveness.error().message}});
        continue;
      }
      context.Post([&state, id = liveness->device_id, reachable = liveness->reachable] {
        state.directory->ApplyLiveness(id, reachable);
      });
    }
  });

  service.health.SetReady();
  log::Info("rd", "ready");
  const int signal_number = service.stop.Wait();
  log::Info("rd", "stopping", {{"signal", std::to_string(signal_number)}});
  service.health.SetNotReady("stopping");
  stopping.store(true);
  liveness_thread.join();
  tear_down();
  return 0;
}

}  // namespace

ServiceBody ConfigureRd(const Settings& settings) {
  auto config = std::make_shared<const RdConfig>(LoadConfig(settings));
  return [config](ServiceContext& service) { return RunRd(service, *config); };
}

}  // namespace coapgw::rd
