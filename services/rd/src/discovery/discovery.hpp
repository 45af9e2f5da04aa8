#pragma once

// Gateway-initiated discovery: the RD finds CoAP devices that never register themselves and
// registers them as third-party registrations (RFC 9176 §5.2) through the Directory, like any
// other registration (persisted, announced on the bus, owned by kDiscoveryOwner).
//
// A round sends NON GET /.well-known/core to the All-CoAP-Nodes groups on the configured
// interfaces (RFC 7252 §8, RFC 6690 §4), or to a list of unicast addresses at a bounded rate,
// and collects the answers for a window. Probing runs on a worker thread of its own (it blocks
// for the window); everything else runs on the RD's CoAP loop: answers cut short by Block2 are
// fetched in full with the coap::Client, each responder is named (its `ep` attribute, else
// AddressName) and registered with base = its address, and the round's outcome goes to whoever
// asked for it. Rounds run one at a time; multicast rounds repeat every interval (mode
// kMulticast) and anyone on loopback or an allowed address may ask for one with
// POST /coapgw/discover.

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "coapgw/coap/client.hpp"
#include "coapgw/coap/context.hpp"
#include "coapgw/coap/group_probe.hpp"
#include "coapgw/coap/server.hpp"
#include "coapgw/common/duration.hpp"
#include "coapgw/common/metrics.hpp"
#include "coapgw/common/settings.hpp"
#include "rd/directory.hpp"
#include "rd/index.hpp"

namespace coapgw::rd::discovery {

enum class Mode {
  kOff,        // no discovery, no /coapgw/discover
  kOnDemand,   // rounds only when asked for (POST /coapgw/discover)
  kMulticast,  // also a multicast round at start and every interval
};

struct DiscoveryOptions {
  Mode mode = Mode::kOff;
  std::vector<std::string> interfaces;  // multicast goes out on each; empty: the kernel's choice
  std::vector<std::string> groups = {"224.0.1.187", "ff02::fd", "ff05::fd"};
  uint16_t port = 5683;              // of the groups and of unicast targets without one
  Millis interval{300000};           // between periodic multicast rounds
  Millis window{6000};               // answers are collected this long (RFC 7252 Leisure: 5 s)
  int64_t lifetime_s = 900;          // lt of discovered registrations (> interval + window)
  std::string sector;                // d of discovered registrations
  std::string et;                    // et of those that give none themselves (empty: none)
  size_t max_responses = 256;        // responders processed per round
  double rate = 20;                  // unicast requests per second
  size_t max_addresses = 256;        // unicast addresses per request
  size_t max_payload_bytes = 65536;  // larger /.well-known/core documents are not registered
  std::vector<std::string> allow = {"loopback"};  // who may ask for a round: IPs, "loopback"
  Millis fetch_timeout{10000};                    // unicast GET of a document that came in blocks
  Millis answer_within{20000};         // a round expected to take longer is answered 2.04 at once
  MetricsRegistry* metrics = nullptr;  // coapgw_rd_discovery_* counters go here when set
};

/// What became of one responder in a round.
struct Found {
  coap::Address address;
  std::string ep;
  std::string sector;
  std::string location;  // "/rd/7" once registered
  std::string status;    // new, refreshed, moved, owned, refused, unavailable, malformed
  std::string detail;    // why, for refused and malformed
};

/// The outcome of a round for whoever asked for it (called on the loop thread).
using RoundDone = std::function<void(const std::vector<Found>&)>;

/// The settings COAPGW_RD_DISCOVERY* (README "Discovery").
void AddSettings(Settings& settings);
/// Reads and checks them; throws SettingsError naming the setting. `default_sector` is used when
/// COAPGW_RD_DISCOVERY_SECTOR is empty, `max_payload_bytes` is COAPGW_RD_MAX_PAYLOAD.
DiscoveryOptions OptionsFromSettings(const Settings& settings, const std::string& default_sector,
                                     size_t max_payload_bytes);

/// The round outcome as link-format, one link per responder:
/// `<coap://10.0.0.2>;ep=node1;d=floor-3;loc=/rd/7;status=new`.
std::string FormatFound(const std::vector<Found>& found);

class Discovery {
 public:
  /// Adds /coapgw/discover to `server` (unless mode is kOff). Loop thread; everything given must
  /// outlive this object.
  Discovery(coap::Context& context, coap::Server& server, coap::Client& client,
            Directory& directory, const Index& index, DiscoveryOptions options);
  /// Stops the worker (a probe in progress ends within 100 ms); pending outcomes are dropped.
  ~Discovery();
  Discovery(const Discovery&) = delete;
  Discovery& operator=(const Discovery&) = delete;
  Discovery(Discovery&&) = delete;
  Discovery& operator=(Discovery&&) = delete;

  /// Starts the periodic multicast rounds (mode kMulticast): the first one now.
  void Start();
  /// Queues a round: multicast when `unicast` is empty. False when too many rounds are queued
  /// (a multicast round joins one already queued instead).
  bool Trigger(std::vector<coap::Address> unicast, RoundDone done);
  /// Registers one device another source found (DNS-SD) like a round's responder: fetches its
  /// /.well-known/core by unicast and names it by its `ep` attribute, else `name` (a valid
  /// endpoint name). Loop thread; works in every mode; `done` gets the outcome (may be null).
  void RegisterFound(const coap::Address& address, const std::string& name, RoundDone done);
  /// The outcome of the last round that completed.
  const std::vector<Found>& last() const { return last_; }

 private:
  struct Round;
  void AddResource();
  void Periodic();
  void WorkerLoop();
  coap::ProbeRequest ProbeFor(const Round& round) const;
  void Collected(uint64_t round_id, Result<coap::ProbeResult> result);
  void Register(std::vector<coap::ProbeResponse> responses, const std::string& fallback_name,
                std::function<void(std::vector<Found>)> done);
  void Finish(uint64_t round_id, std::vector<Found> found);
  bool MayTrigger(const std::string& ip) const;

  coap::Context& context_;
  coap::Server& server_;
  coap::Client& client_;
  Directory& directory_;
  const Index& index_;
  DiscoveryOptions options_;
  std::vector<Found> last_;
  struct Counters;
  std::unique_ptr<Counters> counters_;                          // null without a registry
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);  // guards posted work

  // Shared with the worker thread; guarded by mutex_.
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::shared_ptr<Round>> queue_;
  std::shared_ptr<Round> running_;
  bool stopping_ = false;
  uint64_t next_round_ = 1;
  std::thread worker_;
};

}  // namespace coapgw::rd::discovery
