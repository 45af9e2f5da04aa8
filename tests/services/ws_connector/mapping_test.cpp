#include "ws_connector/mapping.hpp"

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include "coapgw/common/time_format.hpp"

namespace coapgw::ws_connector {
namespace {

rapidjson::Document Parse(const std::string& json) {
  rapidjson::Document doc;
  doc.Parse(json.c_str());
  EXPECT_FALSE(doc.HasParseError()) << json;
  return doc;
}

events::Device MakeDevice() {
  events::Device device;
  device.device_id = "1";
  device.endpoint = "node-1";
  device.endpoint_type = "iot#40c41048-3910-468f-ae74-7425dde90963";
  return device;
}

TEST(MappingTest, DeviceMapsToUriNameTypeAndTheSpecHash) {
  const auto device = ToPlatformDevice(MakeDevice());
  EXPECT_EQ(device.id, "1");
  EXPECT_EQ(device.name, "node-1");
  EXPECT_TRUE(device.tags.empty());
  // platform-protocol.md §11 test vector.
  EXPECT_EQ(ws::platform::GatewayHashOf({device}), "c0105876bcc53a154372fbabd91c9b8f40fef1e9");
  EXPECT_EQ(PutPayload(device),
            R"({"uri":"1","name":"node-1","iot_type":"iot#40c41048-3910-468f-ae74-7425dde90963",)"
            R"("tags":[]})");
}

TEST(MappingTest, SectorBecomesATagUnlessItCannotBeOne) {
  auto device = MakeDevice();
  device.sector = "plant";
  ASSERT_EQ(ToPlatformDevice(device).tags.size(), 1U);
  EXPECT_EQ(ToPlatformDevice(device).tags[0],
            std::make_pair(std::string("d"), std::string("plant")));
  device.sector = "a:b";
  EXPECT_TRUE(ToPlatformDevice(device).tags.empty());
}

TEST(MappingTest, OnlyConnectedDevicesAreListed) {
  auto device = MakeDevice();
  EXPECT_TRUE(IsPlatformListed(device));
  device.status = events::DeviceStatus::kDisconnected;
  EXPECT_FALSE(IsPlatformListed(device));
}

TEST(MappingTest, MissingTypeFallsBackToTheDefaultType) {
  auto device = MakeDevice();
  device.endpoint_type.clear();
  EXPECT_FALSE(HasPlatformType(device, ""));
  EXPECT_TRUE(HasPlatformType(device, "iot#default"));
  EXPECT_EQ(ToPlatformDevice(device, "iot#default").type, "iot#default");
  // The registration's own et wins over the default.
  EXPECT_EQ(ToPlatformDevice(MakeDevice(), "iot#default").type,
            "iot#40c41048-3910-468f-ae74-7425dde90963");
}

TEST(MappingTest, EventCarriesMetadataAndDataAsStrings) {
  events::ObservedData data;
  data.device_id = "1";
  data.service = "GET /sensors/temp";
  data.path = "/sensors/temp";
  data.code = "2.05";
  data.content_format = 50;
  data.payload.data = R"({"t":21.5})";
  data.observed = true;
  data.time = *ParseRfc3339("2026-11-23T12:00:00.000Z");
  const auto doc = Parse(EventPayload(data));
  EXPECT_STREQ(doc["device_uri"].GetString(), "1");
  EXPECT_STREQ(doc["service_uri"].GetString(), "GET /sensors/temp");
  EXPECT_STREQ(doc["value"][0]["name"].GetString(), "metadata");
  EXPECT_STREQ(
      doc["value"][0]["value"].GetString(),
      R"({"content_format":50,"code":"2.05","observed":true,"time":"2026-11-23T12:00:00.000Z"})");
  EXPECT_STREQ(doc["value"][1]["name"].GetString(), "data");
  EXPECT_STREQ(doc["value"][1]["value"].GetString(), R"({"t":21.5})");

  const auto target = EventTargetOf(EventPayload(data));
  ASSERT_TRUE(target.has_value());
  EXPECT_EQ(target->device, "1");
  EXPECT_EQ(target->service, "GET /sensors/temp");
  EXPECT_FALSE(EventTargetOf("not json").has_value());
  EXPECT_FALSE(EventTargetOf(R"({"device_uri":"1"})").has_value());
  EXPECT_FALSE(EventTargetOf(R"({"device_uri":1,"service_uri":"GET /x"})").has_value());
}

TEST(MappingTest, CommandResolvesServiceMetadataAndData) {
  auto command = ParseCommand(
      R"({"device_url":"7","service_url":"on","protocol_parts":[)"
      R"({"name":"metadata","value":"{\"content_format\":50,\"accept\":0,\"query\":\"x=1\"}"},)"
      R"({"name":"data","value":"{\"on\":true}"}]})");
  ASSERT_TRUE(command.ok()) << command.error().message;
  EXPECT_EQ(command->device_id, "7");
  EXPECT_EQ(command->method, events::Method::kPut);  // bare path with data
  EXPECT_EQ(command->path, "/on");
  EXPECT_EQ(command->query, "x=1");
  EXPECT_EQ(command->content_format, std::optional<uint16_t>(50));
  EXPECT_EQ(command->accept, std::optional<uint16_t>(0));
  EXPECT_EQ(command->payload.data, R"({"on":true})");

  auto get = ParseCommand(R"({"device_url":"7","service_url":"GET /a?b=2","protocol_parts":null})");
  ASSERT_TRUE(get.ok());
  EXPECT_EQ(get->method, events::Method::kGet);
  EXPECT_EQ(get->query, "b=2");
}

TEST(MappingTest, BadCommandsNameTheProblem) {
  EXPECT_FALSE(ParseCommand("[]").ok());
  EXPECT_NE(ParseCommand(R"({"service_url":"GET /a"})").error().message.find("device_url"),
            std::string::npos);
  EXPECT_NE(ParseCommand(R"({"device_url":"1","service_url":"SUBSCRIBE /a"})")
                .error()
                .message.find("service_url"),
            std::string::npos);
}

TEST(MappingTest, ResponseEchoesTheCommandWithNewProtocolParts) {
  const auto doc = Parse(ResponsePayload(
      R"({"task_id":"t","worker_id":"w","protocol_parts":[{"name":"data","value":"x"}]})", "2.04",
      0, "ok"));
  EXPECT_STREQ(doc["task_id"].GetString(), "t");
  EXPECT_STREQ(doc["worker_id"].GetString(), "w");
  ASSERT_EQ(doc["protocol_parts"].Size(), 2U);
  EXPECT_STREQ(doc["protocol_parts"][0]["value"].GetString(),
               R"({"code":"2.04","content_format":0})");
  EXPECT_STREQ(doc["protocol_parts"][1]["value"].GetString(), "ok");
  const auto timeout = Parse(ResponsePayload("{}", "timeout", std::nullopt, ""));
  EXPECT_STREQ(timeout["protocol_parts"][0]["value"].GetString(), R"({"code":"timeout"})");
}

}  // namespace
}  // namespace coapgw::ws_connector
