#pragma once

// The platform side of the ws-connector: one WebSocket connection to the platform
// (platform-protocol.md), its handshake, the device sync, device lifecycle calls, data events out
// of the durable outbox and command round trips over the bus.
//
// Device calls (sync, put, disconnect, delete, commit) go one at a time, alone on the connection:
// each depends on the previous one's answer. Command responses and outbox events are pipelined
// (up to kPipelineWindow requests in flight, replies correlated by token), in outbox order.
// Priority: device changes, then a commit, then command responses, then outbox events.
//
// The platform closes the connection after more than 5 refused requests in a row
// (platform-protocol.md §9.1). So an event for a device the platform does not listen to on this
// connection (platform_devices_) is dropped before sending, and so is one for a (device,
// service) the platform refused on this connection; an event for a (device, service) not yet
// acknowledged here is a probe, and probes in flight plus the refusals since the last 200 stay
// below kErrorBudget (a commit, which the platform accepts, resets its count when needed).
//
// The outbox is written and read in batches: observed data collected during one pass of the loop
// becomes one multi-row INSERT, acknowledgements one DELETE, and reads fetch up to a window of
// rows at a time (a PostgreSQL round trip per event would cap the event rate far below the
// connection's).
//
// Threading: everything runs on the loop thread of the coap::Context given (the DeviceMirror's
// thread); the WebSocket client's callbacks are posted there.

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "coapgw/coap/context.hpp"
#include "coapgw/common/duration.hpp"
#include "coapgw/common/metrics.hpp"
#include "coapgw/common/result.hpp"
#include "coapgw/devices/device_mirror.hpp"
#include "coapgw/events/messages.hpp"
#include "coapgw/ws/backoff.hpp"
#include "coapgw/ws/client.hpp"
#include "coapgw/ws/platform_protocol.hpp"
#include "ws_connector/directory_guard.hpp"
#include "ws_connector/mapping.hpp"
#include "ws_connector/store.hpp"

namespace coapgw::ws_connector {

struct ConnectorOptions {
  std::string platform_url;  // ws://… or wss://…
  std::string user;
  std::string password;
  std::string gateway_id;           // COAPGW_GATEWAY_ID: used when none is persisted yet
  std::string default_device_type;  // COAPGW_DEFAULT_DEVICE_TYPE: iot_type of devices without et
  Millis request_timeout{10'000};
  Millis handshake_timeout{20'000};
  Millis command_timeout{10'000};
  ws::BackoffOptions backoff;
  ws::ClientOptions client;
  uint64_t outbox_limit = 100'000;
  std::chrono::seconds outbox_max_age{86'400};
  size_t max_pending_responses = 10'000;
  bool accept_new_directory = false;  // COAPGW_WS_ACCEPT_NEW_DIRECTORY (DirectoryGuard)
};

/// Where the connection is.
enum class ConnectorState { kIdle, kConnecting, kHandshake, kWaitingForRd, kSyncing, kReady };

/// "idle", "connecting", ...
const char* ConnectorStateName(ConnectorState state);

class Connector final : public devices::DeviceListener {
 public:
  /// Publishes one bus message (topic, data JSON); runs on the loop thread.
  using Publish = std::function<Status(std::string_view topic, const std::string& data)>;
  /// Told whenever readiness changes (ready = connected and synced), with a reason when not.
  using ReadyChanged = std::function<void(bool ready, const std::string& reason)>;

  /// Builds the WebSocket client; connects nothing until Start. `loop`, `store` and `metrics`
  /// must outlive the connector.
  Connector(coap::Context& loop, Store& store, MetricsRegistry& metrics, ConnectorOptions options,
            Publish publish, ReadyChanged ready_changed);
  /// Closes the connection (loop thread).
  ~Connector() override;
  Connector(const Connector&) = delete;
  Connector& operator=(const Connector&) = delete;

  /// The mirror whose devices are the gateway's (set before Start).
  void SetMirror(const devices::DeviceMirror* mirror) { mirror_ = mirror; }
  /// Reads the gateway id and starts connecting. Loop thread.
  void Start();
  /// Closes the connection for good. Loop thread.
  void Stop();

  /// observer.data: appended to the outbox, sent when connected. Loop thread.
  void OnObservedData(const events::ObservedData& data);
  /// executer.command-result: the platform response of a pending command. Loop thread.
  void OnCommandResult(const events::CommandResult& result);

  // devices::DeviceListener
  void OnDeviceUpsert(const events::Device& device, const events::Device* before,
                      const std::vector<events::DeviceChange>& changes) override;
  void OnDeviceGone(const events::Device& device, devices::GoneReason reason) override;
  void OnSynced(size_t devices) override;

  ConnectorState state() const { return state_; }
  const std::string& gateway_id() const { return gateway_id_; }

 private:
  using Done = std::function<void(int status, const std::string& payload)>;
  struct InFlight {
    std::string handler;
    coap::Context::TimerId timer = 0;
    Done done;
    bool exclusive = true;  // a device call or commit: nothing else is in flight with it
    bool probe = false;     // an event for a (device, service) not yet acknowledged here
  };
  // What the platform said to events of one service of a device on this connection.
  enum class ServiceVerdict { kAccepted, kRefused };
  struct PendingCommand {
    std::string payload;  // the platform's command payload, echoed in the response
    coap::Context::TimerId timer = 0;
  };
  struct Metrics {
    Counter& connects;
    Counter& disconnects;
    Counter& syncs;
    Counter& requests_failed;
    Counter& request_timeouts;
    Counter& device_calls;
    Counter& events_sent;
    Counter& events_rejected;
    Counter& events_dropped_not_listened;
    Counter& events_dropped_refused;
    Counter& outbox_dropped;
    Counter& outbox_lost;
    Counter& commands;
    Counter& command_timeouts;
    Counter& bad_frames;
    Gauge& connected;
    Gauge& outbox_pending;
  };

  void Connect();
  void SetState(ConnectorState state, const std::string& detail = "");
  void OnOpen();
  void OnText(const std::string& text);
  void OnClosed(const ws::CloseEvent& event);
  void Fail(const std::string& why);
  void OnHandshake(const ws::platform::Envelope& envelope);
  void StartSync();
  void SyncStep(std::shared_ptr<std::deque<std::pair<std::string, std::string>>> steps,
                std::shared_ptr<std::map<std::string, ws::platform::HashedDevice>> local);
  bool Listable(const events::Device& device) const;
  // Persists ids about to be put (those not yet recorded).
  void RememberPut(const std::vector<std::string>& ids);
  // True when `id` was put on the platform and the RD has ended it (an explicit DELETE).
  // DeletedInRd also requires that the RD runs on the accepted database (DirectoryGuard).
  bool DeletedInRd(const std::string& id) const;
  bool EndedInRd(const std::string& id) const;
  // After each snapshot: lets DirectoryGuard judge the RD's directory; queues the deletions it
  // allows from now on.
  void CheckDirectory();
  void BecomeReady();
  void OnCommand(const ws::platform::Envelope& envelope);
  void Respond(const std::string& command_payload, std::string_view code,
               std::optional<uint16_t> content_format, std::string_view data);

  void Send(const std::string& handler, const std::string& payload, Done done,
            bool exclusive = true, bool probe = false);
  void Pump();
  bool PumpDevice();
  bool PumpOutbox();
  // Removes an outbox event without sending it (counted; logged at most every few seconds).
  void DropEvent(int64_t id, const std::string& device, const char* reason);
  // Records the platform's answer to an event for `target`.
  void OnEventReply(const EventTarget& target, int status);
  void ScheduleFlush();
  void Flush();
  void FlushRemovals();
  void ExpireOutbox();
  std::string CommitHash() const;

  coap::Context& loop_;
  Store& store_;
  ConnectorOptions options_;
  Publish publish_;
  ReadyChanged ready_changed_;
  Metrics metrics_;
  const devices::DeviceMirror* mirror_ = nullptr;
  std::unique_ptr<ws::Client> client_;
  ws::Backoff backoff_;
  DirectoryGuard directory_guard_;

  ConnectorState state_ = ConnectorState::kIdle;
  bool stopped_ = false;
  std::string gateway_id_;
  std::string remote_hash_;
  coap::Context::TimerId reconnect_timer_ = 0;
  coap::Context::TimerId handshake_timer_ = 0;
  coap::Context::TimerId expiry_timer_ = 0;
  std::map<std::string, InFlight> in_flight_;  // by token
  bool exclusive_in_flight_ = false;
  // Replies other than 200 since the last 200 on this connection (the platform's count of
  // consecutive errors, as far as answered), and probes in flight.
  int refused_in_a_row_ = 0;
  int probes_in_flight_ = 0;
  // device id -> service -> verdict, for this connection (a put of the device forgets it).
  std::map<std::string, std::map<std::string, ServiceVerdict>> event_verdicts_;
  std::chrono::steady_clock::time_point drop_logged_{};
  uint64_t drops_not_logged_ = 0;

  // What the platform has: devices put (and not disconnected/deleted) since the last sync.
  std::map<std::string, ws::platform::HashedDevice> platform_devices_;
  std::map<std::string, bool> dirty_;  // device id -> force a put (links or base changed)
  // Every id put on the platform and not deleted there (wsc_platform_devices): an id the RD no
  // longer knows at all (neither a device nor an expired id) gets a `delete` at the next chance.
  std::set<std::string> put_ids_;
  bool commit_pending_ = false;
  std::deque<std::string> responses_;  // command response payloads waiting to be sent
  // The outbox: messages not yet written (one INSERT per loop pass), acknowledged ids not yet
  // deleted, and rows read but not yet sent on this connection (ids ascending, all > the ids of
  // rows sent before them).
  std::vector<std::pair<std::string, std::string>> appends_;
  std::vector<int64_t> acked_;
  std::deque<OutboxEntry> queued_;
  int64_t read_after_ = 0;  // rows up to this id were read on this connection
  bool unread_ = true;      // the table may hold rows above read_after_
  bool flush_posted_ = false;
  uint64_t pending_ = 0;  // rows in the outbox table
  std::map<std::string, PendingCommand> commands_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace coapgw::ws_connector
