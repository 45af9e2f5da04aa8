#include "coapgw/events/payload.hpp"

#include <string>

#include <gtest/gtest.h>

namespace coapgw::events {
namespace {

TEST(PayloadTest, TextLikeContentFormatsTravelAsIs) {
  for (const std::uint16_t format :
       {0, 40, 41, 50, 51, 52, 110, 111, 256, 310, 311, 320, 432, 11543}) {
    EXPECT_TRUE(IsTextContentFormat(format)) << format;
    const Payload payload = EncodePayload(
        "{\"v\":\"21.5 \xC2\xB0"
        "C\"}\n",
        format);
    EXPECT_EQ(payload.encoding, PayloadEncoding::kText) << format;
    EXPECT_EQ(payload.data,
              "{\"v\":\"21.5 \xC2\xB0"
              "C\"}\n")
        << format;
  }
}

TEST(PayloadTest, BinaryContentFormatsTravelAsBase64EvenWhenPrintable) {
  // 42 octet-stream, 47 exi, 60 cbor, 112 senml+cbor, 11050 json with deflate coding,
  // 11542 lwm2m+tlv, 65000 experimental: none is text by definition.
  for (const std::uint16_t format : {42, 47, 60, 61, 112, 113, 11050, 11542, 11544, 65000}) {
    EXPECT_FALSE(IsTextContentFormat(format)) << format;
    const Payload payload = EncodePayload("foobar", format);
    EXPECT_EQ(payload.encoding, PayloadEncoding::kBase64) << format;
    EXPECT_EQ(payload.data, "Zm9vYmFy") << format;
  }
}

TEST(PayloadTest, TextFormatWithInvalidUtf8FallsBackToBase64) {
  const Payload payload = EncodePayload("caf\xE9", 0);  // Latin-1, not UTF-8
  EXPECT_EQ(payload.encoding, PayloadEncoding::kBase64);
  EXPECT_EQ(payload.data, "Y2Fm6Q==");
}

TEST(PayloadTest, WithoutContentFormatPrintableUtf8IsTextAndControlBytesAreBase64) {
  EXPECT_EQ(EncodePayload("21.5", std::nullopt), (Payload{"21.5", PayloadEncoding::kText}));
  EXPECT_EQ(EncodePayload("Not found\r\n\tat /x", std::nullopt).encoding, PayloadEncoding::kText);
  EXPECT_EQ(EncodePayload("", std::nullopt), (Payload{"", PayloadEncoding::kText}));
  EXPECT_EQ(EncodePayload(std::string("\x01\x02", 2), std::nullopt),
            (Payload{"AQI=", PayloadEncoding::kBase64}));
  EXPECT_EQ(EncodePayload(std::string("a\0b", 3), std::nullopt).encoding, PayloadEncoding::kBase64);
  EXPECT_EQ(EncodePayload("\x7F", std::nullopt).encoding, PayloadEncoding::kBase64);
  EXPECT_EQ(EncodePayload("\xFF", std::nullopt).encoding, PayloadEncoding::kBase64);
}

TEST(PayloadTest, DecodePayloadGivesTheBytesBack) {
  const std::string binary("\x00\x01\xFE\xFF", 4);
  for (const std::string& bytes : {std::string("21.5"), binary}) {
    for (const std::optional<std::uint16_t> format :
         {std::optional<std::uint16_t>(0), std::optional<std::uint16_t>(60),
          std::optional<std::uint16_t>()}) {
      const Result<std::string> decoded = DecodePayload(EncodePayload(bytes, format));
      ASSERT_TRUE(decoded.ok()) << decoded.error().message;
      EXPECT_EQ(*decoded, bytes);
    }
  }
}

TEST(PayloadTest, DecodePayloadReportsBadBase64AndUnknownEncodings) {
  const auto bad = DecodePayload(Payload{"Zg=!", PayloadEncoding::kBase64});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, ErrorCode::kInvalidArgument);
  const auto unknown = DecodePayload(Payload{"x", PayloadEncoding::kUnknown});
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().code, ErrorCode::kUnsupported);
}

TEST(PayloadTest, EncodingNamesRoundTrip) {
  EXPECT_EQ(PayloadEncodingName(PayloadEncoding::kText), "text");
  EXPECT_EQ(PayloadEncodingName(PayloadEncoding::kBase64), "base64");
  EXPECT_EQ(ParsePayloadEncoding("base64"), PayloadEncoding::kBase64);
  EXPECT_EQ(ParsePayloadEncoding("BASE64"), PayloadEncoding::kUnknown);
  EXPECT_EQ(ParsePayloadEncoding("gzip"), PayloadEncoding::kUnknown);
}

TEST(Utf8Test, AcceptsWellFormedAndRejectsIllFormedSequences) {
  for (const char* good : {"", "ascii", "\xC2\xA9", "\xE2\x82\xAC", "\xF0\x9F\x98\x80",
                           "\xEF\xBF\xBF", "\xF4\x8F\xBF\xBF"}) {
    EXPECT_TRUE(IsValidUtf8(good)) << good;
  }
  // RFC 3629: stray continuation, overlong forms, surrogates, beyond U+10FFFF, truncation.
  for (const char* bad :
       {"\x80", "\xC0\xAF", "\xC1\xBF", "\xE0\x80\xAF", "\xED\xA0\x80", "\xF0\x80\x80\xAF",
        "\xF4\x90\x80\x80", "\xF5\x80\x80\x80", "\xE2\x82", "\xFF"}) {
    EXPECT_FALSE(IsValidUtf8(bad)) << bad;
  }
}

}  // namespace
}  // namespace coapgw::events
