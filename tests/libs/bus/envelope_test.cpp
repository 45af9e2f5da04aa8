#include "coapgw/bus/envelope.hpp"

#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>
#include <rapidjson/schema.h>

namespace coapgw::bus {
namespace {

rapidjson::Document Parse(const std::string& json) {
  rapidjson::Document document;
  document.Parse(json.c_str(), json.size());
  EXPECT_FALSE(document.HasParseError()) << json;
  return document;
}

std::string Envelope(std::string_view topic, uint64_t seq, std::string_view data = "{}") {
  std::string out;
  AppendEnvelope(out, topic, "rd-0123abcd", seq, "2026-11-23T12:00:00.123Z", data);
  return out;
}

TEST(TopicTest, TopicsAreDotSeparatedSegments) {
  for (const char* topic : {"rd.device.registered", "observer.data", "a", "x_y-z.9"}) {
    EXPECT_TRUE(IsValidTopic(topic)) << topic;
  }
  for (const char* topic :
       {"", ".", "rd.", ".rd", "rd..device", "rd device", "rd/device", "r\"d", "\xC3\xA9"}) {
    EXPECT_FALSE(IsValidTopic(topic)) << topic;
  }
}

TEST(TopicTest, PrefixesAreTopicsOrEndWithADot) {
  for (const char* prefix : {"", "rd.", "rd.device.", "rd.device.registered"}) {
    EXPECT_TRUE(IsValidTopicPrefix(prefix)) << prefix;
  }
  for (const char* prefix : {".", "rd..", "rd.device..", " rd."}) {
    EXPECT_FALSE(IsValidTopicPrefix(prefix)) << prefix;
  }
}

TEST(EnvelopeTest, AssemblesTheContractShapeAroundTheDataAsIs) {
  EXPECT_EQ(Envelope("rd.device.registered", 42, R"({"ep":"node1","n":[1,2]})"),
            R"({"type":"rd.device.registered","v":1,"publisher":"rd-0123abcd","seq":42,)"
            R"("time":"2026-11-23T12:00:00.123Z","data":{"ep":"node1","n":[1,2]}})");
}

TEST(EnvelopeTest, RoundTripsThroughTheHeaderReader) {
  const auto document = Parse(Envelope("observer.data", 18446744073709551615ULL, R"({"x":1})"));
  const auto header = ReadEnvelopeHeader(document, "observer.data");
  ASSERT_TRUE(header.ok()) << header.error().message;
  EXPECT_EQ(header->publisher, "rd-0123abcd");
  EXPECT_EQ(header->seq, 18446744073709551615ULL);
  EXPECT_EQ(header->time, "2026-11-23T12:00:00.123Z");
  EXPECT_EQ(document["data"]["x"].GetInt(), 1);
}

TEST(EnvelopeTest, AcceptsAnyKeyOrderAndUnknownFields) {
  const auto document =
      Parse(R"({"data":{},"seq":1,"extra":true,"time":"2026-11-23T12:00:00Z","publisher":"p-1",)"
            R"("v":1,"type":"a.b"})");
  EXPECT_TRUE(ReadEnvelopeHeader(document, "a.b").ok());
}

struct BadEnvelope {
  const char* json;
  const char* reason;  // expected in the error message
};

TEST(EnvelopeTest, NamesTheFirstProblemOfABadEnvelope) {
  const BadEnvelope cases[] = {
      {R"([1,2])", "not a JSON object"},
      {R"({"v":1})", "\"type\""},
      {R"({"type":"other.topic","v":1})", "differs from the topic"},
      {R"({"type":"a.b"})", "\"v\""},
      {R"({"type":"a.b","v":"1"})", "\"v\""},
      {R"({"type":"a.b","v":1,"seq":1})", "\"publisher\""},
      {R"({"type":"a.b","v":1,"publisher":""})", "\"publisher\""},
      {R"({"type":"a.b","v":1,"publisher":"p"})", "\"seq\""},
      {R"({"type":"a.b","v":1,"publisher":"p","seq":0})", "\"seq\""},
      {R"({"type":"a.b","v":1,"publisher":"p","seq":-3})", "\"seq\""},
      {R"({"type":"a.b","v":1,"publisher":"p","seq":1.5})", "\"seq\""},
      {R"({"type":"a.b","v":1,"publisher":"p","seq":1,"time":"yesterday"})", "\"time\""},
      {R"({"type":"a.b","v":1,"publisher":"p","seq":1,"time":"2026-11-23T12:00:00Z"})", "\"data\""},
      {R"({"type":"a.b","v":1,"publisher":"p","seq":1,"time":"2026-11-23T12:00:00Z","data":3})",
       "\"data\""},
  };
  for (const auto& bad : cases) {
    const auto header = ReadEnvelopeHeader(Parse(bad.json), "a.b");
    ASSERT_FALSE(header.ok()) << bad.json;
    EXPECT_EQ(header.error().code, ErrorCode::kInvalidArgument) << bad.json;
    EXPECT_NE(header.error().message.find(bad.reason), std::string::npos)
        << bad.json << " -> " << header.error().message;
  }
}

TEST(EnvelopeTest, AnotherVersionIsUnsupportedRatherThanMalformed) {
  std::string json = Envelope("a.b", 1);
  json.replace(json.find("\"v\":1"), 5, "\"v\":2");
  const auto header = ReadEnvelopeHeader(Parse(json), "a.b");
  ASSERT_FALSE(header.ok());
  EXPECT_EQ(header.error().code, ErrorCode::kUnsupported);
}

TEST(EnvelopeTest, LooksLikeJsonObjectIsACheapGuard) {
  EXPECT_TRUE(LooksLikeJsonObject("{}"));
  EXPECT_TRUE(LooksLikeJsonObject(" {\"a\":1}\n"));
  EXPECT_FALSE(LooksLikeJsonObject(""));
  EXPECT_FALSE(LooksLikeJsonObject("[]"));
  EXPECT_FALSE(LooksLikeJsonObject("{"));
  EXPECT_FALSE(LooksLikeJsonObject("\"{}\""));
}

// proto/envelope.schema.json and the code describe the same envelope.
class EnvelopeSchemaTest : public testing::Test {
 protected:
  static rapidjson::Document LoadSchema() {
    std::ifstream file(COAPGW_BUS_TEST_SOURCE_DIR "/proto/envelope.schema.json");
    std::stringstream text;
    text << file.rdbuf();
    EXPECT_FALSE(text.str().empty()) << "proto/envelope.schema.json not found";
    return Parse(text.str());
  }

  bool Valid(const std::string& json) {
    rapidjson::SchemaValidator validator(schema_);
    return Parse(json).Accept(validator);
  }

  rapidjson::Document schema_document_ = LoadSchema();
  rapidjson::SchemaDocument schema_{schema_document_};
};

TEST_F(EnvelopeSchemaTest, AcceptsWhatThePublisherWrites) {
  EXPECT_TRUE(Valid(Envelope("rd.device.registered", 1, R"({"ep":"node1"})")));
  EXPECT_TRUE(Valid(Envelope("observer.data", 18446744073709551615ULL)));
}

TEST_F(EnvelopeSchemaTest, RejectsWhatThePublisherNeverWrites) {
  const std::string good = Envelope("a.b", 7);
  const auto with = [&](const std::string& from, const std::string& to) {
    std::string json = good;
    json.replace(json.find(from), from.size(), to);
    return json;
  };
  EXPECT_FALSE(Valid(with(R"("type":"a.b")", R"("type":"a..b")")));
  EXPECT_FALSE(Valid(with(R"("v":1)", R"("v":2)")));
  EXPECT_FALSE(Valid(with(R"("publisher":"rd-0123abcd")", R"("publisher":"rd")")));
  EXPECT_FALSE(Valid(with(R"("seq":7)", R"("seq":0)")));
  EXPECT_FALSE(Valid(with(R"("seq":7)", R"("seq":"7")")));
  EXPECT_FALSE(Valid(with(R"(12:00:00.123Z)", R"(12:00:00Z)")));
  EXPECT_FALSE(Valid(with(R"(12:00:00.123Z)", R"(12:00:00.123+01:00)")));
  EXPECT_FALSE(Valid(with(R"("data":{})", R"("data":[])")));
  EXPECT_FALSE(Valid(with(R"(,"data":{})", "")));
}

}  // namespace
}  // namespace coapgw::bus
