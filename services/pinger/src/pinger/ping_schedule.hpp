#pragma once

// The pinger's rules, without I/O or clocks (time comes in as arguments, so tests drive it):
// when each device is due, how many pings may be out at once, how misses add up, and when a
// verdict differs from what the RD says and must be published.
//
// Timing: every device has a phase, hash(device id) mod interval, and is due at the instants
// phase + k × interval of the steady clock. Devices are thereby spread evenly over the interval
// whatever order they were added in, and a device is pinged once per interval, never twice.
// A device that proved it is alive (NoteAlive) within the interval before its slot is not pinged
// at that slot, unless the RD has it disconnected (then only a ping brings it back).

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace coapgw::pinger {

using SteadyTime = std::chrono::steady_clock::time_point;
using std::chrono::milliseconds;

struct PingPolicy {
  milliseconds interval{10000};  // COAPGW_PING_INTERVAL
  uint32_t misses = 2;           // COAPGW_PING_MISSES: misses in a row that disconnect
  size_t max_in_flight = 256;    // pings out at once
};

/// One ping to send: the device and a ticket that ties the answer to this ping.
struct PingTicket {
  std::string device_id;
  uint64_t ticket = 0;
};

/// What to publish on pinger.device.liveness.
struct Verdict {
  std::string device_id;
  bool reachable = false;
  uint32_t consecutive_misses = 0;  // 0 when reachable
};

/// Counts since construction.
struct ScheduleStats {
  uint64_t pings = 0;     // handed out by TakeDue
  uint64_t replies = 0;   // Complete with reachable
  uint64_t misses = 0;    // Complete without
  uint64_t skipped = 0;   // slots passed over thanks to a recent proof of liveness
  uint64_t verdicts = 0;  // Complete returned a Verdict
};

/// Not thread-safe (the pinger's loop thread owns it).
class PingSchedule {
 public:
  explicit PingSchedule(PingPolicy policy);

  /// Adds a device (first ping at its next slot after `now`) or updates what the RD says about it:
  /// `connected` is status 1.
  void Upsert(const std::string& device_id, bool connected, SteadyTime now);
  /// Forgets a device; an answer to a ping already out is then ignored.
  void Remove(const std::string& device_id);
  /// The device showed it is alive at `now` (a registration update, a notification, a command
  /// answered): its miss count restarts, and its next slot is skipped when within one interval.
  void NoteAlive(const std::string& device_id, SteadyTime now);

  /// The devices whose slot has come (at or before `now`), oldest slot first, while fewer than
  /// max_in_flight pings are out; each is marked in flight. A device whose slot is skipped gets
  /// its next slot instead.
  std::vector<PingTicket> TakeDue(SteadyTime now);
  /// The answer (or its absence) to a ping from TakeDue. Returns the verdict to publish when it
  /// disagrees with the RD: reachable for a device the RD has disconnected, or unreachable after
  /// `misses` misses in a row for one it has connected. nullopt otherwise, and for a stale ticket.
  std::optional<Verdict> Complete(const PingTicket& ticket, bool reachable, SteadyTime now);
  /// Frees the slot of a ping that ended without an answer either way (cancelled).
  void Abandon(const PingTicket& ticket, SteadyTime now);

  /// When TakeDue will next return something: the earliest slot, or nullopt when there is no
  /// device or max_in_flight pings are out (a Complete will free a slot).
  std::optional<SteadyTime> NextDue() const;

  /// The device's phase within the interval.
  milliseconds PhaseOf(std::string_view device_id) const;
  /// The first slot of a device with `phase` strictly after `now`.
  SteadyTime NextSlot(milliseconds phase, SteadyTime now) const;

  size_t size() const { return devices_.size(); }
  size_t in_flight() const { return in_flight_; }
  /// Misses in a row of a device (0 for an unknown one).
  uint32_t misses(const std::string& device_id) const;
  /// The device's next slot, nullopt while its ping is out or for an unknown device.
  std::optional<SteadyTime> due(const std::string& device_id) const;
  const ScheduleStats& stats() const { return stats_; }

 private:
  struct DeviceState {
    milliseconds phase{0};
    SteadyTime due{};
    uint32_t misses = 0;
    bool connected = true;
    bool in_flight = false;
    uint64_t ticket = 0;
    std::optional<SteadyTime> alive_at;  // last proof of liveness
  };
  using Devices = std::unordered_map<std::string, DeviceState>;

  DeviceState* Ticketed(const PingTicket& ticket);
  void Reschedule(const std::string& device_id, DeviceState& device, SteadyTime now);

  PingPolicy policy_;
  Devices devices_;
  std::set<std::pair<SteadyTime, std::string>> due_;  // devices not in flight, by slot
  size_t in_flight_ = 0;
  uint64_t next_ticket_ = 1;
  ScheduleStats stats_;
};

}  // namespace coapgw::pinger
