#include "coapgw/common/time_format.hpp"

#include <gtest/gtest.h>

namespace coapgw {
namespace {

using std::chrono::milliseconds;
using std::chrono::system_clock;

TEST(TimeFormatTest, FormatsUtcWithMilliseconds) {
  const system_clock::time_point time(milliseconds(1500554317123LL));
  EXPECT_EQ(FormatRfc3339Millis(time), "2017-07-20T12:38:37.123Z");
  EXPECT_EQ(FormatRfc3339Millis(system_clock::time_point{}), "1970-01-01T00:00:00.000Z");
}

TEST(TimeFormatTest, ParsesWhatItFormatsAndOffsets) {
  const system_clock::time_point time(milliseconds(1700000000456LL));
  EXPECT_EQ(ParseRfc3339(FormatRfc3339Millis(time)), time);
  const auto with_offset = ParseRfc3339("2017-07-20T14:38:37+02:00");
  ASSERT_TRUE(with_offset.has_value());
  EXPECT_EQ(*with_offset, system_clock::time_point(milliseconds(1500554317000LL)));
}

TEST(TimeFormatTest, RejectsMalformedTimestamps) {
  for (const char* bad :
       {"", "2017-07-20", "2017-07-20T12:38:37", "2017-13-20T12:38:37Z", "2017-07-20T12:38:37.Z",
        "2017-07-20T12:38:37Zjunk", "2017-07-20 12:38:37Z"}) {
    EXPECT_FALSE(ParseRfc3339(bad).has_value()) << bad;
  }
}

}  // namespace
}  // namespace coapgw
