#pragma once

// Reads the resources of the devices this instance owns, over CoAP: observation first (RFC 7641),
// polling for what cannot be observed, and every value handed to a DataSink as an
// events::ObservedData.
//
// Per resource:
// - `obs` in its link: an observation is registered. Notifications become data (observed=true).
//   A registration the device answers without an Observe option (it refuses, or the resource
//   is not observable after all) gives that response as data (observed=false) and the resource
//   is polled from then on. An observation that ends (silence beyond Max-Age + grace, an error
//   code, RST, ICMP error) is registered again: at once after a silence, else after a backoff
//   that doubles from `retry_min` up to the resource's poll interval.
// - no `obs`: a GET every poll interval, each resource at its own fixed phase within the interval
//   (SpreadOffset) so that polls are spread evenly instead of coming in bursts.
// - Registrations and polls in flight are bounded (`max_in_flight`): registrations beyond wait in
//   a queue, polls beyond are skipped until their next turn (counted).
// - Unwatch cancels observations, which deregisters them on the device (GET with Observe=1), so
//   that no relation is leaked when a device moves to another instance or the service stops.
//
// Threading: the loop thread of the coap::Context the Client belongs to.

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "coapgw/coap/client.hpp"
#include "coapgw/events/messages.hpp"
#include "observer/ownership.hpp"
#include "observer/resources.hpp"
#include "observer/scheduler.hpp"

namespace coapgw::observer {

/// Receives every value read. `resource_key` identifies the resource while it is watched (a
/// resource watched again later gets a new key).
class DataSink {
 public:
  virtual ~DataSink() = default;
  virtual void Deliver(uint64_t resource_key, events::ObservedData data) = 0;
};

struct WatcherOptions {
  /// Registrations plus polls waiting for their answer, at most.
  size_t max_in_flight = 1000;
  /// First delay before registering again after a failure; doubles up to the poll interval.
  Millis retry_min{1000};
  /// Deadline of a registration's first response, and of a poll (capped by its interval).
  Millis request_timeout{10000};
  /// Silence beyond the last notification's Max-Age before an observation counts as lost.
  Millis max_age_grace{10000};
};

class Watcher {
 public:
  struct Stats {
    uint64_t notifications = 0;     // values from observations
    uint64_t polled_values = 0;     // values from polls (and refused registrations)
    uint64_t registrations = 0;     // observe registrations sent
    uint64_t established = 0;       // registrations the device accepted
    uint64_t refused = 0;           // registrations answered without Observe: polled instead
    uint64_t observe_failures = 0;  // observations that ended or failed to register
    uint64_t silences = 0;          // ... of which: no notification within Max-Age + grace
    uint64_t deregistrations = 0;   // observations cancelled (deregistered on the device)
    uint64_t polls = 0;             // GETs sent for polled resources
    uint64_t poll_failures = 0;     // polls without a response
    uint64_t polls_skipped = 0;     // polls not sent (previous one pending or too many in flight)
  };

  /// `clock` gives the current time (steady); tests pass a fake one. `client` and `sink` must
  /// outlive the Watcher.
  Watcher(coap::Client& client, DataSink& sink, WatcherOptions options,
          std::function<SteadyTime()> clock);
  /// Cancels every observation (deregistering it) and pending poll.
  ~Watcher();
  Watcher(const Watcher&) = delete;
  Watcher& operator=(const Watcher&) = delete;
  Watcher(Watcher&&) = delete;
  Watcher& operator=(Watcher&&) = delete;

  /// Starts or updates the reading of `device_id`'s resources. Resources whose description did not
  /// change keep their observation or poll phase; removed ones are cancelled, new ones start. A
  /// new endpoint (the device moved) restarts all of them.
  void Watch(const std::string& device_id, const DeviceTarget& target);
  /// Stops reading `device_id` (observations are deregistered). No-op for an unknown device.
  void Unwatch(const std::string& device_id);
  /// The device proved it is alive (it refreshed its registration): observations waiting for a
  /// retry are registered now.
  void Revive(const std::string& device_id);
  /// Runs what is due: polls, retries, queued registrations. Call it often (every tick).
  void Tick();

  bool Watching(const std::string& device_id) const { return devices_.count(device_id) != 0; }
  size_t devices() const { return devices_.size(); }
  /// Resources with an established observation / read by polling / waiting to (re)register.
  size_t observing() const;
  size_t polling() const;
  size_t in_flight() const { return in_flight_; }
  const Stats& stats() const { return stats_; }

 private:
  enum class Mode : uint8_t {
    kQueued,       // waiting for an in-flight slot to register
    kRegistering,  // registration sent, no answer yet
    kObserving,    // relation established
    kBackoff,      // waiting to register again
    kPolling,      // read by GET every poll interval
  };
  struct Resource {
    uint64_t key = 0;
    std::string device_id;
    coap::Endpoint endpoint;
    WatchedResource spec;
    std::string service;  // "GET /path"
    Mode mode = Mode::kQueued;
    coap::Observation observation;
    coap::RequestId poll = 0;  // pending poll, 0 if none
    int failures = 0;          // consecutive failed registrations
    SteadyTime next_poll;
  };
  struct DeviceEntry {
    coap::Endpoint endpoint;
    std::map<std::string, uint64_t> by_path;
  };

  uint64_t Add(const std::string& device_id, const coap::Endpoint& endpoint,
               const WatchedResource& spec);
  void Remove(uint64_t key);
  void Start(Resource& resource);
  void Register(Resource& resource);
  void StartPolling(Resource& resource, SteadyTime first);
  void Poll(Resource& resource);
  void Retry(Resource& resource, bool at_once);
  void PumpQueue();
  void OnNotification(uint64_t key, coap::Outcome<coap::Notification> outcome);
  void OnPollDone(uint64_t key, coap::Outcome<coap::ClientResponse> outcome);
  void Deliver(const Resource& resource, const coap::ClientResponse& response, bool observed);

  coap::Client& client_;
  DataSink& sink_;
  WatcherOptions options_;
  std::function<SteadyTime()> clock_;
  std::unordered_map<uint64_t, Resource> resources_;
  std::unordered_map<std::string, DeviceEntry> devices_;
  // Observations removed while their registration was unanswered, cancelled once it is.
  std::unordered_map<uint64_t, coap::Observation> abandoned_;
  Scheduler scheduler_;         // next poll or retry per key
  std::deque<uint64_t> queue_;  // kQueued keys, in order
  size_t in_flight_ = 0;
  uint64_t next_key_ = 1;
  Stats stats_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace coapgw::observer
