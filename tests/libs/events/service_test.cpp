#include "coapgw/events/service.hpp"

#include <ostream>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace coapgw::events {
namespace {

using ::testing::HasSubstr;

struct ServiceCase {
  const char* service;
  bool has_payload;
  Method method;
  const char* path;
  const char* query;
};

// Names the ctest entries: the quoted service (tabs escaped) and whether data comes along.
void PrintTo(const ServiceCase& c, std::ostream* out) {
  *out << '"';
  for (const char* ch = c.service; *ch != '\0'; ++ch) {
    if (*ch == '\t') {
      *out << "\\t";
    } else {
      *out << *ch;
    }
  }
  *out << '"';
  *out << (c.has_payload ? " with data" : " without data");
}

class ParseServiceTest : public ::testing::TestWithParam<ServiceCase> {};

TEST_P(ParseServiceTest, ResolvesMethodPathAndQuery) {
  const ServiceCase& c = GetParam();
  const Result<ServiceRef> parsed = ParseService(c.service, c.has_payload);
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  EXPECT_EQ(parsed->method, c.method);
  EXPECT_EQ(parsed->path, c.path);
  EXPECT_EQ(parsed->query, c.query);
}

// Gateway contract §3: "<METHOD> <path>"; a bare path means GET without data, PUT with data.
INSTANTIATE_TEST_SUITE_P(
    GatewayContract, ParseServiceTest,
    ::testing::Values(ServiceCase{"GET /sensors/temp", false, Method::kGet, "/sensors/temp", ""},
                      ServiceCase{"GET /sensors/temp", true, Method::kGet, "/sensors/temp", ""},
                      ServiceCase{"PUT /actuators/led", true, Method::kPut, "/actuators/led", ""},
                      ServiceCase{"POST /a", false, Method::kPost, "/a", ""},
                      ServiceCase{"DELETE /a", false, Method::kDelete, "/a", ""},
                      ServiceCase{"FETCH /a", true, Method::kFetch, "/a", ""},
                      ServiceCase{"PATCH /a", true, Method::kPatch, "/a", ""},
                      ServiceCase{"iPATCH /a", true, Method::kIPatch, "/a", ""},
                      ServiceCase{"get /a", false, Method::kGet, "/a", ""},
                      ServiceCase{"/sensors/temp", false, Method::kGet, "/sensors/temp", ""},
                      ServiceCase{"/actuators/led", true, Method::kPut, "/actuators/led", ""},
                      ServiceCase{"on", false, Method::kGet, "/on", ""},
                      ServiceCase{"on", true, Method::kPut, "/on", ""},
                      ServiceCase{"/", false, Method::kGet, "/", ""},
                      ServiceCase{"  GET   /a  ", false, Method::kGet, "/a", ""},
                      ServiceCase{"GET\t/a", false, Method::kGet, "/a", ""},
                      ServiceCase{"GET /sensors/temp?unit=C&n=2", false, Method::kGet,
                                  "/sensors/temp", "unit=C&n=2"},
                      ServiceCase{"/config?x", true, Method::kPut, "/config", "x"},
                      ServiceCase{"GET /a?", false, Method::kGet, "/a", ""}));

TEST(ParseServiceErrorTest, RejectsMalformedServicesNamingTheReason) {
  struct Case {
    const char* service;
    const char* reason;
  };
  for (const Case& c :
       {Case{"", "empty"}, Case{"   ", "empty"}, Case{"SUBSCRIBE /a", "unknown method 'SUBSCRIBE'"},
        Case{"GET", "no path after the method"}, Case{"put", "no path after the method"},
        Case{"GET /a b", "whitespace inside the path"}, Case{"GET ?x=1", "empty path"},
        Case{"?x=1", "empty path"}}) {
    const Result<ServiceRef> parsed = ParseService(c.service, false);
    ASSERT_FALSE(parsed.ok()) << c.service;
    EXPECT_EQ(parsed.error().code, ErrorCode::kInvalidArgument);
    EXPECT_THAT(parsed.error().message, HasSubstr(c.reason)) << c.service;
    EXPECT_THAT(parsed.error().message, HasSubstr("'" + std::string(c.service) + "'"));
  }
}

TEST(MethodTest, NamesRoundTripAndFormatServiceUsesThem) {
  for (const Method method : {Method::kGet, Method::kPost, Method::kPut, Method::kDelete,
                              Method::kFetch, Method::kPatch, Method::kIPatch}) {
    EXPECT_EQ(ParseMethod(MethodName(method)), method);
  }
  EXPECT_EQ(MethodName(Method::kUnknown), "unknown");
  EXPECT_EQ(ParseMethod("unknown"), Method::kUnknown);
  EXPECT_EQ(ParseMethod("ipatch"), Method::kIPatch);
  EXPECT_EQ(FormatService(Method::kGet, "/sensors/temp"), "GET /sensors/temp");
  EXPECT_EQ(FormatService(Method::kIPatch, "/a"), "iPATCH /a");
}

TEST(MethodTest, FormattedServicesParseBack) {
  const Result<ServiceRef> parsed = ParseService(FormatService(Method::kDelete, "/x/y"), false);
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(*parsed, (ServiceRef{Method::kDelete, "/x/y", ""}));
}

}  // namespace
}  // namespace coapgw::events
