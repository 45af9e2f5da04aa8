#include "executer/command_queue.hpp"

#include <algorithm>

namespace coapgw::executer {

CommandQueue::CommandQueue(QueueLimits limits) : limits_(limits) {
  limits_.device_in_flight = std::max<size_t>(1, limits_.device_in_flight);
  limits_.max_in_flight = std::max<size_t>(1, limits_.max_in_flight);
}

Admission CommandQueue::Add(Job job) {
  if (jobs_.size() >= limits_.max_queued) {
    return Admission::kQueueFull;
  }
  const std::string device_id = job.command.device_id;
  DeviceState& device = devices_[device_id];
  if (device.waiting.size() >= limits_.device_queue) {
    DropIfIdle(devices_.find(device_id));
    return Admission::kDeviceQueueFull;
  }
  const uint64_t key = next_key_++;
  deadlines_.emplace(job.deadline, key);
  jobs_.emplace(key, std::move(job));
  device.waiting.push_back(key);
  MarkReady(device_id, device);
  return Admission::kQueued;
}

std::vector<Job> CommandQueue::TakeStartable() {
  std::vector<Job> startable;
  while (in_flight_ < limits_.max_in_flight && !ready_.empty()) {
    const std::string device_id = std::move(ready_.front());
    ready_.pop_front();
    const auto it = devices_.find(device_id);
    if (it == devices_.end()) {
      continue;
    }
    DeviceState& device = it->second;
    device.in_ready = false;
    if (!device.waiting.empty() && device.in_flight < limits_.device_in_flight) {
      const uint64_t key = device.waiting.front();
      device.waiting.pop_front();
      ++device.in_flight;
      ++in_flight_;
      startable.push_back(Extract(key));
      // Back to the end of the line: other devices get their turn before this one's next job.
      MarkReady(device_id, device);
    }
    DropIfIdle(it);
  }
  return startable;
}

void CommandQueue::Finished(const std::string& device_id) {
  const auto it = devices_.find(device_id);
  if (it == devices_.end() || it->second.in_flight == 0) {
    return;
  }
  --it->second.in_flight;
  --in_flight_;
  MarkReady(device_id, it->second);
  DropIfIdle(it);
}

std::vector<Job> CommandQueue::TakeExpired(SteadyTime now) {
  std::vector<Job> expired;
  while (!deadlines_.empty() && deadlines_.begin()->first <= now) {
    const uint64_t key = deadlines_.begin()->second;
    Job job = Extract(key);
    const auto it = devices_.find(job.command.device_id);
    if (it != devices_.end()) {
      auto& waiting = it->second.waiting;
      waiting.erase(std::find(waiting.begin(), waiting.end(), key));
      DropIfIdle(it);
    }
    expired.push_back(std::move(job));
  }
  return expired;
}

std::vector<Job> CommandQueue::TakeWaiting(const std::string& device_id) {
  std::vector<Job> taken;
  const auto it = devices_.find(device_id);
  if (it == devices_.end()) {
    return taken;
  }
  for (const uint64_t key : it->second.waiting) {
    taken.push_back(Extract(key));
  }
  it->second.waiting.clear();
  DropIfIdle(it);
  return taken;
}

std::vector<Job> CommandQueue::TakeAllWaiting() {
  std::vector<Job> taken;
  taken.reserve(jobs_.size());
  for (auto& [key, job] : jobs_) {
    taken.push_back(std::move(job));
  }
  jobs_.clear();
  deadlines_.clear();
  for (auto it = devices_.begin(); it != devices_.end();) {
    it->second.waiting.clear();
    if (it->second.in_flight == 0 && !it->second.in_ready) {
      it = devices_.erase(it);
    } else {
      ++it;
    }
  }
  return taken;
}

std::optional<SteadyTime> CommandQueue::NextDeadline() const {
  if (deadlines_.empty()) {
    return std::nullopt;
  }
  return deadlines_.begin()->first;
}

size_t CommandQueue::waiting(const std::string& device_id) const {
  const auto it = devices_.find(device_id);
  return it == devices_.end() ? 0 : it->second.waiting.size();
}

size_t CommandQueue::in_flight(const std::string& device_id) const {
  const auto it = devices_.find(device_id);
  return it == devices_.end() ? 0 : it->second.in_flight;
}

void CommandQueue::MarkReady(const std::string& device_id, DeviceState& device) {
  if (!device.in_ready && !device.waiting.empty() && device.in_flight < limits_.device_in_flight) {
    device.in_ready = true;
    ready_.push_back(device_id);
  }
}

void CommandQueue::DropIfIdle(std::unordered_map<std::string, DeviceState>::iterator it) {
  // A device listed in ready_ keeps its entry until TakeStartable pops it, so that ready_ never
  // names a device twice.
  if (it != devices_.end() && it->second.waiting.empty() && it->second.in_flight == 0 &&
      !it->second.in_ready) {
    devices_.erase(it);
  }
}

Job CommandQueue::Extract(uint64_t key) {
  const auto it = jobs_.find(key);
  Job job = std::move(it->second);
  jobs_.erase(it);
  deadlines_.erase({job.deadline, key});
  return job;
}

}  // namespace coapgw::executer
