#include "coapgw/common/host_port.hpp"

#include <gtest/gtest.h>

namespace coapgw {
namespace {

TEST(HostPortTest, ParsesIpv4HostnameAndIpv6) {
  auto v4 = ParseHostPort("0.0.0.0:5683");
  ASSERT_TRUE(v4.ok());
  EXPECT_EQ(v4->host, "0.0.0.0");
  EXPECT_EQ(v4->port, 5683);

  auto v6 = ParseHostPort("[::]:5684");
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->host, "::");
  EXPECT_EQ(v6->port, 5684);
  EXPECT_EQ(FormatHostPort(*v6), "[::]:5684");

  auto any = ParseHostPort(":0");
  ASSERT_TRUE(any.ok());
  EXPECT_EQ(any->host, "");
  EXPECT_EQ(any->port, 0);
}

TEST(HostPortTest, RejectsMissingOrBadPortAndBareIpv6) {
  for (const char* bad :
       {"localhost", "host:", "host:99999", "host:12a", "::1:5683", "[::1]5683", "[::1"}) {
    const auto parsed = ParseHostPort(bad);
    EXPECT_FALSE(parsed.ok()) << bad;
  }
}

}  // namespace
}  // namespace coapgw
