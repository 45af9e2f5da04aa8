#include "coapgw/bus/subscriber.hpp"

#include <cerrno>
#include <stdexcept>

#include <rapidjson/error/en.h>

#include "coapgw/bus/envelope.hpp"
#include "coapgw/common/log.hpp"
#include "socket_options.hpp"

namespace coapgw::bus {
namespace {

constexpr const char* kComponent = "bus";

void Bump(Counter* counter, uint64_t amount = 1) {
  if (counter != nullptr) {
    counter->Inc(amount);
  }
}

}  // namespace

Subscriber::Subscriber(zmq::context_t& context, const std::string& endpoint,
                       const std::vector<std::string>& topic_prefixes, SubscriberOptions options)
    : socket_(context, zmq::socket_type::sub),
      options_(std::move(options)),
      tracker_(options_.max_publishers) {
  for (const auto& prefix : topic_prefixes) {
    if (!IsValidTopicPrefix(prefix)) {
      throw std::invalid_argument("bus subscription '" + prefix +
                                  "' is not a topic or a topic prefix ending with a dot");
    }
  }
  ApplyConnectionOptions(socket_, options_.connection, Direction::kReceive);
  for (const auto& prefix : topic_prefixes) {
    socket_.set(zmq::sockopt::subscribe, prefix);
  }
  ConnectChecked(socket_, endpoint);
  if (MetricsRegistry* metrics = options_.metrics; metrics != nullptr) {
    const std::string& labels = options_.metrics_labels;
    counters_.received =
        &metrics->AddCounter("coapgw_bus_received_total", "valid bus messages received", labels);
    counters_.gaps = &metrics->AddCounter("coapgw_bus_gaps_total",
                                          "sequence gaps seen (messages lost on the bus)", labels);
    counters_.missed = &metrics->AddCounter("coapgw_bus_missed_messages_total",
                                            "bus messages lost according to sequence gaps", labels);
    counters_.backwards = &metrics->AddCounter(
        "coapgw_bus_seq_backwards_total", "sequence numbers that went back or repeated", labels);
    counters_.new_publishers = &metrics->AddCounter(
        "coapgw_bus_new_publishers_total", "publisher ids seen for the first time", labels);
    counters_.malformed = &metrics->AddCounter("coapgw_bus_malformed_total",
                                               "bus messages skipped as malformed", labels);
  }
  log::Info(kComponent, "subscriber connecting", {{"endpoint", endpoint}});
}

zmq::pollitem_t Subscriber::poll_item() {
  return zmq::pollitem_t{socket_.handle(), 0, ZMQ_POLLIN, 0};
}

std::optional<Message> Subscriber::Receive(std::chrono::milliseconds timeout) {
  if (terminated_) {
    return std::nullopt;
  }
  std::optional<std::chrono::steady_clock::time_point> deadline;  // read the clock only to wait
  try {
    for (;;) {
      switch (ReceiveFrames(timeout, deadline)) {
        case Frames::kNone:
          return std::nullopt;
        case Frames::kMalformed:
          CountMalformed("not two frames [topic][json]");
          break;
        case Frames::kTwo:
          if (auto message = Decode()) {
            return message;
          }
          break;
      }
    }
  } catch (const zmq::error_t& error) {
    if (error.num() == ETERM) {
      terminated_ = true;
    } else if (error.num() != EINTR) {
      log::Error(kComponent, "receive failed", {{"error", error.what()}});
    }
    return std::nullopt;
  }
}

Subscriber::Frames Subscriber::ReceiveFrames(
    std::chrono::milliseconds timeout,
    std::optional<std::chrono::steady_clock::time_point>& deadline) {
  while (!socket_.recv(topic_frame_, zmq::recv_flags::dontwait)) {
    const auto now = std::chrono::steady_clock::now();
    if (!deadline) {
      deadline = now + timeout;
    }
    const auto remaining = std::chrono::ceil<std::chrono::milliseconds>(*deadline - now);
    if (remaining.count() <= 0) {
      return Frames::kNone;
    }
    zmq::pollitem_t item = poll_item();
    zmq::poll(&item, 1, remaining);
  }
  if (!topic_frame_.more()) {
    return Frames::kMalformed;
  }
  // ZeroMQ delivers multipart messages atomically: the remaining frames are already here.
  (void)socket_.recv(body_frame_, zmq::recv_flags::none);
  if (!body_frame_.more()) {
    return Frames::kTwo;
  }
  zmq::message_t extra;
  do {
    (void)socket_.recv(extra, zmq::recv_flags::none);
  } while (extra.more());
  return Frames::kMalformed;
}

std::optional<Message> Subscriber::Decode() {
  Message message;
  message.topic.assign(topic_frame_.data<char>(), topic_frame_.size());
  message.document.Parse(body_frame_.data<char>(), body_frame_.size());
  if (message.document.HasParseError()) {
    CountMalformed(std::string("invalid JSON: ") +
                   rapidjson::GetParseError_En(message.document.GetParseError()) + " at offset " +
                   std::to_string(message.document.GetErrorOffset()));
    return std::nullopt;
  }
  const auto header = ReadEnvelopeHeader(message.document, message.topic);
  if (!header.ok()) {
    CountMalformed(header.error().message);
    return std::nullopt;
  }
  message.publisher.assign(header->publisher);
  message.seq = header->seq;
  message.time.assign(header->time);
  const Observation observation = tracker_.Observe(message.publisher, message.topic, message.seq);
  message.first_from_publisher = observation.first_from_publisher;
  message.first_on_topic = observation.first_on_topic;
  message.gap = observation.gap;
  ++stats_.received;
  Bump(counters_.received);
  if (observation.first_from_publisher) {
    ++stats_.new_publishers;
    Bump(counters_.new_publishers);
  }
  if (observation.gap) {
    const Gap& gap = *observation.gap;
    if (gap.backwards()) {
      ++stats_.backwards;
      Bump(counters_.backwards);
    } else {
      ++stats_.gaps;
      stats_.missed += gap.missed();
      Bump(counters_.gaps);
      Bump(counters_.missed, gap.missed());
    }
    const uint64_t events = stats_.gaps + stats_.backwards;
    if (options_.log_every > 0 && (events - 1) % options_.log_every == 0) {
      log::Warn(kComponent, gap.backwards() ? "sequence went back" : "sequence gap",
                {{"publisher", message.publisher},
                 {"topic", message.topic},
                 {"expected", std::to_string(gap.expected)},
                 {"received", std::to_string(gap.received)},
                 {"gaps_total", std::to_string(events)}});
    }
  }
  return message;
}

void Subscriber::CountMalformed(std::string_view reason) {
  ++stats_.malformed;
  Bump(counters_.malformed);
  if (options_.log_every > 0 && (stats_.malformed - 1) % options_.log_every == 0) {
    log::Warn(
        kComponent, "malformed message skipped",
        {{"reason", std::string(reason)}, {"malformed_total", std::to_string(stats_.malformed)}});
  }
}

}  // namespace coapgw::bus
