#include "coapgw/common/metrics.hpp"

#include <set>
#include <stdexcept>

namespace coapgw {

MetricsRegistry::Entry& MetricsRegistry::AddEntry(const std::string& name, const std::string& help,
                                                  const std::string& labels, bool is_counter) {
  const std::lock_guard<std::mutex> lock(mutex_);
  for (auto& entry : entries_) {
    if (entry.name == name && entry.labels == labels) {
      if (entry.is_counter != is_counter) {
        throw std::logic_error("metric " + name + " registered with two types");
      }
      return entry;
    }
  }
  Entry& entry = entries_.emplace_back();
  entry.name = name;
  entry.help = help;
  entry.labels = labels;
  entry.is_counter = is_counter;
  return entry;
}

Counter& MetricsRegistry::AddCounter(const std::string& name, const std::string& help,
                                     const std::string& labels) {
  return AddEntry(name, help, labels, true).counter;
}

Gauge& MetricsRegistry::AddGauge(const std::string& name, const std::string& help,
                                 const std::string& labels) {
  return AddEntry(name, help, labels, false).gauge;
}

std::string MetricsRegistry::Render() const {
  const std::lock_guard<std::mutex> lock(mutex_);
  std::string out;
  std::set<std::string> described;
  // Families are printed together: HELP/TYPE once, then every labelled sample of that name.
  for (const auto& first : entries_) {
    if (!described.insert(first.name).second) {
      continue;
    }
    out += "# HELP " + first.name + " " + first.help + "\n";
    out += "# TYPE " + first.name + (first.is_counter ? " counter\n" : " gauge\n");
    for (const auto& entry : entries_) {
      if (entry.name != first.name) {
        continue;
      }
      out += entry.name;
      if (!entry.labels.empty()) {
        out += "{" + entry.labels + "}";
      }
      out += " ";
      out += entry.is_counter ? std::to_string(entry.counter.Value())
                              : std::to_string(entry.gauge.Value());
      out += "\n";
    }
  }
  return out;
}

void CounterMirror::Sync() {
  for (auto& entry : entries_) {
    entry.counter->Inc(*entry.source - entry.reported);
    entry.reported = *entry.source;
  }
}

}  // namespace coapgw
