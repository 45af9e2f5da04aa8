#include "coapgw/bus/subscriber.hpp"

#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "coapgw/bus/envelope.hpp"

namespace coapgw::bus {
namespace {

using std::chrono::milliseconds;
constexpr milliseconds kWait{5000};

std::string Envelope(std::string_view topic, std::string_view publisher, uint64_t seq,
                     std::string_view data = R"({"ep":"node1"})") {
  std::string out;
  AppendEnvelope(out, topic, publisher, seq, "2026-11-23T12:00:00.123Z", data);
  return out;
}

// The test plays the bus: an XPUB bound on an ephemeral port that sends hand-made frames, so
// every malformed shape can be produced. Connect() returns once the subscriptions arrived.
class SubscriberTest : public testing::Test {
 protected:
  void SetUp() override {
    xpub_.set(zmq::sockopt::linger, 0);
    xpub_.set(zmq::sockopt::rcvtimeo, static_cast<int>(kWait.count()));
    xpub_.bind("tcp://127.0.0.1:*");
    endpoint_ = xpub_.get(zmq::sockopt::last_endpoint);
  }

  std::unique_ptr<Subscriber> Connect(const std::vector<std::string>& prefixes,
                                      const SubscriberOptions& options = {}) {
    auto subscriber = std::make_unique<Subscriber>(context_, endpoint_, prefixes, options);
    for (size_t i = 0; i < prefixes.size(); ++i) {
      zmq::message_t subscription;
      EXPECT_TRUE(xpub_.recv(subscription)) << "subscription did not arrive";
      EXPECT_EQ(subscription.to_string().substr(0, 1), "\x01");
    }
    return subscriber;
  }

  void SendFrames(const std::vector<std::string>& frames) {
    for (size_t i = 0; i < frames.size(); ++i) {
      ASSERT_TRUE(xpub_.send(zmq::buffer(frames[i]), i + 1 < frames.size()
                                                         ? zmq::send_flags::sndmore
                                                         : zmq::send_flags::none));
    }
  }

  void Send(std::string_view topic, std::string_view publisher, uint64_t seq) {
    SendFrames({std::string(topic), Envelope(topic, publisher, seq)});
  }

  zmq::context_t context_;
  zmq::socket_t xpub_{context_, zmq::socket_type::xpub};
  std::string endpoint_;
};

TEST_F(SubscriberTest, ReceivesTheEnvelopeWithItsData) {
  auto subscriber = Connect({"rd."});
  SendFrames({"rd.device.registered",
              Envelope("rd.device.registered", "rd-0123abcd", 5, R"({"ep":"node1","lt":90})")});
  auto message = subscriber->Receive(kWait);
  ASSERT_TRUE(message);
  EXPECT_EQ(message->topic, "rd.device.registered");
  EXPECT_EQ(message->publisher, "rd-0123abcd");
  EXPECT_EQ(message->seq, 5U);
  EXPECT_EQ(message->time, "2026-11-23T12:00:00.123Z");
  EXPECT_STREQ(message->data()["ep"].GetString(), "node1");
  EXPECT_EQ(message->data()["lt"].GetInt(), 90);
  EXPECT_TRUE(message->first_from_publisher);
  EXPECT_TRUE(message->first_on_topic);
  EXPECT_FALSE(message->gap);
  EXPECT_EQ(subscriber->stats().received, 1U);
  EXPECT_EQ(subscriber->stats().new_publishers, 1U);
}

TEST_F(SubscriberTest, ReceiveReturnsNothingWhenNothingCameInTime) {
  auto subscriber = Connect({"rd."});
  EXPECT_FALSE(subscriber->Receive(milliseconds(0)));
  EXPECT_FALSE(subscriber->Receive(milliseconds(20)));
  EXPECT_FALSE(subscriber->terminated());
}

TEST_F(SubscriberTest, CountsAndSkipsMalformedMessages) {
  MetricsRegistry metrics;
  SubscriberOptions options;
  options.metrics = &metrics;
  options.metrics_labels = R"(subscriber="test")";
  auto subscriber = Connect({"t."}, options);
  SendFrames({"t.a"});                                      // one frame
  SendFrames({"t.a", Envelope("t.a", "p-1", 1), "extra"});  // three frames
  SendFrames({"t.a", "{not json"});                         // bad JSON
  SendFrames({"t.a", R"({"type":"t.a","v":1})"});           // fields missing
  SendFrames({"t.a", Envelope("t.other", "p-1", 1)});       // type differs from the topic
  Send("t.a", "p-1", 1);
  auto message = subscriber->Receive(kWait);
  ASSERT_TRUE(message);
  EXPECT_EQ(message->seq, 1U);
  EXPECT_EQ(subscriber->stats().malformed, 5U);
  EXPECT_EQ(subscriber->stats().received, 1U);
  EXPECT_NE(metrics.Render().find(R"(coapgw_bus_malformed_total{subscriber="test"} 5)"),
            std::string::npos)
      << metrics.Render();
}

TEST_F(SubscriberTest, ReportsGapsPerPublisherAndTopic) {
  MetricsRegistry metrics;
  SubscriberOptions options;
  options.metrics = &metrics;
  auto subscriber = Connect({"t."}, options);
  Send("t.a", "p-1", 1);
  Send("t.b", "p-1", 1);  // another topic of the same publisher: its own count
  Send("t.a", "p-1", 2);
  Send("t.a", "p-2", 9);  // another publisher: a baseline
  Send("t.a", "p-1", 5);  // 3 and 4 lost
  Send("t.b", "p-1", 2);
  Send("t.a", "p-1", 4);  // back
  std::vector<Message> messages;
  while (messages.size() < 7) {
    auto message = subscriber->Receive(kWait);
    ASSERT_TRUE(message) << "after " << messages.size() << " messages";
    messages.push_back(std::move(*message));
  }
  EXPECT_FALSE(messages[1].gap);
  EXPECT_TRUE(messages[1].first_on_topic);
  EXPECT_FALSE(messages[1].first_from_publisher);
  EXPECT_FALSE(messages[2].gap);
  EXPECT_TRUE(messages[3].first_from_publisher);
  EXPECT_FALSE(messages[3].gap);
  ASSERT_TRUE(messages[4].gap);
  EXPECT_EQ(messages[4].gap->expected, 3U);
  EXPECT_EQ(messages[4].gap->received, 5U);
  EXPECT_FALSE(messages[5].gap);
  ASSERT_TRUE(messages[6].gap);
  EXPECT_TRUE(messages[6].gap->backwards());
  const SubscriberStats& stats = subscriber->stats();
  EXPECT_EQ(stats.received, 7U);
  EXPECT_EQ(stats.gaps, 1U);
  EXPECT_EQ(stats.missed, 2U);
  EXPECT_EQ(stats.backwards, 1U);
  EXPECT_EQ(stats.new_publishers, 2U);
  const std::string rendered = metrics.Render();
  EXPECT_NE(rendered.find("coapgw_bus_gaps_total 1\n"), std::string::npos) << rendered;
  EXPECT_NE(rendered.find("coapgw_bus_missed_messages_total 2\n"), std::string::npos);
  EXPECT_NE(rendered.find("coapgw_bus_seq_backwards_total 1\n"), std::string::npos);
}

TEST_F(SubscriberTest, ThePollItemSignalsAWaitingMessage) {
  auto subscriber = Connect({"t."});
  Send("t.a", "p-1", 1);
  zmq::pollitem_t item = subscriber->poll_item();
  ASSERT_EQ(zmq::poll(&item, 1, kWait), 1);
  EXPECT_TRUE(subscriber->Receive(milliseconds(0)));
}

TEST_F(SubscriberTest, AContextShutdownEndsReceiveWithoutThrowing) {
  auto subscriber = Connect({"t."});
  context_.shutdown();
  EXPECT_FALSE(subscriber->Receive(kWait));
  EXPECT_TRUE(subscriber->terminated());
}

TEST_F(SubscriberTest, RejectsPrefixesThatWouldMatchHalfASegment) {
  EXPECT_THROW((void)Subscriber(context_, endpoint_, {"rd.dev.."}), std::invalid_argument);
  EXPECT_THROW((void)Subscriber(context_, endpoint_, {"rd dev"}), std::invalid_argument);
  EXPECT_THROW((void)Subscriber(context_, "nonsense", {"rd."}), std::invalid_argument);
}

}  // namespace
}  // namespace coapgw::bus
