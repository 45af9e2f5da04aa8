#include "pinger/ping_schedule.hpp"

#include <algorithm>
#include <limits>

namespace coapgw::pinger {
namespace {

// FNV-1a: a stable hash (std::hash may differ between builds), so a device keeps its phase
// across restarts of the pinger.
uint64_t Fnv1a(std::string_view text) {
  uint64_t hash = 14695981039346656037ULL;
  for (const char c : text) {
    hash ^= static_cast<uint8_t>(c);
    hash *= 1099511628211ULL;
  }
  return hash;
}

}  // namespace

PingSchedule::PingSchedule(PingPolicy policy) : policy_(policy) {
  policy_.interval = std::max(policy_.interval, milliseconds(1));
  policy_.misses = std::max<uint32_t>(policy_.misses, 1);
  policy_.max_in_flight = std::max<size_t>(policy_.max_in_flight, 1);
}

milliseconds PingSchedule::PhaseOf(std::string_view device_id) const {
  return milliseconds(
      static_cast<int64_t>(Fnv1a(device_id) % static_cast<uint64_t>(policy_.interval.count())));
}

SteadyTime PingSchedule::NextSlot(milliseconds phase, SteadyTime now) const {
  const int64_t interval = policy_.interval.count();
  const int64_t offset =
      std::chrono::duration_cast<milliseconds>(now.time_since_epoch()).count() - phase.count();
  // Floor division, so that instants before the first slot count as well.
  int64_t slots = offset / interval;
  if (offset % interval != 0 && offset < 0) {
    --slots;
  }
  return SteadyTime(phase + milliseconds((slots + 1) * interval));
}

void PingSchedule::Upsert(const std::string& device_id, bool connected, SteadyTime now) {
  auto [it, added] = devices_.try_emplace(device_id);
  DeviceState& device = it->second;
  device.connected = connected;
  if (added) {
    device.phase = PhaseOf(device_id);
    device.due = NextSlot(device.phase, now);
    due_.emplace(device.due, device_id);
  }
}

void PingSchedule::Remove(const std::string& device_id) {
  const auto it = devices_.find(device_id);
  if (it == devices_.end()) {
    return;
  }
  if (it->second.in_flight) {
    --in_flight_;
  } else {
    due_.erase({it->second.due, device_id});
  }
  devices_.erase(it);
}

void PingSchedule::NoteAlive(const std::string& device_id, SteadyTime now) {
  const auto it = devices_.find(device_id);
  if (it == devices_.end()) {
    return;
  }
  it->second.alive_at = now;
  it->second.misses = 0;
}

std::vector<PingTicket> PingSchedule::TakeDue(SteadyTime now) {
  std::vector<PingTicket> due;
  while (in_flight_ < policy_.max_in_flight && !due_.empty() && due_.begin()->first <= now) {
    const std::string device_id = due_.begin()->second;
    due_.erase(due_.begin());
    DeviceState& device = devices_.at(device_id);
    if (device.connected && device.alive_at && *device.alive_at > device.due - policy_.interval) {
      ++stats_.skipped;
      Reschedule(device_id, device, now);
      continue;
    }
    device.in_flight = true;
    device.ticket = next_ticket_++;
    ++in_flight_;
    ++stats_.pings;
    due.push_back({device_id, device.ticket});
  }
  return due;
}

std::optional<Verdict> PingSchedule::Complete(const PingTicket& ticket, bool reachable,
                                              SteadyTime now) {
  DeviceState* device = Ticketed(ticket);
  if (device == nullptr) {
    return std::nullopt;
  }
  Reschedule(ticket.device_id, *device, now);
  std::optional<Verdict> verdict;
  if (reachable) {
    ++stats_.replies;
    device->misses = 0;
    if (!device->connected) {
      verdict = Verdict{ticket.device_id, true, 0};
    }
  } else {
    ++stats_.misses;
    if (device->misses < std::numeric_limits<uint32_t>::max()) {
      ++device->misses;
    }
    if (device->connected && device->misses >= policy_.misses) {
      verdict = Verdict{ticket.device_id, false, device->misses};
    }
  }
  if (verdict) {
    ++stats_.verdicts;
  }
  return verdict;
}

void PingSchedule::Abandon(const PingTicket& ticket, SteadyTime now) {
  DeviceState* device = Ticketed(ticket);
  if (device != nullptr) {
    Reschedule(ticket.device_id, *device, now);
  }
}

std::optional<SteadyTime> PingSchedule::NextDue() const {
  if (due_.empty() || in_flight_ >= policy_.max_in_flight) {
    return std::nullopt;
  }
  return due_.begin()->first;
}

uint32_t PingSchedule::misses(const std::string& device_id) const {
  const auto it = devices_.find(device_id);
  return it == devices_.end() ? 0 : it->second.misses;
}

std::optional<SteadyTime> PingSchedule::due(const std::string& device_id) const {
  const auto it = devices_.find(device_id);
  if (it == devices_.end() || it->second.in_flight) {
    return std::nullopt;
  }
  return it->second.due;
}

PingSchedule::DeviceState* PingSchedule::Ticketed(const PingTicket& ticket) {
  const auto it = devices_.find(ticket.device_id);
  if (it == devices_.end() || !it->second.in_flight || it->second.ticket != ticket.ticket) {
    return nullptr;
  }
  it->second.in_flight = false;
  --in_flight_;
  return &it->second;
}

void PingSchedule::Reschedule(const std::string& device_id, DeviceState& device, SteadyTime now) {
  // The slot after both `now` and the current one: a ping that ended early does not make the
  // device due again within the same interval.
  device.due = NextSlot(device.phase, std::max(now, device.due));
  due_.emplace(device.due, device_id);
}

}  // namespace coapgw::pinger
