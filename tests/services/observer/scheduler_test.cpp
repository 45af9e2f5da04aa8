// Due times of keyed work and the spreading of polls over their interval.

#include "observer/scheduler.hpp"

#include <vector>

#include <gtest/gtest.h>

namespace coapgw::observer {
namespace {

using std::chrono::milliseconds;

constexpr SteadyTime kStart = SteadyTime() + std::chrono::hours(1);

TEST(SchedulerTest, PopsDueKeysEarliestFirst) {
  Scheduler scheduler;
  scheduler.Schedule(1, kStart + milliseconds(30));
  scheduler.Schedule(2, kStart + milliseconds(10));
  scheduler.Schedule(3, kStart + milliseconds(20));
  EXPECT_EQ(scheduler.NextDue(), kStart + milliseconds(10));
  EXPECT_TRUE(scheduler.PopDue(kStart + milliseconds(9)).empty());
  EXPECT_EQ(scheduler.PopDue(kStart + milliseconds(20)), (std::vector<uint64_t>{2, 3}));
  EXPECT_EQ(scheduler.size(), 1U);
  EXPECT_EQ(scheduler.PopDue(kStart + milliseconds(100)), std::vector<uint64_t>{1});
  EXPECT_FALSE(scheduler.NextDue());
}

TEST(SchedulerTest, ScheduleMovesAKeyAndCancelForgetsIt) {
  Scheduler scheduler;
  scheduler.Schedule(1, kStart + milliseconds(10));
  scheduler.Schedule(1, kStart + milliseconds(50));
  EXPECT_EQ(scheduler.size(), 1U);
  EXPECT_EQ(scheduler.DueOf(1), kStart + milliseconds(50));
  EXPECT_TRUE(scheduler.PopDue(kStart + milliseconds(10)).empty());
  EXPECT_TRUE(scheduler.Cancel(1));
  EXPECT_FALSE(scheduler.Cancel(1));
  EXPECT_FALSE(scheduler.DueOf(1));
  EXPECT_TRUE(scheduler.PopDue(kStart + milliseconds(100)).empty());
}

TEST(SchedulerTest, PopDueHonoursItsLimit) {
  Scheduler scheduler;
  for (uint64_t key = 1; key <= 10; ++key) {
    scheduler.Schedule(key, kStart);
  }
  EXPECT_EQ(scheduler.PopDue(kStart, 4).size(), 4U);
  EXPECT_EQ(scheduler.PopDue(kStart).size(), 6U);
}

TEST(SpreadOffsetTest, StaysWithinTheIntervalAndIsStable) {
  for (int i = 0; i < 1000; ++i) {
    const std::string name = "device-" + std::to_string(i) + "/temp";
    const milliseconds offset = SpreadOffset(name, milliseconds(30000));
    EXPECT_GE(offset.count(), 0);
    EXPECT_LT(offset.count(), 30000);
    EXPECT_EQ(offset, SpreadOffset(name, milliseconds(30000)));
  }
  EXPECT_EQ(SpreadOffset("x", milliseconds(0)), milliseconds(0));
}

TEST(SpreadOffsetTest, SpreadsManyResourcesEvenlyOverTheInterval) {
  // 10,000 resources polled every 10 s: each tenth of the interval gets about 1,000 polls.
  std::vector<int> buckets(10, 0);
  for (int i = 0; i < 10000; ++i) {
    const auto offset =
        SpreadOffset("dev" + std::to_string(i) + "/sensors/temp", milliseconds(10000));
    ++buckets.at(static_cast<size_t>(offset.count() / 1000));
  }
  for (const int count : buckets) {
    EXPECT_NEAR(count, 1000, 130);  // ~4 standard deviations
  }
}

}  // namespace
}  // namespace coapgw::observer
