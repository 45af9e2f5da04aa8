#pragma once

// The Resource Directory's rules (RFC 9176 §5, §7.5; draft-11 groups): registration, update,
// removal, groups, lifetime expiry and device status. Domain code: it validates requests,
// applies the "first come first remembered" policy, writes through the Store, keeps the Index in
// step once a write is durable, and announces every change as an event. It does no I/O itself
// and runs on one thread (the CoAP loop): Store completions come back through `post`.
//
// Every change to one (sector, ep) pair is serialized: while a write for it is in flight, the
// next request for the same pair waits its turn, so concurrent requests can never reorder
// what the database and the index see.

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "coapgw/common/result.hpp"
#include "rd/index.hpp"
#include "rd/registration.hpp"
#include "rd/store.hpp"

namespace coapgw::rd {

/// Who sent a request, as far as the RD's policy and defaults care.
struct Requester {
  std::string scheme = "coap";  // "coap" or "coaps"
  std::string ip;               // numeric, IPv6 without brackets
  uint16_t port = 0;
  std::string identity;    // authenticated (DTLS) identity; empty for plain UDP
  bool discovery = false;  // the RD's own discovery (owner kDiscoveryOwner)

  /// The base URI RFC 9176 §5 derives from the source: "coap://[2001:db8::1]:61616"; the port is
  /// omitted when it is the scheme's default.
  std::string ImplicitBase() const;
  /// The identity "first come first remembered" stores (RFC 9176 §7.5).
  std::string Owner(bool include_port) const;
};

/// The owner of registrations made by the RD's discovery. Under fcfr the discovered device itself
/// (a request from the IP address of the registration's base) may take such a registration over.
inline constexpr const char* kDiscoveryOwner = "rd:discovery";

/// A query parameter as it arrived (percent-decoding is done by CoAP option framing).
struct QueryParam {
  std::string name;
  std::optional<std::string> value;  // nullopt for a bare "name"
};

/// Registration-resource access policy.
enum class Policy {
  kFirstComeFirstRemembered,      // RFC 9176 §7.5 keyed on the source IP (or DTLS identity)
  kFirstComeFirstRememberedPort,  // the same, keyed on IP and port
  kOpen,                          // anybody may change any registration (closed networks only)
};

struct DirectoryOptions {
  int64_t default_lifetime_s = 90000;  // RFC 9176 §5
  int64_t min_lifetime_s = 1;          // lt below this is raised to it (bounds sweeper work)
  Policy policy = Policy::kFirstComeFirstRemembered;
  std::string default_sector;          // applied when a registration has no d=
  size_t max_links = 1000;             // per registration
  uint32_t unavailable_max_age_s = 5;  // Max-Age on 5.03 while the database is away
};

/// What the CoAP adapter sends back. `code` is class * 100 + detail (201 = 2.01).
struct Reply {
  int code = 500;
  std::string location;  // Location-Path for 2.01
  std::string payload;   // diagnostic text for errors, links for reads
  std::optional<uint32_t> max_age;
  bool link_format = false;  // payload is application/link-format
};
using ReplyFn = std::function<void(Reply)>;

/// Where announcements go: a topic and the `data` JSON of a bus message.
class EventSink {
 public:
  virtual ~EventSink() = default;
  virtual void Publish(std::string_view topic, const std::string& data) = 0;
};

/// Told whenever the set of registrations or groups changed (to notify lookup observers).
using ChangeListener = std::function<void()>;

class Directory {
 public:
  using Clock = std::function<TimePoint()>;
  using Post = std::function<void(std::function<void()>)>;

  Directory(Index& index, Store& store, EventSink& events, Post post, Clock clock,
            DirectoryOptions options);

  /// Loads persisted state into the index; registrations whose lifetime ended while the RD was
  /// down are expired (and announced) at once.
  void Load(StoredState state);

  /// POST /rd (and, with `simple`, the second half of POST /.well-known/rd once the registrant's
  /// /.well-known/core was fetched). Replies 2.01 + location (2.04 for simple registration).
  void Register(const Requester& requester, const std::vector<QueryParam>& query,
                std::string_view payload, bool simple, ReplyFn reply);
  /// POST /rd/<key>: refreshes the lifetime and updates lt, base, extra attributes; 2.04.
  void Update(int64_t key, const Requester& requester, const std::vector<QueryParam>& query,
              ReplyFn reply);
  /// DELETE /rd/<key>: 2.02; the device id ends here.
  void Remove(int64_t key, const Requester& requester, ReplyFn reply);
  /// GET /rd/<key>: the registration's links as registered (draft-11 "read endpoint links").
  Reply Read(int64_t key, const Requester& requester) const;

  /// POST /rd-group?gp=..&d=..&con=.. with "<>;ep=..." links naming registered endpoints.
  void RegisterGroup(const Requester& requester, const std::vector<QueryParam>& query,
                     std::string_view payload, ReplyFn reply);
  /// DELETE /rd-group/<key>.
  void RemoveGroup(int64_t key, const Requester& requester, ReplyFn reply);

  /// Expires every registration whose lifetime ended by `now`; returns how many.
  size_t ExpireDue(TimePoint now);
  /// When the next registration expires (nullopt when none does).
  std::optional<TimePoint> NextExpiry() const;

  /// Device ids kept without a registration (their lifetime ended; a new registration of the
  /// same (sector, ep) gets the id back). Ids that are in neither this set nor the index were
  /// ended by an explicit DELETE (or never existed).
  const std::set<std::string>& expired_device_ids() const { return expired_ids_; }
  /// The identity of the database the directory was loaded from (StoredState::directory_id).
  const std::string& directory_id() const { return directory_id_; }

  /// A pinger's verdict: unreachable sets status 0, reachable sets 1 (each announced once).
  void ApplyLiveness(const std::string& device_id, bool reachable);

  /// Called after every change that lookups can see.
  void SetChangeListener(ChangeListener listener) { on_change_ = std::move(listener); }

  /// Counters for metrics.
  struct Stats {
    uint64_t registrations = 0;
    uint64_t updates = 0;
    uint64_t removals = 0;
    uint64_t expiries = 0;
    uint64_t rejected = 0;
    uint64_t unavailable = 0;
  };
  const Stats& stats() const { return stats_; }

 private:
  using NameKey = std::pair<std::string, std::string>;  // (sector, ep)

  // Runs `work` now, or after the writes already in flight for `name` completed. `work` must call
  // Release(name) exactly once when its own write completed.
  void Exclusive(const NameKey& name, std::function<void()> work);
  void Release(const NameKey& name);

  // The registration `key` if it still exists and `requester` may change it; else replies 4.04 or
  // 4.03, releases `name` and returns nullptr.
  const Registration* CurrentIfAllowed(int64_t key, const NameKey& name, const Requester& requester,
                                       const ReplyFn& reply);
  void Save(Registration registration, std::optional<Registration> before, Reply success,
            ReplyFn reply);
  void Expire(int64_t key);
  void Announce(const Registration* before, const Registration& after);
  void ScheduleExpiry(const Registration& registration);
  Reply Unavailable(const Error& error);
  bool MayModify(const Registration& registration, const Requester& requester) const;
  void Changed();

  Index& index_;
  Store& store_;
  EventSink& events_;
  Post post_;
  Clock clock_;
  DirectoryOptions options_;
  ChangeListener on_change_;
  Stats stats_;
  std::map<NameKey, std::deque<std::function<void()>>> busy_;  // in flight -> waiting work
  std::set<std::pair<TimePoint, int64_t>> expiries_;           // (expires_at, key)
  std::set<std::string> expired_ids_;
  std::string directory_id_;
};

}  // namespace coapgw::rd
