#pragma once

// N simulated CoAP devices in one process: one libcoap loop (coap::ContextThread) with one
// coap::Server whose endpoints are the devices (one UDP socket each; handlers find their device
// by the address the request came to), one coap::Client that talks to the RD from each device's
// own endpoint address, and one timer that moves every sensor and notifies their observers.
//
// Thread-safety: every public member may be called from any thread (the control API's); each
// hands its work to the loop thread and waits for it. Not from inside the loop itself.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "coapgw/common/http_server.hpp"
#include "coapgw/common/metrics.hpp"
#include "coapgw/common/result.hpp"
#include "device_sim/options.hpp"

namespace coapgw::device_sim {

/// One device as the control API shows it.
struct DeviceStatus {
  size_t index = 0;
  std::string ep;
  std::string address;  // "127.0.0.1:40123" (the current one; it changes on a move)
  bool online = true;
  bool obs = false;            // its sensor links carry "obs"
  std::string registration;    // "unregistered", "registering", "registered", "retrying"
  std::string location;        // "/rd/7" (full registration only)
  uint64_t registrations = 0;  // successful registrations and updates so far
  uint32_t boots = 1;          // 1 + times it came back online
  bool led = false;
};

/// What a control action may do to a device.
enum class Action { kOffline, kOnline, kMove, kRegister, kDeregister };

class Simulator {
 public:
  /// Binds every device's endpoint, then starts registering (unless the mode is none) and
  /// ticking. `health` becomes ready once every device has registered once. Throws
  /// std::runtime_error when an endpoint cannot be bound, a port of the range is taken by another
  /// socket, the descriptor limit is too low for the fleet, or the RD's host has no address of
  /// the family of the devices' listen address (the RD is reached at its first address of that
  /// family, resolved again for every exchange).
  Simulator(SimOptions options, MetricsRegistry& metrics, Health& health);
  /// Stops like Stop(0) if Stop was not called.
  ~Simulator();
  Simulator(const Simulator&) = delete;
  Simulator& operator=(const Simulator&) = delete;
  Simulator(Simulator&&) = delete;
  Simulator& operator=(Simulator&&) = delete;

  /// Number of devices (fixed at construction).
  size_t size() const { return size_; }

  /// The index of the device named by `id`: its index ("3") or its endpoint name ("sim-3").
  std::optional<size_t> Find(std::string_view id) const;
  /// The state of every device, by index.
  std::vector<DeviceStatus> Statuses();
  /// The state of device `index` (< size()).
  DeviceStatus StatusOf(size_t index);

  /// Applies `action` to device `index` and returns its state afterwards:
  /// kOffline  closes its endpoint and leaves the port silent (requests and pings time out;
  ///           observers are forgotten); registration refreshes stop.
  /// kOnline   binds the same port again (a reboot: boots + 1) and registers anew.
  /// kMove     comes back (or stays) online on a new kernel-chosen port and registers anew; the
  ///           RD keeps the device's identity for the same endpoint name.
  /// kRegister registers (again) now; kDeregister DELETEs the registration (full mode) and
  ///           stops refreshing. Errors: kConflict when the action does not apply (online while
  ///           online, register while offline), kUnavailable when a port cannot be bound.
  Result<DeviceStatus> Apply(size_t index, Action action);

  /// Deregisters every registered device when the options say so, waiting at most `deadline`
  /// for the RD's answers, then closes every endpoint and stops the loop. Idempotent.
  void Stop(Millis deadline);

 private:
  struct Impl;
  size_t size_;
  std::unique_ptr<Impl> impl_;
};

/// "offline" -> kOffline, ... "deregister"; nullopt for anything else.
std::optional<Action> ParseAction(std::string_view name);

}  // namespace coapgw::device_sim
