#include "coapgw/bus/sequence_tracker.hpp"

#include <algorithm>

namespace coapgw::bus {

SequenceTracker::SequenceTracker(size_t max_publishers)
    : max_publishers_(std::max<size_t>(max_publishers, 1)) {}

Observation SequenceTracker::Observe(std::string_view publisher, std::string_view topic,
                                     uint64_t seq) {
  Observation observation;
  ++tick_;
  auto found = publishers_.find(publisher);
  if (found == publishers_.end()) {
    if (publishers_.size() >= max_publishers_) {
      EvictOldest();
    }
    found = publishers_.emplace(std::string(publisher), PublisherState{}).first;
    observation.first_from_publisher = true;
  }
  PublisherState& state = found->second;
  state.last_seen = tick_;
  auto stream = state.last_seq_by_topic.find(topic);
  if (stream == state.last_seq_by_topic.end()) {
    state.last_seq_by_topic.emplace(std::string(topic), seq);
    observation.first_on_topic = true;
    return observation;
  }
  const uint64_t expected = stream->second + 1;
  if (seq != expected) {
    observation.gap = Gap{expected, seq};
  }
  stream->second = seq;
  return observation;
}

void SequenceTracker::EvictOldest() {
  const auto oldest = std::min_element(
      publishers_.begin(), publishers_.end(),
      [](const auto& a, const auto& b) { return a.second.last_seen < b.second.last_seen; });
  publishers_.erase(oldest);
}

}  // namespace coapgw::bus
