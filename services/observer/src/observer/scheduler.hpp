#pragma once

// Due times of keyed work (the next poll of a resource, the next retry of an observation), with
// the time passed in so that tests run on a fake clock. Not thread-safe (the loop thread).

#include <cstdint>
#include <map>
#include <optional>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "coapgw/common/duration.hpp"
#include "observer/ownership.hpp"

namespace coapgw::observer {

/// Where within each `interval` the work of `name` falls: a fixed offset in [0, interval) derived
/// from a hash of the name, so that many resources with the same interval are spread evenly over
/// it and a resource keeps its phase across restarts. 0 for a non-positive interval.
Millis SpreadOffset(std::string_view name, Millis interval);

class Scheduler {
 public:
  /// Sets (or moves) the due time of `key`.
  void Schedule(uint64_t key, SteadyTime due);
  /// Forgets `key`; false when it was not scheduled.
  bool Cancel(uint64_t key);
  /// Removes and returns the keys due at `now` (due <= now), earliest first, at most `limit`.
  std::vector<uint64_t> PopDue(SteadyTime now, size_t limit = SIZE_MAX);
  /// The due time of `key`, if scheduled.
  std::optional<SteadyTime> DueOf(uint64_t key) const;
  /// The earliest due time, if any.
  std::optional<SteadyTime> NextDue() const;
  size_t size() const { return by_key_.size(); }

 private:
  std::multimap<SteadyTime, uint64_t> by_due_;
  std::unordered_map<uint64_t, std::multimap<SteadyTime, uint64_t>::iterator> by_key_;
};

}  // namespace coapgw::observer
