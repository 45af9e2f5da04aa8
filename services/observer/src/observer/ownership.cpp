#include "observer/ownership.hpp"

#include <algorithm>

namespace coapgw::observer {
namespace {

constexpr uint64_t kFnvOffset = 14695981039346656037ULL;
constexpr uint64_t kFnvPrime = 1099511628211ULL;

uint64_t Fnv1a(uint64_t hash, std::string_view bytes) {
  for (const char c : bytes) {
    hash ^= static_cast<uint8_t>(c);
    hash *= kFnvPrime;
  }
  return hash;
}

// FNV-1a alone mixes the last bytes poorly; ids that differ only at the end (observer-1a2b3c4d,
// observer-1a2b3c4e) would then rank devices alike. The splitmix64 finaliser spreads every bit.
uint64_t Finalise(uint64_t x) {
  x ^= x >> 30U;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27U;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31U;
  return x;
}

}  // namespace

uint64_t RendezvousWeight(std::string_view instance_id, std::string_view device_id) {
  uint64_t hash = Fnv1a(kFnvOffset, instance_id);
  hash = Fnv1a(hash, std::string_view("\0", 1));
  return Finalise(Fnv1a(hash, device_id));
}

std::string_view RendezvousOwner(const std::vector<std::string>& instances,
                                 std::string_view device_id) {
  std::string_view best;
  uint64_t best_weight = 0;
  for (const auto& instance : instances) {
    const uint64_t weight = RendezvousWeight(instance, device_id);
    if (best.empty() || weight > best_weight ||
        (weight == best_weight && instance.compare(best) < 0)) {
      best = instance;
      best_weight = weight;
    }
  }
  return best;
}

Membership::Membership(std::string self_id, MembershipOptions options)
    : self_id_(std::move(self_id)), options_(options) {}

void Membership::OnHeartbeat(std::string_view instance_id, Millis interval, SteadyTime now) {
  if (instance_id == self_id_) {
    if (!echo_seen_) {
      echo_seen_ = true;
      settle_at_ = now + options_.warm_up;
    }
    return;
  }
  auto it = others_.find(instance_id);
  if (it == others_.end()) {
    it = others_.emplace(std::string(instance_id), Member{now, now, interval, false}).first;
  }
  it->second.last_seen = now;
  it->second.interval = interval;
}

Membership::Change Membership::Update(SteadyTime now) {
  Change change;
  for (auto it = others_.begin(); it != others_.end();) {
    const Member& member = it->second;
    if (now - member.last_seen > member.interval * options_.missed_heartbeats) {
      change.departed.push_back(
          {it->first, std::chrono::duration_cast<Millis>(now - member.last_seen), member.counted});
      change.counted_changed = change.counted_changed || member.counted;
      it = others_.erase(it);
    } else {
      ++it;
    }
  }
  if (!settled_ && echo_seen_ && now >= settle_at_) {
    // Everybody heard so far was there before this instance: they count at once.
    settled_ = true;
    for (auto& [id, member] : others_) {
      member.counted = true;
    }
    change.counted_changed = true;
  } else if (settled_) {
    for (auto& [id, member] : others_) {
      if (!member.counted && now >= member.first_seen + options_.warm_up) {
        member.counted = true;
        change.counted_changed = true;
        change.joined = true;
      }
    }
  }
  if (change.counted_changed) {
    Recount();
  }
  return change;
}

void Membership::Recount() {
  counted_.clear();
  if (!settled_) {
    return;
  }
  counted_.push_back(self_id_);
  for (const auto& [id, member] : others_) {
    if (member.counted) {
      counted_.push_back(id);
    }
  }
  std::sort(counted_.begin(), counted_.end());
}

bool Membership::Owns(std::string_view device_id) const {
  return settled_ && RendezvousOwner(counted_, device_id) == self_id_;
}

std::string_view Membership::OwnerOf(std::string_view device_id) const {
  return RendezvousOwner(counted_, device_id);
}

}  // namespace coapgw::observer
