#pragma once

// Publishing on the bus: a PUB socket connected to coapgw-bus's pub endpoint (COAPGW_BUS_PUB).

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include <zmq.hpp>

#include "coapgw/bus/connection_options.hpp"
#include "coapgw/common/metrics.hpp"
#include "coapgw/common/result.hpp"

namespace coapgw::bus {

struct PublisherOptions {
  ConnectionOptions connection = [] {
    ConnectionOptions options;
    options.linger = std::chrono::milliseconds(500);  // flush what is queued on a clean stop
    return options;
  }();
  /// When set, published/dropped counters are registered there (the registry must outlive the
  /// Publisher), with `metrics_labels` (e.g. `publisher="rd"`).
  MetricsRegistry* metrics = nullptr;
  std::string metrics_labels;
  /// Dropped messages are logged on the first drop and then once per this many.
  uint64_t log_every = 10'000;
};

/// Publishes envelopes on the bus. Each instance is one publisher: its id is
/// `<service_name>-<8 random hex>`, chosen at construction, and it numbers messages per topic from
/// 1. Not thread-safe: one owner thread, like the ZeroMQ socket inside.
///
/// Publish never blocks: at SNDHWM (the bus is slow or away with messages queued) the message is
/// dropped and counted, and its seq is still consumed, so subscribers see the loss as a gap. While
/// no subscriber has subscribed to a topic (including while the bus is down), ZeroMQ discards
/// its messages at once; the seq again shows the loss downstream. Reconnecting is ZeroMQ's.
class Publisher {
 public:
  /// Connects to `endpoint` (checked with CheckEndpoint). Throws std::invalid_argument for a bad
  /// endpoint or service name (see IsValidName), zmq::error_t if ZeroMQ refuses the socket.
  Publisher(zmq::context_t& context, const std::string& endpoint, std::string_view service_name,
            PublisherOptions options = {});

  ~Publisher() = default;
  Publisher(const Publisher&) = delete;
  Publisher& operator=(const Publisher&) = delete;
  Publisher(Publisher&&) = delete;
  Publisher& operator=(Publisher&&) = delete;

  /// Wraps `data_json` (one serialized JSON object, used as is) in the envelope and sends
  /// [topic][envelope]. Errors: kInvalidArgument for a bad topic or data that is not an object
  /// (nothing sent, no seq used); kUnavailable when the message was dropped at SNDHWM or the
  /// context is shutting down (seq used).
  Status Publish(std::string_view topic, std::string_view data_json);

  /// The last sequence number used per topic (topics never published are absent). A source of
  /// truth puts this into its snapshots so that consumers can tell which events a snapshot
  /// already contains.
  const std::map<std::string, uint64_t, std::less<>>& sequences() const { return seq_by_topic_; }

  /// This publisher's id, e.g. "rd-1f3a9c07".
  const std::string& id() const { return id_; }
  /// Messages handed to ZeroMQ / dropped at SNDHWM since construction.
  uint64_t published() const { return published_; }
  uint64_t dropped() const { return dropped_; }

  /// The PUB socket (for socket monitoring or tests; do not send on it directly).
  zmq::socket_t& socket() { return socket_; }

 private:
  uint64_t NextSeq(std::string_view topic);
  void FormatTime(std::chrono::system_clock::time_point now);  // into time_

  zmq::socket_t socket_;
  std::string id_;
  PublisherOptions options_;
  std::map<std::string, uint64_t, std::less<>> seq_by_topic_;
  std::string envelope_;  // reused buffer
  int64_t cached_second_ = -1;
  std::string
      time_;  // "YYYY-MM-DDTHH:MM:SS.mmmZ"; the first 20 characters belong to cached_second_
  uint64_t published_ = 0;
  uint64_t dropped_ = 0;
  Counter* published_counter_ = nullptr;
  Counter* dropped_counter_ = nullptr;
};

}  // namespace coapgw::bus
