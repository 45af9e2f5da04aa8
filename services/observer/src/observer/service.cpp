#include "observer/service.hpp"

#include <atomic>
#include <chrono>
#include <memory>
#include <thread>
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
#include "observer/observer.hpp"
#include "observer/outbox.hpp"
#include "observer/ownership.hpp"
#include "observer/watcher.hpp"

namespace coapgw::observer {
namespace {

constexpr const char* kComponent = "observer";
constexpr Millis kTick{20};        // scheduler and membership resolution
constexpr Millis kFlushRetry{10};  // the bus refused: try the outbox again after this
constexpr Millis kMetricsInterval{1000};
// Deregistrations (CON, one at a time per device, RFC 7252 NSTART) get this long to go out and be
// acknowledged before the client is destroyed on stop.
constexpr Millis kDeregisterLinger{500};
// A stopping instance's last heartbeat announces this interval, so the others count it gone
// (missed_heartbeats × 1 ms) and take its devices over at their next tick.
constexpr Millis kLeavingInterval{1};

SteadyTime Now() {
  return std::chrono::steady_clock::now();
}

struct Gauges {
  Gauge& known_devices;
  Gauge& owned_devices;
  Gauge& observing;
  Gauge& polling;
  Gauge& in_flight;
  Gauge& outbox_pending;
  Gauge& instances;
  Gauge& settled;
};

struct Config {
  devices::DeviceMirrorOptions mirror;  // the RD; the bus endpoints are checked too
  SelectionOptions selection;
  WatcherOptions watcher;
  Millis heartbeat_interval{1000};
  size_t outbox_limit = 100'000;
  int bus_hwm = 10'000;
};

Config LoadConfig(const Settings& settings) {
  Config config;
  config.mirror = devices::MirrorOptionsFrom(settings);
  auto filter = ResourceFilter::Parse(settings.String("COAPGW_OBSERVER_FILTER"));
  if (!filter.ok()) {
    throw SettingsError("COAPGW_OBSERVER_FILTER: " + filter.error().message);
  }
  config.selection.filter = std::move(*filter);
  config.selection.poll_interval =
      settings.Duration("COAPGW_POLL_INTERVAL", Millis(100), Millis(86'400'000));
  config.heartbeat_interval =
      settings.Duration("COAPGW_OBSERVER_HEARTBEAT_INTERVAL", Millis(50), Millis(60'000));
  config.watcher.max_age_grace =
      settings.Duration("COAPGW_OBSERVER_MAX_AGE_GRACE", Millis(0), Millis(3'600'000));
  config.watcher.retry_min =
      settings.Duration("COAPGW_OBSERVER_RETRY_MIN", Millis(100), Millis(3'600'000));
  config.watcher.max_in_flight = static_cast<size_t>(settings.Int("COAPGW_OBSERVER_MAX_IN_FLIGHT"));
  config.outbox_limit = static_cast<size_t>(settings.Int("COAPGW_OBSERVER_OUTBOX_LIMIT"));
  config.bus_hwm = static_cast<int>(settings.Int("COAPGW_OBSERVER_BUS_HWM"));
  return config;
}

// Hands values to the outbox and keeps a flush scheduled while some wait.
class BusSink final : public DataSink {
 public:
  BusSink(coap::Context& context, Outbox& outbox) : context_(context), outbox_(outbox) {}

  // DataSink
  void Deliver(uint64_t resource_key, events::ObservedData data) override {
    outbox_.Push(resource_key, std::move(data));
    ScheduleFlush();
  }

  void ScheduleFlush() {
    if (flush_timer_ != 0 || outbox_.pending() == 0) {
      return;
    }
    flush_timer_ = context_.After(kFlushRetry, [this] {
      flush_timer_ = 0;
      outbox_.Flush();
      ScheduleFlush();
    });
  }

  ~BusSink() override {
    if (flush_timer_ != 0) {
      context_.CancelTimer(flush_timer_);
    }
  }
  BusSink(const BusSink&) = delete;
  BusSink& operator=(const BusSink&) = delete;
  BusSink(BusSink&&) = delete;
  BusSink& operator=(BusSink&&) = delete;

 private:
  coap::Context& context_;
  Outbox& outbox_;
  coap::Context::TimerId flush_timer_ = 0;
};

// Everything that lives on the CoAP loop thread, built and destroyed there.
struct LoopState {
  std::unique_ptr<bus::Publisher> publisher;  // observer.data; its id is the instance id
  // observer.heartbeat on a socket of its own: a backlog of data towards a slow bus must not hold
  // back the heartbeats, or the other instances would count this one gone and read its devices.
  std::unique_ptr<bus::Publisher> heartbeats;
  std::unique_ptr<coap::Client> client;
  std::unique_ptr<Outbox> outbox;
  std::unique_ptr<BusSink> sink;
  std::unique_ptr<Watcher> watcher;
  std::unique_ptr<Membership> membership;
  std::unique_ptr<Observer> observer;
  std::unique_ptr<devices::DeviceMirror> mirror;
  events::Timestamp started_at;
  bool running = true;  // false once shutdown began: timers stop rescheduling themselves
};

void PublishHeartbeat(LoopState& state, Millis interval) {
  events::ObserverHeartbeat heartbeat;
  heartbeat.instance_id = state.publisher->id();
  heartbeat.started_at = state.started_at;
  heartbeat.interval = interval;
  heartbeat.owned_devices = static_cast<uint32_t>(state.observer->owned_devices());
  const Status status =
      state.heartbeats->Publish(events::ObserverHeartbeat::kTopic, events::Encode(heartbeat));
  if (!status.ok()) {
    log::Warn(kComponent, "heartbeat not published", {{"error", status.error().message}});
  }
}

// Until its own heartbeat comes back through the bus the instance cannot settle; announcing
// itself more often meanwhile shortens the start-up without changing the announced interval.
void Heartbeat(coap::Context& context, LoopState& state, Millis interval) {
  if (!state.running) {
    return;
  }
  PublishHeartbeat(state, interval);
  const Millis next = state.membership->settled() ? interval : std::max(Millis(10), interval / 5);
  context.After(next, [&context, &state, interval] { Heartbeat(context, state, interval); });
}

void Tick(coap::Context& context, LoopState& state) {
  if (!state.running) {
    return;
  }
  state.observer->Tick();
  context.After(kTick, [&context, &state] { Tick(context, state); });
}

void Report(coap::Context& context, LoopState& state, CounterMirror& counters, Gauges& gauges) {
  if (!state.running) {
    return;
  }
  counters.Sync();
  gauges.known_devices.Set(static_cast<int64_t>(state.observer->known_devices()));
  gauges.owned_devices.Set(static_cast<int64_t>(state.observer->owned_devices()));
  gauges.observing.Set(static_cast<int64_t>(state.watcher->observing()));
  gauges.polling.Set(static_cast<int64_t>(state.watcher->polling()));
  gauges.in_flight.Set(static_cast<int64_t>(state.watcher->in_flight()));
  gauges.outbox_pending.Set(static_cast<int64_t>(state.outbox->pending()));
  gauges.instances.Set(static_cast<int64_t>(state.membership->counted().size()));
  gauges.settled.Set(state.membership->settled() ? 1 : 0);
  context.After(kMetricsInterval, [&context, &state, &counters, &gauges] {
    Report(context, state, counters, gauges);
  });
}

void RegisterCounters(MetricsRegistry& registry, const LoopState& state, CounterMirror& counters) {
  const Outbox::Stats& outbox = state.outbox->stats();
  const Watcher::Stats& watcher = state.watcher->stats();
  const Observer::Stats& observer = state.observer->stats();
  const auto add = [&](const char* name, const char* help, const uint64_t& source,
                       const char* labels = "") {
    counters.Add(registry, name, help, source, labels);
  };
  add("coapgw_observer_events_total", "Data events handed to the bus.", outbox.published);
  add("coapgw_observer_coalesced_total",
      "Values replaced by a newer value of the same resource while the bus was full (dropped).",
      outbox.coalesced);
  add("coapgw_observer_outbox_dropped_total",
      "Values dropped because the outbox was full (COAPGW_OBSERVER_OUTBOX_LIMIT resources).",
      outbox.dropped);
  add("coapgw_observer_bus_refused_total",
      "Publish attempts the bus refused at its high-water mark (the value waited).",
      outbox.refused);
  add("coapgw_observer_values_total", "Values read from devices.", watcher.notifications,
      "source=\"notification\"");
  add("coapgw_observer_values_total", "Values read from devices.", watcher.polled_values,
      "source=\"poll\"");
  add("coapgw_observer_registrations_total", "Observe registrations sent.", watcher.registrations);
  add("coapgw_observer_registrations_accepted_total", "Observe registrations devices accepted.",
      watcher.established);
  add("coapgw_observer_registrations_refused_total",
      "Registrations answered without Observe (the resource is polled instead).", watcher.refused);
  add("coapgw_observer_observe_failures_total",
      "Observations that failed to register or ended (registered again).",
      watcher.observe_failures);
  add("coapgw_observer_observe_silences_total",
      "Observations without a notification within Max-Age plus grace.", watcher.silences);
  add("coapgw_observer_deregistrations_total", "Observations cancelled on the device.",
      watcher.deregistrations);
  add("coapgw_observer_polls_total", "GET requests of polled resources.", watcher.polls);
  add("coapgw_observer_poll_failures_total", "Polls without a response.", watcher.poll_failures);
  add("coapgw_observer_polls_skipped_total",
      "Polls not sent: the previous one pending or too many requests in flight.",
      watcher.polls_skipped);
  add("coapgw_observer_membership_changes_total",
      "Changes of the set of observer instances sharing the devices.", observer.membership_changes);
  add("coapgw_observer_handed_over_devices_total",
      "Devices given to a joining instance (each possibly read twice for a bus latency).",
      observer.handed_over);
  add("coapgw_observer_taken_over_devices_total",
      "Devices taken from an instance that went silent (each unread for the silence).",
      observer.taken_over);
  add("coapgw_observer_takeover_gap_milliseconds_total",
      "Sum over departed instances of their silence before their devices were taken over.",
      observer.takeover_gap_ms);
  add("coapgw_observer_unreadable_devices_total",
      "Device records whose base the observer cannot read (coaps://, not a coap:// URI).",
      observer.devices_unreadable);
}

}  // namespace

void AddSettings(Settings& settings) {
  settings.Add({"COAPGW_BUS_PUB", "bus endpoint data and heartbeats are published to",
                "tcp://127.0.0.1:7100"});
  settings.Add({"COAPGW_BUS_SUB", "bus endpoint rd.device.* and heartbeats come from",
                "tcp://127.0.0.1:7101"});
  settings.Add({"COAPGW_RD_URI", "the Resource Directory (device snapshot on a resync)",
                "coap://127.0.0.1:5683"});
  settings.Add({"COAPGW_POLL_INTERVAL",
                "period of the GET of resources that cannot be observed (a link's pmax, in "
                "seconds, overrides it for that resource)",
                "30s", SettingKind::kDuration});
  settings.Add({"COAPGW_OBSERVER_FILTER",
                "read only the links matching this (RD lookup syntax, terms joined by &: "
                "if=core.s, rt=temp*&if=core.s); empty: every link of the device",
                ""});
  settings.Add({"COAPGW_OBSERVER_HEARTBEAT_INTERVAL",
                "period of observer.heartbeat; an instance silent for 3 periods is gone and its "
                "devices are taken over (use the same value on every instance)",
                "1s", SettingKind::kDuration});
  settings.Add({"COAPGW_OBSERVER_MAX_AGE_GRACE",
                "silence allowed beyond a notification's Max-Age before registering again", "10s",
                SettingKind::kDuration});
  settings.Add({"COAPGW_OBSERVER_RETRY_MIN",
                "first delay before registering a failed observation again (doubles up to the "
                "poll interval)",
                "1s", SettingKind::kDuration});
  settings.Add({"COAPGW_OBSERVER_MAX_IN_FLIGHT",
                "observe registrations and polls waiting for an answer, at most", "1000",
                SettingKind::kInt, false, false, 1, 1'000'000});
  settings.Add({"COAPGW_OBSERVER_OUTBOX_LIMIT",
                "resources whose latest value may wait for a full bus (one value each)", "100000",
                SettingKind::kInt, false, false, 1, 100'000'000});
  settings.Add({"COAPGW_OBSERVER_BUS_HWM",
                "send queue towards the bus, in messages; beyond it values wait in the outbox",
                "10000", SettingKind::kInt, false, false, 1, 10'000'000});
}

namespace {

int Run(ServiceContext& service, const Config& config) {
  // One socket per device peer (libs/coap keeps a session per address).
  const size_t open_files = devices::RaiseOpenFileLimit();
  service.health.SetNotReady("synchronising with the RD");

  zmq::context_t zmq_context;
  // Declared before the loop so that they outlive its thread: its timers refer to them (and stop
  // rescheduling themselves once state.running is false).
  LoopState state;
  CounterMirror counters;
  MetricsRegistry& registry = service.metrics;
  Gauges gauges{
      registry.AddGauge("coapgw_observer_known_devices", "Devices known from the RD."),
      registry.AddGauge("coapgw_observer_owned_devices", "Devices this instance reads."),
      registry.AddGauge("coapgw_observer_observed_resources",
                        "Resources with an established observation."),
      registry.AddGauge("coapgw_observer_polled_resources", "Resources read by polling."),
      registry.AddGauge("coapgw_observer_requests_in_flight",
                        "Observe registrations and polls waiting for an answer."),
      registry.AddGauge("coapgw_observer_outbox_pending", "Values waiting for the bus."),
      registry.AddGauge("coapgw_observer_instances",
                        "Observer instances sharing the devices in this instance's view."),
      registry.AddGauge("coapgw_observer_settled",
                        "1 once this instance takes part in sharing the devices."),
  };
  coap::ContextThread loop;
  coap::Context& context = loop.context();
  const devices::LoopTeardown teardown(loop, [&] {
    state.running = false;
    counters.Sync();
    state.mirror.reset();
    state.observer.reset();
    state.membership.reset();
    state.watcher.reset();
    state.sink.reset();
    state.client.reset();
    state.outbox.reset();
    state.heartbeats.reset();
    state.publisher.reset();
  });

  loop.Call([&] {
    bus::PublisherOptions publisher_options;
    publisher_options.connection.hwm = config.bus_hwm;
    state.publisher = devices::ConnectPublisher(zmq_context, service.settings, registry, "observer",
                                                publisher_options);
    bus::PublisherOptions heartbeat_options;
    heartbeat_options.metrics_labels = "publisher=\"observer-heartbeat\"";
    state.heartbeats = devices::ConnectPublisher(zmq_context, service.settings, registry,
                                                 "observer-hb", heartbeat_options);
    state.started_at = std::chrono::system_clock::now();
    state.client = std::make_unique<coap::Client>(context);
    bus::Publisher& publisher = *state.publisher;
    state.outbox = std::make_unique<Outbox>(
        config.outbox_limit, [&publisher](const events::ObservedData& data) {
          const Status status =
              publisher.Publish(events::ObservedData::kTopic, events::Encode(data));
          // Anything but a full queue would fail again: drop it (logged by the publisher).
          return status.ok() || status.error().code != ErrorCode::kUnavailable;
        });
    state.sink = std::make_unique<BusSink>(context, *state.outbox);
    state.watcher = std::make_unique<Watcher>(*state.client, *state.sink, config.watcher, Now);
    MembershipOptions membership;
    membership.warm_up = config.heartbeat_interval * 3 / 2;
    state.membership = std::make_unique<Membership>(publisher.id(), membership);
    state.observer =
        std::make_unique<Observer>(*state.watcher, *state.membership, config.selection, Now);
    Health& health = service.health;
    state.observer->SetOnSynced([&health](size_t devices) {
      if (!health.ready()) {
        log::Info(kComponent, "ready", {{"devices", std::to_string(devices)}});
      }
      health.SetReady();
    });
    state.mirror = std::make_unique<devices::DeviceMirror>(context, *state.client, *state.observer,
                                                           config.mirror);
    RegisterCounters(registry, state, counters);
  });

  // Subscribed before the first snapshot, so that no event falls between the two.
  auto feed = devices::SubscribeFeed(
      zmq_context, service.settings, registry, "observer",
      std::vector<std::string>{devices::kDeviceTopicPrefix,
                               std::string(events::ObserverHeartbeat::kTopic)},
      context, [&state](const bus::Message& message) {
        if (!state.running) {
          return;
        }
        if (message.topic == events::ObserverHeartbeat::kTopic) {
          auto heartbeat = events::DecodeObserverHeartbeat(message.data());
          if (heartbeat.ok()) {
            state.observer->OnHeartbeat(*heartbeat);
          } else {
            log::Warn(kComponent, "bad heartbeat", {{"error", heartbeat.error().message}});
          }
          return;
        }
        state.mirror->OnMessage(message);
      });

  loop.Call([&] {
    state.mirror->Start();
    Heartbeat(context, state, config.heartbeat_interval);
    Tick(context, state);
    Report(context, state, counters, gauges);
  });
  log::Info(kComponent, "started",
            {{"instance", state.publisher->id()},
             {"rd", config.mirror.rd_uri},
             {"poll_interval", FormatDuration(config.selection.poll_interval)},
             {"heartbeat_interval", FormatDuration(config.heartbeat_interval)},
             {"open_files", std::to_string(open_files)}});

  WaitForStop(service, kComponent);
  feed.reset();
  const bool deregistered = loop.Call([&] {
    state.running = false;
    // Relations (or registrations that may become ones) to take back from the devices.
    const bool relations = state.watcher->observing() > 0 || state.watcher->in_flight() > 0;
    state.observer->StopAll();
    PublishHeartbeat(state, kLeavingInterval);
    state.outbox->Flush();
    return relations;
  });
  if (deregistered) {
    std::this_thread::sleep_for(kDeregisterLinger);
  }
  return 0;  // the teardown takes the loop's objects down
}

}  // namespace

ServiceBody Configure(const Settings& settings) {
  auto config = std::make_shared<const Config>(LoadConfig(settings));
  return [config](ServiceContext& service) { return Run(service, *config); };
}

}  // namespace coapgw::observer
