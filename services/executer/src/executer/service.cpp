#include "executer/service.hpp"

#include <algorithm>
#include <map>
#include <memory>
#include <string>

#include <zmq.hpp>

#include "coapgw/bus/publisher.hpp"
#include "coapgw/coap/client.hpp"
#include "coapgw/coap/context.hpp"
#include "coapgw/common/log.hpp"
#include "coapgw/devices/bus_feed.hpp"
#include "coapgw/devices/device_mirror.hpp"
#include "coapgw/devices/service_wiring.hpp"
#include "coapgw/events/codec.hpp"
#include "executer/coap_mapping.hpp"
#include "executer/executer.hpp"
#include "executer/service_support.hpp"

namespace coapgw::executer {
namespace {

constexpr char kLog[] = "executer";
constexpr Millis kMetricsInterval{1000};

// Result counters by kind: the CoAP classes, then every kCode* failure.
class ResultCounters {
 public:
  explicit ResultCounters(MetricsRegistry& registry) {
    for (const char* kind : {"2.xx", "4.xx", "5.xx", "timeout", "unknown-device",
                             "device-disconnected", "unreachable", "rst", "too-large", "error"}) {
      by_kind_.emplace(kind, &registry.AddCounter("coapgw_executer_results_total",
                                                  "Command results published, by code.",
                                                  std::string("code=\"") + kind + "\""));
    }
    duration_ = &registry.AddCounter("coapgw_executer_result_duration_ms_total",
                                     "Sum of duration_ms over the results published.");
  }

  void Count(const events::CommandResult& result) {
    std::string kind = result.code;
    if (IsResponseCode(result.code)) {
      kind = result.code.substr(0, 1) + ".xx";
    }
    auto it = by_kind_.find(kind);
    if (it == by_kind_.end()) {
      it = by_kind_.find("error");  // 1.xx, 3.xx: nothing a device should send
    }
    it->second->Inc();
    duration_->Inc(static_cast<uint64_t>(result.duration.count()));
  }

 private:
  std::map<std::string, Counter*> by_kind_;
  Counter* duration_ = nullptr;
};

struct ExecuterMetrics {
  CounterMirror counters;  // the Executer's stats; loop thread
  Gauge& in_flight;
  Gauge& queued;
  Gauge& devices;
  Gauge& sessions;
};

// Everything that lives on the CoAP loop thread, built and destroyed there.
struct LoopState {
  std::unique_ptr<bus::Publisher> publisher;
  std::unique_ptr<coap::Client> client;
  MirrorLookup lookup;
  std::unique_ptr<Executer> executer;
  std::unique_ptr<ReadyOnSync> listener;
  std::unique_ptr<devices::DeviceMirror> mirror;
  bool running = true;  // false once shutdown began: timers stop rescheduling themselves
};

// Copies the loop-owned counters into the (thread-safe) metrics registry.
void Report(coap::Context& context, LoopState& state, ExecuterMetrics& metrics) {
  if (!state.running) {
    return;
  }
  metrics.counters.Sync();
  metrics.in_flight.Set(static_cast<int64_t>(state.executer->queue().in_flight()));
  metrics.queued.Set(static_cast<int64_t>(state.executer->queue().waiting()));
  metrics.devices.Set(static_cast<int64_t>(state.mirror->devices().size()));
  metrics.sessions.Set(static_cast<int64_t>(state.client->SessionCount()));
  context.After(kMetricsInterval,
                [&context, &state, &metrics] { Report(context, state, metrics); });
}

ExecuterOptions OptionsFrom(const Settings& settings) {
  ExecuterOptions options;
  options.limits.device_in_flight = static_cast<size_t>(settings.Int("COAPGW_EXECUTER_NSTART"));
  options.limits.device_queue = static_cast<size_t>(settings.Int("COAPGW_EXECUTER_DEVICE_QUEUE"));
  options.limits.max_in_flight = static_cast<size_t>(settings.Int("COAPGW_EXECUTER_MAX_IN_FLIGHT"));
  options.limits.max_queued = static_cast<size_t>(settings.Int("COAPGW_EXECUTER_MAX_QUEUED"));
  options.max_body_bytes = static_cast<size_t>(settings.Int("COAPGW_EXECUTER_MAX_BODY"));
  options.command_timeout = settings.Duration("COAPGW_COMMAND_TIMEOUT");
  const int64_t block = settings.Int("COAPGW_EXECUTER_BLOCK_SIZE");
  if ((block & (block - 1)) != 0) {
    throw SettingsError("COAPGW_EXECUTER_BLOCK_SIZE: " + std::to_string(block) +
                        " is not one of 16, 32, 64, 128, 256, 512, 1024");
  }
  options.block_size = static_cast<uint16_t>(block);
  if (options.command_timeout.count() <= 0) {
    throw SettingsError("COAPGW_COMMAND_TIMEOUT: must be more than 0");
  }
  return options;
}

// A ws.command from the bus: decoded and handed to the executer. A command that does not decode
// cannot be answered (its id may be what is broken): logged and dropped; the ws-connector times
// it out.
void OnCommand(LoopState& state, const bus::Message& message) {
  auto command = events::DecodeCommand(message.data());
  if (!command.ok()) {
    log::Warn(kLog, "undecodable command dropped",
              {{"publisher", message.publisher},
               {"seq", std::to_string(message.seq)},
               {"error", command.error().message}});
    return;
  }
  if (log::Enabled(log::Level::kDebug)) {
    log::Debug(kLog, "command received",
               {{"command_id", command->command_id},
                {"device_id", command->device_id},
                {"service", command->service}});
  }
  state.executer->Submit(std::move(*command));
}

// What Configure checked, for the body.
struct Config {
  ExecuterOptions options;
  devices::DeviceMirrorOptions mirror;
  std::unique_ptr<PskKeyFile> psk_keys;  // nullptr: no COAPGW_DTLS_PSK_FILE
};

int Run(ServiceContext& service, const Config& config) {
  const Settings& settings = service.settings;
  const ExecuterOptions& options = config.options;
  const devices::DeviceMirrorOptions& mirror_options = config.mirror;
  const PskKeyFile* psk_keys = config.psk_keys.get();
  const size_t open_files = devices::RaiseOpenFileLimit();
  log::Info(kLog, "configured",
            {{"rd", mirror_options.rd_uri},
             {"nstart", std::to_string(options.limits.device_in_flight)},
             {"max_in_flight", std::to_string(options.limits.max_in_flight)},
             {"psk_entries", std::to_string(psk_keys != nullptr ? psk_keys->size() : 0)},
             {"open_files", std::to_string(open_files)}});
  service.health.SetNotReady("synchronising with the RD");

  MetricsRegistry& registry = service.metrics;
  ResultCounters results(registry);
  ExecuterMetrics metrics{
      {},
      registry.AddGauge("coapgw_executer_in_flight", "Commands on the wire now."),
      registry.AddGauge("coapgw_executer_queued", "Commands waiting for their device's turn."),
      registry.AddGauge("coapgw_executer_devices", "Devices in the mirror of the RD."),
      registry.AddGauge("coapgw_executer_sessions", "CoAP client sessions (sockets) open."),
  };

  zmq::context_t zmq_context;
  LoopState state;  // before the loop: its timers refer to it until the thread ends
  coap::ContextOptions context_options;
  // The device mirror fetches the RD's snapshot on this context too: about 1 KiB per device,
  // so more than one command body (1 MiB by default) from about 1,000 devices on. Command
  // responses are held to COAPGW_EXECUTER_MAX_BODY by the Executer itself.
  context_options.max_body_size = std::max(options.max_body_bytes, context_options.max_body_size);
  coap::ContextThread loop(context_options);
  coap::Context& context = loop.context();
  const devices::LoopTeardown teardown(loop, [&state] {
    state.running = false;
    if (state.executer) {
      state.executer->Shutdown();  // every command still held gets its result
    }
    state.mirror.reset();
    state.listener.reset();
    state.executer.reset();
    state.client.reset();
    state.publisher.reset();  // lingers (bounded) to flush the last results
  });
  loop.Call([&] {
    state.publisher = devices::ConnectPublisher(zmq_context, settings, registry, kLog);
    coap::ClientOptions client_options;
    client_options.psk_keys = psk_keys;
    client_options.nstart = static_cast<uint16_t>(options.limits.device_in_flight);
    state.client = std::make_unique<coap::Client>(context, client_options);
    bus::Publisher& publisher = *state.publisher;
    state.executer = std::make_unique<Executer>(
        context, *state.client, state.lookup, options,
        [&publisher, &results](const events::CommandResult& result) {
          results.Count(result);
          const Status published =
              publisher.Publish(events::CommandResult::kTopic, events::Encode(result));
          if (!published.ok()) {
            log::Warn(kLog, "result not published",
                      {{"command_id", result.command_id}, {"error", published.error().message}});
          }
        });
    state.listener = std::make_unique<ReadyOnSync>(*state.executer, service.health, kLog, context);
    state.mirror = std::make_unique<devices::DeviceMirror>(context, *state.client, *state.listener,
                                                           mirror_options);
    state.lookup.Attach(state.mirror.get());
    state.listener->Attach(state.mirror.get());
    const ExecuterStats& stats = state.executer->stats();
    CounterMirror& counters = metrics.counters;
    counters.Add(registry, "coapgw_executer_commands_total", "Commands received from the bus.",
                 stats.received);
    counters.Add(registry, "coapgw_executer_rejected_total",
                 "Commands refused because a queue was full.", stats.rejected);
    counters.Add(registry, "coapgw_executer_requests_total", "CoAP requests sent to devices.",
                 stats.started);
    Report(context, state, metrics);
  });

  auto feed = devices::SubscribeFeed(
      zmq_context, settings, registry, kLog,
      std::vector<std::string>{std::string(events::Command::kTopic), devices::kDeviceTopicPrefix},
      context, [&state](const bus::Message& message) {
        if (message.topic == events::Command::kTopic) {
          OnCommand(state, message);
        } else {
          state.mirror->OnMessage(message);
        }
      });
  // Subscribed first, so that the snapshot and the events after it meet (see ReadyOnSync).
  loop.Call([&] { state.mirror->Start(); });

  WaitForStop(service, kLog);
  feed.reset();  // no more messages; those already posted run before the teardown
  return 0;
}

}  // namespace

void AddSettings(Settings& settings) {
  AddDeviceServiceSettings(settings);
  settings.Add({"COAPGW_COMMAND_TIMEOUT",
                "longest a command may take, whatever its deadline says (it usually carries "
                "arrival + this)",
                "10s", SettingKind::kDuration});
  settings.Add({"COAPGW_EXECUTER_NSTART", "commands on the wire per device at once (NSTART)", "1",
                SettingKind::kInt, false, false, 1, 16});
  settings.Add({"COAPGW_EXECUTER_DEVICE_QUEUE",
                "commands waiting per device; more are answered code=error", "32",
                SettingKind::kInt, false, false, 0, 100'000});
  settings.Add({"COAPGW_EXECUTER_MAX_IN_FLIGHT", "commands on the wire over all devices", "256",
                SettingKind::kInt, false, false, 1, 100'000});
  settings.Add({"COAPGW_EXECUTER_MAX_QUEUED",
                "commands waiting over all devices; more are answered code=error", "10000",
                SettingKind::kInt, false, false, 0, 10'000'000});
  settings.Add({"COAPGW_EXECUTER_MAX_BODY",
                "largest request or response body in bytes (block-wise); beyond: too-large",
                "1048576", SettingKind::kInt, false, false, 1024, int64_t{64} * 1024 * 1024});
  settings.Add({"COAPGW_EXECUTER_BLOCK_SIZE", "block size of block-wise transfers (16..1024)",
                "1024", SettingKind::kInt, false, false, 16, 1024});
}

ServiceBody Configure(const Settings& settings) {
  auto config = std::make_shared<Config>();
  config->options = OptionsFrom(settings);
  config->mirror = devices::MirrorOptionsFrom(settings);
  config->psk_keys = PskKeysFrom(settings);
  return [config](ServiceContext& service) { return Run(service, *config); };
}

}  // namespace coapgw::executer
