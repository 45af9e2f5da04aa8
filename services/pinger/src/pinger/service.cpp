#include "pinger/service.hpp"

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include <zmq.hpp>

#include "coapgw/bus/publisher.hpp"
#include "coapgw/coap/client.hpp"
#include "coapgw/coap/context.hpp"
#include "coapgw/coap/message.hpp"
#include "coapgw/coap/server.hpp"
#include "coapgw/common/log.hpp"
#include "coapgw/devices/bus_feed.hpp"
#include "coapgw/devices/device_mirror.hpp"
#include "coapgw/devices/service_wiring.hpp"
#include "coapgw/events/codec.hpp"
#include "executer/service_support.hpp"
#include "pinger/pinger.hpp"

namespace coapgw::pinger {
namespace {

constexpr char kLog[] = "pinger";
constexpr Millis kMetricsInterval{1000};
// Sessions (one socket each) are closed this long after their ping (libcoap sweeps every 50 ms):
// the pinger touches each device once per interval, and libcoap's loop walks every open session on
// each turn, so keeping thousands open costs more than reopening one per ping (README).
constexpr Millis kIdleSession{50};

struct PingerMetrics {
  CounterMirror counters;  // the schedule's and the Pinger's stats; loop thread
  Gauge& devices;
  Gauge& in_flight;
  Gauge& sessions;
};

// Everything that lives on the CoAP loop thread, built and destroyed there.
struct LoopState {
  std::unique_ptr<bus::Publisher> publisher;
  std::unique_ptr<coap::Server> sources;  // holds the ports pings are sent from
  std::unique_ptr<coap::Client> client;
  std::unique_ptr<Pinger> pinger;
  std::unique_ptr<executer::ReadyOnSync> listener;
  std::unique_ptr<devices::DeviceMirror> mirror;
  bool running = true;  // false once shutdown began: timers stop rescheduling themselves
};

// Copies the loop-owned counters into the (thread-safe) metrics registry.
void Report(coap::Context& context, LoopState& state, PingerMetrics& metrics) {
  if (!state.running) {
    return;
  }
  metrics.counters.Sync();
  metrics.devices.Set(static_cast<int64_t>(state.pinger->schedule().size()));
  metrics.in_flight.Set(static_cast<int64_t>(state.pinger->schedule().in_flight()));
  metrics.sessions.Set(static_cast<int64_t>(state.client->SessionCount()));
  context.After(kMetricsInterval,
                [&context, &state, &metrics] { Report(context, state, metrics); });
}

std::vector<std::string> SplitList(const std::string& text) {
  std::vector<std::string> items;
  size_t start = 0;
  while (start <= text.size()) {
    const size_t end = std::min(text.find(',', start), text.size());
    if (end > start) {
      items.push_back(text.substr(start, end - start));
    }
    start = end + 1;
  }
  return items;
}

// Binds each configured source (port 0: a port picked now and kept) on a server endpoint, which
// holds the port for the client sessions that share it; returns the bound addresses. A source that
// cannot be bound (no IPv6, port taken) is logged and left out: its family is then pinged from
// ephemeral ports.
std::vector<coap::Address> BindSources(coap::Server& server,
                                       const std::vector<coap::Address>& wanted) {
  std::vector<coap::Address> bound;
  for (const auto& address : wanted) {
    auto result = server.AddEndpoint(address.ToString());
    if (result.ok()) {
      bound.push_back(*result);
      log::Info(kLog, "pinging from", {{"address", result->ToString()}});
    } else {
      log::Warn(kLog, "cannot ping from this address; using ephemeral ports",
                {{"address", address.ToString()}, {"error", result.error().message}});
    }
  }
  return bound;
}

PingerOptions OptionsFrom(const Settings& settings) {
  PingerOptions options;
  options.policy.interval = settings.Duration("COAPGW_PING_INTERVAL");
  options.timeout = settings.Duration("COAPGW_PING_TIMEOUT");
  options.policy.misses = static_cast<uint32_t>(settings.Int("COAPGW_PING_MISSES"));
  options.policy.max_in_flight = static_cast<size_t>(settings.Int("COAPGW_PING_MAX_IN_FLIGHT"));
  if (options.policy.interval.count() <= 0) {
    throw SettingsError("COAPGW_PING_INTERVAL: must be more than 0");
  }
  for (const std::string& text : SplitList(settings.String("COAPGW_PING_SOURCE"))) {
    auto address = coap::ParseAddress(text);
    if (!address.ok()) {
      throw SettingsError("COAPGW_PING_SOURCE: " + address.error().message);
    }
    options.sources.push_back(*address);
  }
  if (options.timeout.count() <= 0 || options.timeout >= options.policy.interval) {
    throw SettingsError("COAPGW_PING_TIMEOUT: " + FormatDuration(options.timeout) +
                        " must be more than 0 and less than COAPGW_PING_INTERVAL (" +
                        FormatDuration(options.policy.interval) + ")");
  }
  return options;
}

// A bus message that shows a device answered someone: a registration update (even a plain
// refresh), a notification, or a command answered with a CoAP code (not a timeout).
void NoteProofOfLife(Pinger& pinger, const bus::Message& message) {
  if (message.topic == events::DeviceUpdated::kTopic) {
    if (auto updated = events::DecodeDeviceUpdated(message.data()); updated.ok()) {
      pinger.NoteAlive(updated->device.device_id);
    }
  } else if (message.topic == events::ObservedData::kTopic) {
    if (auto data = events::DecodeObservedData(message.data()); data.ok()) {
      pinger.NoteAlive(data->device_id);
    }
  } else if (message.topic == events::CommandResult::kTopic) {
    auto result = events::DecodeCommandResult(message.data());
    if (result.ok() && coap::ParseCode(result->code).has_value()) {
      pinger.NoteAlive(result->device_id);
    }
  }
}

// What Configure checked, for the body.
struct Config {
  PingerOptions options;
  devices::DeviceMirrorOptions mirror;
  std::unique_ptr<executer::PskKeyFile> psk_keys;  // nullptr: no COAPGW_DTLS_PSK_FILE
};

int Run(ServiceContext& service, const Config& config) {
  const Settings& settings = service.settings;
  PingerOptions options = config.options;  // its sources become the addresses actually bound
  const devices::DeviceMirrorOptions& mirror_options = config.mirror;
  const executer::PskKeyFile* psk_keys = config.psk_keys.get();
  const size_t open_files = devices::RaiseOpenFileLimit();
  log::Info(kLog, "configured",
            {{"rd", mirror_options.rd_uri},
             {"interval", FormatDuration(options.policy.interval)},
             {"timeout", FormatDuration(options.timeout)},
             {"misses", std::to_string(options.policy.misses)},
             {"max_in_flight", std::to_string(options.policy.max_in_flight)},
             {"open_files", std::to_string(open_files)}});
  service.health.SetNotReady("synchronising with the RD");

  MetricsRegistry& registry = service.metrics;
  PingerMetrics metrics{
      {},
      registry.AddGauge("coapgw_pinger_devices", "Devices being pinged."),
      registry.AddGauge("coapgw_pinger_in_flight", "Pings out now."),
      registry.AddGauge("coapgw_pinger_sessions", "CoAP client sessions (sockets) open."),
  };

  zmq::context_t zmq_context;
  LoopState state;  // before the loop: its timers refer to it until the thread ends
  coap::ContextThread loop;
  coap::Context& context = loop.context();
  const devices::LoopTeardown teardown(loop, [&state] {
    state.running = false;
    if (state.pinger) {
      state.pinger->Stop();
    }
    state.mirror.reset();
    state.listener.reset();
    state.pinger.reset();
    state.client.reset();
    state.sources.reset();
    state.publisher.reset();
  });
  loop.Call([&] {
    state.publisher = devices::ConnectPublisher(zmq_context, settings, registry, kLog);
    state.sources = std::make_unique<coap::Server>(context);
    options.sources = BindSources(*state.sources, options.sources);
    coap::ClientOptions client_options;
    client_options.psk_keys = psk_keys;
    client_options.idle_session_timeout = kIdleSession;
    state.client = std::make_unique<coap::Client>(context, client_options);
    bus::Publisher& publisher = *state.publisher;
    state.pinger = std::make_unique<Pinger>(
        context, *state.client, options, [&publisher](const events::DeviceLiveness& liveness) {
          const Status published =
              publisher.Publish(events::DeviceLiveness::kTopic, events::Encode(liveness));
          if (!published.ok()) {
            // Harmless: the verdict still differs from the RD's status at the next ping, which
            // publishes it again.
            log::Warn(kLog, "liveness not published",
                      {{"device_id", liveness.device_id}, {"error", published.error().message}});
          }
        });
    state.listener =
        std::make_unique<executer::ReadyOnSync>(*state.pinger, service.health, kLog, context);
    state.mirror = std::make_unique<devices::DeviceMirror>(context, *state.client, *state.listener,
                                                           mirror_options);
    state.listener->Attach(state.mirror.get());
    const ScheduleStats& schedule = state.pinger->schedule().stats();
    const PingerStats& pinger = state.pinger->stats();
    CounterMirror& counters = metrics.counters;
    counters.Add(registry, "coapgw_pinger_pings_total", "CoAP pings sent.", schedule.pings);
    counters.Add(registry, "coapgw_pinger_replies_total", "Pings answered in time.",
                 schedule.replies);
    counters.Add(registry, "coapgw_pinger_misses_total", "Pings not answered in time.",
                 schedule.misses);
    counters.Add(registry, "coapgw_pinger_skipped_total",
                 "Pings left out because the device had just shown it is alive.", schedule.skipped);
    counters.Add(registry, "coapgw_pinger_abandoned_total",
                 "Pings that could not be sent (local cause; retried next interval).",
                 pinger.abandoned);
    counters.Add(registry, "coapgw_pinger_liveness_total",
                 "Liveness verdicts published (they differ from the RD's status).",
                 pinger.published_unreachable, "reachable=\"false\"");
    counters.Add(registry, "coapgw_pinger_liveness_total",
                 "Liveness verdicts published (they differ from the RD's status).",
                 pinger.published_reachable, "reachable=\"true\"");
    Report(context, state, metrics);
  });

  auto feed =
      devices::SubscribeFeed(zmq_context, settings, registry, kLog,
                             std::vector<std::string>{devices::kDeviceTopicPrefix,
                                                      std::string(events::ObservedData::kTopic),
                                                      std::string(events::CommandResult::kTopic)},
                             context, [&state](const bus::Message& message) {
                               if (message.topic.rfind(devices::kDeviceTopicPrefix, 0) == 0) {
                                 state.mirror->OnMessage(message);
                               }
                               NoteProofOfLife(*state.pinger, message);
                             });
  // Subscribed first, so that the snapshot and the events after it meet (see ReadyOnSync).
  loop.Call([&] { state.mirror->Start(); });

  WaitForStop(service, kLog);
  feed.reset();  // no more messages; those already posted run before the teardown
  return 0;
}

}  // namespace

void AddSettings(Settings& settings) {
  executer::AddDeviceServiceSettings(settings);
  settings.Add({"COAPGW_PING_INTERVAL", "each device is pinged once per this", "10s",
                SettingKind::kDuration});
  settings.Add({"COAPGW_PING_TIMEOUT", "a ping not answered within this is a miss", "3s",
                SettingKind::kDuration});
  settings.Add({"COAPGW_PING_MISSES", "misses in a row after which a device is disconnected", "2",
                SettingKind::kInt, false, false, 1, 1000});
  settings.Add({"COAPGW_PING_MAX_IN_FLIGHT", "pings out at once over all devices", "256",
                SettingKind::kInt, false, false, 1, 100'000});
  settings.Add({"COAPGW_PING_SOURCE",
                "local addresses pings are sent from, one per address family, comma-separated "
                "(port 0: picked at start-up); devices then see one peer, not a port per ping",
                "0.0.0.0:0,[::]:0"});
}

ServiceBody Configure(const Settings& settings) {
  auto config = std::make_shared<Config>();
  config->options = OptionsFrom(settings);
  config->mirror = devices::MirrorOptionsFrom(settings);
  config->psk_keys = executer::PskKeysFrom(settings);
  return [config](ServiceContext& service) { return Run(service, *config); };
}

}  // namespace coapgw::pinger
