// The simulator's HTTP side: the console page and the control/test API (README.md, "Control
// API"). Runs on the server's I/O thread like the rest of the Simulator.

#include <cstdlib>

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>

#include "coapgw/common/ids.hpp"
#include "coapgw/common/time_format.hpp"
#include "platform_sim/console_page.hpp"
#include "platform_sim/go_json.hpp"
#include "platform_sim/json_out.hpp"
#include "platform_sim/simulator.hpp"

namespace coapgw::platform_sim {
namespace {

constexpr int64_t kMaxWaitMs = 60'000;
constexpr size_t kStateRecords = 50;  // per list in GET /api/state

ws::HttpResponse Json(int status, std::string body) {
  ws::HttpResponse response;
  response.status = status;
  response.body = std::move(body);
  response.headers["Cache-Control"] = "no-store";
  return response;
}

ws::HttpResponse JsonError(int status, const std::string& message) {
  return Json(status, JsonOut().Open().Str("error", message).Close().str());
}

std::string PercentDecode(std::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '+') {
      out += ' ';
    } else if (text[i] == '%' && i + 2 < text.size()) {
      out +=
          static_cast<char>(std::strtol(std::string(text.substr(i + 1, 2)).c_str(), nullptr, 16));
      i += 2;
    } else {
      out += text[i];
    }
  }
  return out;
}

std::map<std::string, std::string> ParseQuery(const std::string& query) {
  std::map<std::string, std::string> params;
  size_t start = 0;
  while (start < query.size()) {
    const size_t end = std::min(query.find('&', start), query.size());
    const std::string pair = query.substr(start, end - start);
    const size_t eq = pair.find('=');
    params[PercentDecode(pair.substr(0, eq))] =
        eq == std::string::npos ? "" : PercentDecode(pair.substr(eq + 1));
    start = end + 1;
  }
  return params;
}

int64_t IntParam(const std::map<std::string, std::string>& params, const std::string& name,
                 int64_t fallback) {
  const auto found = params.find(name);
  return found == params.end() || found->second.empty()
             ? fallback
             : std::strtoll(found->second.c_str(), nullptr, 10);
}

// Member `name` of a request body: a string, or `fallback` when absent or null.
std::string BodyString(const rapidjson::Value& body, const char* name,
                       const std::string& fallback = "") {
  const auto member = body.FindMember(name);
  return member != body.MemberEnd() && member->value.IsString() ? member->value.GetString()
                                                                : fallback;
}

int64_t BodyInt(const rapidjson::Value& body, const char* name, int64_t fallback) {
  const auto member = body.FindMember(name);
  return member != body.MemberEnd() && member->value.IsInt64() ? member->value.GetInt64()
                                                               : fallback;
}

}  // namespace

void Simulator::OnHttp(const ws::HttpRequest& request, ws::HttpReply reply) {
  const std::string& path = request.path;
  const std::string& method = request.method;
  if (method == "GET" && (path == "/" || path == "/index.html")) {
    ws::HttpResponse page;
    page.content_type = "text/html; charset=utf-8";
    page.body = kConsolePage;
    page.headers["Cache-Control"] = "no-store";
    reply(page);
  } else if (method == "GET" && path == "/api/state") {
    reply(StateJson());
  } else if (method == "GET" && path == "/api/events") {
    reply(ListRecords(request, events_, "events"));
  } else if (method == "GET" && path == "/api/commands") {
    reply(ListRecords(request, commands_, "commands"));
  } else if (method == "GET" && path == "/api/frames") {
    reply(ListRecords(request, frames_, "frames"));
  } else if (method == "GET" && path == "/api/responses") {
    GetResponses(request, std::move(reply));
  } else if (method == "POST" && path == "/api/command") {
    reply(InjectCommand(request));
  } else if (method == "GET" && path == "/api/hooks") {
    reply(HooksJson());
  } else if (method == "POST" && path == "/api/hooks") {
    reply(SetHook(request));
  } else if (method == "DELETE" && path == "/api/hooks") {
    hooks_ = Hooks{};
    reply(HooksJson());
  } else {
    reply(JsonError(404, "no route " + method + " " + path + " (see GET /api/state, " +
                             "POST /api/command, GET /api/responses, /api/hooks)"));
  }
}

ws::HttpResponse Simulator::StateJson() const {
  JsonOut out;
  out.Open().Str("time", FormatRfc3339Millis(std::chrono::system_clock::now()));
  out.Flag("strict_types", model_.options().strict_types);
  out.Key("users").OpenArray();
  for (const auto& [name, password] : model_.options().users) {
    out.String(name);
  }
  out.CloseArray().Key("device_types").OpenArray();
  for (const auto& type : model_.options().device_types) {
    out.Open().Str("id", type.id).Key("services").OpenArray();
    for (const auto& service : type.services) {
      out.Open()
          .Str("id", service.id)
          .Str("service_type", service.service_type)
          .Str("url", service.url)
          .Close();
    }
    out.CloseArray().Close();
  }
  out.CloseArray();

  // Which active gateway sessions listen to a device, and which are connected per gateway.
  std::map<std::string, std::vector<ws::ConnectionId>> listeners;
  std::map<std::string, std::vector<ws::ConnectionId>> gateway_sessions;
  out.Key("sessions").OpenArray();
  for (const auto& [id, session] : sessions_) {
    if (session.console) {
      continue;
    }
    const char* phase = session.phase == Phase::kHandshake ? "handshake"
                        : session.phase == Phase::kActive  ? "active"
                                                           : "closing";
    out.Open()
        .Num("id", static_cast<int64_t>(id))
        .Str("phase", phase)
        .Str("user", session.user)
        .Str("gateway", session.gateway_id)
        .Str("remote", session.remote)
        .Str("connected_at", session.connected_at)
        .Num("consecutive_errors", session.consecutive_errors)
        .Flag("server_pings", session.active_ping)
        .Key("listened")
        .OpenArray();
    for (const auto& [uri, device_id] : session.listened) {
      out.String(uri);
      listeners[device_id].push_back(id);
    }
    out.CloseArray().Close();
    if (session.phase == Phase::kActive) {
      gateway_sessions[session.gateway_id].push_back(id);
    }
  }
  out.CloseArray();

  const auto ids = [&out](const char* key, const std::vector<ws::ConnectionId>& values) {
    out.Key(key).OpenArray();
    for (const auto value : values) {
      out.Int(static_cast<int64_t>(value));
    }
    out.CloseArray();
  };
  out.Key("gateways").OpenArray();
  for (const auto& [id, gateway] : model_.gateways()) {
    const auto connected = gateway_sessions.find(id);
    out.Open()
        .Str("id", gateway.id)
        .Str("name", gateway.name)
        .Str("owner", gateway.owner)
        .Str("hash", gateway.hash)
        .Flag("connected", connected != gateway_sessions.end());
    ids("sessions",
        connected != gateway_sessions.end() ? connected->second : std::vector<ws::ConnectionId>{});
    out.Key("devices").OpenArray();
    for (const auto& device_id : gateway.devices) {
      out.String(device_id);
    }
    out.CloseArray().Close();
  }
  out.CloseArray();

  out.Key("devices").OpenArray();
  for (const auto& [id, device] : model_.devices()) {
    const auto listening = listeners.find(id);
    out.Open()
        .Str("id", device.id)
        .Str("uri", device.uri)
        .Str("name", device.name)
        .Str("iot_type", device.device_type)
        .Str("owner", device.owner)
        .Str("gateway", device.gateway)
        .Flag("listened", listening != listeners.end());
    ids("sessions",
        listening != listeners.end() ? listening->second : std::vector<ws::ConnectionId>{});
    out.Key("tags").OpenArray();
    for (const auto& tag : device.tags) {
      out.String(tag);
    }
    out.CloseArray().Close();
  }
  out.CloseArray();

  const auto recent = [&out](const char* key, const std::deque<Record>& list) {
    out.Key(key).OpenArray();
    const size_t skip = list.size() > kStateRecords ? list.size() - kStateRecords : 0;
    for (size_t i = skip; i < list.size(); ++i) {
      out.Raw(list[i].json);
    }
    out.CloseArray();
  };
  recent("events", events_);
  recent("commands", commands_);
  recent("responses", responses_);
  out.Key("counters").Open();
  for (const auto& [name, value] : counters_) {
    out.Num(name, static_cast<int64_t>(value));
  }
  out.Close().Num("last_seq", static_cast<int64_t>(next_seq_ - 1));
  out.RawField("hooks", HooksJson().body).Close();
  return Json(200, out.str());
}

ws::HttpResponse Simulator::ListRecords(const ws::HttpRequest& request,
                                        const std::deque<Record>& list, const char* key) const {
  const auto params = ParseQuery(request.query);
  const auto after = static_cast<uint64_t>(std::max<int64_t>(0, IntParam(params, "after", 0)));
  JsonOut out;
  out.Open().Key(key).OpenArray();
  for (const auto& record : list) {
    if (record.seq > after) {
      out.Raw(record.json);
    }
  }
  out.CloseArray().Num("last_seq", static_cast<int64_t>(next_seq_ - 1)).Close();
  return Json(200, out.str());
}

ws::HttpResponse Simulator::InjectCommand(const ws::HttpRequest& request) {
  rapidjson::Document body;
  body.Parse(request.body.c_str(), request.body.size());
  if (body.HasParseError() || !body.IsObject()) {
    return JsonError(400,
                     "the body must be a JSON object, e.g. {\"device_uri\": \"1\", "
                     "\"service_url\": \"PUT /led\", \"data\": \"on\"}");
  }
  const std::string device_uri = BodyString(body, "device_uri", BodyString(body, "device_url"));
  const std::string device_id = BodyString(body, "device_id");
  const std::string user = BodyString(body, "user");
  const std::string service_url = BodyString(body, "service_url");
  if ((device_uri.empty() && device_id.empty()) || service_url.empty()) {
    return JsonError(400, "device_uri (or device_id) and service_url are required strings");
  }
  const Device* device = nullptr;
  if (!device_id.empty()) {
    device = model_.FindDevice(device_id);
  } else {
    for (const auto& [id, candidate] : model_.devices()) {
      if (candidate.uri == device_uri && (user.empty() || candidate.owner == user)) {
        if (device != nullptr) {
          return JsonError(
              409, "several users have a device with uri '" + device_uri + "': name the \"user\"");
        }
        device = &candidate;
      }
    }
  }
  if (device == nullptr) {
    return JsonError(
        404, "no device with " +
                 (device_id.empty() ? "uri '" + device_uri + "'" : "id '" + device_id + "'") +
                 " (a gateway must put it first)");
  }

  // The payload is a Go map: keys in sorted order, values as encoding/json writes them (§6.2).
  std::map<std::string, std::string> payload;
  if (const auto parts = body.FindMember("protocol_parts"); parts != body.MemberEnd()) {
    if (!parts->value.IsArray() && !parts->value.IsNull()) {
      return JsonError(400, "protocol_parts must be an array of {name, value} or null");
    }
    payload["protocol_parts"] = GoJson(parts->value);
  } else {
    std::string built = "[";
    for (const char* name : {"metadata", "data"}) {
      const auto part = body.FindMember(name);
      if (part == body.MemberEnd()) {
        continue;
      }
      if (!part->value.IsString() && !part->value.IsNull()) {
        return JsonError(400, std::string(name) + " must be a string or null (§5.6)");
      }
      built += (built.size() > 1 ? "," : "") + std::string("{\"name\":") + GoQuote(name) +
               ",\"value\":" + GoJson(part->value) + "}";
    }
    payload["protocol_parts"] = built + "]";
  }
  std::string service_id;
  std::string service_type;
  if (const DeviceType* type = model_.FindDeviceType(device->device_type)) {
    for (const auto& service : type->services) {
      if (service.url == service_url) {
        service_id = service.id;
        service_type = service.service_type;
      }
    }
  }
  if (service_id.empty()) {
    service_id = "iot#" + RandomUuid();
  }
  const std::string task_id = BodyString(body, "task_id", RandomUuid());
  const auto unix_seconds = std::chrono::duration_cast<std::chrono::seconds>(
                                std::chrono::system_clock::now().time_since_epoch())
                                .count();
  payload["device_instance_id"] = GoQuote(device->id);
  payload["device_url"] = GoQuote(device->uri);
  payload["output_name"] =
      GoQuote(BodyString(body, "output_name", "Task_sim" + std::to_string(next_seq_)));
  payload["service"] = "{\"id\":" + GoQuote(service_id) + ",\"input\":[],\"output\":[]," +
                       "\"protocol\":{},\"service_type\":" + GoQuote(service_type) +
                       ",\"url\":" + GoQuote(service_url) + "}";
  payload["service_id"] = GoQuote(service_id);
  payload["service_url"] = GoQuote(service_url);
  payload["task_id"] = GoQuote(task_id);
  payload["time"] = GoQuote(std::to_string(unix_seconds));
  payload["worker_id"] = GoQuote(BodyString(body, "worker_id", RandomUuid()));
  if (const auto extra = body.FindMember("extra"); extra != body.MemberEnd()) {
    if (!extra->value.IsObject()) {
      return JsonError(400, "extra must be an object of additional payload fields");
    }
    for (const auto& member : extra->value.GetObject()) {
      payload[member.name.GetString()] = GoJson(member.value);
    }
  }
  std::string payload_json = "{";
  for (const auto& [key, value] : payload) {
    payload_json += (payload_json.size() > 1 ? "," : "") + GoQuote(key) + ":" + value;
  }
  payload_json += "}";

  const int delivered =
      DeliverCommand(device->id, GoMessage(0, "command", "", "map", payload_json));
  ++counters_["commands"];
  Append(commands_, "command",
         JsonOut()
             .Open()
             .Str("task_id", task_id)
             .Str("device_uri", device->uri)
             .Str("device_id", device->id)
             .Str("service_url", service_url)
             .Num("delivered", delivered)
             .RawField("payload", payload_json)
             .Close()
             .str());
  return Json(200, JsonOut()
                       .Open()
                       .Str("task_id", task_id)
                       .Str("device_id", device->id)
                       .Num("delivered", delivered)
                       .RawField("command", payload_json)
                       .Close()
                       .str());
}

void Simulator::GetResponses(const ws::HttpRequest& request, ws::HttpReply reply) {
  const auto params = ParseQuery(request.query);
  const auto task = params.find("task_id");
  if (task == params.end() || task->second.empty()) {
    reply(ListRecords(request, responses_, "responses"));
    return;
  }
  const std::string task_id = task->second;
  if (const auto found = responses_by_task_.find(task_id); found != responses_by_task_.end()) {
    reply(Json(200, found->second));
    return;
  }
  const int64_t wait_ms = std::min(IntParam(params, "wait_ms", 0), kMaxWaitMs);
  const std::string not_yet = JsonOut()
                                  .Open()
                                  .Str("error", "no response for task '" + task_id + "' yet")
                                  .Str("task_id", task_id)
                                  .Close()
                                  .str();
  if (wait_ms <= 0 || stopping_) {
    reply(Json(404, not_yet));
    return;
  }
  const uint64_t waiter_id = next_waiter_++;
  ResponseWaiter& waiter =
      response_waiters_.emplace(waiter_id, ResponseWaiter{task_id, reply, 0}).first->second;
  waiter.timer = server().After(Millis(wait_ms), [this, waiter_id, not_yet] {
    const auto found = response_waiters_.find(waiter_id);
    if (found != response_waiters_.end()) {
      found->second.reply(Json(404, not_yet));
      response_waiters_.erase(found);
    }
  });
}

ws::HttpResponse Simulator::SetHook(const ws::HttpRequest& request) {
  rapidjson::Document body;
  body.Parse(request.body.c_str(), request.body.size());
  if (body.HasParseError() || !body.IsObject()) {
    return JsonError(400, "the body must be a JSON object with an \"action\"");
  }
  const std::string action = BodyString(body, "action");
  const std::string handler = BodyString(body, "handler");
  const std::string gateway = BodyString(body, "gateway");
  // Active gateway sessions the immediate actions apply to.
  std::vector<Session*> targets;
  for (auto& [id, session] : sessions_) {
    if (!session.console && session.phase == Phase::kActive &&
        (gateway.empty() || session.gateway_id == gateway)) {
      targets.push_back(&session);
    }
  }
  int affected = 0;
  if (action == "delay") {
    const int64_t ms = BodyInt(body, "ms", -1);
    if (ms < 0) {
      return JsonError(400, "delay needs \"ms\" >= 0");
    }
    HandlerHook hook;
    hook.handler = handler;
    hook.remaining = static_cast<int>(BodyInt(body, "count", -1));
    hook.delay = Millis(ms);
    hooks_.delays.push_back(hook);
  } else if (action == "refuse") {
    HandlerHook hook;
    hook.handler = handler;
    hook.remaining = static_cast<int>(BodyInt(body, "count", 1));
    hook.status = static_cast<int>(BodyInt(body, "status", 500));
    hook.message = BodyString(body, "message", "refused by a platform-sim hook");
    hooks_.refusals.push_back(hook);
  } else if (action == "drop_on") {
    HandlerHook hook;
    hook.handler = handler;
    hook.remaining = static_cast<int>(BodyInt(body, "count", 1));
    hooks_.drops.push_back(hook);
  } else if (action == "reject_handshake") {
    hooks_.reject_handshakes = static_cast<int>(BodyInt(body, "count", 1));
  } else if (action == "stall") {
    const auto enabled = body.FindMember("enabled");
    hooks_.stall =
        enabled == body.MemberEnd() || !enabled->value.IsBool() || enabled->value.GetBool();
  } else if (action == "drop") {
    for (Session* session : targets) {
      DropSession(*session, "hook: connection dropped");
      ++affected;
    }
  } else if (action == "close") {
    for (Session* session : targets) {
      CloseSession(*session, BodyString(body, "reason", "closed by a platform-sim hook"),
                   static_cast<uint16_t>(BodyInt(body, "code", 1000)));
      ++affected;
    }
  } else if (action == "garbage") {
    const std::string text = BodyString(body, "text", "ERROR: unable to create response");
    for (Session* session : targets) {
      SendFrame(*session, text);
      ++affected;
    }
  } else if (action == "late_reply") {
    const auto payload = body.FindMember("payload");
    const std::string payload_json =
        payload == body.MemberEnd() ? GoQuote("ok") : GoJson(payload->value);
    const char* kind = payload == body.MemberEnd() ? "string" : GoKind(payload->value);
    for (Session* session : targets) {
      const std::string token = BodyString(body, "token", session->last_token);
      SendFrame(*session, GoMessage(static_cast<int>(BodyInt(body, "status", 200)), "response",
                                    token, kind, payload_json));
      ++affected;
    }
  } else if (action == "clear") {
    hooks_ = Hooks{};
  } else {
    return JsonError(400, "unknown action '" + action +
                              "'; one of delay, refuse, drop_on, reject_handshake, stall, "
                              "drop, close, garbage, late_reply, clear");
  }
  auto response = HooksJson();
  response.body = JsonOut()
                      .Open()
                      .Str("action", action)
                      .Num("affected", affected)
                      .RawField("hooks", response.body)
                      .Close()
                      .str();
  return response;
}

ws::HttpResponse Simulator::HooksJson() const {
  JsonOut out;
  out.Open();
  const auto list = [&out](const char* key, const std::vector<HandlerHook>& hooks) {
    out.Key(key).OpenArray();
    for (const auto& hook : hooks) {
      out.Open().Str("handler", hook.handler).Num("remaining", hook.remaining);
      if (hook.delay.count() > 0) {
        out.Num("ms", hook.delay.count());
      }
      if (!hook.message.empty()) {
        out.Num("status", hook.status).Str("message", hook.message);
      }
      out.Close();
    }
    out.CloseArray();
  };
  list("delays", hooks_.delays);
  list("refusals", hooks_.refusals);
  list("drops", hooks_.drops);
  out.Num("reject_handshakes", hooks_.reject_handshakes).Flag("stall", hooks_.stall).Close();
  return Json(200, out.str());
}

}  // namespace coapgw::platform_sim
