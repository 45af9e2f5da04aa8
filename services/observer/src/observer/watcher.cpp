#include "observer/watcher.hpp"

#include <algorithm>
#include <chrono>
#include <utility>

#include "coapgw/common/log.hpp"
#include "coapgw/events/payload.hpp"
#include "coapgw/events/service.hpp"

namespace coapgw::observer {
namespace {

constexpr const char* kComponent = "observer";

bool SameEndpoint(const coap::Endpoint& a, const coap::Endpoint& b) {
  return a.transport == b.transport && a.host == b.host && a.port == b.port;
}

coap::ClientRequest MakeGet(const coap::Endpoint& endpoint, const WatchedResource& spec) {
  coap::ClientRequest request;
  request.method = coap::Method::kGet;
  request.endpoint = endpoint;
  request.path = spec.segments;
  request.query = spec.query;
  return request;
}

}  // namespace

Watcher::Watcher(coap::Client& client, DataSink& sink, WatcherOptions options,
                 std::function<SteadyTime()> clock)
    : client_(client), sink_(sink), options_(options), clock_(std::move(clock)) {}

Watcher::~Watcher() {
  *alive_ = false;
  abandoned_.clear();
  for (auto& [key, resource] : resources_) {
    resource.observation.Cancel();
    if (resource.poll != 0) {
      client_.Cancel(resource.poll);
    }
  }
}

void Watcher::Watch(const std::string& device_id, const DeviceTarget& target) {
  auto [entry_it, inserted] = devices_.try_emplace(device_id);
  DeviceEntry& entry = entry_it->second;
  if (!inserted && !SameEndpoint(entry.endpoint, target.endpoint)) {
    // The device moved: its relations at the old address are useless; start over.
    for (const auto& [path, key] : entry.by_path) {
      Remove(key);
    }
    entry.by_path.clear();
  }
  entry.endpoint = target.endpoint;
  std::map<std::string, uint64_t> next;
  for (const auto& spec : target.resources) {
    const auto found = entry.by_path.find(spec.path);
    if (found != entry.by_path.end()) {
      const uint64_t key = found->second;
      entry.by_path.erase(found);
      if (resources_.at(key).spec == spec) {
        next.emplace(spec.path, key);
        continue;
      }
      Remove(key);
    }
    next.emplace(spec.path, Add(device_id, target.endpoint, spec));
  }
  for (const auto& [path, key] : entry.by_path) {
    Remove(key);
  }
  entry.by_path = std::move(next);
  PumpQueue();
}

void Watcher::Unwatch(const std::string& device_id) {
  const auto it = devices_.find(device_id);
  if (it == devices_.end()) {
    return;
  }
  for (const auto& [path, key] : it->second.by_path) {
    Remove(key);
  }
  devices_.erase(it);
  PumpQueue();
}

void Watcher::Revive(const std::string& device_id) {
  const auto it = devices_.find(device_id);
  if (it == devices_.end()) {
    return;
  }
  for (const auto& [path, key] : it->second.by_path) {
    Resource& resource = resources_.at(key);
    if (resource.mode == Mode::kBackoff) {
      scheduler_.Cancel(key);
      resource.failures = 0;
      resource.mode = Mode::kQueued;
      queue_.push_back(key);
    }
  }
  PumpQueue();
}

void Watcher::Tick() {
  const SteadyTime now = clock_();
  for (const uint64_t key : scheduler_.PopDue(now)) {
    const auto it = resources_.find(key);
    if (it == resources_.end()) {
      continue;
    }
    Resource& resource = it->second;
    if (resource.mode == Mode::kPolling) {
      Poll(resource);
    } else if (resource.mode == Mode::kBackoff) {
      resource.mode = Mode::kQueued;
      queue_.push_back(key);
    }
  }
  PumpQueue();
}

size_t Watcher::observing() const {
  return static_cast<size_t>(std::count_if(resources_.begin(), resources_.end(), [](const auto& r) {
    return r.second.mode == Mode::kObserving;
  }));
}

size_t Watcher::polling() const {
  return static_cast<size_t>(std::count_if(resources_.begin(), resources_.end(), [](const auto& r) {
    return r.second.mode == Mode::kPolling;
  }));
}

uint64_t Watcher::Add(const std::string& device_id, const coap::Endpoint& endpoint,
                      const WatchedResource& spec) {
  const uint64_t key = next_key_++;
  Resource& resource = resources_[key];
  resource.key = key;
  resource.device_id = device_id;
  resource.endpoint = endpoint;
  resource.spec = spec;
  resource.service = events::FormatService(events::Method::kGet, spec.path);
  Start(resource);
  return key;
}

void Watcher::Remove(uint64_t key) {
  const auto it = resources_.find(key);
  if (it == resources_.end()) {
    return;
  }
  Resource& resource = it->second;
  scheduler_.Cancel(key);
  if (resource.mode == Mode::kRegistering) {
    // Cancelling now would leave the relation on the device if it accepts the registration (no
    // deregistration can be sent before the answer): keep the handle until the answer comes.
    --in_flight_;
    abandoned_.emplace(key, std::move(resource.observation));
  } else if (resource.mode == Mode::kObserving) {
    ++stats_.deregistrations;
  }
  resource.observation.Cancel();
  if (resource.poll != 0) {
    client_.Cancel(resource.poll);  // its callback still comes (kCancelled) and frees the slot
  }
  resources_.erase(it);
}

void Watcher::Start(Resource& resource) {
  if (resource.spec.observable) {
    resource.mode = Mode::kQueued;
    queue_.push_back(resource.key);
    return;
  }
  StartPolling(resource, clock_() + SpreadOffset(resource.device_id + resource.spec.path,
                                                 resource.spec.poll_interval));
}

void Watcher::PumpQueue() {
  while (in_flight_ < options_.max_in_flight && !queue_.empty()) {
    const uint64_t key = queue_.front();
    queue_.pop_front();
    const auto it = resources_.find(key);
    if (it != resources_.end() && it->second.mode == Mode::kQueued) {
      Register(it->second);
    }
  }
}

void Watcher::Register(Resource& resource) {
  resource.mode = Mode::kRegistering;
  ++in_flight_;
  ++stats_.registrations;
  coap::ObserveOptions observe;
  observe.timeout = options_.request_timeout;
  observe.max_age_grace = options_.max_age_grace;
  resource.observation = client_.Observe(
      MakeGet(resource.endpoint, resource.spec), observe,
      [this, alive = alive_, key = resource.key](coap::Outcome<coap::Notification> outcome) {
        if (*alive) {
          OnNotification(key, std::move(outcome));
        }
      });
}

void Watcher::OnNotification(uint64_t key, coap::Outcome<coap::Notification> outcome) {
  const auto it = resources_.find(key);
  if (it == resources_.end()) {
    const auto abandoned = abandoned_.find(key);
    if (abandoned != abandoned_.end()) {
      if (outcome.ok() && outcome->observing) {
        ++stats_.deregistrations;
      }
      abandoned->second.Cancel();  // deregisters an accepted relation
      abandoned_.erase(abandoned);
    }
    return;
  }
  Resource& resource = it->second;
  const bool registering = resource.mode == Mode::kRegistering;
  if (!outcome.ok()) {
    if (outcome.failure() == coap::Failure::kCancelled) {
      return;
    }
    const bool silence = resource.mode == Mode::kObserving;
    if (registering) {
      --in_flight_;
    }
    ++stats_.observe_failures;
    if (silence && outcome.failure() == coap::Failure::kTimeout) {
      ++stats_.silences;
    }
    log::Debug(kComponent, "observation lost",
               {{"device_id", resource.device_id},
                {"path", resource.spec.path},
                {"error", outcome.error().message}});
    Retry(resource, silence);
    PumpQueue();
    return;
  }
  const coap::Notification& notification = *outcome;
  if (notification.observing) {
    if (registering) {
      --in_flight_;
      ++stats_.established;
      resource.mode = Mode::kObserving;
      resource.failures = 0;
      PumpQueue();
    }
    ++stats_.notifications;
    Deliver(resource, notification.response, true);
    return;
  }
  // A response without Observe: no relation (any more). It is still a value.
  if (registering) {
    --in_flight_;
  }
  ++stats_.polled_values;
  Deliver(resource, notification.response, false);
  if (registering && coap::CodeClass(notification.response.code) == 2) {
    ++stats_.refused;
    log::Info(kComponent, "device does not accept the observation; polling the resource",
              {{"device_id", resource.device_id},
               {"path", resource.spec.path},
               {"interval", FormatDuration(resource.spec.poll_interval)}});
    StartPolling(resource, clock_() + resource.spec.poll_interval);
  } else {
    ++stats_.observe_failures;
    Retry(resource, false);
  }
  PumpQueue();
}

void Watcher::Retry(Resource& resource, bool at_once) {
  resource.observation = coap::Observation();
  ++resource.failures;
  if (at_once && resource.failures == 1) {
    resource.mode = Mode::kQueued;
    queue_.push_back(resource.key);
    return;
  }
  // retry_min, 2 × retry_min, ... up to the poll interval, plus up to a quarter of it per
  // resource so that devices that failed together do not retry together.
  const int doublings = std::min(resource.failures - (at_once ? 2 : 1), 20);
  const Millis cap = std::max(options_.retry_min, resource.spec.poll_interval);
  const Millis delay = std::min(cap, options_.retry_min * (int64_t{1} << doublings));
  const Millis jitter = SpreadOffset(resource.device_id + resource.spec.path, delay / 4);
  resource.mode = Mode::kBackoff;
  scheduler_.Schedule(resource.key, clock_() + delay + jitter);
}

void Watcher::StartPolling(Resource& resource, SteadyTime first) {
  resource.observation = coap::Observation();
  resource.mode = Mode::kPolling;
  resource.next_poll = first;
  scheduler_.Schedule(resource.key, first);
}

void Watcher::Poll(Resource& resource) {
  const SteadyTime now = clock_();
  const Millis interval = resource.spec.poll_interval;
  // Keep the resource's phase; after a stall, skip the rounds that were missed.
  SteadyTime next = resource.next_poll + interval;
  if (next <= now) {
    next += interval * ((now - next) / interval + 1);
  }
  resource.next_poll = next;
  scheduler_.Schedule(resource.key, next);
  if (resource.poll != 0 || in_flight_ >= options_.max_in_flight) {
    ++stats_.polls_skipped;
    return;
  }
  ++in_flight_;
  ++stats_.polls;
  coap::RequestOptions request;
  request.timeout = std::min(options_.request_timeout, interval);
  resource.poll = client_.Send(
      MakeGet(resource.endpoint, resource.spec), request,
      [this, alive = alive_, key = resource.key](coap::Outcome<coap::ClientResponse> outcome) {
        if (*alive) {
          OnPollDone(key, std::move(outcome));
        }
      });
}

void Watcher::OnPollDone(uint64_t key, coap::Outcome<coap::ClientResponse> outcome) {
  --in_flight_;
  const auto it = resources_.find(key);
  if (it != resources_.end()) {
    Resource& resource = it->second;
    resource.poll = 0;
    if (outcome.ok()) {
      ++stats_.polled_values;
      Deliver(resource, *outcome, false);
    } else if (outcome.failure() != coap::Failure::kCancelled) {
      ++stats_.poll_failures;
      log::Debug(kComponent, "poll failed",
                 {{"device_id", resource.device_id},
                  {"path", resource.spec.path},
                  {"error", outcome.error().message}});
    }
  }
  PumpQueue();
}

void Watcher::Deliver(const Resource& resource, const coap::ClientResponse& response,
                      bool observed) {
  events::ObservedData data;
  data.device_id = resource.device_id;
  data.service = resource.service;
  data.path = resource.spec.path;
  data.code = coap::FormatCode(response.code);
  data.content_format = response.content_format;
  data.payload = events::EncodePayload(response.payload, response.content_format);
  data.observed = observed;
  data.time = std::chrono::system_clock::now();
  sink_.Deliver(resource.key, std::move(data));
}

}  // namespace coapgw::observer
