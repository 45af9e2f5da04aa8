#include "coapgw/bus/proxy.hpp"

#include <gtest/gtest.h>

#include "bus_testing.hpp"
#include "coapgw/bus/publisher.hpp"
#include "coapgw/bus/subscriber.hpp"

namespace coapgw::bus {
namespace {

using std::chrono::milliseconds;
constexpr milliseconds kWait{5000};

class ProxyTest : public testing::Test {
 protected:
  zmq::context_t context_;
  Proxy proxy_{context_, ProxyOptions{"tcp://127.0.0.1:*", "tcp://127.0.0.1:*"}};
};

TEST_F(ProxyTest, ReportsTheEndpointsItBound) {
  EXPECT_EQ(proxy_.pub_endpoint().rfind("tcp://127.0.0.1:", 0), 0U);
  EXPECT_EQ(proxy_.sub_endpoint().rfind("tcp://127.0.0.1:", 0), 0U);
  EXPECT_NE(proxy_.pub_endpoint(), proxy_.sub_endpoint());
  EXPECT_EQ(proxy_.pub_endpoint().find('*'), std::string::npos);
}

TEST_F(ProxyTest, ForwardsEveryMessageInOrderAndCountsThem) {
  proxy_.Start();
  Subscriber subscriber(context_, proxy_.sub_endpoint(), {"t."});
  Publisher publisher(context_, proxy_.pub_endpoint(), "test");
  ASSERT_TRUE(test::WaitForRoute(publisher, subscriber, "t.probe"));
  constexpr uint64_t kCount = 2000;
  for (uint64_t i = 1; i <= kCount; ++i) {
    ASSERT_TRUE(publisher.Publish("t.data", R"({"i":)" + std::to_string(i) + "}").ok());
  }
  for (uint64_t i = 1; i <= kCount; ++i) {
    auto message = test::ReceiveOn(subscriber, "t.data", kWait);
    ASSERT_TRUE(message) << "message " << i << " missing";
    EXPECT_EQ(message->seq, i);
    EXPECT_EQ(message->data()["i"].GetUint64(), i);
    EXPECT_FALSE(message->gap);
  }
  EXPECT_EQ(subscriber.stats().gaps, 0U);
  const auto statistics = proxy_.Statistics(kWait);
  ASSERT_TRUE(statistics);
  EXPECT_GE(statistics->published_messages, kCount);
  EXPECT_GT(statistics->published_bytes, kCount * 100);
  EXPECT_GE(statistics->subscription_messages, 1U);
}

TEST_F(ProxyTest, StopsPromptlyAndOnlyOnce) {
  proxy_.Start();
  ASSERT_TRUE(proxy_.Statistics(kWait));
  proxy_.Stop();
  proxy_.Stop();
  EXPECT_FALSE(proxy_.Statistics(milliseconds(10)));
  EXPECT_FALSE(proxy_.failure());
}

TEST_F(ProxyTest, ABusyEndpointIsAnErrorNamingIt) {
  try {
    Proxy second(context_, ProxyOptions{proxy_.pub_endpoint(), "tcp://127.0.0.1:*"});
    FAIL() << "bound twice";
  } catch (const std::runtime_error& error) {
    EXPECT_NE(std::string(error.what())
                  .find("cannot bind the pub (XSUB) endpoint '" + proxy_.pub_endpoint() + "'"),
              std::string::npos)
        << error.what();
  }
}

}  // namespace
}  // namespace coapgw::bus
