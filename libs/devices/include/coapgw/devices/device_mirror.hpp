#pragma once

// A service's copy of the RD's devices, kept in step from the bus and never allowed to drift.
//
// The RD is the source of truth. A consumer (ws-connector, executer, pinger, observer) starts by
// fetching the RD's snapshot (GET <rd>/coapgw/devices: every device record plus the RD's
// publisher id and its last sequence number per topic), then applies rd.device.* events in
// order. Events already contained in the snapshot are skipped by sequence number. Anything that
// could mean a lost event -- a sequence gap, a sequence that goes back, a message from another
// RD publisher (the RD restarted) -- triggers a new snapshot, and the differences are reported to
// the listener as if they had been events. While a snapshot is being fetched, events are held and
// replayed after it. The snapshot also lists the ids of devices whose registration expired (the
// RD keeps their id), so a device missing from a new snapshot is reported as expired when it is
// listed there and as removed (an explicit DELETE ended its id) when it is not.
//
// Threading: everything runs on the loop thread of the coap::Context given (bus messages are
// handed over with Context::Post, see bus::SubscriberThread).

#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include "coapgw/bus/subscriber.hpp"
#include "coapgw/coap/client.hpp"
#include "coapgw/coap/context.hpp"
#include "coapgw/common/duration.hpp"
#include "coapgw/events/messages.hpp"

namespace coapgw::devices {

/// Why a device left the mirror.
enum class GoneReason {
  kRemoved,  // explicit DELETE: the device id ends
  kExpired,  // lifetime ended: the device id survives a later re-registration
  kResync,   // absent from a new snapshot of an RD that does not list expired ids (either)
};

/// Told about every change, on the loop thread.
class DeviceListener {
 public:
  virtual ~DeviceListener() = default;
  /// `device` is new (`before` null) or changed; `changes` lists what changed when known (from an
  /// rd.device.updated event; empty for a plain refresh, for a new device, or after a resync).
  virtual void OnDeviceUpsert(const events::Device& device, const events::Device* before,
                              const std::vector<events::DeviceChange>& changes) = 0;
  virtual void OnDeviceGone(const events::Device& device, GoneReason reason) = 0;
  /// A snapshot was applied (first sync or resync); the mirror is complete now.
  virtual void OnSynced(size_t devices) { (void)devices; }
};

struct DeviceMirrorOptions {
  std::string rd_uri = "coap://127.0.0.1:5683";  // COAPGW_RD_URI
  Millis fetch_timeout{10000};
  Millis retry_interval{2000};  // after a failed snapshot fetch
  /// Largest snapshot accepted. It grows with the directory (about 1 KiB per device), so it is
  /// bounded apart from the CoAP context's per-exchange limit, which is sized for one device.
  size_t max_snapshot_bytes = size_t{512} * 1024 * 1024;
  /// How often a synced mirror asks the RD for its publisher id and last sequence numbers (the
  /// snapshot of no device). Events lost on the bus with no later event to show the gap (the bus
  /// restarted, then nothing happened) would otherwise go unnoticed: a resync follows when the RD
  /// has another publisher, or when an event it had published by the previous check has still not
  /// arrived. 0: never.
  Millis check_interval{5000};
};

/// The bus topics a mirror needs; subscribe to them and pass every message to OnMessage.
inline constexpr const char* kDeviceTopicPrefix = "rd.device.";

class DeviceMirror {
 public:
  /// Does nothing until Start(). `context`, `client` and `listener` must outlive the mirror.
  DeviceMirror(coap::Context& context, coap::Client& client, DeviceListener& listener,
               DeviceMirrorOptions options);
  ~DeviceMirror();
  DeviceMirror(const DeviceMirror&) = delete;
  DeviceMirror& operator=(const DeviceMirror&) = delete;

  /// Fetches the first snapshot (retrying until it works). Loop thread.
  void Start();
  /// Applies (or holds) one rd.device.* message. Loop thread.
  void OnMessage(const bus::Message& message);
  /// Forces a new snapshot (e.g. after the subscriber reconnected). Loop thread.
  void Resync(const std::string& why);

  /// The device with this id, or nullptr.
  const events::Device* Find(const std::string& device_id) const;
  const std::map<std::string, events::Device>& devices() const { return devices_; }
  /// Ids of devices whose registration expired and whose id the RD keeps (a new registration of
  /// the same sector and endpoint name brings the device back under it). An id neither here nor
  /// in devices() was ended by an explicit DELETE, or never existed -- but only when
  /// knows_expired() is true.
  const std::set<std::string>& expired() const { return expired_; }
  /// False until a snapshot was applied, and while the RD's snapshots do not list expired ids
  /// (an RD older than this library): then expired() is incomplete.
  bool knows_expired() const { return knows_expired_; }
  /// The identity of the RD's database (the snapshot's "directory", a UUID made once per
  /// database), as of the last snapshot; empty before one, or from an RD that does not send it.
  /// Another value than before means another database (fresh, or restored from elsewhere).
  const std::string& directory() const { return directory_; }
  /// True once a snapshot was applied and no resync is pending.
  bool synced() const { return synced_; }

  struct Stats {
    uint64_t snapshots = 0;
    uint64_t resyncs = 0;  // snapshots after the first
    uint64_t applied = 0;  // events applied
    uint64_t skipped = 0;  // events already in a snapshot
    uint64_t failed_fetches = 0;
  };
  const Stats& stats() const { return stats_; }

 private:
  struct Held {
    std::string topic;
    std::string publisher;
    uint64_t seq = 0;
    std::string data;  // the `data` JSON, re-parsed when replayed
  };

  void Fetch();
  void ApplySnapshot(const std::string& body);
  void ScheduleCheck();
  void Check();
  void OnCheck(const std::string& body);
  void Apply(const std::string& topic, const std::string& publisher, uint64_t seq,
             const rapidjson::Value& data);
  void Upsert(events::Device device, const std::vector<events::DeviceChange>& changes);
  void Erase(const std::string& device_id, GoneReason reason);

  coap::Context& context_;
  coap::Client& client_;
  DeviceListener& listener_;
  DeviceMirrorOptions options_;
  std::map<std::string, events::Device> devices_;
  std::set<std::string> expired_;
  bool knows_expired_ = false;
  std::string directory_;
  bool started_ = false;
  bool synced_ = false;
  bool fetching_ = false;
  std::deque<Held> held_;
  std::string publisher_;                      // the RD publisher we follow
  std::map<std::string, uint64_t> last_seq_;   // per topic, of publisher_
  std::map<std::string, uint64_t> published_;  // per topic, the RD's last seq at the last check
  bool check_scheduled_ = false;
  Stats stats_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace coapgw::devices
