#include "coapgw/common/stop_signal.hpp"

#include <signal.h>

#include <thread>

#include <gtest/gtest.h>

namespace coapgw {
namespace {

TEST(StopSignalTest, ReceivesTermSentFromAnotherThread) {
  StopSignal stop;
  std::thread sender([] { kill(getpid(), SIGTERM); });
  const auto number = stop.WaitFor(Millis(5000));
  sender.join();
  ASSERT_TRUE(number.has_value());
  EXPECT_EQ(*number, SIGTERM);
}

TEST(StopSignalTest, WaitForTimesOutWithoutASignal) {
  StopSignal stop;
  EXPECT_FALSE(stop.WaitFor(Millis(20)).has_value());
}

}  // namespace
}  // namespace coapgw
