#include "coapgw/bus/publisher.hpp"

#include <map>
#include <regex>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "coapgw/bus/envelope.hpp"
#include "coapgw/common/time_format.hpp"

namespace coapgw::bus {
namespace {

using std::chrono::milliseconds;
constexpr milliseconds kWait{5000};

struct Received {
  std::string topic;
  rapidjson::Document envelope;
};

// The test binds the socket a publisher connects to (a SUB, or an XSUB to control its queue), as
// coapgw-bus would.
class PublisherTest : public testing::Test {
 protected:
  void Bind(zmq::socket_t& socket) {
    socket.set(zmq::sockopt::linger, 0);
    socket.bind("tcp://127.0.0.1:*");
    endpoint_ = socket.get(zmq::sockopt::last_endpoint);
  }

  // Reads one [topic][json] message from `socket` waiting up to `timeout`.
  static std::optional<Received> Read(zmq::socket_t& socket, milliseconds timeout) {
    zmq::pollitem_t item{socket.handle(), 0, ZMQ_POLLIN, 0};
    if (zmq::poll(&item, 1, timeout) == 0) {
      return std::nullopt;
    }
    zmq::message_t topic;
    zmq::message_t body;
    EXPECT_TRUE(socket.recv(topic));
    EXPECT_TRUE(topic.more());
    EXPECT_TRUE(socket.recv(body));
    EXPECT_FALSE(body.more());
    Received received{topic.to_string(), {}};
    received.envelope.Parse(body.data<char>(), body.size());
    EXPECT_FALSE(received.envelope.HasParseError()) << body.to_string();
    return received;
  }

  // Publishes probes until `socket` reads one: the publisher then holds the subscription.
  static void WaitForRoute(Publisher& publisher, zmq::socket_t& socket) {
    const auto deadline = std::chrono::steady_clock::now() + kWait;
    while (std::chrono::steady_clock::now() < deadline) {
      ASSERT_TRUE(publisher.Publish("probe", "{}").ok());
      if (Read(socket, milliseconds(10))) {
        return;
      }
    }
    FAIL() << "no route from the publisher to the test socket";
  }

  zmq::context_t context_;
  std::string endpoint_;
};

TEST_F(PublisherTest, SendsTopicAndEnvelopeNumberedPerTopic) {
  zmq::socket_t sub(context_, zmq::socket_type::sub);
  sub.set(zmq::sockopt::subscribe, "");
  Bind(sub);
  Publisher publisher(context_, endpoint_, "rd");
  EXPECT_TRUE(std::regex_match(publisher.id(), std::regex("rd-[0-9a-f]{8}"))) << publisher.id();
  WaitForRoute(publisher, sub);
  while (Read(sub, milliseconds(0))) {
    // leftover probes
  }
  ASSERT_TRUE(publisher.Publish("rd.device.registered", R"({"ep":"a"})").ok());
  ASSERT_TRUE(publisher.Publish("rd.device.deleted", R"({"ep":"a"})").ok());
  ASSERT_TRUE(publisher.Publish("rd.device.registered", R"({"ep":"b"})").ok());
  std::vector<std::pair<std::string, uint64_t>> seen;
  while (seen.size() < 3) {
    auto received = Read(sub, kWait);
    ASSERT_TRUE(received);
    if (received->topic == "probe") {
      continue;
    }
    const auto header = ReadEnvelopeHeader(received->envelope, received->topic);
    ASSERT_TRUE(header.ok()) << header.error().message;
    EXPECT_EQ(header->publisher, publisher.id());
    EXPECT_TRUE(ParseRfc3339(header->time));
    seen.emplace_back(received->topic + " " + received->envelope["data"]["ep"].GetString(),
                      header->seq);
  }
  EXPECT_EQ(seen[0], std::make_pair(std::string("rd.device.registered a"), uint64_t{1}));
  EXPECT_EQ(seen[1], std::make_pair(std::string("rd.device.deleted a"), uint64_t{1}));
  EXPECT_EQ(seen[2], std::make_pair(std::string("rd.device.registered b"), uint64_t{2}));
}

TEST_F(PublisherTest, RejectsBadTopicsAndDataWithoutUsingASeq) {
  zmq::socket_t sub(context_, zmq::socket_type::sub);
  sub.set(zmq::sockopt::subscribe, "a.");
  sub.set(zmq::sockopt::subscribe, "probe");
  Bind(sub);
  Publisher publisher(context_, endpoint_, "rd");
  WaitForRoute(publisher, sub);
  EXPECT_EQ(publisher.Publish("a b", "{}").error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(publisher.Publish("a.", "{}").error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(publisher.Publish("a.b", "[1]").error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(publisher.Publish("a.b", "").error().code, ErrorCode::kInvalidArgument);
  ASSERT_TRUE(publisher.Publish("a.b", "{}").ok());
  for (;;) {
    auto received = Read(sub, kWait);
    ASSERT_TRUE(received);
    if (received->topic == "a.b") {
      EXPECT_EQ(received->envelope["seq"].GetUint64(), 1U);
      break;
    }
  }
}

TEST_F(PublisherTest, SequencesHoldTheLastSeqUsedPerTopic) {
  Publisher publisher(context_, "tcp://127.0.0.1:9", "rd");  // nobody there: messages discarded
  EXPECT_TRUE(publisher.sequences().empty());
  EXPECT_TRUE(publisher.Publish("a.b", "{}").ok());
  EXPECT_TRUE(publisher.Publish("a.b", "{}").ok());
  EXPECT_TRUE(publisher.Publish("c.d", "{}").ok());
  EXPECT_FALSE(publisher.Publish("e f", "{}").ok());
  const std::map<std::string, uint64_t, std::less<>> expected{{"a.b", 2}, {"c.d", 1}};
  EXPECT_EQ(publisher.sequences(), expected);
}

TEST_F(PublisherTest, EveryInstanceIsANewPublisher) {
  Publisher first(context_, "tcp://127.0.0.1:9", "rd");
  Publisher second(context_, "tcp://127.0.0.1:9", "rd");
  EXPECT_NE(first.id(), second.id());
}

TEST_F(PublisherTest, RejectsABadServiceNameOrEndpoint) {
  EXPECT_THROW((void)Publisher(context_, "tcp://127.0.0.1:9", "r d"), std::invalid_argument);
  EXPECT_THROW((void)Publisher(context_, "tcp://127.0.0.1:9", ""), std::invalid_argument);
  EXPECT_THROW((void)Publisher(context_, "nonsense", "rd"), std::invalid_argument);
}

// A bus that stops reading: the publisher's queue fills, Publish fails fast instead of blocking,
// the drops are counted, and the lost seq numbers show as a jump once the bus reads again.
TEST_F(PublisherTest, DropsAtTheHighWaterMarkCountsAndStillNumbers) {
  zmq::socket_t xsub(context_, zmq::socket_type::xsub);
  xsub.set(zmq::sockopt::rcvhwm, 5);
  Bind(xsub);
  ASSERT_TRUE(xsub.send(zmq::str_buffer("\x01"), zmq::send_flags::none));  // subscribe to all
  MetricsRegistry metrics;
  PublisherOptions options;
  options.connection.hwm = 5;
  options.metrics = &metrics;
  Publisher publisher(context_, endpoint_, "rd", options);
  WaitForRoute(publisher, xsub);
  const std::string big = R"({"pad":")" + std::string(10'000, 'x') + "\"}";
  uint64_t attempts = 0;
  while (publisher.dropped() == 0 && attempts < 100'000) {
    ++attempts;
    const Status status = publisher.Publish("a.b", big);
    if (!status.ok()) {
      EXPECT_EQ(status.error().code, ErrorCode::kUnavailable);
    }
  }
  ASSERT_EQ(publisher.dropped(), 1U) << "the queue never filled";
  EXPECT_NE(metrics.Render().find("coapgw_bus_publish_dropped_total 1\n"), std::string::npos);
  // Read everything back, then one more message: its seq counts the dropped ones too.
  uint64_t received = 0;
  uint64_t last_seq = 0;
  uint64_t missing = 0;
  bool final_sent = false;
  while (!final_sent || last_seq < attempts) {
    if (!final_sent) {
      ++attempts;
      final_sent = publisher.Publish("a.b", "{}").ok();
    }
    auto message = Read(xsub, final_sent ? kWait : milliseconds(10));
    if (!message) {
      ASSERT_FALSE(final_sent) << "the last message never arrived";
      continue;
    }
    if (message->topic != "a.b") {
      continue;
    }
    const uint64_t seq = message->envelope["seq"].GetUint64();
    missing += seq - last_seq - 1;
    last_seq = seq;
    ++received;
  }
  EXPECT_EQ(last_seq, attempts);
  EXPECT_EQ(missing, publisher.dropped());
  EXPECT_EQ(received, attempts - publisher.dropped());
}

}  // namespace
}  // namespace coapgw::bus
