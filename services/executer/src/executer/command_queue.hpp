#pragma once

// The executer's scheduling rules, without I/O or clocks: commands wait per device, at most
// `device_in_flight` of a device's commands are on the wire at once (NSTART), at most
// `max_in_flight` over all devices, and the waiting commands are bounded per device and in
// total. Time comes in as arguments, so tests drive it by hand.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "coapgw/events/messages.hpp"

namespace coapgw::executer {

using SteadyTime = std::chrono::steady_clock::time_point;

/// Bounds of the queue (settings COAPGW_EXECUTER_*).
struct QueueLimits {
  size_t device_in_flight = 1;  // NSTART: commands on the wire per device
  size_t device_queue = 32;     // commands waiting per device
  size_t max_in_flight = 256;   // commands on the wire over all devices
  size_t max_queued = 10'000;   // commands waiting over all devices
};

/// A command the executer holds from its arrival to its result.
struct Job {
  events::Command command;
  SteadyTime received;
  SteadyTime deadline;  // the command's deadline on the steady clock
};

/// What Add did with a job.
enum class Admission {
  kQueued,           // waiting; TakeStartable hands it out when its turn comes
  kDeviceQueueFull,  // refused: QueueLimits::device_queue commands already wait for the device
  kQueueFull,        // refused: QueueLimits::max_queued commands already wait in total
};

/// Per-device FIFO queues with in-flight slots. Devices with work take turns (round robin) when
/// the global cap is what holds them back. Not thread-safe (the executer's loop thread owns it).
class CommandQueue {
 public:
  explicit CommandQueue(QueueLimits limits);

  /// Queues `job` behind the device's other commands unless a bound is reached.
  Admission Add(Job job);

  /// The jobs that may start now, marked in flight: each device's oldest waiting jobs while it
  /// has a free slot and the global cap allows, devices in the order they became ready.
  std::vector<Job> TakeStartable();

  /// One started job of `device_id` ended (result published): frees its slot.
  void Finished(const std::string& device_id);

  /// Removes and returns the waiting jobs whose deadline is at or before `now` (oldest deadline
  /// first). Jobs in flight are not affected: their exchange carries the same deadline.
  std::vector<Job> TakeExpired(SteadyTime now);

  /// Removes and returns every waiting job of `device_id`, oldest first (device gone or
  /// disconnected).
  std::vector<Job> TakeWaiting(const std::string& device_id);

  /// Removes and returns every waiting job (shutdown).
  std::vector<Job> TakeAllWaiting();

  /// The earliest deadline of a waiting job, if any.
  std::optional<SteadyTime> NextDeadline() const;

  size_t waiting() const { return jobs_.size(); }
  size_t in_flight() const { return in_flight_; }
  size_t waiting(const std::string& device_id) const;
  size_t in_flight(const std::string& device_id) const;
  /// Devices with waiting or in-flight jobs (entries are dropped when a device has neither).
  size_t devices() const { return devices_.size(); }

 private:
  struct DeviceState {
    std::deque<uint64_t> waiting;  // job keys, oldest first
    size_t in_flight = 0;
    bool in_ready = false;  // listed in ready_
  };

  // Lists `device_id` in ready_ when it has work and a free slot.
  void MarkReady(const std::string& device_id, DeviceState& device);
  // Drops the device's entry when nothing refers to it any more.
  void DropIfIdle(std::unordered_map<std::string, DeviceState>::iterator it);
  Job Extract(uint64_t key);

  QueueLimits limits_;
  uint64_t next_key_ = 1;
  std::map<uint64_t, Job> jobs_;  // waiting jobs by arrival order
  std::set<std::pair<SteadyTime, uint64_t>> deadlines_;
  std::unordered_map<std::string, DeviceState> devices_;
  std::deque<std::string> ready_;  // devices with waiting jobs and a free slot
  size_t in_flight_ = 0;
};

}  // namespace coapgw::executer
