#pragma once

// Receiving from the bus: a SUB socket connected to coapgw-bus's sub endpoint (COAPGW_BUS_SUB),
// with envelope validation and gap detection per (publisher, topic).

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <rapidjson/document.h>
#include <zmq.hpp>

#include "coapgw/bus/connection_options.hpp"
#include "coapgw/bus/sequence_tracker.hpp"
#include "coapgw/common/metrics.hpp"

namespace coapgw::bus {

/// One received bus message, parsed and checked against the envelope.
struct Message {
  std::string topic;
  std::string publisher;
  uint64_t seq = 0;
  std::string time;
  /// The whole envelope; `data()` is its "data" member (always an object).
  rapidjson::Document document;
  /// Set when the (publisher, topic) stream skipped or went back; see SequenceTracker.
  std::optional<Gap> gap;
  /// The publisher id was unknown: a baseline; resync from the source of truth.
  bool first_from_publisher = false;
  /// First message of this (publisher, topic) stream: a baseline.
  bool first_on_topic = false;

  /// The "data" object. Only for messages returned by Subscriber::Receive, which checked it.
  const rapidjson::Value& data() const { return document.FindMember("data")->value; }
};

/// Counts since construction (owner thread only; metrics mirror them for other threads).
struct SubscriberStats {
  uint64_t received = 0;        // valid messages returned
  uint64_t gaps = 0;            // forward gaps (messages lost)
  uint64_t missed = 0;          // messages lost in those gaps
  uint64_t backwards = 0;       // seq went back or repeated on a stream
  uint64_t new_publishers = 0;  // first_from_publisher messages
  uint64_t malformed = 0;       // skipped: not 2 frames, bad JSON, bad envelope
};

struct SubscriberOptions {
  ConnectionOptions connection;
  /// When set, the stats are mirrored as counters there (the registry must outlive the
  /// Subscriber), with `metrics_labels` (e.g. `subscriber="observer"`).
  MetricsRegistry* metrics = nullptr;
  std::string metrics_labels;
  /// Malformed messages and gaps are each logged on the first one and then once per this many.
  uint64_t log_every = 1000;
  /// Bound on the publishers the gap tracker remembers.
  size_t max_publishers = 10'000;
};

/// Receives envelopes for a fixed set of topic prefixes. Not thread-safe: one owner thread.
/// Malformed messages are counted, logged once per `log_every` and skipped; they never end
/// Receive early and never throw.
class Subscriber {
 public:
  /// Connects to `endpoint` and subscribes to each prefix (IsValidTopicPrefix: a full topic, a
  /// prefix ending with a dot, or "" for everything). Throws std::invalid_argument for a bad
  /// endpoint or prefix, zmq::error_t if ZeroMQ refuses the socket.
  Subscriber(zmq::context_t& context, const std::string& endpoint,
             const std::vector<std::string>& topic_prefixes, SubscriberOptions options = {});

  ~Subscriber() = default;
  Subscriber(const Subscriber&) = delete;
  Subscriber& operator=(const Subscriber&) = delete;
  Subscriber(Subscriber&&) = delete;
  Subscriber& operator=(Subscriber&&) = delete;

  /// The next valid message, waiting at most `timeout` (0: only what is already queued).
  /// nullopt on timeout or when the ZeroMQ context is shut down (see terminated()).
  std::optional<Message> Receive(std::chrono::milliseconds timeout);

  /// True once the context was shut down; Receive then always returns nullopt.
  bool terminated() const { return terminated_; }

  const SubscriberStats& stats() const { return stats_; }

  /// The SUB socket, to poll it together with other sockets (then Receive(0ms) when readable).
  zmq::socket_t& socket() { return socket_; }
  /// A poll item for the socket (ZMQ_POLLIN).
  zmq::pollitem_t poll_item();

 private:
  enum class Frames { kNone, kTwo, kMalformed };
  // Waits until `deadline`, which it sets to now + timeout when it first has to wait.
  Frames ReceiveFrames(std::chrono::milliseconds timeout,
                       std::optional<std::chrono::steady_clock::time_point>& deadline);
  std::optional<Message> Decode();
  void CountMalformed(std::string_view reason);

  zmq::socket_t socket_;
  SubscriberOptions options_;
  SequenceTracker tracker_;
  SubscriberStats stats_;
  bool terminated_ = false;
  zmq::message_t topic_frame_;
  zmq::message_t body_frame_;
  struct MetricCounters {
    Counter* received = nullptr;
    Counter* gaps = nullptr;
    Counter* missed = nullptr;
    Counter* backwards = nullptr;
    Counter* new_publishers = nullptr;
    Counter* malformed = nullptr;
  } counters_;
};

}  // namespace coapgw::bus
