#include "coapgw/ws/backoff.hpp"

#include <stdexcept>

#include <gtest/gtest.h>

namespace coapgw::ws {
namespace {

using std::chrono::milliseconds;

TEST(BackoffTest, CeilingDoublesFromInitialUpToTheCap) {
  Backoff backoff(BackoffOptions{milliseconds(1000), milliseconds(10'000), 2.0}, 1);
  const milliseconds expected[] = {milliseconds(1000), milliseconds(2000),   milliseconds(4000),
                                   milliseconds(8000), milliseconds(10'000), milliseconds(10'000)};
  for (const auto ceiling : expected) {
    EXPECT_EQ(backoff.ceiling(), ceiling);
    const auto delay = backoff.Next();
    EXPECT_GE(delay.count(), 0);
    EXPECT_LE(delay, ceiling);
  }
  EXPECT_EQ(backoff.attempts(), 6);
}

TEST(BackoffTest, ResetStartsOver) {
  Backoff backoff(BackoffOptions{}, 7);
  for (int i = 0; i < 20; ++i) {
    (void)backoff.Next();
  }
  EXPECT_EQ(backoff.ceiling(), milliseconds(300'000));  // the default cap, 5 min
  backoff.Reset();
  EXPECT_EQ(backoff.ceiling(), milliseconds(1000));
  EXPECT_EQ(backoff.attempts(), 0);
}

TEST(BackoffTest, FullJitterSpreadsDelaysOverTheWholeRange) {
  // A fixed seed keeps this deterministic; with 2000 draws the range is covered evenly.
  Backoff backoff(BackoffOptions{milliseconds(1000), milliseconds(1000), 2.0}, 42);
  int low = 0;
  int high = 0;
  double sum = 0;
  for (int i = 0; i < 2000; ++i) {
    const auto delay = backoff.Next().count();
    sum += static_cast<double>(delay);
    low += delay < 250 ? 1 : 0;
    high += delay > 750 ? 1 : 0;
  }
  EXPECT_NEAR(sum / 2000, 500.0, 30.0);
  EXPECT_GT(low, 400);
  EXPECT_GT(high, 400);
}

TEST(BackoffTest, SameSeedSameDelays) {
  Backoff a(BackoffOptions{}, 3);
  Backoff b(BackoffOptions{}, 3);
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(a.Next(), b.Next());
  }
}

TEST(BackoffTest, RejectsNonsenseOptions) {
  EXPECT_THROW(Backoff(BackoffOptions{milliseconds(0), milliseconds(10), 2.0}),
               std::invalid_argument);
  EXPECT_THROW(Backoff(BackoffOptions{milliseconds(10), milliseconds(5), 2.0}),
               std::invalid_argument);
  EXPECT_THROW(Backoff(BackoffOptions{milliseconds(10), milliseconds(50), 0.5}),
               std::invalid_argument);
}

}  // namespace
}  // namespace coapgw::ws
