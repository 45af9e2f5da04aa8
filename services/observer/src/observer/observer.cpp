#include "observer/observer.hpp"

#include <utility>

#include "coapgw/common/log.hpp"

namespace coapgw::observer {
namespace {

constexpr const char* kComponent = "observer";

std::string JoinIds(const std::vector<std::string>& ids) {
  std::string text;
  for (const auto& id : ids) {
    text += (text.empty() ? "" : ",") + id;
  }
  return text;
}

}  // namespace

Observer::Observer(Watcher& watcher, Membership& membership, SelectionOptions selection,
                   std::function<SteadyTime()> clock)
    : watcher_(watcher),
      membership_(membership),
      selection_(std::move(selection)),
      clock_(std::move(clock)) {}

void Observer::OnDeviceUpsert(const events::Device& device, const events::Device* before,
                              const std::vector<events::DeviceChange>& changes) {
  const std::string& id = device.device_id;
  // Said once per new device or new links/base, not on every lifetime refresh.
  const bool described_anew =
      before == nullptr || before->links != device.links || before->base != device.base;
  Entry entry;
  entry.connected = device.status == events::DeviceStatus::kConnected;
  auto target = SelectResources(device, selection_);
  if (!target.ok()) {
    if (described_anew) {
      ++stats_.devices_unreadable;
      log::Warn(kComponent, "device not read",
                {{"device_id", id}, {"ep", device.endpoint}, {"error", target.error().message}});
    }
  } else {
    entry.target = std::move(*target);
    entry.readable = !entry.target.resources.empty();
    if (described_anew) {
      for (const auto& why : entry.target.skipped) {
        log::Info(kComponent, "link not read", {{"device_id", id}, {"link", why}});
      }
    }
  }
  const bool was_watching = watcher_.Watching(id);
  Entry& stored = devices_[id] = std::move(entry);
  if (Wanted(id, stored)) {
    watcher_.Watch(id, stored.target);
    if (was_watching && before != nullptr && changes.empty()) {
      watcher_.Revive(id);  // a plain refresh: the device is alive, retry what failed
    }
  } else if (was_watching) {
    watcher_.Unwatch(id);
  }
}

void Observer::OnDeviceGone(const events::Device& device, devices::GoneReason reason) {
  (void)reason;
  devices_.erase(device.device_id);
  watcher_.Unwatch(device.device_id);
}

void Observer::OnSynced(size_t devices) {
  if (on_synced_) {
    on_synced_(devices);
  }
}

void Observer::OnHeartbeat(const events::ObserverHeartbeat& heartbeat) {
  membership_.OnHeartbeat(heartbeat.instance_id, heartbeat.interval, clock_());
}

void Observer::Tick() {
  const Membership::Change change = membership_.Update(clock_());
  for (const auto& departure : change.departed) {
    ++stats_.departures;
    log::Info(
        kComponent, "observer instance gone",
        {{"instance", departure.instance_id}, {"silent_for", FormatDuration(departure.silence)}});
  }
  if (change.counted_changed) {
    ++stats_.membership_changes;
    Rebalance(change);
    log::Info(kComponent, "membership changed",
              {{"instances", JoinIds(membership_.counted())},
               {"owned_devices", std::to_string(owned_devices())}});
  }
  watcher_.Tick();
}

void Observer::StopAll() {
  stopped_ = true;
  for (const auto& [id, entry] : devices_) {
    watcher_.Unwatch(id);
  }
}

bool Observer::Wanted(const std::string& device_id, const Entry& entry) const {
  return !stopped_ && entry.connected && entry.readable && membership_.Owns(device_id);
}

void Observer::Rebalance(const Membership::Change& change) {
  uint64_t started = 0;
  uint64_t stopped = 0;
  for (const auto& [id, entry] : devices_) {
    const bool wanted = Wanted(id, entry);
    const bool watching = watcher_.Watching(id);
    if (wanted && !watching) {
      watcher_.Watch(id, entry.target);
      ++started;
    } else if (!wanted && watching) {
      watcher_.Unwatch(id);
      ++stopped;
    }
  }
  // Devices taken from a silent instance were not read since it went silent (a gap); devices
  // handed to a joining one were read by both for about a bus latency (possible duplicates).
  bool counted_departure = false;
  for (const auto& departure : change.departed) {
    if (departure.counted) {
      counted_departure = true;
      stats_.takeover_gap_ms += static_cast<uint64_t>(departure.silence.count());
    }
  }
  if (counted_departure) {
    stats_.taken_over += started;
  }
  if (change.joined) {
    stats_.handed_over += stopped;
  }
}

}  // namespace coapgw::observer
