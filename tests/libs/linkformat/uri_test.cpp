#include "coapgw/linkformat/uri.hpp"

#include <gtest/gtest.h>

#include "examples.hpp"

namespace coapgw::linkformat {
namespace {

class LinkFormatRfc3986Test : public ::testing::TestWithParam<test::ResolutionCase> {};

TEST_P(LinkFormatRfc3986Test, ResolvesAgainstTheSection54Base) {
  const test::ResolutionCase& example = GetParam();
  Result<std::string> resolved = Resolve(test::kRfc3986Base, example.reference);
  ASSERT_TRUE(resolved.ok()) << resolved.error().message;
  EXPECT_EQ(*resolved, example.expected) << "reference '" << example.reference << "'";
}

INSTANTIATE_TEST_SUITE_P(Rfc3986Section54, LinkFormatRfc3986Test,
                         ::testing::ValuesIn(test::ResolutionCases()),
                         [](const auto& param_info) { return param_info.param.name; });

struct CoapResolutionCase {
  std::string name;
  std::string base;
  std::string reference;
  std::string expected;
};

class LinkFormatUriResolutionTest : public ::testing::TestWithParam<CoapResolutionCase> {};

TEST_P(LinkFormatUriResolutionTest, Resolves) {
  const CoapResolutionCase& example = GetParam();
  Result<std::string> resolved = Resolve(example.base, example.reference);
  ASSERT_TRUE(resolved.ok()) << resolved.error().message;
  EXPECT_EQ(*resolved, example.expected);
}

INSTANTIATE_TEST_SUITE_P(
    CoapBases, LinkFormatUriResolutionTest,
    ::testing::Values(
        CoapResolutionCase{"Ipv6AbsolutePath", "coap://[2001:db8::1]:61616", "/sensors/temp",
                           "coap://[2001:db8::1]:61616/sensors/temp"},
        CoapResolutionCase{"RelativePathAgainstEmptyBasePath", "coap://[2001:db8::1]", "temp",
                           "coap://[2001:db8::1]/temp"},
        CoapResolutionCase{"Rfc9176A21WellKnownCoreBase",
                           "coap://[2001:db8:f0::1]/.well-known/core", "/sensors/temp",
                           "coap://[2001:db8:f0::1]/sensors/temp"},
        CoapResolutionCase{"CoapsDotSegments", "coaps://h:5684/a/b/c", "../d/./e",
                           "coaps://h:5684/a/d/e"},
        CoapResolutionCase{"CoapTcpScheme", "coap+tcp://sh1.example.com", "/sensors/temp",
                           "coap+tcp://sh1.example.com/sensors/temp"},
        CoapResolutionCase{"PercentEncodingKeptAsIs", "coap://h/a%20b/c", "d%2F?x=%41",
                           "coap://h/a%20b/d%2F?x=%41"},
        CoapResolutionCase{"NetworkPathReplacesAuthority", "coap://h/x", "//[::1]:1/y",
                           "coap://[::1]:1/y"},
        CoapResolutionCase{"EmptyReferenceDropsBaseFragment", "coap://h/x?q#f", "", "coap://h/x?q"},
        CoapResolutionCase{"UnicodePath", "coap://h", "/temperature/Malmö",
                           "coap://h/temperature/Malmö"},
        CoapResolutionCase{"AbsoluteReferenceGetsDotSegmentsRemoved", "coap://h", "coap://g/a/../b",
                           "coap://g/b"},
        CoapResolutionCase{"DoubleSlashPathWithoutAuthorityStaysAPath", "coap:/a/b", "..//g",
                           "coap:/.//g"}),
    [](const auto& param_info) { return param_info.param.name; });

TEST(LinkFormatUriTest, ParsesAllComponentsOfACoapUri) {
  Result<Uri> uri = ParseUriReference("coap://user:pw@[2001:db8::1]:5683/a/b?c=d&e#frag");
  ASSERT_TRUE(uri.ok()) << uri.error().message;
  EXPECT_EQ(uri->scheme, "coap");
  EXPECT_EQ(uri->authority, "user:pw@[2001:db8::1]:5683");
  EXPECT_EQ(uri->userinfo, "user:pw");
  EXPECT_EQ(uri->host, "2001:db8::1");
  EXPECT_TRUE(uri->host_is_ip_literal);
  EXPECT_EQ(uri->port, 5683);
  EXPECT_EQ(uri->path, "/a/b");
  EXPECT_EQ(uri->query, "c=d&e");
  EXPECT_EQ(uri->fragment, "frag");
  EXPECT_EQ(uri->Origin(), "coap://[2001:db8::1]:5683");
  EXPECT_EQ(uri->ToString(), "coap://user:pw@[2001:db8::1]:5683/a/b?c=d&e#frag");
}

TEST(LinkFormatUriTest, TellsUndefinedFromEmptyComponents) {
  Result<Uri> empty = ParseUriReference("coap://h:?#");
  ASSERT_TRUE(empty.ok()) << empty.error().message;
  EXPECT_EQ(empty->authority, "h:");
  EXPECT_EQ(empty->port, std::nullopt);
  EXPECT_EQ(empty->query, "");
  EXPECT_EQ(empty->fragment, "");
  EXPECT_EQ(empty->ToString(), "coap://h:?#");

  Result<Uri> none = ParseUriReference("coap:x");
  ASSERT_TRUE(none.ok()) << none.error().message;
  EXPECT_EQ(none->authority, std::nullopt);
  EXPECT_EQ(none->path, "x");
  EXPECT_EQ(none->query, std::nullopt);
  EXPECT_EQ(none->fragment, std::nullopt);
  EXPECT_EQ(none->Origin(), "");
}

TEST(LinkFormatUriTest, EffectivePortFallsBackToTheSchemeDefault) {
  const auto port = [](const char* text) { return ParseUri(text).value().EffectivePort(); };
  EXPECT_EQ(port("coap://h"), 5683);
  EXPECT_EQ(port("COAPS://h"), 5684);
  EXPECT_EQ(port("coap+tcp://h"), 5683);
  EXPECT_EQ(port("coaps+tcp://h"), 5684);
  EXPECT_EQ(port("coap+ws://h"), 80);
  EXPECT_EQ(port("coaps+ws://h"), 443);
  EXPECT_EQ(port("http://h"), 80);
  EXPECT_EQ(port("https://h"), 443);
  EXPECT_EQ(port("coap://h:61616"), 61616);
  EXPECT_EQ(port("urn:x"), std::nullopt);
}

TEST(LinkFormatUriTest, ParsesZoneIdentifiersAndIpvFuture) {
  Result<Uri> zoned = ParseUri("coap://[fe80::1%25eth0]/x");
  ASSERT_TRUE(zoned.ok()) << zoned.error().message;
  EXPECT_EQ(zoned->host, "fe80::1");
  EXPECT_EQ(zoned->zone_id, "eth0");
  Result<Uri> future = ParseUri("coap://[v1.fe80::a+en1]");
  ASSERT_TRUE(future.ok()) << future.error().message;
  EXPECT_EQ(future->host, "v1.fe80::a+en1");
  Result<Uri> ipv4 = ParseUri("coap://[::ffff:192.0.2.1]:1");
  ASSERT_TRUE(ipv4.ok()) << ipv4.error().message;
  EXPECT_EQ(ipv4->host, "::ffff:192.0.2.1");
}

TEST(LinkFormatUriTest, KeepsRelativeReferencesApart) {
  Result<Uri> network_path = ParseUriReference("//g/x");
  ASSERT_TRUE(network_path.ok()) << network_path.error().message;
  EXPECT_FALSE(network_path->IsAbsolute());
  EXPECT_EQ(network_path->authority, "g");
  EXPECT_EQ(network_path->path, "/x");
  Result<Uri> unicode = ParseUriReference("/temperature/Malmö");
  ASSERT_TRUE(unicode.ok()) << unicode.error().message;
  EXPECT_EQ(unicode->path, "/temperature/Malmö");
  Result<Uri> relative = ParseUri("/a");
  ASSERT_FALSE(relative.ok());
  EXPECT_EQ(relative.error().message, "URI: no scheme in '/a'");
}

struct BadUriCase {
  std::string name;
  std::string text;
  std::string message;
};

class LinkFormatBadUriTest : public ::testing::TestWithParam<BadUriCase> {};

TEST_P(LinkFormatBadUriTest, FailsNamingTheOffset) {
  Result<Uri> uri = ParseUriReference(GetParam().text);
  ASSERT_FALSE(uri.ok()) << uri->ToString();
  EXPECT_EQ(uri.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(uri.error().message, GetParam().message);
}

INSTANTIATE_TEST_SUITE_P(
    Malformed, LinkFormatBadUriTest,
    ::testing::Values(
        BadUriCase{"Space", "/a b", "URI: invalid character ' ' at byte 2"},
        BadUriCase{"LonePercent", "/a%", "URI: malformed percent-encoding at byte 2"},
        BadUriCase{"PercentNotHex", "/a%4g", "URI: malformed percent-encoding at byte 2"},
        BadUriCase{"PortTooLarge", "coap://h:65536/", "URI: port above 65535 at byte 9"},
        BadUriCase{"PortNotNumeric", "coap://h:5x/",
                   "URI: invalid character 'x' in port at byte 10"},
        BadUriCase{"UnclosedIpLiteral", "coap://[::1/x",
                   "URI: expected ']' closing the IP literal at byte 11"},
        BadUriCase{"JunkAfterIpLiteral", "coap://[::1]x/",
                   "URI: expected ':' after the IP literal at byte 12"},
        BadUriCase{"BadIpv6", "coap://[1:2:3]/", "URI: invalid IPv6 address at byte 8"},
        BadUriCase{"ZoneWithoutPercent25", "coap://[fe80::1%eth0]/",
                   "URI: invalid IPv6 address at byte 8"},
        BadUriCase{"EmptyZone", "coap://[fe80::1%25]/",
                   "URI: empty IPv6 zone identifier at byte 15"},
        BadUriCase{"BadIpvFuture", "coap://[v1]/", "URI: invalid IPvFuture literal at byte 8"},
        BadUriCase{"SecondHash", "coap://h/#a#b", "URI: invalid character '#' at byte 11"},
        BadUriCase{"BracketInPath", "http://a/[x]", "URI: invalid character '[' at byte 9"},
        BadUriCase{"AtInHost", "coap://a@b@c/", "URI: invalid character '@' at byte 10"},
        BadUriCase{"ColonInFirstSegment", "1a:b",
                   "URI: ':' in the first segment of a relative path at byte 2"},
        BadUriCase{"ControlCharacter", "/a\x01", "URI: invalid character 0x01 at byte 2"},
        BadUriCase{"InvalidUtf8", "/a\xC3", "URI: invalid UTF-8 at byte 2"},
        BadUriCase{"Utf8CrossingIntoQuery", "/a\xC3?\xA9", "URI: invalid UTF-8 at byte 2"}),
    [](const auto& param_info) { return param_info.param.name; });

TEST(LinkFormatUriTest, ResolveRequiresAnAbsoluteBase) {
  Result<std::string> resolved = Resolve("/a", "b");
  ASSERT_FALSE(resolved.ok());
  EXPECT_EQ(resolved.error().message, "base URI: no scheme in '/a'");
  Result<std::string> bad_reference = Resolve("coap://h", "a b");
  ASSERT_FALSE(bad_reference.ok());
  EXPECT_EQ(bad_reference.error().message, "reference URI: invalid character ' ' at byte 1");
}

TEST(LinkFormatUriTest, RemoveDotSegmentsFollowsSection524) {
  EXPECT_EQ(RemoveDotSegments("/a/b/c/./../../g"), "/a/g");
  EXPECT_EQ(RemoveDotSegments("mid/content=5/../6"), "mid/6");
  EXPECT_EQ(RemoveDotSegments("/."), "/");
  EXPECT_EQ(RemoveDotSegments("/.."), "/");
  EXPECT_EQ(RemoveDotSegments("/a/.."), "/");
  EXPECT_EQ(RemoveDotSegments("../../x"), "x");
  EXPECT_EQ(RemoveDotSegments(""), "");
  EXPECT_EQ(RemoveDotSegments("/a//b/../c"), "/a//c");
}

TEST(LinkFormatUriTest, ToStringKeepsComponentsReadableBack) {
  Uri double_slash;
  double_slash.scheme = "s";
  double_slash.path = "//g";
  EXPECT_EQ(double_slash.ToString(), "s:/.//g");
  Uri colon;
  colon.path = "a:b";
  EXPECT_EQ(colon.ToString(), "./a:b");
  Result<Uri> reparsed = ParseUriReference(colon.ToString());
  ASSERT_TRUE(reparsed.ok()) << reparsed.error().message;
  EXPECT_FALSE(reparsed->IsAbsolute());
}

}  // namespace
}  // namespace coapgw::linkformat
