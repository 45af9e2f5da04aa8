#include "coapgw/linkformat/link_format.hpp"

#include <random>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "examples.hpp"

namespace coapgw::linkformat {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

// Prints a Link readably in failure messages.
std::string Show(const std::vector<Link>& links) {
  return "[" + Serialize(links) + "]";
}

class LinkFormatExampleTest : public ::testing::TestWithParam<test::ParseCase> {};

TEST_P(LinkFormatExampleTest, ParsesToExpectedLinks) {
  const test::ParseCase& example = GetParam();
  Result<std::vector<Link>> links = Parse(example.payload);
  ASSERT_TRUE(links.ok()) << links.error().message;
  EXPECT_EQ(*links, example.links) << "got " << Show(*links) << "\nwant " << Show(example.links);
}

TEST_P(LinkFormatExampleTest, SerializeRoundTrips) {
  const std::vector<Link>& links = GetParam().links;
  const std::string text = Serialize(links);
  Result<std::vector<Link>> reparsed = Parse(text);
  ASSERT_TRUE(reparsed.ok()) << reparsed.error().message << " in " << text;
  EXPECT_EQ(*reparsed, links) << text;
  EXPECT_EQ(Serialize(*reparsed), text);
}

INSTANTIATE_TEST_SUITE_P(Examples, LinkFormatExampleTest, ::testing::ValuesIn(test::ParseCases()),
                         [](const auto& param_info) { return param_info.param.name; });

class LinkFormatErrorTest : public ::testing::TestWithParam<test::ErrorCase> {};

TEST_P(LinkFormatErrorTest, FailsNamingTheOffset) {
  const test::ErrorCase& example = GetParam();
  Result<std::vector<Link>> links = Parse(example.payload);
  ASSERT_FALSE(links.ok()) << "parsed as " << Show(*links);
  EXPECT_EQ(links.error().code, example.code);
  EXPECT_EQ(links.error().message, example.message);
}

INSTANTIATE_TEST_SUITE_P(Malformed, LinkFormatErrorTest, ::testing::ValuesIn(test::ErrorCases()),
                         [](const auto& param_info) { return param_info.param.name; });

std::string RepeatLinks(size_t count) {
  std::string payload;
  for (size_t i = 0; i < count; ++i) {
    payload += (i == 0 ? "" : ",");
    payload += "</s/" + std::to_string(i) + ">;rt=x";
  }
  return payload;
}

TEST(LinkFormatLimitsTest, DefaultLimitAcceptsTenThousandLinks) {
  Result<std::vector<Link>> links = Parse(RepeatLinks(10000));
  ASSERT_TRUE(links.ok()) << links.error().message;
  EXPECT_EQ(links->size(), 10000U);
  EXPECT_EQ(links->back().target, "/s/9999");
}

TEST(LinkFormatLimitsTest, OneLinkOverTheDefaultLimitIsTooLarge) {
  const std::string payload = RepeatLinks(10001);
  Result<std::vector<Link>> links = Parse(payload);
  ASSERT_FALSE(links.ok());
  EXPECT_EQ(links.error().code, ErrorCode::kTooLarge);
  const size_t last_link = payload.rfind('<');
  EXPECT_EQ(links.error().message,
            "link-format: more than 10000 links (max_links) at byte " + std::to_string(last_link));
}

TEST(LinkFormatLimitsTest, PayloadOverMaxBytesIsRejectedBeforeParsing) {
  ParseLimits limits;
  limits.max_bytes = 16;
  EXPECT_TRUE(Parse("</0123456789ab>", limits).ok());                    // 15 bytes
  Result<std::vector<Link>> links = Parse("</0123456789abc>;", limits);  // malformed, 17 bytes
  ASSERT_FALSE(links.ok());
  EXPECT_EQ(links.error().code, ErrorCode::kTooLarge);
  EXPECT_EQ(links.error().message, "link-format: payload of 17 bytes exceeds max_bytes (16)");
}

TEST(LinkFormatLimitsTest, DefaultMaxBytesStopsAVeryLongQuotedValue) {
  const std::string payload = "</a>;title=\"" + std::string(size_t{2} * 1024 * 1024, 'x') + "\"";
  Result<std::vector<Link>> links = Parse(payload);
  ASSERT_FALSE(links.ok());
  EXPECT_EQ(links.error().code, ErrorCode::kTooLarge);
}

TEST(LinkFormatLimitsTest, AttributesPerLinkAreBounded) {
  std::string payload = "</a>";
  for (int i = 0; i < 65; ++i) {
    payload += ";obs";
  }
  Result<std::vector<Link>> links = Parse(payload);
  ASSERT_FALSE(links.ok());
  EXPECT_EQ(links.error().code, ErrorCode::kTooLarge);
  EXPECT_EQ(links.error().message,
            "link-format: more than 64 attributes in one link (max_attributes_per_link) at byte " +
                std::to_string(4 + 64 * 4 + 1));
  payload.resize(payload.size() - 4);
  EXPECT_TRUE(Parse(payload).ok());
}

TEST(LinkFormatLimitsTest, AttributesInTheWholePayloadAreBounded) {
  ParseLimits limits;
  limits.max_attributes = 3;
  EXPECT_TRUE(Parse("</a>;x;y,</b>;z", limits).ok());
  Result<std::vector<Link>> links = Parse("</a>;x;y,</b>;z;w", limits);
  ASSERT_FALSE(links.ok());
  EXPECT_EQ(links.error().code, ErrorCode::kTooLarge);
  EXPECT_EQ(links.error().message,
            "link-format: more than 3 attributes (max_attributes) at byte 16");
}

TEST(LinkFormatTest, ParsesQuotedParameterContainingComma) {
  Result<std::vector<Link>> links = Parse("</t>;rt=\"tag:example.org,2020:temperature\",</u>");
  ASSERT_TRUE(links.ok()) << links.error().message;
  ASSERT_EQ(links->size(), 2U);
  EXPECT_EQ((*links)[0].Find("rt"), "tag:example.org,2020:temperature");
  EXPECT_EQ((*links)[1].target, "/u");
}

TEST(LinkFormatTest, FindHasAndValuesMatchNamesCaseInsensitively) {
  Result<std::vector<Link>> links =
      Parse("</a>;rt=\"x  y\";RT=z;obs;if=\"a\tb\";title=\"t u\";sz;sz=5;rel=next");
  ASSERT_TRUE(links.ok()) << links.error().message;
  const Link& link = links->front();
  EXPECT_EQ(link.Find("rt"), "x  y");
  EXPECT_EQ(link.Find("Rt"), "x  y");
  EXPECT_THAT(link.Values("rt"), ElementsAre("x", "y", "z"));
  EXPECT_THAT(link.Values("if"), ElementsAre("a", "b"));
  EXPECT_THAT(link.Values("rel"), ElementsAre("next"));
  EXPECT_THAT(link.Values("title"), ElementsAre("t u"));  // not a relation-types attribute
  EXPECT_THAT(link.Values("obs"), IsEmpty());
  EXPECT_TRUE(link.Has("obs"));
  EXPECT_EQ(link.Find("obs"), std::nullopt);
  EXPECT_EQ(link.Find("sz"), "5");  // the first occurrence that has a value
  ASSERT_NE(link.FindAttribute("SZ"), nullptr);
  EXPECT_EQ(link.FindAttribute("SZ")->value, std::nullopt);
  EXPECT_FALSE(link.Has("ct"));
  EXPECT_EQ(link.Find("ct"), std::nullopt);
  EXPECT_THAT(link.Values("ct"), IsEmpty());
}

TEST(LinkFormatTest, SerializeWritesCompactRfc6690Form) {
  const std::vector<Link> links = {
      {"/sensors", {{"ct", "40"}, {"title", "Sensor Index"}}},
      {"/t", {{"anchor", "/sensors/temp"}, {"rel", "alternate"}, {"obs", std::nullopt}}},
      {"/q", {{"rt", "a b"}, {"d", ""}, {"x", R"(say "hi" \)"}, {"title", "x"}}},
  };
  EXPECT_EQ(Serialize(links),
            "</sensors>;ct=40;title=\"Sensor Index\","
            "</t>;anchor=\"/sensors/temp\";rel=alternate;obs,"
            "</q>;rt=\"a b\";d=\"\";x=\"say \\\"hi\\\" \\\\\";title=\"x\"");
  EXPECT_EQ(Serialize({}), "");
}

TEST(LinkFormatTest, SerializePercentEncodesWhatNoTargetMayHold) {
  const std::vector<Link> links = {{"/a b>c\"d", {}}};
  EXPECT_EQ(Serialize(links), "</a%20b%3Ec%22d>");
  EXPECT_TRUE(Parse(Serialize(links)).ok());
}

TEST(LinkFormatTest, SerializeEscapesControlCharactersSoTheyRoundTrip) {
  const std::vector<Link> links = {{"/a", {{"title", "line\nbreak\ttab\x7F"}}}};
  Result<std::vector<Link>> reparsed = Parse(Serialize(links));
  ASSERT_TRUE(reparsed.ok()) << reparsed.error().message;
  EXPECT_EQ(*reparsed, links);
}

TEST(LinkFormatTest, AttributeNameValidity) {
  EXPECT_TRUE(IsValidAttributeName("rt"));
  EXPECT_TRUE(IsValidAttributeName("title*"));
  EXPECT_TRUE(IsValidAttributeName("x-Y.z_1!#$&+^`|~"));
  EXPECT_FALSE(IsValidAttributeName(""));
  EXPECT_FALSE(IsValidAttributeName("*"));
  EXPECT_FALSE(IsValidAttributeName("a b"));
  EXPECT_FALSE(IsValidAttributeName("a=b"));
  EXPECT_FALSE(IsValidAttributeName("a**"));
  EXPECT_TRUE(IsRelationTypes("REL"));
  EXPECT_FALSE(IsRelationTypes("ct"));
}

// Property: for generated links (any valid names, values drawn from every byte class but NUL,
// valid targets), Parse(Serialize(x)) == x. Fixed seed and bounded count keep it deterministic.
TEST(LinkFormatPropertyTest, SerializeThenParseIsIdentityOnGeneratedLinks) {
  std::mt19937 random(20240601);  // NOLINT(cert-msc51-cpp): reproducible on purpose
  const auto pick = [&random](size_t n) {
    return std::uniform_int_distribution<size_t>(0, n - 1)(random);
  };
  const std::vector<std::string> targets = {
      "",   "/a", "/sensors/temp", "coap://[::1]:5683/x?y#z", "rel/path", "/Malmö", "/%41b",
      "?q", "#f"};
  const std::string name_chars = "abcXYZ019!#$&+-.^_`|~";
  const std::vector<std::string> value_pieces = {
      "a",  " ",  "\"",   "\\", ",", ";", "<", ">", "=",
      "\t", "\n", "\x01", "é",  "☃", "%", "'", "*", "tag:example.org,2020:x"};
  for (int round = 0; round < 300; ++round) {
    std::vector<Link> links(1 + pick(4));
    for (Link& link : links) {
      link.target = targets[pick(targets.size())];
      link.attributes.resize(pick(5));
      for (Attribute& attribute : link.attributes) {
        attribute.name.clear();
        for (size_t i = 0, n = 1 + pick(4); i < n; ++i) {
          attribute.name += name_chars[pick(name_chars.size())];
        }
        if (pick(4) == 0) {
          attribute.name += '*';
        }
        if (pick(5) == 0) {
          continue;  // valueless
        }
        std::string value;
        for (size_t i = 0, n = pick(6); i < n; ++i) {
          value += value_pieces[pick(value_pieces.size())];
        }
        attribute.value = value;
      }
    }
    const std::string text = Serialize(links);
    Result<std::vector<Link>> reparsed = Parse(text);
    ASSERT_TRUE(reparsed.ok()) << reparsed.error().message << " in " << text;
    ASSERT_EQ(*reparsed, links) << text;
  }
}

}  // namespace
}  // namespace coapgw::linkformat
