// The Go-compatibility layer: encoding/json decoding errors and output, fmt's %v.

#include "platform_sim/go_json.hpp"

#include <gtest/gtest.h>

#include "platform_sim_testing.hpp"

namespace coapgw::platform_sim {
namespace {

using test::ParseJson;

std::string DeviceError(const std::string& json) {
  const auto result = DecodeConnectorDevice(ParseJson(json));
  return result.ok() ? "ok" : result.error().message;
}

std::string EventError(const std::string& json) {
  const auto result = DecodeEventMessage(ParseJson(json));
  return result.ok() ? "ok" : result.error().message;
}

TEST(GoJsonTest, ConnectorDeviceDecodesLikeEncodingJson) {
  const auto device = DecodeConnectorDevice(
      ParseJson(R"({"URI":"1","name":"n","iot_type":"t","tags":["a:b",null],"x":1,"uri":"2"})"));
  ASSERT_TRUE(device.ok());
  EXPECT_EQ(device->uri, "2");  // exact key wins over the earlier case-insensitive one
  EXPECT_EQ(device->name, "n");
  EXPECT_EQ(device->tags, (std::vector<std::string>{"a:b", ""}));
  EXPECT_EQ(DeviceError("null"), "ok");
  EXPECT_EQ(DeviceError(R"({"uri":null})"), "ok");
  EXPECT_EQ(DeviceError(R"("x")"),
            "json: cannot unmarshal string into Go value of type model.ConnectorDevice");
  EXPECT_EQ(DeviceError("[1]"),
            "json: cannot unmarshal array into Go value of type model.ConnectorDevice");
  EXPECT_EQ(
      DeviceError(R"({"uri":5})"),
      "json: cannot unmarshal number into Go struct field ConnectorDevice.uri of type string");
  EXPECT_EQ(DeviceError(R"({"tags":"a:b"})"),
            "json: cannot unmarshal string into Go struct field ConnectorDevice.tags of type "
            "[]string");
  EXPECT_EQ(DeviceError(R"({"tags":[{}]})"),
            "json: cannot unmarshal object into Go struct field ConnectorDevice.tags of type "
            "string");
}

TEST(GoJsonTest, EventMessageDecodesLikeEncodingJson) {
  const auto event = DecodeEventMessage(ParseJson(
      R"({"device_uri":"d","service_uri":"GET /t","value":[{"name":"metadata","value":null},{"name":"data","value":"42"}]})"));
  ASSERT_TRUE(event.ok());
  ASSERT_EQ(event->value.size(), 2U);
  EXPECT_EQ(event->value[0].value, "");
  EXPECT_EQ(GoSprint(*event), "{d GET /t [{metadata } {data 42}]}");
  EXPECT_EQ(EventError(R"({"value":{}})"),
            "json: cannot unmarshal object into Go struct field EventMessage.value of type "
            "formatter_lib.EventMsg");
  EXPECT_EQ(EventError(R"({"value":[1]})"),
            "json: cannot unmarshal number into Go struct field EventMessage.value of type "
            "formatter_lib.ProtocolPart");
  EXPECT_EQ(EventError(R"({"value":[{"name":"data","value":{"a":1}}]})"),
            "json: cannot unmarshal object into Go struct field ProtocolPart.value of type string");
  EXPECT_EQ(EventError("true"),
            "json: cannot unmarshal bool into Go value of type model.EventMessage");
}

TEST(GoJsonTest, RequestAndCredentialsAcceptNullAndRejectWrongTypes) {
  EXPECT_TRUE(DecodeRawRequest(ParseJson("null")).ok());
  EXPECT_EQ(DecodeRawRequest(ParseJson(R"({"Handler":"put","token":null})"))->handler, "put");
  EXPECT_FALSE(DecodeRawRequest(ParseJson(R"({"handler":1})")).ok());
  EXPECT_FALSE(DecodeRawRequest(ParseJson("[]")).ok());
  const auto credentials =
      DecodeCredentials(ParseJson(R"({"user":"u","pw":"p","gid":"g","token":"t"})"));
  ASSERT_TRUE(credentials.ok());
  EXPECT_EQ(credentials->password, "p");
  EXPECT_EQ(credentials->gateway_id, "g");
  EXPECT_FALSE(DecodeCredentials(ParseJson(R"({"gid":7})")).ok());
}

TEST(GoJsonTest, OutputSortsKeysEscapesHtmlAndFormatsFloatsAsGo) {
  EXPECT_EQ(GoJson(ParseJson(R"({"b":1,"a":{"z":[true,null],"y":"<&>"},"b":2})")),
            R"({"a":{"y":"\u003c\u0026\u003e","z":[true,null]},"b":2})");
  EXPECT_EQ(GoQuote("tab\there\nq\"\\\x01"), R"("tab\there\nq\"\\\u0001")");
  EXPECT_EQ(GoQuote("bad \xff utf8, ok \xc3\xa9, sep \xe2\x80\xa8"),
            R"("bad \ufffd utf8, ok é, sep \u2028")");
  const std::pair<const char*, const char*> floats[] = {{"42", "42"},
                                                        {"-0.5", "-0.5"},
                                                        {"0.1", "0.1"},
                                                        {"1e20", "100000000000000000000"},
                                                        {"1e21", "1e+21"},
                                                        {"1.5e300", "1.5e+300"},
                                                        {"1e-7", "1e-7"},
                                                        {"0.000001", "0.000001"},
                                                        {"123456789012", "123456789012"},
                                                        {"2.5e-10", "2.5e-10"}};
  for (const auto& [in, out] : floats) {
    EXPECT_EQ(GoJson(ParseJson(in)), out) << in;
  }
}

TEST(GoJsonTest, KindsAndMessages) {
  EXPECT_STREQ(GoKind(ParseJson(R"("x")")), "string");
  EXPECT_STREQ(GoKind(ParseJson("{}")), "map");
  EXPECT_STREQ(GoKind(ParseJson("[]")), "slice");
  EXPECT_STREQ(GoKind(ParseJson("1")), "float64");
  EXPECT_STREQ(GoKind(ParseJson("false")), "bool");
  EXPECT_EQ(
      GoMessage(200, "response", "t", "string", GoQuote("ok")),
      R"({"status":200,"handler":"response","token":"t","content_type":"string","payload":"ok"})");
  EXPECT_EQ(GoSprintln({{"iot#1", "Sensor", "GET /a"}, {"iot#2", "Actuator", "PUT /b"}}),
            "[{iot#1 Sensor GET /a} {iot#2 Actuator PUT /b}]\n");
}

}  // namespace
}  // namespace coapgw::platform_sim
