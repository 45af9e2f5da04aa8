// The gateway side of the simulator: sessions, handshake, handlers, keepalive, commands.
// Section numbers refer to /work/shared/spec/platform-protocol.md (docs:
// tools/platform-sim/README.md).

#include "platform_sim/simulator.hpp"

#include <strings.h>

#include <cstdio>
#include <ctime>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include <rapidjson/document.h>

#include "coapgw/common/log.hpp"
#include "coapgw/common/time_format.hpp"
#include "platform_sim/go_json.hpp"
#include "platform_sim/json_out.hpp"

namespace coapgw::platform_sim {
namespace {

constexpr const char* kComponent = "platform-sim";
constexpr size_t kFrameTextLimit = 4096;
constexpr const char* kOk = "\"ok\"";
using SteadyClock = std::chrono::steady_clock;

std::string Now() {
  return FormatRfc3339Millis(std::chrono::system_clock::now());
}

// Go's time.Time.String(), the payload of PC's pings: "2026-11-23 13:20:18.487 +0000 UTC".
std::string GoTimeString() {
  const auto now = std::chrono::system_clock::now();
  const std::time_t seconds = std::chrono::system_clock::to_time_t(now);
  const auto millis =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char text[64];
  const size_t length = std::strftime(text, sizeof text, "%Y-%m-%d %H:%M:%S", &utc);
  char fraction[8];
  std::snprintf(fraction, sizeof fraction, ".%03d", static_cast<int>(millis));
  return std::string(text, length) + fraction + " +0000 UTC";
}

// The member `name` of an object as encoding/json finds it: exact, else case-insensitive.
const rapidjson::Value* FindFold(const rapidjson::Value& object, const char* name) {
  if (!object.IsObject()) {
    return nullptr;
  }
  const rapidjson::Value* folded = nullptr;
  const rapidjson::Value* exact = nullptr;
  for (const auto& member : object.GetObject()) {
    const std::string key(member.name.GetString(), member.name.GetStringLength());
    if (key == name) {
      exact = &member.value;
    } else if (folded == nullptr && strcasecmp(key.c_str(), name) == 0) {
      folded = &member.value;
    }
  }
  return exact != nullptr ? exact : folded;
}

std::string Truncated(const std::string& text) {
  if (text.size() <= kFrameTextLimit) {
    return text;
  }
  return text.substr(0, kFrameTextLimit) + "... (" + std::to_string(text.size()) + " bytes)";
}

}  // namespace

Simulator::Simulator(SimOptions options, Model model)
    : options_(std::move(options)),
      model_(std::move(model)),
      started_future_(started_.get_future().share()) {
  if (!options_.state_file.empty()) {
    std::ifstream file(options_.state_file);
    if (file) {
      std::stringstream text;
      text << file.rdbuf();
      if (auto loaded = model_.LoadJson(text.str()); !loaded.ok()) {
        throw std::runtime_error("state file '" + options_.state_file +
                                 "': " + loaded.error().message);
      }
      log::Info(kComponent, "state loaded",
                {{"file", options_.state_file},
                 {"gateways", std::to_string(model_.gateways().size())},
                 {"devices", std::to_string(model_.devices().size())}});
    }
  }
  ws::ServerHandlers handlers;
  handlers.on_open = [this](ws::ConnectionId id, const ws::ConnectionInfo& info) {
    started_future_.wait();
    OnOpen(id, info);
  };
  handlers.on_text = [this](ws::ConnectionId id, std::string text) { OnText(id, std::move(text)); };
  handlers.on_binary = [this](ws::ConnectionId id, std::string data) { OnBinary(id, data); };
  handlers.on_ping = [this](ws::ConnectionId id, const std::string&) { return OnPing(id); };
  handlers.on_pong = [this](ws::ConnectionId id, const std::string&) { OnPong(id); };
  handlers.on_close = [this](ws::ConnectionId id, const ws::ConnectionClosed& closed) {
    OnClose(id, closed);
  };
  handlers.on_http = [this](const ws::HttpRequest& request, ws::HttpReply reply) {
    started_future_.wait();
    OnHttp(request, std::move(reply));
  };
  server_ = std::make_unique<ws::Server>(options_.server, std::move(handlers));
  started_.set_value();
}

Simulator::~Simulator() {
  Shutdown();
}

uint16_t Simulator::port() const {
  return server_ ? server_->port() : 0;
}

bool Simulator::secure() const {
  return server_ && server_->secure();
}

ws::Server& Simulator::server() {
  return *server_;
}

void Simulator::Shutdown() {
  if (!server_) {
    return;
  }
  auto done = std::make_shared<std::promise<void>>();
  server_->Post([this, done] {
    stopping_ = true;
    for (auto& [id, session] : sessions_) {
      if (!session.console && session.phase == Phase::kActive) {
        CloseSession(session, "connector shutdown");
      }
    }
    for (auto& [waiter_id, waiter] : response_waiters_) {
      waiter.reply(ws::HttpResponse{
          503, "application/json", R"({"error":"platform-sim is shutting down"})", {}});
    }
    response_waiters_.clear();
    done->set_value();
  });
  done->get_future().wait_for(std::chrono::seconds(2));
  server_.reset();  // waits (bounded) for the close handshakes
}

Simulator::Session* Simulator::Find(ws::ConnectionId id) {
  const auto found = sessions_.find(id);
  return found == sessions_.end() ? nullptr : &found->second;
}

// --- Connections ------------------------------------------------------------------------------

void Simulator::OnOpen(ws::ConnectionId id, const ws::ConnectionInfo& info) {
  Session session;
  session.id = id;
  session.remote = info.remote;
  session.connected_at = Now();
  session.last_inbound = SteadyClock::now();
  if (info.path == "/console") {
    session.console = true;
    session.phase = Phase::kActive;
    sessions_[id] = session;
    server().Send(id, JsonOut().Open().Str("type", "hello").Close().str());
    return;
  }
  if (stopping_) {
    server().Drop(id);
    return;
  }
  Session& stored = sessions_[id] = session;
  ++counters_["connections"];
  // PC reads the credentials with a WsTimeout deadline and closes the TCP connection after it.
  stored.handshake_timer = server().After(options_.handshake_timeout, [this, id] {
    if (Session* pending = Find(id); pending != nullptr && pending->phase == Phase::kHandshake) {
      DropSession(*pending, "handshake timeout: no credentials within " +
                                FormatDuration(options_.handshake_timeout));
    }
  });
  RecordNote(stored, "connected from " + info.remote + " to " + info.resource);
  StateChanged();
}

void Simulator::OnText(ws::ConnectionId id, std::string text) {
  Session* session = Find(id);
  if (session == nullptr || session->console) {
    return;
  }
  session->last_inbound = SteadyClock::now();
  RecordFrame(*session, "in", text);
  if (session->phase == Phase::kHandshake) {
    Handshake(*session, text);
  } else if (session->phase == Phase::kActive) {
    Receive(*session, std::move(text));
  }
}

void Simulator::OnBinary(ws::ConnectionId id, const std::string& data) {
  Session* session = Find(id);
  if (session == nullptr || session->console) {
    return;
  }
  session->last_inbound = SteadyClock::now();
  // PC's handshake reads any data message; afterwards it ignores non-text frames (§1).
  if (session->phase == Phase::kHandshake) {
    RecordFrame(*session, "in", data);
    Handshake(*session, data);
  } else {
    RecordNote(*session, "binary frame of " + std::to_string(data.size()) + " bytes ignored");
  }
}

bool Simulator::OnPing(ws::ConnectionId id) {
  Session* session = Find(id);
  if (session == nullptr || session->console) {
    return true;
  }
  session->last_inbound = SteadyClock::now();
  ++counters_["client_pings"];
  // PC installs its ping handler after the handshake; earlier pings do not stop its pinging.
  if (session->active_ping && session->phase == Phase::kActive) {
    // §8.1: PC stops its own pinging for good once the client pings.
    session->active_ping = false;
    server().Cancel(session->ping_timer);
  }
  return !hooks_.stall;
}

void Simulator::OnPong(ws::ConnectionId id) {
  if (Session* session = Find(id)) {
    session->last_inbound = SteadyClock::now();
    ++counters_["pongs"];
  }
}

void Simulator::OnClose(ws::ConnectionId id, const ws::ConnectionClosed& closed) {
  Session* session = Find(id);
  if (session == nullptr) {
    return;
  }
  if (!session->console) {
    server().Cancel(session->handshake_timer);
    server().Cancel(session->ping_timer);
    server().Cancel(session->idle_timer);
    RecordNote(*session, "disconnected (" + std::to_string(closed.code) +
                             (closed.reason.empty() ? "" : ": " + closed.reason) + ")");
  }
  const bool console = session->console;
  sessions_.erase(id);
  if (!console) {
    StateChanged();
  }
}

// --- Handshake (§3) -----------------------------------------------------------------------------

void Simulator::Handshake(Session& session, const std::string& text) {
  if (hooks_.stall) {
    RecordNote(session, "stalled: credentials not answered");
    return;
  }
  server().Cancel(session.handshake_timer);
  if (hooks_.reject_handshakes != 0) {
    if (hooks_.reject_handshakes > 0) {
      --hooks_.reject_handshakes;
    }
    DropSession(session, "hook: handshake closed without a reply");
    return;
  }
  rapidjson::Document document;
  document.Parse(text.c_str(), text.size());
  auto credentials = document.HasParseError()
                         ? Result<Credentials>(MakeError(ErrorCode::kInvalidArgument, "not JSON"))
                         : DecodeCredentials(document);
  if (!credentials.ok()) {
    DropSession(session, "handshake: unreadable credentials (" + credentials.error().message +
                             "): closed without a reply");
    return;
  }
  if (!model_.Authenticate(credentials->user, credentials->password)) {
    DropSession(session, "handshake: authentication failed for user '" + credentials->user +
                             "': closed without a reply");
    return;
  }
  bool created = false;
  const Gateway& gateway =
      model_.ProvideGateway(credentials->gateway_id, credentials->user, &created);
  session.user = credentials->user;
  session.gateway_id = gateway.id;
  if (created) {
    Persist();
    RecordNote(session, "created gateway " + gateway.id + " (" + gateway.name + ")" +
                            (credentials->gateway_id.empty()
                                 ? ""
                                 : " because '" + credentials->gateway_id +
                                       "' is unknown or not owned by " + credentials->user));
  }
  // §3.1 step 3.3: listen to every committed device before replying.
  for (const auto& device_id : gateway.devices) {
    if (const Device* device = model_.FindDevice(device_id)) {
      session.listened[device->uri] = device->id;
    }
  }
  session.phase = Phase::kActive;
  ++counters_["handshakes"];
  const std::string payload =
      "{\"gid\":" + GoQuote(gateway.id) + ",\"hash\":" + GoQuote(gateway.hash) + "}";
  Respond(session, credentials->token, payload, "map");
  ArmPing(session);
  ArmIdle(session, SteadyClock::now() + options_.idle_timeout);
  StateChanged();
}

// --- Requests (§5) ------------------------------------------------------------------------------

void Simulator::Receive(Session& session, std::string text) {
  if (hooks_.stall) {
    RecordNote(session, "stalled: request not answered");
    return;
  }
  if (session.blocked) {
    session.waiting.push_back(std::move(text));
    return;
  }
  std::string handler;
  rapidjson::Document peek;
  peek.Parse(text.c_str(), text.size());
  if (!peek.HasParseError()) {
    if (auto request = DecodeRawRequest(peek); request.ok()) {
      handler = request->handler;
    }
  }
  if (auto hook = TakeHook(hooks_.delays, handler)) {
    // PC handles one message at a time: later requests wait behind the slow one.
    session.blocked = true;
    RecordNote(session, "hook: '" + handler + "' delayed by " + FormatDuration(hook->delay));
    server().After(hook->delay, [this, id = session.id, text = std::move(text)] {
      Session* delayed = Find(id);
      if (delayed == nullptr || delayed->phase != Phase::kActive) {
        return;
      }
      Process(*delayed, text);
      if (Session* after = Find(id)) {
        after->blocked = false;
        Drain(id);
      }
    });
    return;
  }
  Process(session, text);
}

void Simulator::Drain(ws::ConnectionId id) {
  for (;;) {
    Session* session = Find(id);
    if (session == nullptr || session->blocked || session->waiting.empty() ||
        session->phase != Phase::kActive) {
      return;
    }
    std::string text = std::move(session->waiting.front());
    session->waiting.pop_front();
    Receive(*session, std::move(text));
  }
}

void Simulator::Process(Session& session, const std::string& text) {
  rapidjson::Document document;
  document.Parse(text.c_str(), text.size());
  auto request = document.HasParseError()
                     ? Result<RawRequest>(MakeError(ErrorCode::kInvalidArgument, "not JSON"))
                     : DecodeRawRequest(document);
  if (!request.ok()) {
    // §9.1: PC answers, then falls through with an empty request: two errors.
    SendError(session, "", 400, "unable to parse request from message (" + text + ")");
    SendError(session, "", 400, "unknown handler in request (" + text + ")");
    return;
  }
  static const rapidjson::Value kNull;
  const rapidjson::Value* payload = FindFold(document, "payload");
  Dispatch(session, request->handler, request->token, payload != nullptr ? *payload : kNull, text);
}

void Simulator::Dispatch(Session& session, const std::string& handler, const std::string& token,
                         const rapidjson::Value& payload, const std::string& text) {
  session.last_token = token;
  if (TakeHook(hooks_.drops, handler)) {
    DropSession(session, "hook: connection dropped instead of answering '" + handler + "'");
    return;
  }
  if (auto refusal = TakeHook(hooks_.refusals, handler)) {
    RecordNote(session, "hook: '" + handler + "' refused with " + std::to_string(refusal->status));
    SendError(session, token, refusal->status, refusal->message);
    return;
  }
  if (handler == "clear") {
    HandleClear(session, token);
  } else if (handler == "put") {
    HandlePut(session, token, payload);
  } else if (handler == "disconnect") {
    HandleDisconnect(session, token, payload);
  } else if (handler == "delete") {
    HandleDelete(session, token, payload);
  } else if (handler == "commit") {
    HandleCommit(session, token, payload);
  } else if (handler == "event") {
    HandleEvent(session, token, payload);
  } else if (handler == "response") {
    HandleResponse(session, token, payload);
  } else {
    SendError(session, token, 400, "unknown handler in request (" + text + ")");
  }
}

void Simulator::HandleClear(Session& session, const std::string& token) {
  if (auto cleared = model_.ClearGateway(session.gateway_id); !cleared.ok()) {
    SendError(session, token, 500, cleared.error().message);
    return;
  }
  Unlisten(session);
  Persist();
  StateChanged();
  Respond(session, token, kOk, "string");
}

void Simulator::HandlePut(Session& session, const std::string& token,
                          const rapidjson::Value& payload) {
  auto device = DecodeConnectorDevice(payload);
  if (!device.ok()) {
    SendError(session, token, 500, device.error().message);
    return;
  }
  const auto matches = model_.DevicesByUri(session.user, device->uri);
  if (matches.size() > 1) {
    SendError(session, token, 400,
              "found more than one device with the given uri '" + device->uri +
                  "'. please delete duplicate devices or change their URIs.");
    return;
  }
  const Device* entity = nullptr;
  if (matches.empty()) {
    auto created = model_.CreateDevice(session.user, *device);
    if (!created.ok()) {
      SendError(session, token, 500, created.error().message);
      return;
    }
    entity = *created;
  } else {
    entity = model_.UpdateDevice(matches[0]->id, *device);
  }
  session.listened[entity->uri] = entity->id;
  Persist();
  StateChanged();
  Respond(session, token, kOk, "string");
}

void Simulator::HandleDisconnect(Session& session, const std::string& token,
                                 const rapidjson::Value& payload) {
  if (!payload.IsString()) {
    SendError(session, token, 400, "expect uri as string in payload");
    return;
  }
  const std::string uri = payload.GetString();
  if (session.listened.erase(uri) == 0) {
    SendError(session, token, 500, "not listening to device with uri '" + uri + "'");
    return;
  }
  StateChanged();
  Respond(session, token, kOk, "string");
}

void Simulator::HandleDelete(Session& session, const std::string& token,
                             const rapidjson::Value& payload) {
  if (!payload.IsString()) {
    SendError(session, token, 400, "expect uri as string in payload");
    return;
  }
  const std::string uri = payload.GetString();
  session.listened.erase(uri);
  if (auto deleted = model_.DeleteDevice(session.user, uri); !deleted.ok()) {
    SendError(session, token, 500, deleted.error().message);
    return;
  }
  Persist();
  StateChanged();
  Respond(session, token, kOk, "string");
}

void Simulator::HandleCommit(Session& session, const std::string& token,
                             const rapidjson::Value& payload) {
  if (!payload.IsString()) {
    SendError(session, token, 400, "expect hash as string in payload");
    return;
  }
  std::vector<std::string> device_ids;
  for (const auto& [uri, device_id] : session.listened) {
    device_ids.push_back(device_id);
  }
  if (auto committed = model_.CommitGateway(session.gateway_id, payload.GetString(), device_ids);
      !committed.ok()) {
    // The repository refuses, PC does not look at the status: the client hears "ok" anyway.
    RecordNote(session, "commit not stored by the device repository: " + committed.error().message +
                            " (the platform still answers ok)");
  } else {
    Persist();
  }
  StateChanged();
  Respond(session, token, kOk, "string");
}

void Simulator::HandleEvent(Session& session, const std::string& token,
                            const rapidjson::Value& payload) {
  auto event = DecodeEventMessage(payload);
  if (!event.ok()) {
    SendError(session, token, 400, event.error().message);
    return;
  }
  const auto listened = session.listened.find(event->device_uri);
  const Device* device =
      listened == session.listened.end() ? nullptr : model_.FindDevice(listened->second);
  std::string error;
  if (listened == session.listened.end()) {
    error = "error event: not listen to this device " + GoSprint(*event);
  } else if (const DeviceType* type =
                 device != nullptr ? model_.FindDeviceType(device->device_type) : nullptr;
             type != nullptr && !type->services.empty()) {
    // Only configured types carry services; events of other types are accepted as they come.
    bool matched = false;
    for (const auto& service : type->services) {
      matched = matched || service.url == event->service_uri;
    }
    if (!matched) {
      error = "no matching service to '" + event->service_uri + "' found in" +
              GoSprintln(type->services);
    }
  }
  JsonOut record;
  record.Open()
      .Num("session", static_cast<int64_t>(session.id))
      .Str("gateway", session.gateway_id)
      .Str("device_uri", event->device_uri)
      .Str("device_id", device != nullptr ? device->id : "")
      .Str("device_name", device != nullptr ? device->name : "")
      .Str("service_uri", event->service_uri)
      .Key("value")
      .OpenArray();
  for (const auto& part : event->value) {
    record.Open().Str("name", part.name).Str("value", part.value).Close();
  }
  record.CloseArray().Flag("accepted", error.empty()).Str("error", error).Close();
  Append(events_, "event", record.str());
  ++counters_["events"];
  if (error.empty()) {
    Respond(session, token, kOk, "string");
  } else {
    SendError(session, token, 400, error);
  }
}

void Simulator::HandleResponse(Session& session, const std::string& token,
                               const rapidjson::Value& payload) {
  std::string task_id;
  if (const rapidjson::Value* task = FindFold(payload, "task_id"); task && task->IsString()) {
    task_id = task->GetString();
  }
  const std::string record = JsonOut()
                                 .Open()
                                 .Num("session", static_cast<int64_t>(session.id))
                                 .Str("gateway", session.gateway_id)
                                 .Str("task_id", task_id)
                                 .RawField("payload", GoJson(payload))
                                 .Close()
                                 .str();
  Append(responses_, "response", record);
  ++counters_["responses"];
  if (!task_id.empty()) {
    const std::string stored = responses_.back().json;
    if (responses_by_task_.count(task_id) == 0) {
      response_tasks_.push_back(task_id);
    }
    responses_by_task_[task_id] = stored;
    while (response_tasks_.size() > options_.history) {
      responses_by_task_.erase(response_tasks_.front());
      response_tasks_.pop_front();
    }
    for (auto waiter = response_waiters_.begin(); waiter != response_waiters_.end();) {
      if (waiter->second.task_id == task_id) {
        server().Cancel(waiter->second.timer);
        waiter->second.reply(ws::HttpResponse{200, "application/json", stored, {}});
        waiter = response_waiters_.erase(waiter);
      } else {
        ++waiter;
      }
    }
  }
  Respond(session, token, kOk, "string");
}

// --- Replies, closing, keepalive ----------------------------------------------------------------

void Simulator::Respond(Session& session, const std::string& token, const std::string& payload_json,
                        const char* content_type) {
  session.consecutive_errors = 0;
  SendFrame(session, GoMessage(200, "response", token, content_type, payload_json));
}

void Simulator::SendError(Session& session, const std::string& token, int status,
                          const std::string& message) {
  if (session.phase == Phase::kClosing) {
    return;
  }
  ++session.consecutive_errors;
  ++counters_["errors"];
  SendFrame(session, GoMessage(status, "response", token, "string", GoQuote(message)));
  // §9.1: PC closes once the count exceeds the maximum (a negative maximum never closes).
  if (options_.max_consecutive_errors >= 0 &&
      session.consecutive_errors > options_.max_consecutive_errors) {
    CloseSession(session, "ERROR: max consecutive error count exceeded");
  }
}

void Simulator::SendFrame(Session& session, const std::string& text) {
  if (session.phase == Phase::kClosing) {
    return;
  }
  server().Send(session.id, text);
  RecordFrame(session, "out", text);
}

void Simulator::CloseSession(Session& session, const std::string& reason, uint16_t code) {
  if (session.phase == Phase::kClosing) {
    return;
  }
  session.phase = Phase::kClosing;
  server().Cancel(session.ping_timer);
  server().Cancel(session.idle_timer);
  Unlisten(session);
  server().Close(session.id, code, reason);
  RecordNote(session, "closing (" + std::to_string(code) + "): " + reason);
  StateChanged();
}

void Simulator::DropSession(Session& session, const std::string& note) {
  if (session.phase == Phase::kClosing) {
    return;
  }
  session.phase = Phase::kClosing;
  server().Cancel(session.handshake_timer);
  server().Cancel(session.ping_timer);
  server().Cancel(session.idle_timer);
  Unlisten(session);
  server().Drop(session.id);
  RecordNote(session, note);
  StateChanged();
}

void Simulator::Unlisten(Session& session) {
  session.listened.clear();
}

void Simulator::ArmPing(Session& session) {
  if (!session.active_ping || options_.ping_interval.count() <= 0) {
    return;
  }
  session.ping_timer = server().After(options_.ping_interval, [this, id = session.id] {
    Session* pinging = Find(id);
    if (pinging == nullptr || pinging->phase != Phase::kActive || !pinging->active_ping) {
      return;
    }
    if (!hooks_.stall) {
      server().Ping(id, GoTimeString());
      ++counters_["server_pings"];
    }
    ArmPing(*pinging);
  });
}

void Simulator::ArmIdle(Session& session, SteadyClock::time_point at) {
  if (options_.idle_timeout.count() <= 0) {
    return;
  }
  const auto delay =
      std::chrono::duration_cast<Millis>(at - SteadyClock::now()) + std::chrono::milliseconds(1);
  session.idle_timer = server().After(delay, [this, id = session.id] {
    Session* idle = Find(id);
    if (idle == nullptr || idle->phase != Phase::kActive) {
      return;
    }
    if (SteadyClock::now() - idle->last_inbound >= options_.idle_timeout) {
      // PC's read deadline expired: its reader closes with the read error as the reason.
      CloseSession(*idle, "read-error: i/o timeout\nmsg: ");
    } else {
      ArmIdle(*idle, idle->last_inbound + options_.idle_timeout);
    }
  });
}

int Simulator::DeliverCommand(const std::string& device_id, const std::string& frame) {
  int delivered = 0;
  for (auto& [id, session] : sessions_) {
    if (session.console || session.phase != Phase::kActive) {
      continue;
    }
    for (const auto& [uri, listened_id] : session.listened) {
      if (listened_id == device_id) {
        SendFrame(session, frame);
        ++delivered;
        break;
      }
    }
  }
  return delivered;
}

std::optional<Simulator::HandlerHook> Simulator::TakeHook(std::vector<HandlerHook>& hooks,
                                                          const std::string& handler) {
  for (auto hook = hooks.begin(); hook != hooks.end(); ++hook) {
    if (hook->handler.empty() || hook->handler == handler) {
      HandlerHook taken = *hook;
      if (hook->remaining > 0 && --hook->remaining == 0) {
        hooks.erase(hook);
      }
      return taken;
    }
  }
  return std::nullopt;
}

// --- Records ------------------------------------------------------------------------------------

void Simulator::RecordFrame(const Session& session, const char* direction,
                            const std::string& text) {
  Append(frames_, "frame",
         JsonOut()
             .Open()
             .Num("session", static_cast<int64_t>(session.id))
             .Str("gateway", session.gateway_id)
             .Str("direction", direction)
             .Str("text", Truncated(text))
             .Close()
             .str());
}

void Simulator::RecordNote(const Session& session, const std::string& note) {
  log::Info(kComponent, note,
            {{"session", std::to_string(session.id)}, {"gateway", session.gateway_id}});
  RecordFrame(session, "note", note);
}

uint64_t Simulator::Append(std::deque<Record>& list, const char* type,
                           const std::string& fields_json) {
  const uint64_t seq = next_seq_++;
  std::string json = "{\"seq\":" + std::to_string(seq) + ",\"time\":\"" + Now() + "\"";
  if (fields_json.size() > 2) {
    json += "," + fields_json.substr(1);
  } else {
    json += "}";
  }
  list.push_back(Record{seq, json});
  while (list.size() > options_.history) {
    list.pop_front();
  }
  Broadcast("{\"type\":\"" + std::string(type) + "\",\"record\":" + json + "}");
  return seq;
}

void Simulator::Broadcast(const std::string& message) {
  for (const auto& [id, session] : sessions_) {
    if (session.console) {
      server().Send(id, message);
    }
  }
}

void Simulator::StateChanged() {
  Broadcast(R"({"type":"state"})");
}

void Simulator::Persist() {
  if (options_.state_file.empty()) {
    return;
  }
  const std::string temporary = options_.state_file + ".tmp";
  {
    std::ofstream file(temporary, std::ios::trunc);
    file << model_.SaveJson();
    if (!file.flush()) {
      log::Error(kComponent, "cannot write the state file", {{"file", temporary}});
      return;
    }
  }
  if (std::rename(temporary.c_str(), options_.state_file.c_str()) != 0) {
    log::Error(kComponent, "cannot replace the state file", {{"file", options_.state_file}});
  }
}

}  // namespace coapgw::platform_sim
