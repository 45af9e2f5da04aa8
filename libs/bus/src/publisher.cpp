#include "coapgw/bus/publisher.hpp"

#include <stdexcept>

#include "coapgw/bus/envelope.hpp"
#include "coapgw/common/ids.hpp"
#include "coapgw/common/log.hpp"
#include "coapgw/common/time_format.hpp"
#include "socket_options.hpp"

namespace coapgw::bus {
namespace {

constexpr const char* kComponent = "bus";

std::string NewPublisherId(std::string_view service_name) {
  if (!IsValidName(service_name)) {
    throw std::invalid_argument("bus publisher: service name '" + std::string(service_name) +
                                "' must be a non-empty run of [A-Za-z0-9_-]");
  }
  // The first 8 hex digits of a v4 UUID are all random.
  return std::string(service_name) + "-" + RandomUuid().substr(0, 8);
}

}  // namespace

Publisher::Publisher(zmq::context_t& context, const std::string& endpoint,
                     std::string_view service_name, PublisherOptions options)
    : socket_(context, zmq::socket_type::pub),
      id_(NewPublisherId(service_name)),
      options_(std::move(options)) {
  ApplyConnectionOptions(socket_, options_.connection, Direction::kSend);
  // At SNDHWM, fail the send (EAGAIN) instead of dropping silently, so drops can be counted.
  socket_.set(zmq::sockopt::xpub_nodrop, 1);
  // Queue only on a live connection: while the bus is away messages are discarded at once
  // (the seq shows the loss) rather than piling up and arriving late and stale.
  socket_.set(zmq::sockopt::immediate, 1);
  // Bounds the second frame's send, which cannot meet the HWM once the first frame passed.
  socket_.set(zmq::sockopt::sndtimeo, 1000);
  ConnectChecked(socket_, endpoint);
  if (options_.metrics != nullptr) {
    published_counter_ = &options_.metrics->AddCounter(
        "coapgw_bus_published_total", "bus messages handed to ZeroMQ", options_.metrics_labels);
    dropped_counter_ = &options_.metrics->AddCounter(
        "coapgw_bus_publish_dropped_total",
        "bus messages dropped at the publisher's send high-water mark", options_.metrics_labels);
  }
  log::Info(kComponent, "publisher connecting", {{"id", id_}, {"endpoint", endpoint}});
}

uint64_t Publisher::NextSeq(std::string_view topic) {
  auto found = seq_by_topic_.find(topic);
  if (found == seq_by_topic_.end()) {
    found = seq_by_topic_.emplace(std::string(topic), 0).first;
  }
  return ++found->second;
}

void Publisher::FormatTime(std::chrono::system_clock::time_point now) {
  const int64_t millis =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  const int64_t second = millis / 1000;
  if (second != cached_second_) {
    time_ =
        FormatRfc3339Millis(std::chrono::system_clock::time_point(std::chrono::seconds(second)));
    cached_second_ = second;
  }
  const auto fraction = static_cast<int>(millis % 1000);
  time_[20] = static_cast<char>('0' + fraction / 100);
  time_[21] = static_cast<char>('0' + fraction / 10 % 10);
  time_[22] = static_cast<char>('0' + fraction % 10);
}

Status Publisher::Publish(std::string_view topic, std::string_view data_json) {
  if (!IsValidTopic(topic)) {
    return MakeError(
        ErrorCode::kInvalidArgument,
        "bus topic '" + std::string(topic) + "' is not dot-separated segments of [A-Za-z0-9_-]");
  }
  if (!LooksLikeJsonObject(data_json)) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "bus message data for '" + std::string(topic) + "' is not a JSON object");
  }
  const uint64_t seq = NextSeq(topic);
  FormatTime(std::chrono::system_clock::now());
  envelope_.clear();
  AppendEnvelope(envelope_, topic, id_, seq, time_, data_json);
  try {
    if (!socket_.send(zmq::buffer(topic), zmq::send_flags::sndmore | zmq::send_flags::dontwait)) {
      ++dropped_;
      if (dropped_counter_ != nullptr) {
        dropped_counter_->Inc();
      }
      if (options_.log_every > 0 && (dropped_ - 1) % options_.log_every == 0) {
        log::Warn(kComponent, "send queue full, message dropped",
                  {{"publisher", id_},
                   {"topic", std::string(topic)},
                   {"dropped_total", std::to_string(dropped_)}});
      }
      return MakeError(ErrorCode::kUnavailable, "bus send queue full; message dropped");
    }
    if (!socket_.send(zmq::buffer(envelope_), zmq::send_flags::none)) {
      log::Error(kComponent, "second frame not sent within SNDTIMEO", {{"publisher", id_}});
      return MakeError(ErrorCode::kInternal, "bus send of the envelope frame timed out");
    }
  } catch (const zmq::error_t& error) {
    return MakeError(ErrorCode::kUnavailable, std::string("bus send failed: ") + error.what());
  }
  ++published_;
  if (published_counter_ != nullptr) {
    published_counter_->Inc();
  }
  return Status::Ok();
}

}  // namespace coapgw::bus
