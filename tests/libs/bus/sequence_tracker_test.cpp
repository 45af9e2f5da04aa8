#include "coapgw/bus/sequence_tracker.hpp"

#include <string>

#include <gtest/gtest.h>

namespace coapgw::bus {
namespace {

TEST(SequenceTrackerTest, TheFirstMessageOfAPublisherIsABaselineWhateverItsSeq) {
  SequenceTracker tracker;
  const Observation first = tracker.Observe("rd-1", "rd.device.registered", 57);
  EXPECT_TRUE(first.first_from_publisher);
  EXPECT_TRUE(first.first_on_topic);
  EXPECT_FALSE(first.gap);
  const Observation next = tracker.Observe("rd-1", "rd.device.registered", 58);
  EXPECT_FALSE(next.first_from_publisher);
  EXPECT_FALSE(next.first_on_topic);
  EXPECT_FALSE(next.gap);
}

TEST(SequenceTrackerTest, ReportsAForwardJumpWithExpectedAndReceived) {
  SequenceTracker tracker;
  (void)tracker.Observe("rd-1", "t.a", 1);
  (void)tracker.Observe("rd-1", "t.a", 2);
  const Observation jump = tracker.Observe("rd-1", "t.a", 7);
  ASSERT_TRUE(jump.gap);
  EXPECT_EQ(jump.gap->expected, 3U);
  EXPECT_EQ(jump.gap->received, 7U);
  EXPECT_FALSE(jump.gap->backwards());
  EXPECT_EQ(jump.gap->missed(), 4U);
  EXPECT_FALSE(tracker.Observe("rd-1", "t.a", 8).gap);  // 7 is the new reference
}

TEST(SequenceTrackerTest, CountsPerPublisherAndTopicSoOtherTopicsMakeNoFalseGaps) {
  SequenceTracker tracker;
  (void)tracker.Observe("rd-1", "t.a", 1);
  EXPECT_TRUE(tracker.Observe("rd-1", "t.b", 1).first_on_topic);
  EXPECT_FALSE(tracker.Observe("rd-1", "t.b", 1).first_from_publisher);
  (void)tracker.Observe("rd-2", "t.a", 1);
  EXPECT_FALSE(tracker.Observe("rd-1", "t.a", 2).gap);
  EXPECT_FALSE(tracker.Observe("rd-2", "t.a", 2).gap);
  // A known publisher's new topic is a baseline too: we may have subscribed mid-stream.
  const Observation other_topic = tracker.Observe("rd-1", "t.c", 40);
  EXPECT_TRUE(other_topic.first_on_topic);
  EXPECT_FALSE(other_topic.first_from_publisher);
  EXPECT_FALSE(other_topic.gap);
}

TEST(SequenceTrackerTest, ReportsASeqThatGoesBackOrRepeatsOnce) {
  SequenceTracker tracker;
  (void)tracker.Observe("rd-1", "t.a", 10);
  const Observation repeat = tracker.Observe("rd-1", "t.a", 10);
  ASSERT_TRUE(repeat.gap);
  EXPECT_TRUE(repeat.gap->backwards());
  EXPECT_EQ(repeat.gap->expected, 11U);
  EXPECT_EQ(repeat.gap->missed(), 0U);
  const Observation back = tracker.Observe("rd-1", "t.a", 1);
  ASSERT_TRUE(back.gap);
  EXPECT_TRUE(back.gap->backwards());
  EXPECT_EQ(back.gap->expected, 11U);
  EXPECT_EQ(back.gap->received, 1U);
  EXPECT_FALSE(tracker.Observe("rd-1", "t.a", 2).gap);  // continues from the new baseline
}

TEST(SequenceTrackerTest, ForgetsTheLeastRecentlySeenPublisherBeyondItsBound) {
  SequenceTracker tracker(2);
  (void)tracker.Observe("p-1", "t", 1);
  (void)tracker.Observe("p-2", "t", 1);
  (void)tracker.Observe("p-1", "t", 2);  // p-2 is now the least recently seen
  (void)tracker.Observe("p-3", "t", 1);
  EXPECT_EQ(tracker.publishers(), 2U);
  EXPECT_FALSE(tracker.Observe("p-1", "t", 3).first_from_publisher);
  EXPECT_TRUE(tracker.Observe("p-2", "t", 2).first_from_publisher);  // forgotten: resync
}

}  // namespace
}  // namespace coapgw::bus
