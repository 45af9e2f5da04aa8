#pragma once

// The pinger's engine: follows the RD's devices (as a DeviceListener of a DeviceMirror), pings
// each one with a CoAP ping (empty CON, RST expected; coap::Client::Ping) at its slot of the
// PingSchedule, and hands on a pinger.device.liveness verdict whenever the outcome disagrees with
// the status the RD has for the device. Runs on the loop thread of a coap::Context; one timer and
// at most PingPolicy::max_in_flight pings at once, whatever the number of devices.

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "coapgw/coap/client.hpp"
#include "coapgw/coap/context.hpp"
#include "coapgw/devices/device_mirror.hpp"
#include "coapgw/events/messages.hpp"
#include "executer/wake_timer.hpp"
#include "pinger/ping_schedule.hpp"

namespace coapgw::pinger {

struct PingerOptions {
  PingPolicy policy;
  milliseconds timeout{3000};  // COAPGW_PING_TIMEOUT: an answer later than this is a miss
  /// Local addresses (bound, e.g. by a coap::Server endpoint) UDP pings are sent from, at most one
  /// per address family: a device then sees one peer, not a new ephemeral port per ping (libcoap
  /// devices keep a session per peer for minutes). Devices of a family without one, and devices
  /// named by host name, are pinged from ephemeral ports.
  std::vector<coap::Address> sources;
  /// Pings are sent in ticks of this length (all devices whose slot came meanwhile at once), so
  /// that thousands of devices cost a hundred wake-ups a second rather than one per ping. A device
  /// is pinged at most this late.
  milliseconds tick{10};
};

/// Counts since construction (loop thread), beyond the schedule's.
struct PingerStats {
  uint64_t unpingable = 0;  // devices whose base is not a CoAP URI (not pinged)
  uint64_t abandoned = 0;   // pings that ended for a local reason (cancelled, no socket)
  uint64_t published_reachable = 0;
  uint64_t published_unreachable = 0;
};

class Pinger final : public devices::DeviceListener {
 public:
  using LivenessSink = std::function<void(const events::DeviceLiveness&)>;

  /// `context` and `client` must outlive the pinger. `sink` publishes each verdict (loop thread).
  Pinger(coap::Context& context, coap::Client& client, PingerOptions options, LivenessSink sink);
  ~Pinger() override;
  Pinger(const Pinger&) = delete;
  Pinger& operator=(const Pinger&) = delete;
  Pinger(Pinger&&) = delete;
  Pinger& operator=(Pinger&&) = delete;

  /// The device showed it is alive (seen on the bus): it need not be pinged at its next slot.
  void NoteAlive(const std::string& device_id);
  /// Sends no more pings; answers to pings already out are ignored. Call before destroying the
  /// Client.
  void Stop();

  // devices::DeviceListener: the set of devices to ping and the RD's status of each.
  void OnDeviceUpsert(const events::Device& device, const events::Device* before,
                      const std::vector<events::DeviceChange>& changes) override;
  void OnDeviceGone(const events::Device& device, devices::GoneReason reason) override;
  void OnSynced(size_t devices) override;

  const PingSchedule& schedule() const { return schedule_; }
  const PingerStats& stats() const { return stats_; }

 private:
  void Pump();
  void Arm();
  void OnPing(const PingTicket& ticket, const coap::Outcome<Millis>& outcome,
              std::chrono::microseconds rtt);
  void Publish(const Verdict& verdict, std::chrono::microseconds rtt);
  std::optional<coap::Address> SourceFor(const coap::Endpoint& endpoint) const;

  coap::Client& client_;
  PingerOptions options_;
  LivenessSink sink_;
  PingSchedule schedule_;
  std::unordered_map<std::string, coap::Endpoint> endpoints_;  // where each device is pinged
  executer::WakeTimer wake_;                                   // at the next slot
  bool stopping_ = false;
  PingerStats stats_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace coapgw::pinger
