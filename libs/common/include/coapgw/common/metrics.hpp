#pragma once

// Prometheus metrics: counters and gauges a service registers at start-up and updates from any
// thread (atomics), rendered in the Prometheus text exposition format (version 0.0.4).

#include <atomic>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <vector>

namespace coapgw {

class Counter {
 public:
  void Inc(uint64_t amount = 1) { value_.fetch_add(amount, std::memory_order_relaxed); }
  uint64_t Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

class Gauge {
 public:
  void Set(int64_t value) { value_.store(value, std::memory_order_relaxed); }
  void Add(int64_t delta) { value_.fetch_add(delta, std::memory_order_relaxed); }
  int64_t Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<int64_t> value_{0};
};

/// Owns every metric of a process. Registration is thread-safe; references stay valid for the
/// registry's lifetime.
class MetricsRegistry {
 public:
  /// `name` must be a valid Prometheus name (coapgw_rd_registrations_total); `labels` is either
  /// empty or the inside of the braces (`topic="rd.device.registered"`).
  Counter& AddCounter(const std::string& name, const std::string& help,
                      const std::string& labels = "");
  Gauge& AddGauge(const std::string& name, const std::string& help, const std::string& labels = "");

  /// The whole registry in the text exposition format.
  std::string Render() const;

 private:
  struct Entry {
    std::string name;
    std::string help;
    std::string labels;
    bool is_counter = false;
    Counter counter;
    Gauge gauge;
  };
  Entry& AddEntry(const std::string& name, const std::string& help, const std::string& labels,
                  bool is_counter);

  mutable std::mutex mutex_;
  std::deque<Entry> entries_;  // deque: references stay valid as it grows
};

/// Copies counters one thread owns (plain uint64_t fields of its objects' stats) into registry
/// Counters: register each once, then Sync from that thread now and then. Not thread-safe itself:
/// the owning thread only.
class CounterMirror {
 public:
  /// Registers the counter (MetricsRegistry::AddCounter) and mirrors `source` into it; `source`
  /// must stay valid for every later Sync.
  void Add(MetricsRegistry& registry, const std::string& name, const std::string& help,
           const uint64_t& source, const std::string& labels = "") {
    entries_.push_back({&registry.AddCounter(name, help, labels), &source, 0});
  }
  /// Adds to each counter what its source gained since the last Sync.
  void Sync();

 private:
  struct Entry {
    Counter* counter;
    const uint64_t* source;
    uint64_t reported;
  };
  std::vector<Entry> entries_;
};

}  // namespace coapgw
