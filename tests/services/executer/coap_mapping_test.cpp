// Command -> CoAP request, outcome -> command result, and the DTLS-PSK key file.

#include "executer/coap_mapping.hpp"

#include <string>

#include <gtest/gtest.h>

#include "executer/psk_file.hpp"

namespace coapgw::executer {
namespace {

using std::chrono::milliseconds;

events::Command MakeCommand() {
  events::Command command;
  command.command_id = "c1";
  command.device_id = "d1";
  command.service = "PUT /actuators/led?mode=blink";
  command.method = events::Method::kPut;
  command.path = "/actuators/led";
  command.query = "mode=blink&label=a%20b&&x";
  command.content_format = 50;
  command.accept = 60;
  command.payload = {"{\"on\":true}", events::PayloadEncoding::kText};
  return command;
}

TEST(BuildRequestTest, CarriesEveryPartOfTheCommand) {
  auto request = BuildRequest(MakeCommand(), "coap://[::1]:61616");
  ASSERT_TRUE(request.ok()) << request.error().message;
  EXPECT_EQ(request->method, coap::Method::kPut);
  EXPECT_EQ(request->endpoint.transport, coap::Transport::kUdp);
  EXPECT_EQ(request->endpoint.host, "::1");
  EXPECT_EQ(request->endpoint.port, 61616);
  EXPECT_EQ(request->path, (std::vector<std::string>{"actuators", "led"}));
  EXPECT_EQ(request->query, (std::vector<std::string>{"mode=blink", "label=a b", "x"}));
  EXPECT_EQ(request->content_format, 50);
  EXPECT_EQ(request->accept, 60);
  EXPECT_EQ(request->payload, "{\"on\":true}");
}

TEST(BuildRequestTest, Base64PayloadIsDecodedAndCoapsMeansDtls) {
  events::Command command = MakeCommand();
  command.payload = {events::Base64Encode(std::string("\x00\xff\x10", 3)),
                     events::PayloadEncoding::kBase64};
  command.query.clear();
  auto request = BuildRequest(command, "coaps://127.0.0.1");
  ASSERT_TRUE(request.ok()) << request.error().message;
  EXPECT_EQ(request->endpoint.transport, coap::Transport::kDtls);
  EXPECT_EQ(request->endpoint.port, 5684);
  EXPECT_TRUE(request->query.empty());
  EXPECT_EQ(request->payload, std::string("\x00\xff\x10", 3));
}

TEST(BuildRequestTest, ErrorsNameTheirCause) {
  auto bad_base = BuildRequest(MakeCommand(), "http://example.com");
  ASSERT_FALSE(bad_base.ok());
  EXPECT_NE(bad_base.error().message.find("device base 'http://example.com'"), std::string::npos)
      << bad_base.error().message;

  events::Command bad_method = MakeCommand();
  bad_method.method = events::Method::kUnknown;
  auto method = BuildRequest(bad_method, "coap://127.0.0.1");
  ASSERT_FALSE(method.ok());
  EXPECT_NE(method.error().message.find("method"), std::string::npos);

  events::Command bad_payload = MakeCommand();
  bad_payload.payload = {"not base64!", events::PayloadEncoding::kBase64};
  auto payload = BuildRequest(bad_payload, "coap://127.0.0.1");
  ASSERT_FALSE(payload.ok());
  EXPECT_NE(payload.error().message.find("payload"), std::string::npos);
}

TEST(ResultOfTest, ResponseBecomesCodeFormatAndEncodedPayload) {
  coap::ClientResponse response;
  response.code = coap::Code::kChanged;
  response.content_format = 42;
  response.payload = std::string("\x01\x02", 2);
  const events::CommandResult result =
      ResultOf(MakeCommand(), coap::Outcome<coap::ClientResponse>(response), milliseconds(7));
  EXPECT_EQ(result.command_id, "c1");
  EXPECT_EQ(result.device_id, "d1");
  EXPECT_EQ(result.code, "2.04");
  EXPECT_EQ(result.content_format, 42);
  EXPECT_EQ(result.payload.encoding, events::PayloadEncoding::kBase64);
  EXPECT_EQ(result.payload.data, "AQI=");
  EXPECT_EQ(result.duration, milliseconds(7));
  EXPECT_FALSE(result.detail.has_value());
}

TEST(ResultOfTest, DeviceErrorCodesAreResultsToo) {
  coap::ClientResponse response;
  response.code = coap::Code::kNotFound;
  response.payload = "no such resource";
  const events::CommandResult result =
      ResultOf(MakeCommand(), coap::Outcome<coap::ClientResponse>(response), milliseconds(1));
  EXPECT_EQ(result.code, "4.04");
  EXPECT_EQ(result.payload.data, "no such resource");
  EXPECT_EQ(result.payload.encoding, events::PayloadEncoding::kText);
}

TEST(ResultOfTest, FailuresMapToTheContractCodes) {
  const struct {
    coap::Failure failure;
    std::string_view code;
  } cases[] = {
      {coap::Failure::kTimeout, events::kCodeTimeout},
      {coap::Failure::kReset, events::kCodeReset},
      {coap::Failure::kUnreachable, events::kCodeUnreachable},
      {coap::Failure::kTooLarge, events::kCodeTooLarge},
      {coap::Failure::kSecurity, events::kCodeError},
      {coap::Failure::kInternal, events::kCodeError},
  };
  for (const auto& c : cases) {
    const events::CommandResult result = ResultOf(
        MakeCommand(), coap::Outcome<coap::ClientResponse>(c.failure, "why"), milliseconds(3));
    EXPECT_EQ(result.code, c.code) << coap::FailureName(c.failure);
    ASSERT_TRUE(result.detail.has_value());
    EXPECT_NE(result.detail->find("why"), std::string::npos);
    EXPECT_FALSE(IsResponseCode(result.code));
  }
  EXPECT_TRUE(IsResponseCode("2.05"));
  EXPECT_TRUE(IsResponseCode("5.03"));
}

TEST(PskKeyFileTest, FirstMatchingPatternWins) {
  auto keys = PskKeyFile::Parse(
      "# keys\n"
      "\n"
      "dev-a, secret-a , 127.0.0.1\n"
      "dev-v6,hex:00ff10,2001:db8::*\n"
      "fallback,other,*\n",
      "keys.csv");
  ASSERT_TRUE(keys.ok()) << keys.error().message;
  EXPECT_EQ(keys->size(), 3u);
  auto a = keys->Find({coap::Transport::kDtls, "127.0.0.1", 5684});
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->identity, "dev-a");
  EXPECT_EQ(a->key, "secret-a");
  auto v6 = keys->Find({coap::Transport::kDtls, "2001:db8::7", 5684});
  ASSERT_TRUE(v6.has_value());
  EXPECT_EQ(v6->identity, "dev-v6");
  EXPECT_EQ(v6->key, std::string("\x00\xff\x10", 3));
  auto other = keys->Find({coap::Transport::kDtls, "192.0.2.1", 5684});
  ASSERT_TRUE(other.has_value());
  EXPECT_EQ(other->identity, "fallback");
}

TEST(PskKeyFileTest, NoMatchIsNoKey) {
  auto keys = PskKeyFile::Parse("dev-a,secret,10.0.0.*\n", "keys.csv");
  ASSERT_TRUE(keys.ok());
  EXPECT_FALSE(keys->Find({coap::Transport::kDtls, "127.0.0.1", 5684}).has_value());
}

TEST(PskKeyFileTest, BadLinesNameFileAndLine) {
  for (const char* text : {"ok,key,*\nonly,two\n", "ok,key,*\n,key,*\n", "ok,key,*\nid,hex:abc,*\n",
                           "ok,key,*\nid,hex:zz,*\n"}) {
    auto keys = PskKeyFile::Parse(text, "keys.csv");
    ASSERT_FALSE(keys.ok()) << text;
    EXPECT_EQ(keys.error().message.rfind("keys.csv:2: ", 0), 0u) << keys.error().message;
  }
  auto missing = PskKeyFile::Load("/nonexistent/keys.csv");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message.find("/nonexistent/keys.csv"), std::string::npos);
}

}  // namespace
}  // namespace coapgw::executer
