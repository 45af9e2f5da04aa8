#include "coapgw/events/codec.hpp"

#include <algorithm>
#include <array>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "coapgw/common/time_format.hpp"

namespace coapgw::events {
namespace {

using std::chrono::milliseconds;
using ::testing::HasSubstr;

Timestamp At(const char* rfc3339) {
  return ParseRfc3339(rfc3339).value();
}

rapidjson::Document Parse(const std::string& json) {
  rapidjson::Document document;
  document.Parse(json.c_str(), json.size());
  EXPECT_FALSE(document.HasParseError()) << json;
  return document;
}

std::string Serialize(const rapidjson::Value& value) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  value.Accept(writer);
  return buffer.GetString();
}

Device SampleDevice() {
  Device device;
  device.device_id = "coapgw-3b5ff3b1-fd16-45cb-9f09-8650346c544e";
  device.endpoint = "node1";
  device.sector = "building-a";
  device.endpoint_type = "iot#40c41048-3910-468f-ae74-7425dde90963";
  device.base = "coap://[2001:db8::1]:5683";
  device.lifetime_s = 300;
  device.status = DeviceStatus::kConnected;
  device.location = "/rd/42";
  Link temperature;
  temperature.href = "/sensors/temp";
  temperature.resource_types = {"temperature-c", "oic.r.temperature"};
  temperature.interfaces = {"sensor"};
  temperature.content_formats = {0, 50};
  temperature.observable = true;
  temperature.attributes = {{"title", "Room temperature"}};
  Link led;
  led.href = "/actuators/led";
  led.anchor = "coap://[2001:db8::1]:5683/";
  device.links = {temperature, led};
  device.attributes = {{"firmware", "1.2.3"}};
  device.registered_at = At("2026-11-23T12:00:00.000Z");
  device.updated_at = At("2026-11-23T12:05:00.250Z");
  return device;
}

template <class T>
T Sample();

template <>
DeviceRegistered Sample<DeviceRegistered>() {
  return DeviceRegistered{SampleDevice()};
}
template <>
DeviceUpdated Sample<DeviceUpdated>() {
  return DeviceUpdated{SampleDevice(), {DeviceChange::kLinks, DeviceChange::kLifetime}};
}
template <>
DeviceRemoved Sample<DeviceRemoved>() {
  return DeviceRemoved{SampleDevice()};
}
template <>
DeviceExpired Sample<DeviceExpired>() {
  return DeviceExpired{SampleDevice()};
}
template <>
DeviceStatusChanged Sample<DeviceStatusChanged>() {
  Device device = SampleDevice();
  device.status = DeviceStatus::kDisconnected;
  return DeviceStatusChanged{device};
}
template <>
DeviceLiveness Sample<DeviceLiveness>() {
  return DeviceLiveness{"dev-1", true, 0, std::chrono::microseconds(850),
                        At("2026-11-23T12:00:01.001Z")};
}
template <>
ObservedData Sample<ObservedData>() {
  ObservedData data;
  data.device_id = "dev-1";
  data.service = "GET /sensors/temp";
  data.path = "/sensors/temp";
  data.code = "2.05";
  data.content_format = 50;
  data.payload = Payload{R"({"value":21.5,"unit":"Cel"})", PayloadEncoding::kText};
  data.observed = true;
  data.time = At("2026-11-23T12:00:02.002Z");
  return data;
}
template <>
Command Sample<Command>() {
  Command command;
  command.command_id = "5e0b4f9a-2a55-4c7b-9d43-0d6f1c2b7a10";
  command.device_id = "dev-1";
  command.service = "PUT /actuators/led";
  command.method = Method::kPut;
  command.path = "/actuators/led";
  command.query = "mode=blink";
  command.content_format = 50;
  command.accept = 0;
  command.payload = Payload{R"({"on":true})", PayloadEncoding::kText};
  command.deadline = At("2026-11-23T12:00:13.000Z");
  return command;
}
template <>
CommandResult Sample<CommandResult>() {
  CommandResult result;
  result.command_id = "5e0b4f9a-2a55-4c7b-9d43-0d6f1c2b7a10";
  result.device_id = "dev-1";
  result.code = "2.04";
  result.content_format = 42;
  result.payload = Payload{"AAEC/w==", PayloadEncoding::kBase64};
  result.duration = milliseconds(37);
  result.detail = "changed";
  return result;
}
template <>
ObserverHeartbeat Sample<ObserverHeartbeat>() {
  return ObserverHeartbeat{"observer-1", At("2026-11-23T11:59:00.000Z"), milliseconds(5000), 12};
}

// The keys each message may leave out; every other key is required.
constexpr std::array<std::string_view, 4> kOptionalKeys = {"rtt_us", "content_format", "accept",
                                                           "detail"};

bool IsOptionalKey(std::string_view key) {
  return std::find(kOptionalKeys.begin(), kOptionalKeys.end(), key) != kOptionalKeys.end();
}

template <class T>
class MessageCodecTest : public ::testing::Test {};

using MessageTypes = ::testing::Types<DeviceRegistered, DeviceUpdated, DeviceRemoved, DeviceExpired,
                                      DeviceStatusChanged, DeviceLiveness, ObservedData, Command,
                                      CommandResult, ObserverHeartbeat>;

class MessageTypeNames {
 public:
  template <class T>
  static std::string GetName(int /*index*/) {
    std::string name(T::kTopic);
    for (char& ch : name) {
      if (ch == '.' || ch == '-') {
        ch = '_';
      }
    }
    return name;
  }
};
TYPED_TEST_SUITE(MessageCodecTest, MessageTypes, MessageTypeNames);

TYPED_TEST(MessageCodecTest, EncodeThenDecodeGivesTheSameMessage) {
  const TypeParam original = Sample<TypeParam>();
  const std::string json = Encode(original);
  const rapidjson::Document document = Parse(json);
  const Result<TypeParam> decoded = Decode<TypeParam>(document);
  ASSERT_TRUE(decoded.ok()) << decoded.error().message;
  EXPECT_TRUE(*decoded == original) << json;
  EXPECT_EQ(Encode(*decoded), json);
}

TYPED_TEST(MessageCodecTest, ReencodeByTopicMatchesTheTypedCodec) {
  const std::string json = Encode(Sample<TypeParam>());
  const Result<std::string> reencoded = Reencode(TypeParam::kTopic, Parse(json));
  ASSERT_TRUE(reencoded.ok()) << reencoded.error().message;
  EXPECT_EQ(*reencoded, json);
}

TYPED_TEST(MessageCodecTest, EveryRequiredFieldMissingIsAnErrorNamingIt) {
  const rapidjson::Document full = Parse(Encode(Sample<TypeParam>()));
  for (auto member = full.MemberBegin(); member != full.MemberEnd(); ++member) {
    const std::string key = member->name.GetString();
    rapidjson::Document document;
    document.CopyFrom(full, document.GetAllocator());
    document.RemoveMember(key.c_str());
    const Result<TypeParam> decoded = Decode<TypeParam>(document);
    if (IsOptionalKey(key)) {
      EXPECT_TRUE(decoded.ok()) << key << ": " << decoded.error().message;
      continue;
    }
    ASSERT_FALSE(decoded.ok()) << "decoded without '" << key << "'";
    EXPECT_EQ(decoded.error().code, ErrorCode::kInvalidArgument);
    EXPECT_EQ(decoded.error().message, "field '" + key + "' is missing");
  }
}

TYPED_TEST(MessageCodecTest, EveryIllTypedFieldIsAnErrorNamingIt) {
  const rapidjson::Document full = Parse(Encode(Sample<TypeParam>()));
  for (auto member = full.MemberBegin(); member != full.MemberEnd(); ++member) {
    const std::string key = member->name.GetString();
    rapidjson::Document document;
    document.CopyFrom(full, document.GetAllocator());
    // An object where anything else is expected, a number where an object is expected.
    rapidjson::Value& value = document[key.c_str()];
    if (value.IsObject()) {
      value.SetDouble(1.5);
    } else {
      value.SetObject();
    }
    const Result<TypeParam> decoded = Decode<TypeParam>(document);
    ASSERT_FALSE(decoded.ok()) << "decoded with an ill-typed '" << key << "'";
    EXPECT_EQ(decoded.error().code, ErrorCode::kInvalidArgument);
    EXPECT_THAT(decoded.error().message, HasSubstr("field '" + key + "' must be")) << key;
  }
}

TYPED_TEST(MessageCodecTest, UnknownFieldsAreIgnored) {
  const TypeParam original = Sample<TypeParam>();
  rapidjson::Document document = Parse(Encode(original));
  auto& allocator = document.GetAllocator();
  rapidjson::Value future(rapidjson::kObjectType);
  future.AddMember("nested", rapidjson::Value(rapidjson::kArrayType), allocator);
  document.AddMember("added_in_v1_7", future, allocator);
  document.AddMember("another", "text", allocator);
  const Result<TypeParam> decoded = Decode<TypeParam>(document);
  ASSERT_TRUE(decoded.ok()) << decoded.error().message;
  EXPECT_TRUE(*decoded == original);
}

TYPED_TEST(MessageCodecTest, DataThatIsNotAnObjectIsAnError) {
  for (const char* json : {"[]", "null", "\"text\"", "42"}) {
    const Result<TypeParam> decoded = Decode<TypeParam>(Parse(json));
    ASSERT_FALSE(decoded.ok()) << json;
    EXPECT_EQ(decoded.error().code, ErrorCode::kInvalidArgument);
    EXPECT_EQ(decoded.error().message, "data must be a JSON object");
  }
}

TEST(CodecTest, WritesKeysInDocumentedOrderAndLeavesOutEmptyOptionals) {
  DeviceLiveness liveness = Sample<DeviceLiveness>();
  EXPECT_EQ(Encode(liveness),
            R"({"device_id":"dev-1","reachable":true,"consecutive_misses":0,"rtt_us":850,)"
            R"("checked_at":"2026-11-23T12:00:01.001Z"})");
  liveness.reachable = false;
  liveness.consecutive_misses = 2;
  liveness.rtt.reset();
  EXPECT_EQ(Encode(liveness), R"({"device_id":"dev-1","reachable":false,"consecutive_misses":2,)"
                              R"("checked_at":"2026-11-23T12:00:01.001Z"})");
}

TEST(CodecTest, DeviceRecordIsFlatWithNestedLinks) {
  const rapidjson::Document document = Parse(Encode(Sample<DeviceUpdated>()));
  EXPECT_STREQ(document["ep"].GetString(), "node1");
  EXPECT_STREQ(document["d"].GetString(), "building-a");
  EXPECT_EQ(document["lt_s"].GetUint(), 300U);
  EXPECT_EQ(document["status"].GetInt(), 1);
  const rapidjson::Value& link = document["links"][0];
  EXPECT_STREQ(link["href"].GetString(), "/sensors/temp");
  EXPECT_STREQ(link["rt"][1].GetString(), "oic.r.temperature");
  EXPECT_STREQ(link["if"][0].GetString(), "sensor");
  EXPECT_EQ(link["ct"][1].GetUint(), 50U);
  EXPECT_TRUE(link["obs"].GetBool());
  EXPECT_STREQ(link["attrs"]["title"].GetString(), "Room temperature");
  EXPECT_EQ(Serialize(document["changes"]), R"(["links","lt_s"])");
}

TEST(CodecTest, NestedFieldErrorsNameThePath) {
  struct Case {
    std::function<void(rapidjson::Document&)> break_it;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {[](rapidjson::Document& d) { d["links"][1].RemoveMember("href"); },
       "field 'links[1].href' is missing"},
      {[](rapidjson::Document& d) { d["links"][0]["ct"][1].SetInt(70000); },
       "field 'links[0].ct[1]' must be an integer in 0..65535"},
      {[](rapidjson::Document& d) { d["links"][0]["attrs"]["title"].SetBool(true); },
       "field 'links[0].attrs.title' must be a string"},
      {[](rapidjson::Document& d) { d["links"][0]["rt"][0].SetInt(3); },
       "field 'links[0].rt[0]' must be a string"},
      {[](rapidjson::Document& d) { d["links"][0].SetArray(); },
       "field 'links[0]' must be an object"},
  };
  const std::string json = Encode(Sample<DeviceRegistered>());
  for (const Case& c : cases) {
    rapidjson::Document document = Parse(json);
    c.break_it(document);
    const auto decoded = DecodeDeviceRegistered(document);
    ASSERT_FALSE(decoded.ok()) << c.expected;
    EXPECT_EQ(decoded.error().message, c.expected);
  }
}

TEST(CodecTest, RejectsValuesOutOfRangeOrMalformed) {
  const auto first_error = [](const std::string& json) {
    const auto decoded = DecodeCommandResult(Parse(json));
    return decoded.ok() ? std::string("ok") : decoded.error().message;
  };
  const std::string base = R"("command_id":"c","device_id":"d","code":"2.04","payload":"",)"
                           R"("payload_encoding":"text")";
  EXPECT_EQ(first_error("{" + base + R"(,"duration_ms":5})"), "ok");
  EXPECT_EQ(first_error("{" + base + R"(,"duration_ms":-5})"),
            "field 'duration_ms' must be a non-negative integer");
  EXPECT_EQ(first_error("{" + base + R"(,"duration_ms":5.5})"),
            "field 'duration_ms' must be a non-negative integer");
  EXPECT_EQ(first_error("{" + base + R"(,"duration_ms":5,"content_format":-1})"),
            "field 'content_format' must be an integer in 0..65535");
  EXPECT_EQ(first_error("{" + base + R"(,"duration_ms":5,"detail":null})"),
            "field 'detail' must be a string");

  const auto decoded = DecodeObserverHeartbeat(Parse(
      R"({"instance_id":"o","started_at":"2026-11-23 12:00:00Z","interval_ms":1,"owned_devices":0})"));
  ASSERT_FALSE(decoded.ok());
  EXPECT_EQ(decoded.error().message, "field 'started_at' must be an RFC 3339 time");
}

TEST(CodecTest, AcceptsAnyRfc3339OffsetAndWritesUtcMilliseconds) {
  const auto decoded = DecodeObserverHeartbeat(
      Parse(R"({"instance_id":"o","started_at":"2026-11-23T14:00:00.5+02:00","interval_ms":1,)"
            R"("owned_devices":0})"));
  ASSERT_TRUE(decoded.ok()) << decoded.error().message;
  EXPECT_EQ(decoded->started_at, At("2026-11-23T12:00:00.500Z"));
  EXPECT_THAT(Encode(*decoded), HasSubstr(R"("started_at":"2026-11-23T12:00:00.500Z")"));
}

TEST(CodecTest, UnknownEnumerationValuesDecodeAsUnknown) {
  rapidjson::Document updated = Parse(Encode(Sample<DeviceUpdated>()));
  auto& allocator = updated.GetAllocator();
  updated["changes"].PushBack("renamed-in-v2", allocator);
  updated["status"].SetInt(7);
  const auto device = DecodeDeviceUpdated(updated);
  ASSERT_TRUE(device.ok()) << device.error().message;
  EXPECT_EQ(device->changes,
            (std::vector<DeviceChange>{DeviceChange::kLinks, DeviceChange::kLifetime,
                                       DeviceChange::kUnknown}));
  EXPECT_EQ(device->device.status, DeviceStatus::kUnknown);
  EXPECT_TRUE(device->Changed(DeviceChange::kLinks));
  EXPECT_FALSE(device->Changed(DeviceChange::kEndpointType));

  rapidjson::Document command = Parse(Encode(Sample<Command>()));
  command["method"].SetString("SUBSCRIBE");
  command["payload_encoding"].SetString("zstd+base85");
  const auto decoded = DecodeCommand(command);
  ASSERT_TRUE(decoded.ok()) << decoded.error().message;
  EXPECT_EQ(decoded->method, Method::kUnknown);
  EXPECT_EQ(decoded->payload.encoding, PayloadEncoding::kUnknown);
}

TEST(CodecTest, EnumerationNamesRoundTrip) {
  for (const DeviceChange change :
       {DeviceChange::kEndpointType, DeviceChange::kBase, DeviceChange::kLifetime,
        DeviceChange::kStatus, DeviceChange::kLinks, DeviceChange::kAttributes}) {
    EXPECT_EQ(ParseDeviceChange(DeviceChangeName(change)), change);
  }
  EXPECT_EQ(DeviceChangeName(DeviceChange::kUnknown), "unknown");
  EXPECT_EQ(ParseDeviceChange("unknown"), DeviceChange::kUnknown);
}

TEST(CodecTest, InvalidUtf8InStringsIsReplacedSoTheOutputStaysJson) {
  Device device = SampleDevice();
  device.endpoint = "node\xFF\xC0";
  device.attributes = {{"k\xE2\x82", "v\xED\xA0\x80"}};
  const std::string json = Encode(DeviceRegistered{device});
  rapidjson::Document document;
  document.Parse<rapidjson::kParseValidateEncodingFlag>(json.c_str(), json.size());
  ASSERT_FALSE(document.HasParseError()) << json;
  EXPECT_STREQ(document["ep"].GetString(), "node\xEF\xBF\xBD\xEF\xBF\xBD");
  const auto attribute = document["attrs"].MemberBegin();
  EXPECT_STREQ(attribute->name.GetString(), "k\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_STREQ(attribute->value.GetString(), "v\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
}

TEST(CodecTest, StringsWithEmbeddedNulRoundTrip) {
  ObservedData data = Sample<ObservedData>();
  data.payload = Payload{std::string("a\0b", 3), PayloadEncoding::kText};
  const auto decoded = DecodeObservedData(Parse(Encode(data)));
  ASSERT_TRUE(decoded.ok()) << decoded.error().message;
  EXPECT_EQ(decoded->payload.data, std::string("a\0b", 3));
}

TEST(CodecTest, KnownTopicsAreTheMessageTopicsOnce) {
  const std::vector<std::string_view> expected = {
      DeviceRegistered::kTopic,    DeviceUpdated::kTopic,
      DeviceRemoved::kTopic,       DeviceExpired::kTopic,
      DeviceStatusChanged::kTopic, DeviceLiveness::kTopic,
      ObservedData::kTopic,        Command::kTopic,
      CommandResult::kTopic,       ObserverHeartbeat::kTopic};
  EXPECT_EQ(KnownTopics(), expected);
  EXPECT_EQ(std::set<std::string_view>(expected.begin(), expected.end()).size(), expected.size());
}

TEST(CodecTest, ReencodeOfAnUnknownTopicIsNotFound) {
  const auto result = Reencode("rd.device.renamed", Parse("{}"));
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().code, ErrorCode::kNotFound);
  EXPECT_THAT(result.error().message, HasSubstr("rd.device.renamed"));
}

TEST(CodecTest, ReencodePassesDecodeErrorsOn) {
  const auto result = Reencode(DeviceLiveness::kTopic, Parse(R"({"device_id":"d"})"));
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(result.error().message, "field 'reachable' is missing");
}

}  // namespace
}  // namespace coapgw::events
