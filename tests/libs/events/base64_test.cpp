#include <ostream>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "coapgw/events/payload.hpp"

namespace coapgw::events {
namespace {

using ::testing::HasSubstr;

struct Vector {
  const char* decoded;
  const char* encoded;
};

// RFC 4648 §10 test vectors.
constexpr Vector kRfc4648Vectors[] = {
    {"", ""},
    {"f", "Zg=="},
    {"fo", "Zm8="},
    {"foo", "Zm9v"},
    {"foob", "Zm9vYg=="},
    {"fooba", "Zm9vYmE="},
    {"foobar", "Zm9vYmFy"},
};

void PrintTo(const Vector& vector, std::ostream* out) {
  *out << "decoded=" << vector.decoded;
}

class Base64VectorTest : public ::testing::TestWithParam<Vector> {};

TEST_P(Base64VectorTest, EncodesTheRfcVector) {
  EXPECT_EQ(Base64Encode(GetParam().decoded), GetParam().encoded);
}

TEST_P(Base64VectorTest, DecodesTheRfcVector) {
  const Result<std::string> decoded = Base64Decode(GetParam().encoded);
  ASSERT_TRUE(decoded.ok()) << decoded.error().message;
  EXPECT_EQ(*decoded, GetParam().decoded);
}

TEST_P(Base64VectorTest, DecodesTheRfcVectorWithoutPadding) {
  std::string unpadded = GetParam().encoded;
  unpadded.erase(unpadded.find_last_not_of('=') + 1);
  const Result<std::string> decoded = Base64Decode(unpadded);
  ASSERT_TRUE(decoded.ok()) << decoded.error().message;
  EXPECT_EQ(*decoded, GetParam().decoded);
}

INSTANTIATE_TEST_SUITE_P(Rfc4648, Base64VectorTest, ::testing::ValuesIn(kRfc4648Vectors));

TEST(Base64Test, RoundTripsEveryByteValueAndEveryTailLength) {
  std::string bytes;
  for (int value = 0; value < 256; ++value) {
    bytes += static_cast<char>(value);
  }
  for (size_t length = 0; length <= bytes.size(); length += 1) {
    const std::string input = bytes.substr(bytes.size() - length);
    const std::string encoded = Base64Encode(input);
    EXPECT_EQ(encoded.size() % 4, 0U);
    const Result<std::string> decoded = Base64Decode(encoded);
    ASSERT_TRUE(decoded.ok()) << decoded.error().message;
    EXPECT_EQ(*decoded, input) << length;
  }
}

TEST(Base64Test, UsesTheStandardAlphabetNotTheUrlSafeOne) {
  EXPECT_EQ(Base64Encode("\xFB\xFF\xBF"), "+/+/");
  EXPECT_FALSE(Base64Decode("-_-_").ok());
}

TEST(Base64Test, RejectsMalformedInputNamingTheProblem) {
  struct Case {
    const char* input;
    const char* problem;
  };
  for (const Case& c : {Case{"Zm9v!", "invalid character at position 4"},
                        Case{"Zm 9v", "invalid character at position 2"},
                        Case{"Zm9v\n", "invalid character at position 4"},
                        Case{"Z", "a single character cannot end the input (position 0)"},
                        Case{"Zm9vY", "a single character cannot end the input (position 4)"},
                        Case{"Zm9v=", "padding does not complete a group of four"},
                        Case{"Zg=", "padding does not complete a group of four"},
                        Case{"Zm8==", "padding does not complete a group of four"},
                        Case{"Zg===", "invalid character at position 2"},
                        Case{"Zg==Zg==", "invalid character at position 2"}}) {
    const Result<std::string> decoded = Base64Decode(c.input);
    ASSERT_FALSE(decoded.ok()) << c.input;
    EXPECT_EQ(decoded.error().code, ErrorCode::kInvalidArgument);
    EXPECT_THAT(decoded.error().message, HasSubstr(c.problem)) << c.input;
  }
}

}  // namespace
}  // namespace coapgw::events
