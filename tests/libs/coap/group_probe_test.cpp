// coap::Probe against a real coap::Server. Multicast stays on the host: the server joins the
// group on "lo" and the probe sends on "lo" with TTL 1, which a loopback interface never forwards.

#include "coapgw/coap/group_probe.hpp"

#include <chrono>
#include <string>

#include <gtest/gtest.h>
#include <net/if.h>

#include "coap_test_util.hpp"

namespace coapgw::coap::testing {
namespace {

constexpr const char* kGroup = "224.0.1.187";

class GroupProbeTest : public CoapFixture {
 protected:
  void SetUp() override {
    if (if_nametoindex("lo") == 0) {
      GTEST_SKIP() << "no loopback interface named lo";
    }
    StartServer(ServerOptions{}, "0.0.0.0:0");
    const Status joined = OnServer([&](Server& server) {
      ResourceOptions group;
      group.multicast = true;
      group.multicast_delay = false;
      server.AddResource("/small", group)
          .On(Method::kGet, [](const Request& request, Response& response) {
            response.SetPayload("</s>;rt=\"x\"" + std::string(request.multicast ? ";mc" : ""),
                                content_format::kLinkFormat);
          });
      server.AddResource("/large", group).On(Method::kGet, [](const Request&, Response& response) {
        response.SetPayload(std::string(3000, 'L'));
      });
      return server.JoinMulticast(kGroup, "lo");
    });
    ASSERT_TRUE(joined.ok()) << joined.error().message;
  }

  ProbeRequest To(const std::string& ip, const std::string& path) const {
    ProbeRequest request;
    request.targets = {ProbeTarget{Address{Family::kIpv4, ip, address_.port}, "lo"}};
    request.path = {path};
    request.window = std::chrono::milliseconds(500);
    return request;
  }
};

TEST_F(GroupProbeTest, CollectsTheGroupsAnswers) {
  auto result = Probe(To(kGroup, "small"));
  ASSERT_TRUE(result.ok()) << result.error().message;
  ASSERT_EQ(result->responses.size(), 1U);
  const ProbeResponse& response = result->responses.front();
  EXPECT_EQ(response.code, Code::kContent);
  EXPECT_EQ(response.content_format, content_format::kLinkFormat);
  EXPECT_EQ(response.payload, "</s>;rt=\"x\";mc") << "answered as a multicast request";
  EXPECT_EQ(response.from.port, address_.port);
  EXPECT_FALSE(response.truncated);
  EXPECT_EQ(result->malformed, 0U);
}

TEST_F(GroupProbeTest, ALargeAnswerIsMarkedTruncated) {
  auto result = Probe(To(kGroup, "large"));
  ASSERT_TRUE(result.ok()) << result.error().message;
  ASSERT_EQ(result->responses.size(), 1U);
  EXPECT_TRUE(result->responses.front().truncated);
  EXPECT_LT(result->responses.front().payload.size(), 3000U);
  EXPECT_EQ(result->responses.front().payload.substr(0, 4), "LLLL");
}

TEST_F(GroupProbeTest, AUnicastSweepEndsWithItsAnswers) {
  ProbeRequest request = To("127.0.0.1", "small");
  request.targets.push_back(ProbeTarget{Address{Family::kIpv4, "127.0.0.2", address_.port}, ""});
  request.send_interval = std::chrono::milliseconds(20);
  request.window = std::chrono::milliseconds(60000);
  const auto start = std::chrono::steady_clock::now();
  auto result = Probe(request);
  ASSERT_TRUE(result.ok()) << result.error().message;
  ASSERT_EQ(result->responses.size(), 2U);
  EXPECT_EQ(result->responses[0].payload, "</s>;rt=\"x\"");
  EXPECT_EQ(result->responses[0].from.ip, "127.0.0.1");
  EXPECT_EQ(result->responses[1].from.ip, "127.0.0.2");
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(30))
      << "the probe waited for its window after every target answered";
}

TEST_F(GroupProbeTest, MaxResponsesDropsTheRest) {
  ProbeRequest request = To(kGroup, "small");
  request.max_responses = 0;
  auto result = Probe(request);
  ASSERT_TRUE(result.ok()) << result.error().message;
  EXPECT_TRUE(result->responses.empty());
  EXPECT_EQ(result->dropped, 1U);
}

TEST_F(GroupProbeTest, CancelEndsTheWindow) {
  ProbeRequest request = To(kGroup, "none");  // 4.04 is not answered over multicast
  request.window = std::chrono::milliseconds(60000);
  int asked = 0;
  auto result = Probe(request, [&asked] { return ++asked > 2; });
  ASSERT_TRUE(result.ok()) << result.error().message;
  EXPECT_TRUE(result->responses.empty());
  EXPECT_EQ(asked, 3);
}

TEST_F(GroupProbeTest, RefusesAnUnknownInterfaceAndABadAddress) {
  ProbeRequest request = To(kGroup, "small");
  request.targets[0].interface = "no-such-if0";
  auto no_interface = Probe(request);
  ASSERT_FALSE(no_interface.ok());
  EXPECT_EQ(no_interface.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(no_interface.error().message.find("no-such-if0"), std::string::npos);
  auto bad = Probe(To("not-an-ip", "small"));
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace coapgw::coap::testing
