#include "coapgw/coap/message.hpp"

#include <gtest/gtest.h>

#include "coapgw/coap/server.hpp"
#include "coapgw/coap/uri.hpp"

namespace coapgw::coap {
namespace {

TEST(CodeTest, FormatsAndParsesClassDotDetail) {
  EXPECT_EQ(FormatCode(Code::kContent), "2.05");
  EXPECT_EQ(FormatCode(Code::kNotFound), "4.04");
  EXPECT_EQ(FormatCode(Code::kContinue), "2.31");
  EXPECT_EQ(CodeClass(Code::kServiceUnavailable), 5);
  EXPECT_EQ(ParseCode("2.04"), Code::kChanged);
  EXPECT_EQ(ParseCode("404"), Code::kNotFound);
  EXPECT_EQ(ParseCode("2.32"), std::nullopt);
  EXPECT_EQ(ParseCode("8.00"), std::nullopt);
  EXPECT_EQ(ParseCode("2-05"), std::nullopt);
}

TEST(MethodTest, NamesRoundTrip) {
  for (const Method method : {Method::kGet, Method::kPost, Method::kPut, Method::kDelete,
                              Method::kFetch, Method::kPatch, Method::kIPatch}) {
    EXPECT_EQ(ParseMethod(MethodName(method)), method);
  }
  EXPECT_EQ(ParseMethod("get"), std::nullopt);
}

TEST(OptionTest, UintEncodingIsMinimal) {
  EXPECT_EQ(EncodeUint(0), "");
  EXPECT_EQ(EncodeUint(60), std::string("\x3c", 1));
  EXPECT_EQ(EncodeUint(0x0102), std::string("\x01\x02", 2));
  EXPECT_EQ(DecodeUint(EncodeUint(123456789)), 123456789U);
  EXPECT_EQ(DecodeUint(""), 0U);
}

TEST(AddressTest, ParsesNumericAddressesOnly) {
  Result<Address> v4 = ParseAddress("192.0.2.1:5683");
  ASSERT_TRUE(v4.ok());
  EXPECT_EQ(v4->family, Family::kIpv4);
  EXPECT_EQ(v4->ToString(), "192.0.2.1:5683");
  Result<Address> v6 = ParseAddress("[2001:db8::1]:61616");
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->family, Family::kIpv6);
  EXPECT_EQ(v6->ip, "2001:db8::1");
  EXPECT_EQ(v6->ToString(), "[2001:db8::1]:61616");
  EXPECT_FALSE(ParseAddress("localhost:5683").ok());
  EXPECT_FALSE(ParseAddress("192.0.2.1").ok());
}

TEST(UriTest, ParsesSchemeHostPortPathAndQuery) {
  Result<Uri> uri = ParseUri("coap://[::1]:61616/sensors/temp%20c?unit=c&x");
  ASSERT_TRUE(uri.ok()) << uri.error().message;
  EXPECT_EQ(uri->endpoint.transport, Transport::kUdp);
  EXPECT_EQ(uri->endpoint.host, "::1");
  EXPECT_EQ(uri->endpoint.port, 61616);
  EXPECT_EQ(uri->path, (std::vector<std::string>{"sensors", "temp c"}));
  EXPECT_EQ(uri->query, (std::vector<std::string>{"unit=c", "x"}));
  EXPECT_EQ(FormatUri(*uri), "coap://[::1]:61616/sensors/temp%20c?unit=c&x");
}

TEST(UriTest, DefaultsPortsPerScheme) {
  Result<Uri> plain = ParseUri("coap://192.0.2.7");
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->endpoint.port, 5683);
  EXPECT_TRUE(plain->path.empty());
  Result<Uri> secure = ParseUri("coaps://device.example/a");
  ASSERT_TRUE(secure.ok());
  EXPECT_EQ(secure->endpoint.transport, Transport::kDtls);
  EXPECT_EQ(secure->endpoint.port, 5684);
  EXPECT_EQ(secure->endpoint.ToUri(), "coaps://device.example:5684");
}

TEST(UriTest, RejectsWhatIsNotACoapUri) {
  EXPECT_FALSE(ParseUri("http://x/").ok());
  EXPECT_FALSE(ParseUri("coap://").ok());
  EXPECT_FALSE(ParseUri("coap://[::1/x").ok());
  EXPECT_FALSE(ParseUri("coap://h:0/").ok());
  EXPECT_FALSE(ParseUri("coap://h:70000/").ok());
  EXPECT_FALSE(ParseUri("coap://h/x#frag").ok());
}

TEST(UriTest, SplitAndJoinPaths) {
  EXPECT_EQ(SplitPath("/rd/7"), (std::vector<std::string>{"rd", "7"}));
  EXPECT_EQ(SplitPath("rd"), (std::vector<std::string>{"rd"}));
  EXPECT_TRUE(SplitPath("/").empty());
  EXPECT_EQ(JoinPath({"a", "b"}), "/a/b");
  EXPECT_EQ(JoinPath({}), "/");
  EXPECT_EQ(PercentDecode("a%2Fb%zz"), "a/b%zz");
}

TEST(RequestTest, QueryParamsSplitAtFirstEquals) {
  Request request;
  request.query = {"ep=node1", "lt=60", "flag", "base=coap://[::1]:1=2"};
  const auto params = request.QueryParams();
  ASSERT_EQ(params.size(), 4U);
  EXPECT_EQ(params[0], std::make_pair(std::string("ep"), std::string("node1")));
  EXPECT_EQ(params[2], std::make_pair(std::string("flag"), std::string()));
  EXPECT_EQ(params[3].second, "coap://[::1]:1=2");
  EXPECT_EQ(request.QueryValue("lt"), "60");
  EXPECT_EQ(request.QueryValue("flag"), "");
  EXPECT_EQ(request.QueryValue("l"), std::nullopt);
  EXPECT_EQ(request.QueryValue("missing"), std::nullopt);
}

TEST(ResponseTest, BuilderKeepsWhatIsSet) {
  Response response;
  EXPECT_EQ(response.code(), Code::kContent);
  response.SetCode(Code::kCreated).SetLocationPath("/rd/7").SetMaxAge(30).SetETag(0x1234);
  response.SetPayload("{}", content_format::kJson);
  EXPECT_EQ(response.location_path(), (std::vector<std::string>{"rd", "7"}));
  EXPECT_EQ(response.max_age(), 30U);
  EXPECT_EQ(response.etag(), 0x1234U);
  EXPECT_EQ(response.content_format(), content_format::kJson);
  EXPECT_THROW(response.SetETag(0), std::invalid_argument);
}

TEST(ResponseTest, DeferOutsideAServerHandlerIsALogicError) {
  Response response;
  EXPECT_THROW(response.Defer(), std::logic_error);
}

TEST(ResponseTest, ErrorsToMulticastRequestsAreSuppressed) {
  Request unicast;
  Request multicast;
  multicast.multicast = true;
  EXPECT_FALSE(Response(Code::kNotFound).SuppressedFor(unicast));
  EXPECT_TRUE(Response(Code::kNotFound).SuppressedFor(multicast));
  EXPECT_TRUE(Response(Code::kInternalServerError).SuppressedFor(multicast));
  EXPECT_FALSE(Response(Code::kContent).SuppressedFor(multicast));
  EXPECT_TRUE(Response::SuppressedForMulticast(Code::kBadRequest));
  EXPECT_FALSE(Response::SuppressedForMulticast(Code::kChanged));
}

}  // namespace
}  // namespace coapgw::coap
