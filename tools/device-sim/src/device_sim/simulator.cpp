#include "device_sim/simulator.hpp"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstring>
#include <deque>
#include <functional>
#include <future>
#include <stdexcept>
#include <unordered_map>
#include <utility>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "coapgw/coap/client.hpp"
#include "coapgw/coap/context.hpp"
#include "coapgw/coap/server.hpp"
#include "coapgw/common/log.hpp"
#include "device_sim/device_model.hpp"
#include "device_sim/sockets.hpp"

namespace coapgw::device_sim {
namespace {

using Clock = std::chrono::steady_clock;
using coap::Code;
using coap::Method;
namespace cf = coap::content_format;

constexpr const char* kLog = "device-sim";
constexpr Millis kReportInterval{5000};
constexpr Millis kMaxBackoff{30000};
// Sessions to the RD hold one socket each; let them go soon after the exchange.
constexpr Millis kRdSessionIdle{1000};

enum class RegState { kUnregistered, kRegistering, kRegistered, kRetrying };

const char* RegStateName(RegState state) {
  switch (state) {
    case RegState::kUnregistered:
      return "unregistered";
    case RegState::kRegistering:
      return "registering";
    case RegState::kRegistered:
      return "registered";
    case RegState::kRetrying:
      return "retrying";
  }
  return "?";
}

// What an exchange with the RD was for.
enum class RdExchange { kRegister, kUpdate, kSimple, kDelete };

const char* RdExchangeName(RdExchange kind) {
  switch (kind) {
    case RdExchange::kRegister:
      return "registration";
    case RdExchange::kUpdate:
      return "registration update";
    case RdExchange::kSimple:
      return "simple registration";
    case RdExchange::kDelete:
      return "deregistration";
  }
  return "?";
}

struct Device {
  explicit Device(DeviceModel device_model) : model(std::move(device_model)) {}

  DeviceModel model;
  coap::Address address;
  bool online = true;
  uint32_t boots = 1;
  Clock::time_point booted = Clock::now();
  uint64_t requests = 0;
  BlackHole black_hole;  // holds the port while offline

  // Registration with the RD. `generation` changes whenever what is in flight becomes moot
  // (offline, move, deregister, stop): answers of an older generation are ignored.
  bool want_registered = false;
  bool ever_registered = false;
  RegState state = RegState::kUnregistered;
  std::string location;
  uint64_t registrations = 0;
  int failures = 0;
  bool queued = false;
  coap::RequestId pending = 0;
  coap::Context::TimerId timer = 0;
  uint64_t generation = 0;
};

struct SimMetrics {
  explicit SimMetrics(MetricsRegistry& registry)
      : devices(registry.AddGauge("coapgw_device_sim_devices", "Simulated devices.")),
        online(registry.AddGauge("coapgw_device_sim_devices_online", "Devices online.")),
        registered(registry.AddGauge("coapgw_device_sim_devices_registered",
                                     "Devices whose last RD exchange registered them.")),
        registrations(registry.AddCounter("coapgw_device_sim_registrations_total",
                                          "Successful registrations and updates.")),
        failures(registry.AddCounter("coapgw_device_sim_registration_failures_total",
                                     "RD exchanges that failed (answer or no answer).")),
        deregistrations(registry.AddCounter("coapgw_device_sim_deregistrations_total",
                                            "Registrations deleted at the RD.")),
        requests(registry.AddCounter("coapgw_device_sim_requests_total",
                                     "Requests served (notifications included).")),
        notifications(registry.AddCounter("coapgw_device_sim_notifications_total",
                                          "Observers due a notification at each sensor change.")) {}

  Gauge& devices;
  Gauge& online;
  Gauge& registered;
  Counter& registrations;
  Counter& failures;
  Counter& deregistrations;
  Counter& requests;
  Counter& notifications;
};

DeviceStatus Snapshot(const Device& device) {
  DeviceStatus status;
  status.index = device.model.index();
  status.ep = device.model.ep();
  status.address = device.address.ToString();
  status.online = device.online;
  status.obs = device.model.announce_obs();
  status.registration = RegStateName(device.state);
  status.location = device.location;
  status.registrations = device.registrations;
  status.boots = device.boots;
  status.led = device.model.led();
  return status;
}

std::string JoinLocation(const std::vector<std::string>& segments) {
  std::string location;
  for (const auto& segment : segments) {
    location += "/" + segment;
  }
  return location;
}

// What every loop shares: set before the loops start, then only read (the counter is atomic).
struct Fleet {
  Fleet(SimOptions sim_options, MetricsRegistry& registry, Health& service_health)
      : options(std::move(sim_options)), health(service_health), metrics(registry) {}

  SimOptions options;
  Health& health;
  SimMetrics metrics;
  std::atomic<size_t> registered_once{0};  // devices that registered at least once
  Clock::time_point started = Clock::now();
};

// A run of consecutive devices on one libcoap loop. libcoap 4.3.1 walks every endpoint and
// session of a context at each loop iteration, so a loop's size bounds the cost of each wake-up.
// Device indices here are local (0 = the fleet's device `first`). Loop thread only, except
// through loop.Call.
struct Shard {
  Shard(Fleet& shared, size_t first_device, size_t rd_window)
      : fleet(shared),
        options(shared.options),
        health(shared.health),
        metrics(shared.metrics),
        first(first_device),
        window(rd_window) {}

  // ---- set-up and tear-down (loop thread) ----

  void Start(const std::vector<uint16_t>& ports) {
    coap::ServerOptions server_options;
    server_options.receive_buffer_bytes = 0;  // the kernel's default per device is plenty
    server = std::make_unique<coap::Server>(loop.context(), server_options);
    coap::ClientOptions client_options;
    client_options.idle_session_timeout = kRdSessionIdle;
    client = std::make_unique<coap::Client>(loop.context(), client_options);
    AddResources();

    devices.reserve(ports.size());
    for (size_t j = 0; j < ports.size(); ++j) {
      const size_t i = first + j;
      const std::string ep = options.prefix + "-" + std::to_string(i);
      devices.emplace_back(
          DeviceModel(i, ep, AnnouncesObs(i, options.obs_percent), options.large_size));
      auto bound = server->AddEndpoint(HostPort{options.listen.host, ports[j]});
      if (!bound.ok()) {
        throw std::runtime_error("device " + ep + ": " + bound.error().message);
      }
      devices.back().address = *bound;
      by_port[bound->port] = j;
    }
    if (options.registration != RegistrationMode::kNone) {
      for (size_t j = 0; j < devices.size(); ++j) {
        devices[j].want_registered = true;
        Enqueue(j);
      }
    }
    ScheduleTick();
    ScheduleReport();
  }

  // Answers of exchanges still in flight are dropped from here on (Client destruction completes
  // them synchronously).
  void Close() {
    stopped = true;
    if (report_timer != 0) {
      loop.context().CancelTimer(report_timer);
      report_timer = 0;
    }
    client.reset();
    server.reset();
    for (Device& device : devices) {
      device.black_hole.Close();
    }
  }

  // ---- resources ----

  Device* DeviceAt(const coap::Address& local) {
    const auto it = by_port.find(local.port);
    return it == by_port.end() ? nullptr : &devices[it->second];
  }

  using DeviceHandler = std::function<void(Device&, const coap::Request&, coap::Response&)>;

  coap::Handler ForDevice(DeviceHandler handler) {
    return [this, handler = std::move(handler)](const coap::Request& request,
                                                coap::Response& response) {
      Device* device = DeviceAt(request.local);
      if (device == nullptr) {
        response.SetCode(Code::kNotFound);
        return;
      }
      ++device->requests;
      metrics.requests.Inc();
      handler(*device, request, response);
    };
  }

  void AddResources() {
    // /.well-known/core is the device's own list (libcoap's default would list every path of the
    // shared server, the same for every device, and could not leave "obs" out per device).
    server->AddResource("/.well-known/core")
        .On(Method::kGet,
            ForDevice([](Device& device, const coap::Request&, coap::Response& response) {
              response.SetPayload(device.model.Links(), cf::kLinkFormat);
            }));

    coap::ResourceOptions observable;
    observable.observable = true;
    const auto max_age = static_cast<uint32_t>(std::max<int64_t>(
        1, std::chrono::ceil<std::chrono::seconds>(options.interval * 2).count()));
    server->AddResource(paths::kTemperature, observable)
        .On(Method::kGet,
            ForDevice([max_age](Device& device, const coap::Request&, coap::Response& response) {
              response.SetPayload(device.model.TemperatureText(), cf::kTextPlain);
              response.SetMaxAge(max_age);
            }));
    server->AddResource(paths::kHumidity, observable)
        .On(Method::kGet,
            ForDevice([max_age](Device& device, const coap::Request&, coap::Response& response) {
              response.SetPayload(device.model.HumiditySenml(), cf::kSenmlJson);
              response.SetMaxAge(max_age);
            }));
    server->AddResource(paths::kInfo)
        .On(Method::kGet,
            ForDevice([](Device& device, const coap::Request&, coap::Response& response) {
              const auto uptime =
                  std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - device.booted);
              response.SetPayload(device.model.InfoJson(device.address.port, uptime.count(),
                                                        device.boots, device.requests),
                                  cf::kJson);
            }));

    coap::Resource& led = server->AddResource(paths::kLed);
    led.On(Method::kGet,
           ForDevice([](Device& device, const coap::Request&, coap::Response& response) {
             response.SetPayload(device.model.LedText(), cf::kTextPlain);
           }));
    led.On(Method::kPut,
           ForDevice([](Device& device, const coap::Request& request, coap::Response& response) {
             if (!device.model.SetLed(request.payload)) {
               response.SetCode(Code::kBadRequest)
                   .SetPayload("expected on or off, got '" + request.payload + "'");
               return;
             }
             response.SetCode(Code::kChanged).SetPayload(device.model.LedText(), cf::kTextPlain);
           }));
    server->AddResource(paths::kLedToggle)
        .On(Method::kPost,
            ForDevice([](Device& device, const coap::Request&, coap::Response& response) {
              device.model.ToggleLed();
              response.SetCode(Code::kChanged).SetPayload(device.model.LedText(), cf::kTextPlain);
            }));

    coap::Resource& label = server->AddResource(paths::kLabel);
    label.On(Method::kGet,
             ForDevice([](Device& device, const coap::Request&, coap::Response& response) {
               response.SetPayload(device.model.label(), cf::kTextPlain);
             }));
    label.On(
        Method::kPut,
        ForDevice([](Device& device, const coap::Request& request, coap::Response& response) {
          if (!device.model.SetLabel(request.payload)) {
            response.SetCode(Code::kRequestEntityTooLarge)
                .SetPayload("a label has at most " + std::to_string(kMaxLabelBytes) + " bytes");
            return;
          }
          response.SetCode(Code::kChanged).SetPayload(device.model.label(), cf::kTextPlain);
        }));
    label.On(Method::kDelete,
             ForDevice([](Device& device, const coap::Request&, coap::Response& response) {
               device.model.ResetLabel();
               response.SetCode(Code::kDeleted);
             }));

    coap::Resource& echo = server->AddResource(paths::kEcho);
    const auto echo_handler = [](Device&, const coap::Request& request, coap::Response& response) {
      response.SetCode(Code::kChanged);
      if (!request.payload.empty()) {
        response.SetPayload(request.payload, request.content_format.value_or(cf::kTextPlain));
      }
    };
    echo.On(Method::kPost, ForDevice(echo_handler));
    echo.On(Method::kPut, ForDevice(echo_handler));

    coap::Resource& firmware = server->AddResource(paths::kFirmware);
    firmware.On(Method::kGet,
                ForDevice([](Device& device, const coap::Request&, coap::Response& response) {
                  response.SetPayload(device.model.Firmware(), cf::kOctetStream);
                }));
    firmware.On(Method::kPut, ForDevice([](Device& device, const coap::Request& request,
                                           coap::Response& response) {
                  const std::string summary = "stored " + std::to_string(request.payload.size()) +
                                              " bytes fnv1a64=" + Fnv1aHex(request.payload);
                  device.model.SetFirmware(request.payload);
                  response.SetCode(Code::kChanged).SetPayload(summary, cf::kTextPlain);
                }));
  }

  // ---- sensors ----

  void ScheduleTick() {
    tick_timer = loop.context().After(options.interval, [this] {
      tick_timer = 0;
      for (Device& device : devices) {
        if (device.online) {
          device.model.Tick();
        }
      }
      // One notification per observer of any device: every online device's sensors changed.
      const size_t observers =
          server->NotifyObservers(paths::kTemperature) + server->NotifyObservers(paths::kHumidity);
      metrics.notifications.Inc(observers);
      ScheduleTick();
    });
  }

  // ---- registration with the RD ----

  void Enqueue(size_t index) {
    Device& device = devices[index];
    if (!device.queued && device.pending == 0) {
      device.queued = true;
      queue.push_back(index);
    }
    Pump();
  }

  void Pump() {
    while (!stopped && in_flight < window && !queue.empty()) {
      const size_t index = queue.front();
      queue.pop_front();
      devices[index].queued = false;
      SendNext(index);
    }
    if (on_idle && in_flight == 0 && queue.empty()) {
      std::function<void()> done = std::move(on_idle);
      on_idle = nullptr;
      done();
    }
  }

  coap::ClientRequest RdRequest(const Device& device, Method method,
                                std::vector<std::string> path) const {
    coap::ClientRequest request;
    request.method = method;
    request.endpoint = options.rd;
    request.path = std::move(path);
    request.source = device.address;  // the RD sees (and answers, and fetches from) the device
    return request;
  }

  std::vector<std::string> RegistrationQuery(const Device& device) const {
    std::vector<std::string> query = {"ep=" + device.model.ep(),
                                      "lt=" + std::to_string(options.lifetime_s)};
    if (!options.device_type.empty()) {
      query.push_back("et=" + options.device_type);
    }
    if (!options.sector.empty()) {
      query.push_back("d=" + options.sector);
    }
    return query;
  }

  void SendNext(size_t index) {
    Device& device = devices[index];
    if (!device.online || device.pending != 0) {
      return;
    }
    RdExchange kind = RdExchange::kDelete;
    coap::ClientRequest request;
    if (device.want_registered) {
      if (options.registration == RegistrationMode::kSimple) {
        kind = RdExchange::kSimple;
        request = RdRequest(device, Method::kPost, {".well-known", "rd"});
        request.query = RegistrationQuery(device);
      } else if (device.location.empty()) {
        kind = RdExchange::kRegister;
        request = RdRequest(device, Method::kPost, {"rd"});
        request.query = RegistrationQuery(device);
        request.content_format = cf::kLinkFormat;
        request.payload = device.model.Links();
      } else {
        kind = RdExchange::kUpdate;
        request = RdRequest(device, Method::kPost, coap::SplitPath(device.location));
      }
      if (device.state != RegState::kRegistered) {
        device.state = RegState::kRegistering;
      }
    } else if (!device.location.empty()) {
      request = RdRequest(device, Method::kDelete, coap::SplitPath(device.location));
    } else {
      return;
    }
    // Resolved per exchange, as the client would (the RD's address may change), but in the
    // family of the device's own address: a name's first address may be of the other one.
    Result<std::string> rd_address = ResolveForSource(options.rd.host, options.listen.host);
    if (!rd_address.ok()) {
      NoteFailure(device, kind, rd_address.error().message);
      if (kind != RdExchange::kDelete) {
        RetryAfterFailure(index);
      }
      return;
    }
    request.endpoint.host = *rd_address;
    coap::RequestOptions request_options;
    request_options.timeout = options.rd_timeout;
    ++in_flight;
    const uint64_t generation = device.generation;
    device.pending = client->Send(
        request, request_options,
        [this, index, generation, kind](const coap::Outcome<coap::ClientResponse>& outcome) {
          OnRdAnswer(index, generation, kind, outcome);
        });
  }

  void OnRdAnswer(size_t index, uint64_t generation, RdExchange kind,
                  const coap::Outcome<coap::ClientResponse>& outcome) {
    --in_flight;
    if (stopped) {
      return;
    }
    Device& device = devices[index];
    if (generation != device.generation) {
      Pump();  // superseded: the device went offline, moved or was told otherwise meanwhile
      return;
    }
    device.pending = 0;
    const Code code = outcome.ok() ? outcome->code : Code::kEmpty;
    bool ok = false;
    switch (kind) {
      case RdExchange::kRegister:
        ok = code == Code::kCreated && !outcome->location_path.empty();
        if (ok) {
          device.location = JoinLocation(outcome->location_path);
        }
        break;
      case RdExchange::kUpdate:
        ok = code == Code::kChanged;
        if (code == Code::kNotFound) {
          // RFC 9176 §5.3.1: the registration is gone (expired and collected): register anew.
          log::Info(kLog, "registration gone at the RD; registering anew",
                    {{"ep", device.model.ep()}, {"location", device.location}});
          device.location.clear();
          Enqueue(index);
          return;
        }
        break;
      case RdExchange::kSimple:
        ok = code == Code::kChanged || code == Code::kCreated;
        break;
      case RdExchange::kDelete:
        if (code == Code::kDeleted || code == Code::kNotFound) {
          device.location.clear();
          SetState(device, RegState::kUnregistered);
          metrics.deregistrations.Inc();
          log::Debug(kLog, "deregistered", {{"ep", device.model.ep()}});
        } else {
          NoteFailure(device, kind, Cause(outcome));
        }
        Pump();
        return;
    }
    if (ok) {
      Registered(index);
    } else {
      NoteFailure(device, kind, Cause(outcome));
      RetryAfterFailure(index);
    }
    Pump();
  }

  void RetryAfterFailure(size_t index) {
    Device& device = devices[index];
    ++device.failures;
    SetState(device, RegState::kRetrying);
    ScheduleRetry(index, Backoff(device.failures));
  }

  void Registered(size_t index) {
    Device& device = devices[index];
    SetState(device, RegState::kRegistered);
    device.failures = 0;
    ++device.registrations;
    metrics.registrations.Inc();
    log::Debug(kLog, "registered",
               {{"ep", device.model.ep()},
                {"address", device.address.ToString()},
                {"location", device.location}});
    if (!device.ever_registered) {
      device.ever_registered = true;
      if (++fleet.registered_once == options.devices) {
        const auto elapsed =
            std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - fleet.started);
        log::Info(kLog, "all devices registered",
                  {{"devices", std::to_string(options.devices)},
                   {"elapsed_ms", std::to_string(elapsed.count())}});
        health.SetReady();
      }
    }
    // Refreshed well before the lifetime ends (RFC 9176 §5.3.1), through the same queue.
    ScheduleRetry(index, Millis(std::max<int64_t>(250, options.lifetime_s * 750)));
  }

  void SetState(Device& device, RegState state) {
    if ((device.state == RegState::kRegistered) != (state == RegState::kRegistered)) {
      metrics.registered.Add(state == RegState::kRegistered ? 1 : -1);
    }
    device.state = state;
  }

  static std::string Cause(const coap::Outcome<coap::ClientResponse>& outcome) {
    return outcome.ok() ? "answered " + coap::FormatCode(outcome->code) + " " + outcome->payload
                        : outcome.error().message;
  }

  void NoteFailure(const Device& device, RdExchange kind, const std::string& cause) {
    metrics.failures.Inc();
    ++failures_since_report;
    last_failure = std::string(RdExchangeName(kind)) + " of " + device.model.ep() + ": " + cause;
    log::Debug(kLog, "RD exchange failed", {{"cause", last_failure}});
  }

  // 0.5 s, 1 s, 2 s, ... up to 30 s, with up to 25 % jitter so that retries spread out.
  Millis Backoff(int failures) {
    const int64_t base =
        std::min<int64_t>(kMaxBackoff.count(), int64_t{500} << std::min(failures - 1, 10));
    jitter_state = jitter_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return Millis(base + static_cast<int64_t>((jitter_state >> 33U) % (base / 4 + 1)));
  }

  void ScheduleRetry(size_t index, Millis delay) {
    Device& device = devices[index];
    CancelTimer(device);
    const uint64_t generation = device.generation;
    device.timer = loop.context().After(delay, [this, index, generation] {
      Device& due = devices[index];
      due.timer = 0;
      if (due.generation == generation && !stopped) {
        Enqueue(index);
      }
    });
  }

  void CancelTimer(Device& device) {
    if (device.timer != 0) {
      loop.context().CancelTimer(device.timer);
      device.timer = 0;
    }
  }

  // Makes whatever is in flight or scheduled for `device` moot.
  void Supersede(Device& device) {
    ++device.generation;
    CancelTimer(device);
    if (device.pending != 0) {
      const coap::RequestId pending = device.pending;
      device.pending = 0;
      client->Cancel(pending);
    }
  }

  void ScheduleReport() {
    report_timer = loop.context().After(kReportInterval, [this] {
      report_timer = 0;
      if (failures_since_report > 0) {
        log::Warn(kLog, "RD exchanges failed",
                  {{"failures", std::to_string(failures_since_report)}, {"last", last_failure}});
        failures_since_report = 0;
      }
      if (!stopped) {
        ScheduleReport();
      }
    });
  }

  // ---- control ----

  Status GoOffline(size_t index) {
    Device& device = devices[index];
    if (!device.online) {
      return MakeError(ErrorCode::kConflict, device.model.ep() + " is already offline");
    }
    Supersede(device);
    CloseEndpoint(device);
    // Keep the port bound but deaf: peers time out instead of getting ICMP port unreachable.
    Status held = device.black_hole.Open(device.address);
    if (!held.ok()) {
      log::Warn(kLog, "offline device's port answers ICMP: " + held.error().message,
                {{"ep", device.model.ep()}});
    }
    log::Info(kLog, "device offline",
              {{"ep", device.model.ep()}, {"address", device.address.ToString()}});
    return Status::Ok();
  }

  Status GoOnline(size_t index, bool move) {
    Device& device = devices[index];
    if (device.online && !move) {
      return MakeError(ErrorCode::kConflict, device.model.ep() + " is already online");
    }
    if (device.online) {
      Supersede(device);
      CloseEndpoint(device);
    }
    device.black_hole.Close();
    Result<coap::Address> bound = MakeError(ErrorCode::kUnavailable, "no port");
    if (move) {
      auto picked = PickFreePorts(options.listen.host, 1);
      bound = picked.ok() ? server->AddEndpoint(HostPort{options.listen.host, picked->front()})
                          : Result<coap::Address>(picked.error());
    } else {
      bound = server->AddEndpoint(HostPort{options.listen.host, device.address.port});
    }
    if (!bound.ok()) {
      (void)device.black_hole.Open(device.address);
      return MakeError(ErrorCode::kUnavailable,
                       device.model.ep() + " cannot come back: " + bound.error().message);
    }
    const std::string previous = device.address.ToString();
    device.address = *bound;
    by_port[bound->port] = index;
    device.online = true;
    ++device.boots;
    device.booted = Clock::now();
    metrics.online.Add(1);
    log::Info(kLog, move ? "device moved" : "device online",
              {{"ep", device.model.ep()},
               {"address", device.address.ToString()},
               {"previous", previous}});
    if (device.want_registered) {
      // Back from a reboot or on a new address: a full registration (same ep, same location).
      device.location.clear();
      SetState(device, RegState::kRegistering);
      Enqueue(index);
    }
    return Status::Ok();
  }

  void CloseEndpoint(Device& device) {
    server->RemoveEndpoint(device.address);
    by_port.erase(device.address.port);
    device.online = false;
    metrics.online.Add(-1);
  }

  Status Register(size_t index) {
    Device& device = devices[index];
    if (!device.online) {
      return MakeError(ErrorCode::kConflict, device.model.ep() + " is offline");
    }
    if (options.registration == RegistrationMode::kNone) {
      return MakeError(ErrorCode::kConflict, "registration is off (none)");
    }
    Supersede(device);
    device.want_registered = true;
    device.location.clear();
    SetState(device, RegState::kRegistering);
    Enqueue(index);
    return Status::Ok();
  }

  Status Deregister(size_t index) {
    Device& device = devices[index];
    if (!device.online) {
      return MakeError(ErrorCode::kConflict, device.model.ep() + " is offline");
    }
    Supersede(device);
    device.want_registered = false;
    if (device.location.empty()) {
      // Simple registrations have no location to delete (RFC 9176 §5.1): they expire.
      SetState(device, RegState::kUnregistered);
      return Status::Ok();
    }
    Enqueue(index);
    return Status::Ok();
  }

  // Stops refreshing; DELETEs registrations when asked to; `done` runs once nothing is in flight.
  size_t BeginStop(std::function<void()> done) {
    if (tick_timer != 0) {
      loop.context().CancelTimer(tick_timer);
      tick_timer = 0;
    }
    queue.clear();
    const bool delete_them =
        options.deregister_on_stop && options.registration == RegistrationMode::kFull;
    size_t deleting = 0;
    for (size_t i = 0; i < devices.size(); ++i) {
      Device& device = devices[i];
      device.queued = false;
      Supersede(device);
      device.want_registered = false;
      if (delete_them && device.online && !device.location.empty()) {
        device.queued = true;
        queue.push_back(i);
        ++deleting;
      }
    }
    on_idle = std::move(done);
    Pump();
    return deleting;
  }

  Fleet& fleet;
  const SimOptions& options;
  Health& health;
  SimMetrics& metrics;
  const size_t first;   // fleet index of devices[0]
  const size_t window;  // this loop's share of the RD window
  std::unique_ptr<coap::Server> server;
  std::unique_ptr<coap::Client> client;
  std::vector<Device> devices;
  std::unordered_map<uint16_t, size_t> by_port;
  std::deque<size_t> queue;
  size_t in_flight = 0;
  coap::Context::TimerId tick_timer = 0;
  uint64_t failures_since_report = 0;
  std::string last_failure;
  uint64_t jitter_state = 0x2545F4914F6CDD1DULL;
  std::function<void()> on_idle;
  bool stopped = false;
  coap::Context::TimerId report_timer = 0;
  // Last, so that it goes first: its thread is joined before anything it may touch is destroyed
  // (Close has released the Server and Client on it by then).
  coap::ContextThread loop;
};

}  // namespace

struct Simulator::Impl {
  Impl(SimOptions options, MetricsRegistry& registry, Health& health)
      : fleet(std::move(options), registry, health) {}

  // The loop of fleet device `index` and the device's index there.
  std::pair<Shard*, size_t> Locate(size_t index) const {
    const size_t per_loop = fleet.options.devices_per_loop;
    return {shards[index / per_loop].get(), index % per_loop};
  }

  Fleet fleet;
  std::vector<std::unique_ptr<Shard>> shards;
  std::unordered_map<std::string, size_t> by_ep;  // filled once, then read from any thread
  bool closed = false;                            // Stop ran
};

Simulator::Simulator(SimOptions options, MetricsRegistry& metrics, Health& health)
    : size_(options.devices) {
  if (options.registration != RegistrationMode::kNone) {
    // A name that does not resolve yet is retried like an RD that does not answer yet; one
    // without an address the devices can send to is a mistake in the settings.
    auto rd_address = ResolveForSource(options.rd.host, options.listen.host);
    if (!rd_address.ok() && rd_address.error().code == ErrorCode::kInvalidArgument) {
      throw std::runtime_error("COAPGW_RD_URI " + options.rd.ToUri() + ": " +
                               rd_address.error().message + "; devices listen on " +
                               options.listen.host + " (COAPGW_DEVICE_SIM_LISTEN)");
    }
  }
  std::vector<uint16_t> ports;
  if (options.listen.port == 0) {
    auto picked = PickFreePorts(options.listen.host, options.devices);
    if (!picked.ok()) {
      throw std::runtime_error(picked.error().message);
    }
    ports = std::move(*picked);
  } else {
    CheckPortsFree(options.listen.port, options.devices);
    for (size_t i = 0; i < options.devices; ++i) {
      ports.push_back(static_cast<uint16_t>(options.listen.port + i));
    }
  }
  const size_t per_loop = options.devices_per_loop;
  const size_t loops = (options.devices + per_loop - 1) / per_loop;
  // One descriptor per device, one per RD exchange in flight (and its idle tail), three per loop
  // (epoll, timer, wake-up), a few for the control and probe listeners.
  EnsureDescriptors(options.devices + 2 * options.register_window + 3 * loops + 64);
  const size_t window = std::max<size_t>(1, options.register_window / loops);

  impl_ = std::make_unique<Impl>(std::move(options), metrics, health);
  Fleet& fleet = impl_->fleet;
  if (fleet.options.registration == RegistrationMode::kNone) {
    health.SetReady();
  } else {
    health.SetNotReady("registering " + std::to_string(size_) + " devices");
  }
  try {
    for (size_t first = 0; first < size_; first += per_loop) {
      impl_->shards.push_back(std::make_unique<Shard>(fleet, first, window));
      Shard& shard = *impl_->shards.back();
      const std::vector<uint16_t> slice(
          ports.begin() + static_cast<std::ptrdiff_t>(first),
          ports.begin() + static_cast<std::ptrdiff_t>(std::min(size_, first + per_loop)));
      shard.loop.Call([&shard, &slice] { shard.Start(slice); });
    }
  } catch (...) {
    for (auto& shard : impl_->shards) {
      shard->loop.Call([&shard] { shard->Close(); });
    }
    throw;
  }
  for (const auto& shard : impl_->shards) {
    for (const Device& device : shard->devices) {
      impl_->by_ep.emplace(device.model.ep(), device.model.index());
    }
  }
  fleet.metrics.devices.Set(static_cast<int64_t>(size_));
  fleet.metrics.online.Set(static_cast<int64_t>(size_));
  log::Info(kLog, "devices listening",
            {{"devices", std::to_string(size_)},
             {"loops", std::to_string(loops)},
             {"first", impl_->shards.front()->devices.front().address.ToString()},
             {"last", impl_->shards.back()->devices.back().address.ToString()},
             {"registration", RegistrationModeName(fleet.options.registration)}});
}

Simulator::~Simulator() {
  Stop(Millis(0));
}

std::optional<size_t> Simulator::Find(std::string_view id) const {
  size_t index = 0;
  const auto [end, error] = std::from_chars(id.data(), id.data() + id.size(), index);
  if (error == std::errc() && end == id.data() + id.size()) {
    return index < size_ ? std::optional<size_t>(index) : std::nullopt;
  }
  const auto it = impl_->by_ep.find(std::string(id));
  return it == impl_->by_ep.end() ? std::nullopt : std::optional<size_t>(it->second);
}

std::vector<DeviceStatus> Simulator::Statuses() {
  std::vector<DeviceStatus> statuses;
  statuses.reserve(size_);
  for (auto& shard : impl_->shards) {
    shard->loop.Call([&] {
      for (const Device& device : shard->devices) {
        statuses.push_back(Snapshot(device));
      }
    });
  }
  return statuses;
}

DeviceStatus Simulator::StatusOf(size_t index) {
  const auto [shard, local] = impl_->Locate(index);
  return shard->loop.Call(
      [shard = shard, local = local] { return Snapshot(shard->devices.at(local)); });
}

Result<DeviceStatus> Simulator::Apply(size_t index, Action action) {
  if (index >= size_) {
    return MakeError(ErrorCode::kNotFound, "no device " + std::to_string(index));
  }
  const auto [shard, local] = impl_->Locate(index);
  return shard->loop.Call([shard = shard, local = local, action]() -> Result<DeviceStatus> {
    if (shard->stopped) {
      return MakeError(ErrorCode::kUnavailable, "the simulator is stopping");
    }
    Status done;
    switch (action) {
      case Action::kOffline:
        done = shard->GoOffline(local);
        break;
      case Action::kOnline:
        done = shard->GoOnline(local, false);
        break;
      case Action::kMove:
        done = shard->GoOnline(local, true);
        break;
      case Action::kRegister:
        done = shard->Register(local);
        break;
      case Action::kDeregister:
        done = shard->Deregister(local);
        break;
    }
    if (!done.ok()) {
      return done.error();
    }
    return Snapshot(shard->devices[local]);
  });
}

void Simulator::Stop(Millis deadline) {
  if (impl_ == nullptr || impl_->closed) {
    return;
  }
  impl_->closed = true;
  std::vector<std::future<void>> drained;
  size_t deleting = 0;
  for (auto& shard : impl_->shards) {
    auto idle = std::make_shared<std::promise<void>>();
    drained.push_back(idle->get_future());
    deleting += shard->loop.Call(
        [&shard, idle] { return shard->BeginStop([idle] { idle->set_value(); }); });
  }
  log::Info(kLog, "stopping", {{"deregistering", std::to_string(deleting)}});
  const auto until = Clock::now() + deadline;
  bool all = true;
  for (auto& each : drained) {
    all = each.wait_until(until) == std::future_status::ready && all;
  }
  if (!all && deadline.count() > 0) {
    log::Warn(kLog, "RD did not answer every deregistration in time",
              {{"deadline", FormatDuration(deadline)}});
  }
  for (auto& shard : impl_->shards) {
    shard->loop.Call([&shard] { shard->Close(); });
  }
}

std::optional<Action> ParseAction(std::string_view name) {
  if (name == "offline") {
    return Action::kOffline;
  }
  if (name == "online") {
    return Action::kOnline;
  }
  if (name == "move") {
    return Action::kMove;
  }
  if (name == "register") {
    return Action::kRegister;
  }
  if (name == "deregister") {
    return Action::kDeregister;
  }
  return std::nullopt;
}

}  // namespace coapgw::device_sim
