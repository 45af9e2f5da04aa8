// PingSchedule: slots, spreading, the in-flight cap, misses and verdicts against the RD's status,
// proofs of liveness; time driven by hand.

#include "pinger/ping_schedule.hpp"

#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace coapgw::pinger {
namespace {

const SteadyTime kT0{std::chrono::seconds(100'000)};

PingPolicy Policy(milliseconds interval = milliseconds(10'000), uint32_t misses = 2,
                  size_t max_in_flight = 256) {
  PingPolicy policy;
  policy.interval = interval;
  policy.misses = misses;
  policy.max_in_flight = max_in_flight;
  return policy;
}

// Takes `device`'s ping at its slot and answers it; returns the verdict.
std::optional<Verdict> PingAndAnswer(PingSchedule& schedule, const std::string& device,
                                     bool reachable) {
  const SteadyTime slot = *schedule.due(device);
  std::vector<PingTicket> due = schedule.TakeDue(slot);
  EXPECT_EQ(due.size(), 1u);
  if (due.empty()) {
    return std::nullopt;
  }
  EXPECT_EQ(due.front().device_id, device);
  return schedule.Complete(due.front(), reachable, slot + milliseconds(5));
}

TEST(PingScheduleTest, NextSlotIsStrictlyAfterNow) {
  PingSchedule schedule(Policy(milliseconds(1000)));
  const milliseconds phase(250);
  const SteadyTime base{std::chrono::seconds(50)};  // 50 s: a slot boundary minus the phase
  EXPECT_EQ(schedule.NextSlot(phase, base), base + milliseconds(250));
  EXPECT_EQ(schedule.NextSlot(phase, base + milliseconds(250)), base + milliseconds(1250));
  EXPECT_EQ(schedule.NextSlot(phase, base + milliseconds(251)), base + milliseconds(1250));
  EXPECT_EQ(schedule.NextSlot(phase, SteadyTime{}), SteadyTime{} + milliseconds(250));
}

TEST(PingScheduleTest, PhasesSpreadDevicesOverTheInterval) {
  PingSchedule schedule(Policy(milliseconds(10'000)));
  std::vector<int> per_second(10, 0);
  for (int i = 0; i < 10'000; ++i) {
    const std::string id = "device-" + std::to_string(i);
    schedule.Upsert(id, true, kT0);
    const auto due = schedule.due(id);
    ASSERT_TRUE(due.has_value());
    ASSERT_GT(*due, kT0);
    ASSERT_LE(*due, kT0 + milliseconds(10'000));
    ++per_second[std::chrono::duration_cast<std::chrono::seconds>(*due - kT0).count() % 10];
  }
  for (int count : per_second) {
    EXPECT_GT(count, 850);  // 1,000 expected per second of the interval
    EXPECT_LT(count, 1150);
  }
  EXPECT_EQ(schedule.PhaseOf("device-7"), schedule.PhaseOf("device-7")) << "stable";
}

TEST(PingScheduleTest, ADeviceIsPingedOncePerIntervalAtItsSlot) {
  PingSchedule schedule(Policy(milliseconds(1000)));
  schedule.Upsert("a", true, kT0);
  const SteadyTime slot = *schedule.due("a");
  EXPECT_TRUE(schedule.TakeDue(slot - milliseconds(1)).empty()) << "not due yet";
  EXPECT_EQ(schedule.NextDue(), slot);
  auto due = schedule.TakeDue(slot);
  ASSERT_EQ(due.size(), 1u);
  EXPECT_FALSE(schedule.due("a").has_value()) << "in flight";
  EXPECT_TRUE(schedule.TakeDue(slot + milliseconds(999)).empty()) << "no second ping meanwhile";
  EXPECT_FALSE(schedule.Complete(due.front(), true, slot + milliseconds(2)).has_value());
  EXPECT_EQ(schedule.due("a"), slot + milliseconds(1000));
  EXPECT_TRUE(schedule.TakeDue(slot + milliseconds(999)).empty());
  EXPECT_EQ(schedule.TakeDue(slot + milliseconds(1000)).size(), 1u);
  EXPECT_EQ(schedule.stats().pings, 2u);
}

TEST(PingScheduleTest, MissesInARowDisconnectAndRepeatUntilTheRdAgrees) {
  PingSchedule schedule(Policy(milliseconds(1000), 2));
  schedule.Upsert("a", true, kT0);
  EXPECT_FALSE(PingAndAnswer(schedule, "a", false).has_value()) << "one miss is not enough";
  EXPECT_EQ(schedule.misses("a"), 1u);
  auto verdict = PingAndAnswer(schedule, "a", false);
  ASSERT_TRUE(verdict.has_value());
  EXPECT_EQ(verdict->device_id, "a");
  EXPECT_FALSE(verdict->reachable);
  EXPECT_EQ(verdict->consecutive_misses, 2u);
  // The RD has not announced status 0 yet (the verdict may have been lost): say it again.
  verdict = PingAndAnswer(schedule, "a", false);
  ASSERT_TRUE(verdict.has_value());
  EXPECT_EQ(verdict->consecutive_misses, 3u);
  schedule.Upsert("a", false, kT0);  // rd.device.status 0 arrived
  EXPECT_FALSE(PingAndAnswer(schedule, "a", false).has_value()) << "the RD agrees already";
}

TEST(PingScheduleTest, AReplyReconnectsOnlyWhatTheRdHasDisconnected) {
  PingSchedule schedule(Policy(milliseconds(1000), 2));
  schedule.Upsert("a", true, kT0);
  EXPECT_FALSE(PingAndAnswer(schedule, "a", true).has_value()) << "connected and answering";
  schedule.Upsert("a", false, kT0);
  auto verdict = PingAndAnswer(schedule, "a", true);
  ASSERT_TRUE(verdict.has_value());
  EXPECT_TRUE(verdict->reachable);
  EXPECT_EQ(verdict->consecutive_misses, 0u);
  EXPECT_TRUE(PingAndAnswer(schedule, "a", true).has_value()) << "until the RD says status 1";
  schedule.Upsert("a", true, kT0);
  EXPECT_FALSE(PingAndAnswer(schedule, "a", true).has_value());
}

TEST(PingScheduleTest, AReplyBreaksTheStreak) {
  PingSchedule schedule(Policy(milliseconds(1000), 2));
  schedule.Upsert("a", true, kT0);
  EXPECT_FALSE(PingAndAnswer(schedule, "a", false).has_value());
  EXPECT_FALSE(PingAndAnswer(schedule, "a", true).has_value());
  EXPECT_FALSE(PingAndAnswer(schedule, "a", false).has_value()) << "1 miss in a row, not 2";
}

TEST(PingScheduleTest, ProofOfLifeSkipsTheNextSlot) {
  PingSchedule schedule(Policy(milliseconds(1000), 2));
  schedule.Upsert("a", true, kT0);
  EXPECT_FALSE(PingAndAnswer(schedule, "a", false).has_value());
  const SteadyTime slot = *schedule.due("a");
  schedule.NoteAlive("a", slot - milliseconds(300));
  EXPECT_EQ(schedule.misses("a"), 0u) << "a proof breaks the streak";
  EXPECT_TRUE(schedule.TakeDue(slot).empty());
  EXPECT_EQ(schedule.stats().skipped, 1u);
  EXPECT_EQ(schedule.due("a"), slot + milliseconds(1000));
  // No newer proof: the slot after is pinged.
  EXPECT_EQ(schedule.TakeDue(slot + milliseconds(1000)).size(), 1u);
}

TEST(PingScheduleTest, AnOldProofDoesNotSkip) {
  PingSchedule schedule(Policy(milliseconds(1000)));
  schedule.Upsert("a", true, kT0);
  const SteadyTime slot = *schedule.due("a");
  schedule.NoteAlive("a", slot - milliseconds(1000));
  EXPECT_EQ(schedule.TakeDue(slot).size(), 1u);
}

TEST(PingScheduleTest, ADisconnectedDeviceIsPingedDespiteAProof) {
  PingSchedule schedule(Policy(milliseconds(1000)));
  schedule.Upsert("a", false, kT0);
  const SteadyTime slot = *schedule.due("a");
  schedule.NoteAlive("a", slot - milliseconds(10));
  EXPECT_EQ(schedule.TakeDue(slot).size(), 1u) << "only a ping tells the RD it is back";
}

TEST(PingScheduleTest, InFlightCapHoldsDueDevicesBack) {
  PingSchedule schedule(Policy(milliseconds(1000), 2, 2));
  for (int i = 0; i < 5; ++i) {
    schedule.Upsert("d" + std::to_string(i), true, kT0);
  }
  const SteadyTime later = kT0 + milliseconds(1000);
  std::vector<PingTicket> first = schedule.TakeDue(later);
  ASSERT_EQ(first.size(), 2u);
  EXPECT_EQ(schedule.in_flight(), 2u);
  EXPECT_FALSE(schedule.NextDue().has_value()) << "nothing can start until a ping ends";
  EXPECT_TRUE(schedule.TakeDue(later).empty());
  (void)schedule.Complete(first[0], true, later);
  ASSERT_TRUE(schedule.NextDue().has_value());
  EXPECT_LE(*schedule.NextDue(), later) << "the held-back devices are overdue";
  EXPECT_EQ(schedule.TakeDue(later).size(), 1u);
}

TEST(PingScheduleTest, StaleTicketsAreIgnored) {
  PingSchedule schedule(Policy(milliseconds(1000), 1));
  schedule.Upsert("a", true, kT0);
  const SteadyTime slot = *schedule.due("a");
  std::vector<PingTicket> due = schedule.TakeDue(slot);
  ASSERT_EQ(due.size(), 1u);
  schedule.Remove("a");
  EXPECT_EQ(schedule.in_flight(), 0u);
  schedule.Upsert("a", true, slot);
  EXPECT_FALSE(schedule.Complete(due.front(), false, slot).has_value());
  EXPECT_EQ(schedule.misses("a"), 0u);
  EXPECT_EQ(schedule.size(), 1u);
}

TEST(PingScheduleTest, AbandonFreesTheSlotWithoutCountingAMiss) {
  PingSchedule schedule(Policy(milliseconds(1000), 1));
  schedule.Upsert("a", true, kT0);
  const SteadyTime slot = *schedule.due("a");
  std::vector<PingTicket> due = schedule.TakeDue(slot);
  ASSERT_EQ(due.size(), 1u);
  schedule.Abandon(due.front(), slot);
  EXPECT_EQ(schedule.in_flight(), 0u);
  EXPECT_EQ(schedule.misses("a"), 0u);
  EXPECT_EQ(schedule.due("a"), slot + milliseconds(1000));
}

}  // namespace
}  // namespace coapgw::pinger
