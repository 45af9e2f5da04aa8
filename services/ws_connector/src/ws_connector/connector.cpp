#include "ws_connector/connector.hpp"

#include <algorithm>
#include <utility>

#include "coapgw/common/ids.hpp"
#include "coapgw/common/log.hpp"
#include "coapgw/events/codec.hpp"
#include "ws_connector/mapping.hpp"

namespace coapgw::ws_connector {
namespace {

namespace platform = ws::platform;

constexpr const char* kComponent = "ws-connector";
constexpr Millis kMaxExpiryInterval{60'000};
// Events and responses in flight at most; enough to keep a loopback or LAN link busy, small
// enough that a reconnect resends little.
constexpr size_t kPipelineWindow = 256;
// Rows per outbox read and per INSERT (beyond it the batch is written at once).
constexpr size_t kOutboxBatch = 1000;
// The platform closes the connection on the 6th refused request in a row (platform-protocol.md
// §9.1). Probes in flight plus refusals since the last 200 stay below this, which leaves room for
// two refusals nobody could foresee.
constexpr int kErrorBudget = 3;
// At most one log line per this interval about events dropped before sending.
constexpr std::chrono::seconds kDropLogInterval{5};

std::string Truncated(const std::string& text) {
  constexpr size_t kMax = 200;
  return text.size() <= kMax ? text : text.substr(0, kMax) + "...";
}

}  // namespace

const char* ConnectorStateName(ConnectorState state) {
  switch (state) {
    case ConnectorState::kIdle:
      return "idle";
    case ConnectorState::kConnecting:
      return "connecting";
    case ConnectorState::kHandshake:
      return "handshake";
    case ConnectorState::kWaitingForRd:
      return "waiting-for-rd";
    case ConnectorState::kSyncing:
      return "syncing";
    case ConnectorState::kReady:
      return "ready";
  }
  return "unknown";
}

Connector::Connector(coap::Context& loop, Store& store, MetricsRegistry& metrics,
                     ConnectorOptions options, Publish publish, ReadyChanged ready_changed)
    : loop_(loop),
      store_(store),
      options_(std::move(options)),
      publish_(std::move(publish)),
      ready_changed_(std::move(ready_changed)),
      metrics_{
          metrics.AddCounter("coapgw_wsc_connects_total", "WebSocket connections opened."),
          metrics.AddCounter("coapgw_wsc_disconnects_total", "WebSocket connections ended."),
          metrics.AddCounter("coapgw_wsc_syncs_total",
                             "Device syncs (clear, put all, commit) after a hash mismatch."),
          metrics.AddCounter("coapgw_wsc_requests_failed_total",
                             "Platform requests answered with a status other than 200."),
          metrics.AddCounter("coapgw_wsc_request_timeouts_total",
                             "Platform requests without a reply in time (the connection is "
                             "closed and opened again)."),
          metrics.AddCounter("coapgw_wsc_device_calls_total",
                             "put, disconnect and delete calls for device changes."),
          metrics.AddCounter("coapgw_wsc_events_sent_total", "Events the platform acknowledged."),
          metrics.AddCounter("coapgw_wsc_events_rejected_total",
                             "Events the platform refused (400/500; removed from the outbox)."),
          metrics.AddCounter("coapgw_wsc_events_dropped_total",
                             "Events removed from the outbox without sending: the platform does "
                             "not listen to the device on this connection (not_listened), or it "
                             "refused that service of the device on this connection (refused).",
                             "reason=\"not_listened\""),
          metrics.AddCounter("coapgw_wsc_events_dropped_total", "", "reason=\"refused\""),
          metrics.AddCounter("coapgw_wsc_outbox_dropped_total",
                             "Outbox messages dropped: the outbox was full or they were too old."),
          metrics.AddCounter("coapgw_wsc_outbox_lost_total",
                             "Events that could not be written to the outbox (database error)."),
          metrics.AddCounter("coapgw_wsc_commands_total", "Platform commands received."),
          metrics.AddCounter("coapgw_wsc_command_timeouts_total",
                             "Commands answered with code timeout."),
          metrics.AddCounter("coapgw_wsc_bad_frames_total",
                             "Platform frames ignored (not JSON, unknown handler, unknown token)."),
          metrics.AddGauge("coapgw_wsc_connected", "1 when connected and synced."),
          metrics.AddGauge("coapgw_wsc_outbox_pending", "Messages waiting in the outbox."),
      },
      backoff_(options_.backoff),
      directory_guard_(store, metrics, options_.accept_new_directory) {
  ws::ClientHandlers handlers;
  std::shared_ptr<bool> alive = alive_;
  // The client's callbacks run on its I/O thread: hand everything to the loop.
  handlers.on_open = [this, alive] {
    loop_.Post([this, alive] {
      if (*alive) {
        OnOpen();
      }
    });
  };
  handlers.on_text = [this, alive](std::string text) {
    loop_.Post([this, alive, text = std::move(text)] {
      if (*alive) {
        OnText(text);
      }
    });
  };
  handlers.on_close = [this, alive](const ws::CloseEvent& event) {
    loop_.Post([this, alive, event] {
      if (*alive) {
        OnClosed(event);
      }
    });
  };
  client_ = std::make_unique<ws::Client>(options_.client, std::move(handlers));
}

Connector::~Connector() {
  *alive_ = false;
  Stop();
  client_.reset();
}

void Connector::Start() {
  auto stored = store_.GatewayId();
  if (!stored.ok()) {
    throw std::runtime_error(stored.error().message);
  }
  gateway_id_ = stored->value_or(options_.gateway_id);
  auto put_ids = store_.PlatformDevices();
  if (!put_ids.ok()) {
    throw std::runtime_error(put_ids.error().message);
  }
  put_ids_ = std::move(*put_ids);
  directory_guard_.Load();
  auto count = store_.Count();
  if (count.ok()) {
    pending_ = *count;
    metrics_.outbox_pending.Set(static_cast<int64_t>(*count));
  }
  ExpireOutbox();
  Connect();
}

void Connector::Stop() {
  if (stopped_) {
    return;
  }
  stopped_ = true;
  for (coap::Context::TimerId* timer : {&reconnect_timer_, &handshake_timer_, &expiry_timer_}) {
    if (*timer != 0) {
      loop_.CancelTimer(*timer);
      *timer = 0;
    }
  }
  for (auto& [token, request] : in_flight_) {
    loop_.CancelTimer(request.timer);
  }
  in_flight_.clear();
  exclusive_in_flight_ = false;
  probes_in_flight_ = 0;
  FlushRemovals();
  if (!appends_.empty()) {
    Flush();
  }
  for (auto& [id, command] : commands_) {
    loop_.CancelTimer(command.timer);
  }
  commands_.clear();
  client_->Close(1000, "connector shutdown");
}

void Connector::SetState(ConnectorState state, const std::string& detail) {
  const bool was_ready = state_ == ConnectorState::kReady;
  state_ = state;
  log::Info(kComponent, "state", {{"state", ConnectorStateName(state)}, {"detail", detail}});
  const bool ready = state == ConnectorState::kReady;
  metrics_.connected.Set(ready ? 1 : 0);
  if (ready != was_ready || !ready) {
    ready_changed_(ready, ready ? std::string()
                                : std::string(ConnectorStateName(state)) +
                                      (detail.empty() ? "" : ": " + detail));
  }
}

void Connector::Connect() {
  reconnect_timer_ = 0;
  if (stopped_) {
    return;
  }
  SetState(ConnectorState::kConnecting, options_.platform_url);
  const Status status = client_->Connect(options_.platform_url);
  if (!status.ok()) {
    // A malformed URL was refused at start-up; anything else is worth another try.
    ws::CloseEvent event;
    event.reason = status.error().message;
    OnClosed(event);
  }
}

void Connector::OnOpen() {
  metrics_.connects.Inc();
  SetState(ConnectorState::kHandshake, "gid=" + gateway_id_);
  platform::Credentials credentials;
  credentials.user = options_.user;
  credentials.password = options_.password;
  credentials.gateway_id = gateway_id_;
  (void)client_->Send(platform::EncodeCredentials(credentials));
  handshake_timer_ = loop_.After(options_.handshake_timeout, [this] {
    handshake_timer_ = 0;
    Fail("no handshake reply within " + FormatDuration(options_.handshake_timeout));
  });
}

void Connector::Fail(const std::string& why) {
  log::Warn(kComponent, "closing the connection", {{"reason", why}});
  client_->Close(1000, why);
}

void Connector::OnClosed(const ws::CloseEvent& event) {
  metrics_.disconnects.Inc();
  if (handshake_timer_ != 0) {
    loop_.CancelTimer(handshake_timer_);
    handshake_timer_ = 0;
  }
  // Events in flight stay in the outbox and are read again; a device change is redone by the sync.
  for (auto& [token, request] : in_flight_) {
    loop_.CancelTimer(request.timer);
  }
  in_flight_.clear();
  exclusive_in_flight_ = false;
  probes_in_flight_ = 0;
  refused_in_a_row_ = 0;
  event_verdicts_.clear();
  queued_.clear();
  read_after_ = 0;
  unread_ = true;
  commit_pending_ = false;
  if (stopped_) {
    SetState(ConnectorState::kIdle, "stopped");
    return;
  }
  const Millis delay = backoff_.Next();
  SetState(ConnectorState::kIdle, event.reason + (event.was_open ? "" : " (never opened)") +
                                      "; reconnect in " + FormatDuration(delay));
  reconnect_timer_ = loop_.After(delay, [this] { Connect(); });
}

void Connector::OnText(const std::string& text) {
  if (state_ == ConnectorState::kIdle || state_ == ConnectorState::kConnecting) {
    return;  // left over from a connection that has ended
  }
  auto envelope = platform::DecodeEnvelope(text);
  if (!envelope.ok()) {
    metrics_.bad_frames.Inc();
    log::Warn(kComponent, "ignoring a malformed frame",
              {{"error", envelope.error().message}, {"frame", Truncated(text)}});
    return;
  }
  if (state_ == ConnectorState::kHandshake) {
    OnHandshake(*envelope);
    return;
  }
  if (envelope->handler == "command") {
    OnCommand(*envelope);
    return;
  }
  if (envelope->handler != "response") {
    metrics_.bad_frames.Inc();
    log::Warn(kComponent, "ignoring a frame with an unknown handler",
              {{"handler", envelope->handler}});
    return;
  }
  const auto found = in_flight_.find(envelope->token);
  if (found == in_flight_.end()) {
    metrics_.bad_frames.Inc();
    log::Warn(kComponent, "ignoring a response for an unknown or expired token",
              {{"token", envelope->token}, {"status", std::to_string(envelope->status)}});
    return;
  }
  InFlight done = std::move(found->second);
  in_flight_.erase(found);
  if (done.exclusive) {
    exclusive_in_flight_ = false;
  }
  if (done.probe) {
    --probes_in_flight_;
  }
  refused_in_a_row_ = envelope->status == 200 ? 0 : refused_in_a_row_ + 1;
  loop_.CancelTimer(done.timer);
  if (envelope->status != 200) {
    metrics_.requests_failed.Inc();
    log::Warn(kComponent, "platform refused a request",
              {{"handler", done.handler},
               {"status", std::to_string(envelope->status)},
               {"reply", Truncated(envelope->payload)}});
  }
  done.done(envelope->status, envelope->payload);
  Pump();
}

void Connector::OnHandshake(const platform::Envelope& envelope) {
  auto reply = platform::DecodeHandshakeReply(envelope);
  if (!reply.ok()) {
    Fail("bad handshake reply: " + reply.error().message);
    return;
  }
  loop_.CancelTimer(handshake_timer_);
  handshake_timer_ = 0;
  backoff_.Reset();
  if (reply->gateway_id != gateway_id_) {
    log::Info(kComponent, "the platform assigned a gateway id",
              {{"gid", reply->gateway_id}, {"previous", gateway_id_}});
    gateway_id_ = reply->gateway_id;
    const Status stored = store_.SetGatewayId(gateway_id_);
    if (!stored.ok()) {
      log::Error(kComponent, "gateway id not persisted", {{"error", stored.error().message}});
    }
  }
  remote_hash_ = reply->hash;
  refused_in_a_row_ = 0;  // a new session counts from zero
  if (mirror_ == nullptr || !mirror_->synced()) {
    SetState(ConnectorState::kWaitingForRd, "gid=" + gateway_id_);
    return;
  }
  StartSync();
}

void Connector::OnSynced(size_t devices) {
  CheckDirectory();
  if (state_ == ConnectorState::kWaitingForRd) {
    log::Info(kComponent, "device list from the RD", {{"devices", std::to_string(devices)}});
    StartSync();
  }
}

bool Connector::Listable(const events::Device& device) const {
  if (!IsPlatformListed(device)) {
    return false;
  }
  if (!HasPlatformType(device, options_.default_device_type)) {
    log::Warn(kComponent,
              "device left off the platform: it registered without et and "
              "COAPGW_DEFAULT_DEVICE_TYPE is not set",
              {{"device", device.device_id}, {"ep", device.endpoint}});
    return false;
  }
  return true;
}

void Connector::RememberPut(const std::vector<std::string>& ids) {
  std::vector<std::string> fresh;
  for (const auto& id : ids) {
    if (put_ids_.count(id) == 0) {
      fresh.push_back(id);
    }
  }
  const Status stored = store_.AddPlatformDevices(fresh);
  if (!stored.ok()) {
    // The put goes ahead: a device on the platform matters more than a later deletion of it.
    log::Error(kComponent, "device ids not persisted; a deletion while down would be missed",
               {{"devices", std::to_string(fresh.size())}, {"error", stored.error().message}});
    return;
  }
  put_ids_.insert(fresh.begin(), fresh.end());
}

bool Connector::DeletedInRd(const std::string& id) const {
  return EndedInRd(id) && directory_guard_.Allows(mirror_->directory());
}

bool Connector::EndedInRd(const std::string& id) const {
  // Without the RD's expired ids a vanished device may only have expired: never delete then.
  return put_ids_.count(id) != 0 && mirror_ != nullptr && mirror_->knows_expired() &&
         mirror_->Find(id) == nullptr && mirror_->expired().count(id) == 0;
}

void Connector::CheckDirectory() {
  if (mirror_ == nullptr) {
    return;
  }
  size_t ended = 0;
  for (const auto& id : put_ids_) {
    ended += EndedInRd(id) ? 1 : 0;
  }
  if (!directory_guard_.Check(mirror_->directory(), ended)) {
    return;
  }
  for (const auto& id : put_ids_) {
    if (DeletedInRd(id)) {
      dirty_[id] = false;
    }
  }
  Pump();
}

void Connector::StartSync() {
  auto local = std::make_shared<std::map<std::string, platform::HashedDevice>>();
  std::vector<platform::HashedDevice> listed;
  std::vector<std::string> ids;
  for (const auto& [id, device] : mirror_->devices()) {
    if (Listable(device)) {
      (*local)[id] = ToPlatformDevice(device, options_.default_device_type);
      listed.push_back((*local)[id]);
      ids.push_back(id);
    }
  }
  // The sync covers the mirror as it is now; later changes are applied on top. `clear` only
  // releases devices (the platform keeps them, as disconnected), so every device the RD ended
  // while this connector was away or the bus was down is deleted after the sync.
  dirty_.clear();
  event_verdicts_.clear();
  for (const auto& id : put_ids_) {
    if (DeletedInRd(id)) {
      dirty_[id] = false;
    }
  }
  const std::string local_hash = platform::GatewayHashOf(listed);
  if (local_hash == remote_hash_) {
    platform_devices_ = std::move(*local);
    BecomeReady();
    return;
  }
  metrics_.syncs.Inc();
  SetState(ConnectorState::kSyncing, std::to_string(listed.size()) + " devices, hash " +
                                         local_hash + " (platform: \"" + remote_hash_ + "\")");
  auto steps = std::make_shared<std::deque<std::pair<std::string, std::string>>>();
  RememberPut(ids);
  steps->emplace_back("clear", "null");
  for (const auto& [id, device] : *local) {
    steps->emplace_back(id, PutPayload(device));
  }
  SyncStep(std::move(steps), std::move(local));
}

// `steps`: ("clear", payload) first, then (device id, put payload). A refused put leaves that
// device out (logged) and the sync goes on: one bad device must not keep all others off the
// platform. The commit carries the hash of what the platform accepted; if that differs from the
// RD's, the next connection simply syncs again.
void Connector::SyncStep(std::shared_ptr<std::deque<std::pair<std::string, std::string>>> steps,
                         std::shared_ptr<std::map<std::string, platform::HashedDevice>> local) {
  if (steps->empty()) {
    platform_devices_ = std::move(*local);
    Send("commit", platform::JsonQuote(CommitHash()), [this](int status, const std::string&) {
      if (status != 200) {
        Fail("device sync failed at commit");
        return;
      }
      BecomeReady();
    });
    return;
  }
  if (refused_in_a_row_ >= kErrorBudget) {
    // Refused puts in a row would reach the platform's limit: an accepted commit resets its
    // count. The hash is "" so that a connection lost before the final commit syncs again.
    log::Info(kComponent, "commit to reset the platform's error count",
              {{"refused_in_a_row", std::to_string(refused_in_a_row_)}});
    Send("commit", platform::JsonQuote(""), [this, steps, local](int status, const std::string&) {
      if (status != 200) {
        Fail("device sync failed at commit");
        return;
      }
      SyncStep(steps, local);
    });
    return;
  }
  auto [key, payload] = steps->front();
  steps->pop_front();
  const bool clear = key == "clear";
  Send(clear ? "clear" : "put", payload,
       [this, steps, local, clear, id = key](int status, const std::string& reply) {
         if (status != 200 && clear) {
           Fail("device sync failed at clear");
           return;
         }
         if (status != 200) {
           log::Warn(
               kComponent, "device refused by the platform; left out of the sync",
               {{"device", id}, {"status", std::to_string(status)}, {"reply", Truncated(reply)}});
           local->erase(id);
         }
         SyncStep(steps, local);
       });
}

void Connector::BecomeReady() {
  SetState(ConnectorState::kReady,
           "gid=" + gateway_id_ + ", " + std::to_string(platform_devices_.size()) + " devices");
  Pump();
}

void Connector::Send(const std::string& handler, const std::string& payload, Done done,
                     bool exclusive, bool probe) {
  InFlight request;
  const std::string token = RandomUuid();
  request.handler = handler;
  request.done = std::move(done);
  request.exclusive = exclusive;
  request.probe = probe;
  probes_in_flight_ += probe ? 1 : 0;
  platform::Envelope envelope;
  envelope.handler = handler;
  envelope.token = token;
  envelope.payload = payload;
  request.timer = loop_.After(options_.request_timeout, [this, handler, token] {
    const auto it = in_flight_.find(token);
    if (it != in_flight_.end()) {
      it->second.timer = 0;
    }
    metrics_.request_timeouts.Inc();
    Fail(handler + ": no reply within " + FormatDuration(options_.request_timeout));
  });
  exclusive_in_flight_ = exclusive_in_flight_ || exclusive;
  in_flight_.emplace(token, std::move(request));
  const Status sent = client_->Send(platform::EncodeEnvelope(envelope));
  if (!sent.ok()) {
    log::Warn(kComponent, "send failed", {{"handler", handler}, {"error", sent.error().message}});
  }
}

void Connector::Pump() {
  if (stopped_ || state_ != ConnectorState::kReady || exclusive_in_flight_) {
    return;
  }
  // Device calls and commits go alone: wait until the pipelined requests are answered. After
  // kErrorBudget refusals in a row, a commit (which the platform accepts) resets its count before
  // anything else is sent: another refusal or two would close the connection.
  const bool reset = refused_in_a_row_ >= kErrorBudget;
  if (reset || !dirty_.empty() || commit_pending_) {
    if (!in_flight_.empty()) {
      return;
    }
    if (reset) {
      log::Info(kComponent, "commit to reset the platform's error count",
                {{"refused_in_a_row", std::to_string(refused_in_a_row_)}});
      commit_pending_ = true;
    } else if (PumpDevice()) {
      return;
    }
    if (commit_pending_) {
      commit_pending_ = false;
      Send("commit", platform::JsonQuote(CommitHash()), [this](int status, const std::string&) {
        if (status != 200 && refused_in_a_row_ >= kErrorBudget) {
          Fail("commit refused after " + std::to_string(refused_in_a_row_) +
               " refused requests in a row");
        }
      });
      return;
    }
  }
  while (!responses_.empty() && in_flight_.size() < kPipelineWindow) {
    std::string payload = std::move(responses_.front());
    responses_.pop_front();
    Send(
        "response", payload, [](int, const std::string&) {}, false);
  }
  while (in_flight_.size() < kPipelineWindow && PumpOutbox()) {
  }
}

std::string Connector::CommitHash() const {
  std::vector<platform::HashedDevice> devices;
  for (const auto& [id, device] : platform_devices_) {
    devices.push_back(device);
  }
  return platform::GatewayHashOf(devices);
}

bool Connector::PumpDevice() {
  while (!dirty_.empty()) {
    const std::string id = dirty_.begin()->first;
    const bool force = dirty_.begin()->second;
    dirty_.erase(dirty_.begin());
    const events::Device* device = mirror_ != nullptr ? mirror_->Find(id) : nullptr;
    const auto on_platform = platform_devices_.find(id);
    if (device != nullptr && Listable(*device)) {
      platform::HashedDevice wanted = ToPlatformDevice(*device, options_.default_device_type);
      if (!force && on_platform != platform_devices_.end() &&
          platform::DeviceHash(on_platform->second) == platform::DeviceHash(wanted)) {
        continue;
      }
      metrics_.device_calls.Inc();
      RememberPut({id});
      log::Info(kComponent, "put", {{"device", id}, {"name", wanted.name}});
      Send("put", PutPayload(wanted), [this, wanted](int status, const std::string&) {
        if (status == 200) {
          platform_devices_[wanted.id] = wanted;
          event_verdicts_.erase(wanted.id);  // its type, and so its services, may have changed
          commit_pending_ = true;
        }
      });
      return true;
    }
    if (DeletedInRd(id)) {
      metrics_.device_calls.Inc();
      log::Info(kComponent, "delete", {{"device", id}});
      Send("delete", platform::JsonQuote(id), [this, id](int status, const std::string& reply) {
        platform_devices_.erase(id);  // not listened to either way
        commit_pending_ = true;
        // 500 "cant find exactly one device with given uri": it is gone already.
        if (status != 200 && reply.find("exactly one device") == std::string::npos) {
          return;  // kept: the next sync sends it again
        }
        const Status forgotten = store_.RemovePlatformDevice(id);
        if (!forgotten.ok()) {
          log::Warn(kComponent, "deleted device not forgotten; the next sync deletes it again",
                    {{"device", id}, {"error", forgotten.error().message}});
          return;
        }
        put_ids_.erase(id);
      });
      return true;
    }
    if (on_platform != platform_devices_.end()) {
      metrics_.device_calls.Inc();
      log::Info(kComponent, "disconnect", {{"device", id}});
      Send("disconnect", platform::JsonQuote(id), [this, id](int, const std::string&) {
        // 500 "not listening" means the same as 200 here.
        platform_devices_.erase(id);
        commit_pending_ = true;
      });
      return true;
    }
  }
  return false;
}

bool Connector::PumpOutbox() {
  if (queued_.empty()) {
    if (!unread_) {
      return false;
    }
    FlushRemovals();  // acknowledged rows must not be read again
    auto entries = store_.Peek(read_after_, kOutboxBatch);
    if (!entries.ok()) {
      log::Warn(kComponent, "outbox unreadable", {{"error", entries.error().message}});
      return false;  // tried again with the next event or reconnect
    }
    unread_ = entries->size() == kOutboxBatch;
    if (entries->empty()) {
      return false;
    }
    read_after_ = entries->back().id;
    queued_.assign(std::make_move_iterator(entries->begin()),
                   std::make_move_iterator(entries->end()));
  }
  std::optional<EventTarget> target = EventTargetOf(queued_.front().payload);
  bool probe = true;
  if (target) {
    if (platform_devices_.count(target->device) == 0) {
      DropEvent(queued_.front().id, target->device, "not_listened");
      queued_.pop_front();
      return true;
    }
    const auto device = event_verdicts_.find(target->device);
    if (device != event_verdicts_.end()) {
      const auto verdict = device->second.find(target->service);
      if (verdict != device->second.end()) {
        if (verdict->second == ServiceVerdict::kRefused) {
          DropEvent(queued_.front().id, target->device, "refused");
          queued_.pop_front();
          return true;
        }
        probe = false;
      }
    }
  }
  if (probe ? refused_in_a_row_ + probes_in_flight_ >= kErrorBudget
            : refused_in_a_row_ >= kErrorBudget) {
    return false;  // waits for the replies in flight (or the commit that resets the count)
  }
  OutboxEntry entry = std::move(queued_.front());
  queued_.pop_front();
  const int64_t id = entry.id;
  Send(
      entry.handler, entry.payload,
      [this, id, target = std::move(target)](int status, const std::string& reply) {
        if (status == 200) {
          metrics_.events_sent.Inc();
        } else {
          metrics_.events_rejected.Inc();
          log::Warn(kComponent, "event refused by the platform; dropped",
                    {{"device", target ? target->device : ""},
                     {"service", target ? target->service : ""},
                     {"status", std::to_string(status)},
                     {"reply", Truncated(reply)}});
        }
        if (target) {
          OnEventReply(*target, status);
        }
        acked_.push_back(id);
        ScheduleFlush();
      },
      false, probe);
  return true;
}

void Connector::OnEventReply(const EventTarget& target, int status) {
  if (status == 200) {
    event_verdicts_[target.device][target.service] = ServiceVerdict::kAccepted;
  } else if (status == 400) {
    // The client's fault (not listened to, no such service): the same for every later event.
    event_verdicts_[target.device][target.service] = ServiceVerdict::kRefused;
  } else {
    // A 500 may pass next time: probe again.
    const auto device = event_verdicts_.find(target.device);
    if (device != event_verdicts_.end()) {
      device->second.erase(target.service);
    }
  }
}

void Connector::DropEvent(int64_t id, const std::string& device, const char* reason) {
  (std::string_view(reason) == "refused" ? metrics_.events_dropped_refused
                                         : metrics_.events_dropped_not_listened)
      .Inc();
  acked_.push_back(id);
  ScheduleFlush();
  const auto now = std::chrono::steady_clock::now();
  if (now - drop_logged_ < kDropLogInterval) {
    ++drops_not_logged_;
    return;
  }
  log::Warn(kComponent,
            std::string_view(reason) == "refused"
                ? "event dropped: the platform refused this service of the device"
                : "event dropped: the platform does not listen to the device",
            {{"device", device},
             {"reason", reason},
             {"also_dropped_since_last_line", std::to_string(drops_not_logged_)}});
  drop_logged_ = now;
  drops_not_logged_ = 0;
}

void Connector::ScheduleFlush() {
  if (flush_posted_) {
    return;
  }
  flush_posted_ = true;
  std::shared_ptr<bool> alive = alive_;
  // Runs after the messages already queued on the loop: a burst becomes one batch.
  loop_.Post([this, alive] {
    if (*alive) {
      Flush();
    }
  });
}

void Connector::FlushRemovals() {
  if (acked_.empty()) {
    return;
  }
  const Status removed = store_.Remove(acked_);
  if (!removed.ok()) {
    // The rows stay and are sent again after the next reconnect (at least once).
    log::Error(kComponent, "outbox remove failed", {{"error", removed.error().message}});
  } else {
    pending_ -= std::min<uint64_t>(pending_, acked_.size());
  }
  acked_.clear();
  metrics_.outbox_pending.Set(static_cast<int64_t>(pending_));
}

void Connector::Flush() {
  flush_posted_ = false;
  FlushRemovals();
  if (!appends_.empty()) {
    std::vector<std::pair<std::string, std::string>> batch;
    batch.swap(appends_);
    auto appended = store_.Append(batch, pending_, options_.outbox_limit);
    if (!appended.ok()) {
      metrics_.outbox_lost.Inc(batch.size());
      log::Error(kComponent, "events lost: outbox not writable",
                 {{"events", std::to_string(batch.size())}, {"error", appended.error().message}});
    } else {
      pending_ += batch.size();
      pending_ -= std::min<uint64_t>(pending_, appended->dropped);
      if (appended->dropped > 0) {
        metrics_.outbox_dropped.Inc(appended->dropped);
        log::Warn(kComponent, "outbox full: oldest messages dropped",
                  {{"dropped", std::to_string(appended->dropped)},
                   {"limit", std::to_string(options_.outbox_limit)}});
        // Rows read but not sent may be among them: read again from the oldest left.
        if (!queued_.empty()) {
          read_after_ = queued_.front().id - 1;
          queued_.clear();
        }
        unread_ = true;
      } else if (state_ == ConnectorState::kReady && !unread_ && queued_.size() < kOutboxBatch) {
        // Everything older was read already: queue the new rows without reading them back.
        for (size_t i = 0; i < batch.size(); ++i) {
          queued_.push_back(
              {appended->ids[i], std::move(batch[i].first), std::move(batch[i].second)});
        }
        read_after_ = appended->ids.back();
      } else {
        unread_ = true;
      }
    }
    metrics_.outbox_pending.Set(static_cast<int64_t>(pending_));
  }
  Pump();
}

void Connector::ExpireOutbox() {
  expiry_timer_ = 0;
  if (stopped_) {
    return;
  }
  auto dropped = store_.DropOlderThan(options_.outbox_max_age);
  if (dropped.ok() && *dropped > 0) {
    metrics_.outbox_dropped.Inc(*dropped);
    pending_ -= std::min<uint64_t>(pending_, *dropped);
    metrics_.outbox_pending.Set(static_cast<int64_t>(pending_));
    log::Warn(kComponent, "outbox messages expired",
              {{"dropped", std::to_string(*dropped)},
               {"max_age", std::to_string(options_.outbox_max_age.count()) + "s"}});
  }
  const Millis interval = std::min<Millis>(kMaxExpiryInterval, options_.outbox_max_age / 10);
  expiry_timer_ = loop_.After(std::max(interval, Millis(100)), [this] { ExpireOutbox(); });
}

void Connector::OnObservedData(const events::ObservedData& data) {
  appends_.emplace_back("event", EventPayload(data));
  if (appends_.size() >= kOutboxBatch) {
    Flush();
  } else {
    ScheduleFlush();
  }
}

void Connector::OnDeviceUpsert(const events::Device& device, const events::Device* before,
                               const std::vector<events::DeviceChange>& changes) {
  (void)changes;
  const bool force =
      before != nullptr && (before->links != device.links || before->base != device.base);
  dirty_[device.device_id] = dirty_[device.device_id] || force;
  Pump();
}

void Connector::OnDeviceGone(const events::Device& device, devices::GoneReason reason) {
  // PumpDevice reads the cause off the mirror (DeletedInRd): delete when the RD ended the id,
  // disconnect otherwise (expired; or unknown, from an RD that does not list expired ids).
  (void)reason;
  dirty_[device.device_id] = false;
  Pump();
}

void Connector::OnCommand(const platform::Envelope& envelope) {
  metrics_.commands.Inc();
  auto command = ParseCommand(envelope.payload);
  if (!command.ok()) {
    log::Warn(kComponent, "bad command", {{"error", command.error().message}});
    if (!envelope.payload.empty() && envelope.payload.front() == '{') {
      Respond(envelope.payload, events::kCodeError, std::nullopt, command.error().message);
    }
    return;
  }
  if (mirror_ == nullptr || mirror_->Find(command->device_id) == nullptr) {
    log::Info(kComponent, "command for an unknown device", {{"device", command->device_id}});
    Respond(envelope.payload, events::kCodeUnknownDevice, std::nullopt, "");
    return;
  }
  command->command_id = RandomUuid();
  command->deadline = std::chrono::system_clock::now() + options_.command_timeout;
  const Status published = publish_(events::Command::kTopic, events::Encode(*command));
  if (!published.ok()) {
    log::Warn(kComponent, "command not published", {{"error", published.error().message}});
    Respond(envelope.payload, events::kCodeError, std::nullopt, published.error().message);
    return;
  }
  log::Debug(kComponent, "command",
             {{"command_id", command->command_id},
              {"device", command->device_id},
              {"service", command->service}});
  const std::string id = command->command_id;
  PendingCommand pending;
  pending.payload = envelope.payload;
  pending.timer = loop_.After(options_.command_timeout, [this, id] {
    const auto it = commands_.find(id);
    if (it == commands_.end()) {
      return;
    }
    const std::string payload = std::move(it->second.payload);
    commands_.erase(it);
    metrics_.command_timeouts.Inc();
    log::Info(kComponent, "command timed out", {{"command_id", id}});
    Respond(payload, events::kCodeTimeout, std::nullopt, "");
  });
  commands_[id] = std::move(pending);
}

void Connector::OnCommandResult(const events::CommandResult& result) {
  const auto it = commands_.find(result.command_id);
  if (it == commands_.end()) {
    log::Debug(kComponent, "result of an unknown or expired command",
               {{"command_id", result.command_id}});
    return;
  }
  loop_.CancelTimer(it->second.timer);
  const std::string payload = std::move(it->second.payload);
  commands_.erase(it);
  Respond(payload, result.code, result.content_format, result.payload.data);
}

void Connector::Respond(const std::string& command_payload, std::string_view code,
                        std::optional<uint16_t> content_format, std::string_view data) {
  if (responses_.size() >= options_.max_pending_responses) {
    log::Warn(kComponent, "too many responses waiting; oldest dropped");
    responses_.pop_front();
  }
  responses_.push_back(ResponsePayload(command_payload, code, content_format, data));
  Pump();
}

}  // namespace coapgw::ws_connector
