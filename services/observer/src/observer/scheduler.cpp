#include "observer/scheduler.hpp"

namespace coapgw::observer {

Millis SpreadOffset(std::string_view name, Millis interval) {
  if (interval.count() <= 0) {
    return Millis(0);
  }
  // The rendezvous hash is a good 64-bit mix of the bytes; any fixed "instance" string will do.
  const uint64_t hash = RendezvousWeight("spread", name);
  return Millis(static_cast<int64_t>(hash % static_cast<uint64_t>(interval.count())));
}

void Scheduler::Schedule(uint64_t key, SteadyTime due) {
  Cancel(key);
  by_key_.emplace(key, by_due_.emplace(due, key));
}

bool Scheduler::Cancel(uint64_t key) {
  const auto it = by_key_.find(key);
  if (it == by_key_.end()) {
    return false;
  }
  by_due_.erase(it->second);
  by_key_.erase(it);
  return true;
}

std::vector<uint64_t> Scheduler::PopDue(SteadyTime now, size_t limit) {
  std::vector<uint64_t> due;
  while (!by_due_.empty() && due.size() < limit && by_due_.begin()->first <= now) {
    const uint64_t key = by_due_.begin()->second;
    by_due_.erase(by_due_.begin());
    by_key_.erase(key);
    due.push_back(key);
  }
  return due;
}

std::optional<SteadyTime> Scheduler::DueOf(uint64_t key) const {
  const auto it = by_key_.find(key);
  if (it == by_key_.end()) {
    return std::nullopt;
  }
  return it->second->first;
}

std::optional<SteadyTime> Scheduler::NextDue() const {
  if (by_due_.empty()) {
    return std::nullopt;
  }
  return by_due_.begin()->first;
}

}  // namespace coapgw::observer
