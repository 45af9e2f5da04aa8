#pragma once

// The way from received values to the bus, bounded. A value goes to the bus at once while the bus
// takes it. When the publisher refuses (its queue is full: the bus is slow or away), values wait
// here, at most one per resource: a newer value of the same resource replaces the waiting one
// (latest value wins, counted as coalesced). So memory is bounded by the number of resources
// (and `capacity`), however fast devices notify and however long the bus is slow.
// Not thread-safe (the loop thread).

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <unordered_map>

#include "coapgw/events/messages.hpp"

namespace coapgw::observer {

class Outbox {
 public:
  /// Publishes one value; false when the bus refused it (queue full), so it must wait.
  using PublishFn = std::function<bool(const events::ObservedData& data)>;

  struct Stats {
    uint64_t published = 0;  // handed to the bus
    uint64_t coalesced = 0;  // replaced by a newer value of the same resource before publication
    uint64_t dropped = 0;    // refused because `capacity` resources were already waiting
    uint64_t refused = 0;    // publish attempts the bus refused (the value was kept)
  };

  /// `capacity`: how many resources may have a value waiting (at least 1).
  Outbox(size_t capacity, PublishFn publish);

  /// Publishes `data` (the latest value of resource `key`) now if nothing is waiting and the bus
  /// takes it; otherwise keeps it as `key`'s waiting value. Call Flush() later while pending().
  void Push(uint64_t key, events::ObservedData data);
  /// Publishes waiting values in order of arrival until the bus refuses one. Returns true when
  /// nothing is left waiting.
  bool Flush();

  /// Values waiting for the bus (one per resource at most).
  size_t pending() const { return waiting_.size(); }
  const Stats& stats() const { return stats_; }

 private:
  size_t capacity_;
  PublishFn publish_;
  std::unordered_map<uint64_t, events::ObservedData> waiting_;
  std::deque<uint64_t> order_;  // keys of waiting_, oldest first
  Stats stats_;
};

}  // namespace coapgw::observer
