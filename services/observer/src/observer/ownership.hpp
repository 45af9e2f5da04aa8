#pragma once

// Which observer instance handles which device, with no coordinator: every instance announces
// itself on the bus (observer.heartbeat) and computes the same owner for each device by
// rendezvous (highest random weight) hashing of the device id over the instances it counts as
// live. docs/observer-sharding.md explains the rule, its timing and its failure modes.
//
// Membership is pure bookkeeping with the time passed in, so tests drive it with a fake clock.

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "coapgw/common/duration.hpp"

namespace coapgw::observer {

using SteadyTime = std::chrono::steady_clock::time_point;

/// The rendezvous weight of `instance_id` for `device_id`: FNV-1a 64 over both (with a separator)
/// and a splitmix64 finaliser. Depends on the bytes only, so it is the same on every host, build
/// and run.
uint64_t RendezvousWeight(std::string_view instance_id, std::string_view device_id);

/// The instance of `instances` with the highest weight for `device_id` (a tie goes to the smaller
/// id); empty when `instances` is empty.
std::string_view RendezvousOwner(const std::vector<std::string>& instances,
                                 std::string_view device_id);

struct MembershipOptions {
  /// How long an instance waits after its first own heartbeat came back through the bus before it
  /// owns anything, and how long a newly heard instance waits before the others count it. At
  /// least one heartbeat interval, so that an instance has heard everybody before it settles.
  Millis warm_up{1500};
  /// An instance silent for this many of its announced intervals is gone.
  int missed_heartbeats = 3;
};

/// The live observer instances as this instance sees them. Not thread-safe (the loop thread).
///
/// - This instance settles `warm_up` after its own first heartbeat came back through the bus
///   (proof that its announcements reach the others); before that it owns nothing.
/// - Another instance heard before this one settled counts from the moment it settles; one heard
///   later counts `warm_up` after it was first heard, which is when it settles itself (it heard
///   its own first heartbeat at about the same moment): devices move over with no gap and at most
///   a bus latency of overlap.
/// - An instance silent for `missed_heartbeats` × its announced interval is gone at once.
class Membership {
 public:
  /// One instance that went silent and was dropped.
  struct Departure {
    std::string instance_id;
    Millis silence{0};     // since its last heartbeat
    bool counted = false;  // it owned devices in this view
  };
  /// What Update() changed.
  struct Change {
    bool counted_changed = false;  // the set ownership is computed over changed
    bool joined = false;           // an instance started to count (devices move to it)
    std::vector<Departure> departed;
  };

  Membership(std::string self_id, MembershipOptions options);

  /// Records a heartbeat of `instance_id` (this instance's own included) announcing `interval`.
  void OnHeartbeat(std::string_view instance_id, Millis interval, SteadyTime now);
  /// Applies the passage of time: expiries, the end of warm-ups. Call it often (every tick).
  Change Update(SteadyTime now);

  /// True once this instance may own devices.
  bool settled() const { return settled_; }
  /// True when this instance owns `device_id` now (false until settled).
  bool Owns(std::string_view device_id) const;
  /// The owner of `device_id` in this view (this instance included once settled); empty before.
  std::string_view OwnerOf(std::string_view device_id) const;

  /// Instances ownership is computed over, sorted (this one first counts once settled).
  const std::vector<std::string>& counted() const { return counted_; }
  /// Instances heard from and not expired, counted or not (this one excluded).
  size_t known_others() const { return others_.size(); }
  const std::string& self_id() const { return self_id_; }

 private:
  struct Member {
    SteadyTime first_seen;
    SteadyTime last_seen;
    Millis interval{0};
    bool counted = false;
  };
  void Recount();

  std::string self_id_;
  MembershipOptions options_;
  bool echo_seen_ = false;
  bool settled_ = false;
  SteadyTime settle_at_;
  std::map<std::string, Member, std::less<>> others_;
  std::vector<std::string> counted_;
};

}  // namespace coapgw::observer
