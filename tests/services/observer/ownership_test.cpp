// The ownership rule (rendezvous hashing) and the membership view built from heartbeats, on a
// fake clock.

#include "observer/ownership.hpp"

#include <map>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace coapgw::observer {
namespace {

using std::chrono::milliseconds;

std::vector<std::string> DeviceIds(int count) {
  std::vector<std::string> ids;
  for (int i = 0; i < count; ++i) {
    ids.push_back("3b5ff3b1-fd16-45cb-9f09-" + std::to_string(100000000000 + i));
  }
  return ids;
}

std::map<std::string, std::string> Owners(const std::vector<std::string>& instances,
                                          const std::vector<std::string>& devices) {
  std::map<std::string, std::string> owners;
  for (const auto& device : devices) {
    owners[device] = std::string(RendezvousOwner(instances, device));
  }
  return owners;
}

TEST(RendezvousTest, WeightIsFixedAcrossBuildsAndHosts) {
  // Instances built from different versions must agree: the function is part of the protocol.
  EXPECT_EQ(RendezvousWeight("observer-1a2b3c4d", "device-1"), 14211920539581494800ULL);
  EXPECT_EQ(RendezvousWeight("", ""), 2737183428366584608ULL);
  EXPECT_NE(RendezvousWeight("ab", "c"), RendezvousWeight("a", "bc"));  // the separator counts
}

TEST(RendezvousTest, NoInstanceNoOwner) {
  EXPECT_EQ(RendezvousOwner({}, "device-1"), "");
  EXPECT_EQ(RendezvousOwner({"observer-a"}, "device-1"), "observer-a");
}

TEST(RendezvousTest, OrderOfInstancesDoesNotMatter) {
  const auto devices = DeviceIds(500);
  EXPECT_EQ(Owners({"observer-a", "observer-b", "observer-c"}, devices),
            Owners({"observer-c", "observer-a", "observer-b"}, devices));
}

TEST(RendezvousTest, SharesDevicesEvenly) {
  const std::vector<std::string> instances = {"observer-5a9e0b71", "observer-5a9e0b72",
                                              "observer-09f1c3aa"};
  const auto devices = DeviceIds(30000);
  std::map<std::string, int> counts;
  for (const auto& [device, owner] : Owners(instances, devices)) {
    ++counts[owner];
  }
  ASSERT_EQ(counts.size(), 3U);
  for (const auto& [owner, count] : counts) {
    EXPECT_NEAR(count, 10000, 400) << owner;  // ~4 standard deviations
  }
}

TEST(RendezvousTest, AJoiningInstanceTakesOnlyFromOthersAndAboutItsShare) {
  const std::vector<std::string> before = {"observer-a", "observer-b", "observer-c"};
  std::vector<std::string> after = before;
  after.push_back("observer-d");
  const auto devices = DeviceIds(20000);
  const auto old_owners = Owners(before, devices);
  const auto new_owners = Owners(after, devices);
  int moved = 0;
  for (const auto& device : devices) {
    if (old_owners.at(device) != new_owners.at(device)) {
      ++moved;
      EXPECT_EQ(new_owners.at(device), "observer-d") << "moved between old instances: " << device;
    }
  }
  EXPECT_NEAR(moved, 5000, 300);
}

TEST(RendezvousTest, ALeavingInstanceGivesAwayOnlyItsOwnDevices) {
  const auto devices = DeviceIds(20000);
  const auto old_owners = Owners({"observer-a", "observer-b", "observer-c"}, devices);
  const auto new_owners = Owners({"observer-a", "observer-c"}, devices);
  for (const auto& device : devices) {
    if (old_owners.at(device) != "observer-b") {
      EXPECT_EQ(new_owners.at(device), old_owners.at(device)) << device;
    }
  }
}

class MembershipTest : public testing::Test {
 protected:
  static constexpr milliseconds kInterval{1000};
  static MembershipOptions Options() {
    MembershipOptions options;
    options.warm_up = milliseconds(1500);
    options.missed_heartbeats = 3;
    return options;
  }
  SteadyTime At(int64_t ms) const { return start_ + milliseconds(ms); }

  const SteadyTime start_ = SteadyTime() + std::chrono::hours(1);
};

TEST_F(MembershipTest, OwnsNothingUntilItsOwnHeartbeatCameBackAndTheWarmUpPassed) {
  Membership self("observer-a", Options());
  EXPECT_FALSE(self.Update(At(5000)).counted_changed);  // no echo yet: the bus may be away
  EXPECT_FALSE(self.settled());
  EXPECT_FALSE(self.Owns("device-1"));
  self.OnHeartbeat("observer-a", kInterval, At(5000));
  EXPECT_FALSE(self.Update(At(6499)).counted_changed);
  EXPECT_FALSE(self.Owns("device-1"));
  const auto change = self.Update(At(6500));
  EXPECT_TRUE(change.counted_changed);
  EXPECT_FALSE(change.joined);
  EXPECT_TRUE(self.settled());
  EXPECT_TRUE(self.Owns("device-1"));
  EXPECT_EQ(self.counted(), std::vector<std::string>{"observer-a"});
}

TEST_F(MembershipTest, InstancesHeardDuringTheWarmUpCountAtOnce) {
  Membership self("observer-b", Options());
  self.OnHeartbeat("observer-b", kInterval, At(0));
  self.OnHeartbeat("observer-a", kInterval, At(700));
  self.Update(At(1500));
  EXPECT_EQ(self.counted(), (std::vector<std::string>{"observer-a", "observer-b"}));
}

TEST_F(MembershipTest, ALaterInstanceCountsAfterItsWarmUp) {
  Membership self("observer-a", Options());
  self.OnHeartbeat("observer-a", kInterval, At(0));
  self.Update(At(1500));
  self.OnHeartbeat("observer-b", kInterval, At(10000));
  EXPECT_FALSE(self.Update(At(11499)).counted_changed);
  EXPECT_EQ(self.known_others(), 1U);
  EXPECT_EQ(self.counted().size(), 1U);
  self.OnHeartbeat("observer-b", kInterval, At(11000));
  const auto change = self.Update(At(11500));
  EXPECT_TRUE(change.counted_changed);
  EXPECT_TRUE(change.joined);
  EXPECT_EQ(self.counted(), (std::vector<std::string>{"observer-a", "observer-b"}));
}

TEST_F(MembershipTest, AnInstanceSilentForThreeIntervalsIsGone) {
  Membership self("observer-a", Options());
  self.OnHeartbeat("observer-a", kInterval, At(0));
  self.OnHeartbeat("observer-b", kInterval, At(100));
  self.Update(At(1500));
  self.OnHeartbeat("observer-b", kInterval, At(2000));
  EXPECT_FALSE(self.Update(At(5000)).counted_changed);  // exactly 3 intervals: still there
  const auto change = self.Update(At(5001));
  EXPECT_TRUE(change.counted_changed);
  ASSERT_EQ(change.departed.size(), 1U);
  EXPECT_EQ(change.departed[0].instance_id, "observer-b");
  EXPECT_EQ(change.departed[0].silence, milliseconds(3001));
  EXPECT_TRUE(change.departed[0].counted);
  EXPECT_EQ(self.counted(), std::vector<std::string>{"observer-a"});
}

TEST_F(MembershipTest, ALeavingHeartbeatEndsTheInstanceAtOnce) {
  Membership self("observer-a", Options());
  self.OnHeartbeat("observer-a", kInterval, At(0));
  self.OnHeartbeat("observer-b", kInterval, At(100));
  self.Update(At(1500));
  self.OnHeartbeat("observer-b", milliseconds(1), At(2000));  // "next one within 1 ms": leaving
  EXPECT_EQ(self.Update(At(2004)).departed.size(), 1U);
}

TEST_F(MembershipTest, AnInstanceThatComesBackWarmsUpAgain) {
  Membership self("observer-a", Options());
  self.OnHeartbeat("observer-a", kInterval, At(0));
  self.OnHeartbeat("observer-b", kInterval, At(100));
  self.Update(At(1500));
  self.Update(At(10000));  // b expired
  self.OnHeartbeat("observer-b", kInterval, At(10000));
  EXPECT_FALSE(self.Update(At(10100)).counted_changed);
  EXPECT_TRUE(self.Update(At(11500)).joined);
}

// Two instances with a shared bus: at every moment of a join, each device has at most one owner,
// and once the new instance settled, exactly one (no gap, no duplicate in steady state).
TEST_F(MembershipTest, AJoinMovesDevicesWithoutOverlapOrGap) {
  const auto devices = DeviceIds(2000);
  Membership a("observer-a", Options());
  Membership b("observer-b", Options());
  // a runs alone.
  a.OnHeartbeat("observer-a", kInterval, At(0));
  a.Update(At(1500));
  // b starts at 10 s; its first heartbeat reaches both at 10.002 s (the bus's latency), then
  // everybody beats every second.
  std::vector<std::pair<int64_t, std::string>> beats;
  for (int64_t t = 1000; t < 20000; t += 1000) {
    beats.emplace_back(t, "observer-a");
  }
  for (int64_t t = 10002; t < 20000; t += 1000) {
    beats.emplace_back(t, "observer-b");
  }
  std::sort(beats.begin(), beats.end());
  size_t next_beat = 0;
  int duplicates = 0;
  int gaps = 0;
  for (int64_t t = 9000; t < 16000; t += 1) {
    while (next_beat < beats.size() && beats[next_beat].first <= t) {
      a.OnHeartbeat(beats[next_beat].second, kInterval, At(t));
      b.OnHeartbeat(beats[next_beat].second, kInterval, At(t));
      ++next_beat;
    }
    a.Update(At(t));
    b.Update(At(t));
    if (t % 50 != 0) {
      continue;
    }
    for (const auto& device : devices) {
      const int owners = (a.Owns(device) ? 1 : 0) + (b.Owns(device) ? 1 : 0);
      duplicates += owners > 1 ? 1 : 0;
      gaps += owners == 0 ? 1 : 0;
    }
  }
  EXPECT_EQ(duplicates, 0);
  EXPECT_EQ(gaps, 0);
  EXPECT_EQ(a.counted(), b.counted());
  int owned_by_b = 0;
  for (const auto& device : devices) {
    owned_by_b += b.Owns(device) ? 1 : 0;
  }
  EXPECT_NEAR(owned_by_b, 1000, 150);
}

}  // namespace
}  // namespace coapgw::observer
