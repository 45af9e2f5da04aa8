#include "coapgw/common/duration.hpp"

#include <ostream>

#include <gtest/gtest.h>

namespace coapgw {
namespace {

struct DurationCase {
  const char* text;
  long long ms;
};

std::ostream& operator<<(std::ostream& out, const DurationCase& value) {
  return out << value.text;
}

class ParseDurationTest : public testing::TestWithParam<DurationCase> {};

TEST_P(ParseDurationTest, ParsesContractSpellings) {
  const auto parsed = ParseDuration(GetParam().text);
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  EXPECT_EQ(parsed->count(), GetParam().ms);
}

INSTANTIATE_TEST_SUITE_P(Spellings, ParseDurationTest,
                         testing::Values(DurationCase{"500ms", 500}, DurationCase{"3s", 3000},
                                         DurationCase{"1m", 60000}, DurationCase{"2h", 7200000},
                                         DurationCase{"10", 10000}, DurationCase{"0.5", 500},
                                         DurationCase{"1.5s", 1500}, DurationCase{"0", 0}));

TEST(ParseDurationErrorTest, RejectsGarbageWithAReason) {
  for (const char* bad : {"", "abc", "5 s", "5x", "-1s", "s", "1e3", "+5s", "0x10"}) {
    const auto parsed = ParseDuration(bad);
    ASSERT_FALSE(parsed.ok()) << bad;
    EXPECT_EQ(parsed.error().code, ErrorCode::kInvalidArgument);
    EXPECT_FALSE(parsed.error().message.empty());
  }
}

TEST(FormatDurationTest, PicksTheLargestExactUnit) {
  EXPECT_EQ(FormatDuration(Millis(1500)), "1500ms");
  EXPECT_EQ(FormatDuration(Millis(3000)), "3s");
  EXPECT_EQ(FormatDuration(Millis(120000)), "2m");
  EXPECT_EQ(FormatDuration(Millis(3600000)), "1h");
  EXPECT_EQ(FormatDuration(Millis(0)), "0s");
}

}  // namespace
}  // namespace coapgw
