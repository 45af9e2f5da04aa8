// CommandQueue: per-device FIFO with NSTART slots, the global cap, bounds and deadlines, with time
// driven by hand.

#include "executer/command_queue.hpp"

#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace coapgw::executer {
namespace {

using std::chrono::milliseconds;

const SteadyTime kT0{std::chrono::seconds(1000)};

Job MakeJob(const std::string& device, const std::string& id, milliseconds deadline_after) {
  Job job;
  job.command.command_id = id;
  job.command.device_id = device;
  job.received = kT0;
  job.deadline = kT0 + deadline_after;
  return job;
}

std::vector<std::string> Ids(const std::vector<Job>& jobs) {
  std::vector<std::string> ids;
  for (const auto& job : jobs) {
    ids.push_back(job.command.command_id);
  }
  return ids;
}

using Names = std::vector<std::string>;

TEST(CommandQueueTest, OneAtATimePerDeviceInArrivalOrder) {
  CommandQueue queue({});
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(queue.Add(MakeJob("a", "a" + std::to_string(i), milliseconds(1000))),
              Admission::kQueued);
  }
  EXPECT_EQ(Ids(queue.TakeStartable()), Names({"a0"}));
  EXPECT_TRUE(queue.TakeStartable().empty()) << "a0 still holds the device's only slot";
  EXPECT_EQ(queue.in_flight("a"), 1u);
  EXPECT_EQ(queue.waiting("a"), 2u);
  queue.Finished("a");
  EXPECT_EQ(Ids(queue.TakeStartable()), Names({"a1"}));
  queue.Finished("a");
  EXPECT_EQ(Ids(queue.TakeStartable()), Names({"a2"}));
  queue.Finished("a");
  EXPECT_TRUE(queue.TakeStartable().empty());
  EXPECT_EQ(queue.devices(), 0u) << "an idle device leaves no entry behind";
}

TEST(CommandQueueTest, DevicesRunInParallel) {
  CommandQueue queue({});
  ASSERT_EQ(queue.Add(MakeJob("a", "a0", milliseconds(1000))), Admission::kQueued);
  ASSERT_EQ(queue.Add(MakeJob("b", "b0", milliseconds(1000))), Admission::kQueued);
  ASSERT_EQ(queue.Add(MakeJob("a", "a1", milliseconds(1000))), Admission::kQueued);
  EXPECT_EQ(Ids(queue.TakeStartable()), Names({"a0", "b0"}));
  EXPECT_EQ(queue.in_flight(), 2u);
}

TEST(CommandQueueTest, NstartAllowsSeveralPerDevice) {
  QueueLimits limits;
  limits.device_in_flight = 2;
  CommandQueue queue(limits);
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(queue.Add(MakeJob("a", "a" + std::to_string(i), milliseconds(1000))),
              Admission::kQueued);
  }
  EXPECT_EQ(Ids(queue.TakeStartable()), Names({"a0", "a1"}));
  queue.Finished("a");
  EXPECT_EQ(Ids(queue.TakeStartable()), Names({"a2"}));
}

TEST(CommandQueueTest, GlobalCapTakesDevicesInTurn) {
  QueueLimits limits;
  limits.max_in_flight = 2;
  limits.device_in_flight = 4;
  CommandQueue queue(limits);
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(queue.Add(MakeJob("a", "a" + std::to_string(i), milliseconds(1000))),
              Admission::kQueued);
  }
  ASSERT_EQ(queue.Add(MakeJob("b", "b0", milliseconds(1000))), Admission::kQueued);
  ASSERT_EQ(queue.Add(MakeJob("c", "c0", milliseconds(1000))), Admission::kQueued);
  // Round robin: a, b (cap reached); then c before a's second, then a again.
  EXPECT_EQ(Ids(queue.TakeStartable()), Names({"a0", "b0"}));
  queue.Finished("b");
  EXPECT_EQ(Ids(queue.TakeStartable()), Names({"c0"}));
  queue.Finished("a");
  EXPECT_EQ(Ids(queue.TakeStartable()), Names({"a1"}));
  EXPECT_EQ(queue.in_flight(), 2u);
}

TEST(CommandQueueTest, BoundsRefuseWithoutLosingQueuedJobs) {
  QueueLimits limits;
  limits.device_queue = 2;
  limits.max_queued = 3;
  CommandQueue queue(limits);
  EXPECT_EQ(queue.Add(MakeJob("a", "a0", milliseconds(1000))), Admission::kQueued);
  EXPECT_EQ(queue.Add(MakeJob("a", "a1", milliseconds(1000))), Admission::kQueued);
  EXPECT_EQ(queue.Add(MakeJob("a", "a2", milliseconds(1000))), Admission::kDeviceQueueFull);
  EXPECT_EQ(queue.Add(MakeJob("b", "b0", milliseconds(1000))), Admission::kQueued);
  EXPECT_EQ(queue.Add(MakeJob("c", "c0", milliseconds(1000))), Admission::kQueueFull);
  EXPECT_EQ(queue.waiting(), 3u);
  // Starting a job frees its waiting place.
  EXPECT_EQ(Ids(queue.TakeStartable()), Names({"a0", "b0"}));
  EXPECT_EQ(queue.Add(MakeJob("a", "a3", milliseconds(1000))), Admission::kQueued);
}

TEST(CommandQueueTest, ExpiredWaitingJobsLeaveInDeadlineOrder) {
  CommandQueue queue({});
  ASSERT_EQ(queue.Add(MakeJob("a", "a0", milliseconds(100))), Admission::kQueued);
  ASSERT_EQ(queue.Add(MakeJob("a", "a1", milliseconds(300))), Admission::kQueued);
  ASSERT_EQ(queue.Add(MakeJob("a", "a2", milliseconds(200))), Admission::kQueued);
  ASSERT_EQ(queue.Add(MakeJob("a", "a3", milliseconds(5000))), Admission::kQueued);
  EXPECT_EQ(Ids(queue.TakeStartable()), Names({"a0"}));
  EXPECT_EQ(queue.NextDeadline(), kT0 + milliseconds(200)) << "a0 is in flight, not waiting";
  EXPECT_TRUE(queue.TakeExpired(kT0 + milliseconds(199)).empty());
  EXPECT_EQ(Ids(queue.TakeExpired(kT0 + milliseconds(300))), Names({"a2", "a1"}));
  EXPECT_EQ(queue.waiting("a"), 1u);
  queue.Finished("a");
  EXPECT_EQ(Ids(queue.TakeStartable()), Names({"a3"}));
  EXPECT_FALSE(queue.NextDeadline().has_value());
}

TEST(CommandQueueTest, TakeWaitingEmptiesOneDevice) {
  CommandQueue queue({});
  ASSERT_EQ(queue.Add(MakeJob("a", "a0", milliseconds(1000))), Admission::kQueued);
  ASSERT_EQ(queue.Add(MakeJob("a", "a1", milliseconds(1000))), Admission::kQueued);
  ASSERT_EQ(queue.Add(MakeJob("b", "b0", milliseconds(1000))), Admission::kQueued);
  EXPECT_EQ(Ids(queue.TakeWaiting("a")), Names({"a0", "a1"}));
  EXPECT_EQ(Ids(queue.TakeStartable()), Names({"b0"}));
  EXPECT_EQ(queue.waiting(), 0u);
  EXPECT_FALSE(queue.NextDeadline().has_value());
}

TEST(CommandQueueTest, TakeAllWaitingKeepsInFlightSlots) {
  CommandQueue queue({});
  ASSERT_EQ(queue.Add(MakeJob("a", "a0", milliseconds(1000))), Admission::kQueued);
  ASSERT_EQ(queue.Add(MakeJob("a", "a1", milliseconds(1000))), Admission::kQueued);
  ASSERT_EQ(queue.TakeStartable().size(), 1u);
  EXPECT_EQ(Ids(queue.TakeAllWaiting()), Names({"a1"}));
  EXPECT_EQ(queue.in_flight(), 1u);
  queue.Finished("a");
  EXPECT_EQ(queue.in_flight(), 0u);
  EXPECT_TRUE(queue.TakeStartable().empty());
  EXPECT_EQ(queue.devices(), 0u);
}

TEST(CommandQueueTest, FinishedForAnUnknownDeviceIsHarmless) {
  CommandQueue queue({});
  queue.Finished("nobody");
  EXPECT_EQ(queue.in_flight(), 0u);
}

}  // namespace
}  // namespace coapgw::executer
