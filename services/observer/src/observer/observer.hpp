#pragma once

// The observer's decisions: which devices this instance reads, from the RD's devices (a
// devices::DeviceMirror reports them here) and the membership of the observer instances.
// A device is read when it is connected (status 1), has resources left after selection, and this
// instance owns it (rendezvous hashing, see ownership.hpp). The Watcher does the CoAP work.
//
// Threading: the loop thread (the mirror, the watcher and the heartbeats all run there).

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "coapgw/devices/device_mirror.hpp"
#include "coapgw/events/messages.hpp"
#include "observer/ownership.hpp"
#include "observer/resources.hpp"
#include "observer/watcher.hpp"

namespace coapgw::observer {

class Observer final : public devices::DeviceListener {
 public:
  struct Stats {
    uint64_t membership_changes = 0;  // the set of counted instances changed
    uint64_t handed_over = 0;         // devices given to an instance that joined
    uint64_t taken_over = 0;          // devices taken from an instance that went silent
    uint64_t takeover_gap_ms = 0;     // sum over departures of the silence before takeover
    uint64_t departures = 0;          // instances that went silent
    uint64_t devices_unreadable = 0;  // device records whose base cannot be read (coaps, bad)
  };

  /// `watcher` and `membership` must outlive the Observer; `clock` as the Watcher's.
  Observer(Watcher& watcher, Membership& membership, SelectionOptions selection,
           std::function<SteadyTime()> clock);

  // devices::DeviceListener
  void OnDeviceUpsert(const events::Device& device, const events::Device* before,
                      const std::vector<events::DeviceChange>& changes) override;
  void OnDeviceGone(const events::Device& device, devices::GoneReason reason) override;
  void OnSynced(size_t devices) override;

  /// Called after every applied RD snapshot (the service turns ready on the first).
  void SetOnSynced(std::function<void(size_t devices)> on_synced) {
    on_synced_ = std::move(on_synced);
  }

  /// A heartbeat from the bus, this instance's own included.
  void OnHeartbeat(const events::ObserverHeartbeat& heartbeat);
  /// Applies membership changes (moving devices) and runs the watcher's due work.
  void Tick();
  /// Stops reading every device (observations are deregistered); nothing starts afterwards.
  void StopAll();

  /// Devices this instance reads now.
  size_t owned_devices() const { return watcher_.devices(); }
  /// Devices known from the RD.
  size_t known_devices() const { return devices_.size(); }
  const Stats& stats() const { return stats_; }

 private:
  struct Entry {
    bool connected = false;
    bool readable = false;  // a coap:// base with at least one selected resource
    DeviceTarget target;
  };
  bool Wanted(const std::string& device_id, const Entry& entry) const;
  void Rebalance(const Membership::Change& change);

  Watcher& watcher_;
  Membership& membership_;
  SelectionOptions selection_;
  std::function<SteadyTime()> clock_;
  std::function<void(size_t)> on_synced_;
  std::map<std::string, Entry> devices_;
  bool stopped_ = false;
  Stats stats_;
};

}  // namespace coapgw::observer
