#pragma once

// Gap detection on the bus. Every publisher numbers its messages per topic from 1, so a subscriber
// can tell, for each (publisher, topic) stream, whether messages went missing. The bus cannot
// replay: a consumer that sees a gap, or a publisher it did not know, resyncs from the source of
// truth (the RD) instead of trusting its state.

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace coapgw::bus {

/// A break in one (publisher, topic) stream: `expected` is the seq that should have come,
/// `received` the one that came.
struct Gap {
  uint64_t expected = 0;
  uint64_t received = 0;

  /// True when the seq went backwards (or repeated): a duplicate, or a publisher that reused
  /// its id after a restart.
  bool backwards() const { return received < expected; }
  /// How many messages were lost; 0 for a backwards gap.
  uint64_t missed() const { return backwards() ? 0 : received - expected; }
};

/// What one message means for its stream.
struct Observation {
  /// The publisher id was not known (a new or restarted process): the message is a baseline and
  /// the consumer resyncs from the source of truth, since whatever came before is unknown.
  bool first_from_publisher = false;
  /// First message of this (publisher, topic) stream: a baseline, no gap can be computed.
  bool first_on_topic = false;
  /// Set when seq is not last + 1 on a known stream.
  std::optional<Gap> gap;
};

/// Tracks the last seq per (publisher, topic). Not thread-safe (one owner, like its Subscriber).
/// Memory is bounded: beyond `max_publishers` ids the least recently seen publisher is forgotten
/// (seeing it again makes it first_from_publisher, which triggers a resync: the safe side).
class SequenceTracker {
 public:
  explicit SequenceTracker(size_t max_publishers = 10000);

  /// Records `seq` for the stream and returns what it means. A backwards seq becomes the new
  /// baseline, so one restart of a publisher id is reported once, not on every later message.
  Observation Observe(std::string_view publisher, std::string_view topic, uint64_t seq);

  /// Publishers currently tracked.
  size_t publishers() const { return publishers_.size(); }

 private:
  struct PublisherState {
    uint64_t last_seen = 0;  // value of tick_ when last observed, for eviction
    std::map<std::string, uint64_t, std::less<>> last_seq_by_topic;
  };
  void EvictOldest();

  size_t max_publishers_;
  uint64_t tick_ = 0;
  std::map<std::string, PublisherState, std::less<>> publishers_;
};

}  // namespace coapgw::bus
