#include "fake_platform.hpp"

#include <rapidjson/document.h>

#include "coapgw/ws/platform_protocol.hpp"

namespace coapgw::ws_connector::test {
namespace {

namespace platform = ws::platform;

std::string StringMember(const rapidjson::Value& object, const char* key) {
  const auto it = object.FindMember(key);
  return it != object.MemberEnd() && it->value.IsString() ? it->value.GetString() : "";
}

// The payload when it is a JSON string, else nullopt.
std::optional<std::string> StringPayload(const std::string& json) {
  rapidjson::Document doc;
  doc.Parse(json.c_str());
  if (doc.HasParseError() || !doc.IsString()) {
    return std::nullopt;
  }
  return std::string(doc.GetString());
}

}  // namespace

FakePlatform::FakePlatform() {
  ws::ServerHandlers handlers;
  handlers.on_open = [this](ws::ConnectionId id, const ws::ConnectionInfo&) {
    const std::lock_guard<std::mutex> lock(mutex_);
    if (!accepting_) {
      server_->Drop(id);
      return;
    }
    sessions_[id] = Session{};
  };
  handlers.on_text = [this](ws::ConnectionId id, std::string text) { OnText(id, text); };
  handlers.on_close = [this](ws::ConnectionId id, const ws::ConnectionClosed&) {
    const std::lock_guard<std::mutex> lock(mutex_);
    sessions_.erase(id);
  };
  server_ = std::make_unique<ws::Server>(ws::ServerOptions{}, std::move(handlers));
}

FakePlatform::~FakePlatform() {
  server_.reset();
}

std::string FakePlatform::url() const {
  return "ws://127.0.0.1:" + std::to_string(server_->port());
}

void FakePlatform::SetAccepting(bool accepting) {
  const std::lock_guard<std::mutex> lock(mutex_);
  accepting_ = accepting;
  if (!accepting) {
    for (const auto& [id, session] : sessions_) {
      server_->Drop(id);
    }
  }
}

void FakePlatform::SetSilent(bool silent) {
  const std::lock_guard<std::mutex> lock(mutex_);
  silent_ = silent;
}

void FakePlatform::ForgetGateways() {
  const std::lock_guard<std::mutex> lock(mutex_);
  gateways_.clear();
}

std::vector<Request> FakePlatform::Requests() const {
  const std::lock_guard<std::mutex> lock(mutex_);
  return requests_;
}

std::vector<Request> FakePlatform::Requests(const std::string& handler) const {
  std::vector<Request> out;
  for (auto& request : Requests()) {
    if (request.handler == handler) {
      out.push_back(request);
    }
  }
  return out;
}

std::vector<std::string> FakePlatform::CredentialGids() const {
  const std::lock_guard<std::mutex> lock(mutex_);
  return credential_gids_;
}

std::optional<std::string> FakePlatform::GatewayHash(const std::string& gid) const {
  const std::lock_guard<std::mutex> lock(mutex_);
  const auto it = gateways_.find(gid);
  return it == gateways_.end() ? std::nullopt : std::optional<std::string>(it->second.hash);
}

std::set<std::string> FakePlatform::CommittedDevices(const std::string& gid) const {
  const std::lock_guard<std::mutex> lock(mutex_);
  const auto it = gateways_.find(gid);
  return it == gateways_.end() ? std::set<std::string>() : it->second.devices;
}

size_t FakePlatform::Connections() const {
  const std::lock_guard<std::mutex> lock(mutex_);
  size_t open = 0;
  for (const auto& [id, session] : sessions_) {
    open += session.handshaken ? 1 : 0;
  }
  return open;
}

void FakePlatform::SendRaw(const std::string& text) {
  const std::lock_guard<std::mutex> lock(mutex_);
  for (const auto& [id, session] : sessions_) {
    server_->Send(id, text);
  }
}

bool FakePlatform::SendCommand(const std::string& device_url, const std::string& payload) {
  const std::lock_guard<std::mutex> lock(mutex_);
  for (const auto& [id, session] : sessions_) {
    if (session.listening.count(device_url) != 0) {
      platform::Envelope envelope;
      envelope.handler = "command";
      envelope.content_type = "map";
      envelope.payload = payload;
      server_->Send(id, platform::EncodeEnvelope(envelope));
      return true;
    }
  }
  return false;
}

void FakePlatform::Reply(ws::ConnectionId id, int status, const std::string& token,
                         const std::string& body) {
  platform::Envelope envelope;
  envelope.status = status;
  envelope.handler = "response";
  envelope.token = token;
  envelope.content_type = "string";
  envelope.payload = platform::JsonQuote(body);
  server_->Send(id, platform::EncodeEnvelope(envelope));
}

void FakePlatform::OnText(ws::ConnectionId id, const std::string& text) {
  const std::lock_guard<std::mutex> lock(mutex_);
  auto session = sessions_.find(id);
  if (session == sessions_.end()) {
    return;
  }
  Session& s = session->second;
  if (!s.handshaken) {
    rapidjson::Document doc;
    doc.Parse(text.c_str());
    if (doc.HasParseError() || !doc.IsObject()) {
      server_->Drop(id);
      return;
    }
    std::string gid = StringMember(doc, "gid");
    credential_gids_.push_back(gid);
    if (gateways_.count(gid) == 0) {
      gid = "iot#gateway-" + std::to_string(next_gateway_++);
      gateways_[gid] = Gateway{};
    }
    s.handshaken = true;
    s.gid = gid;
    s.listening = gateways_[gid].devices;
    platform::Envelope envelope;
    envelope.status = 200;
    envelope.handler = "response";
    envelope.token = StringMember(doc, "token");
    envelope.content_type = "map";
    envelope.payload = "{\"gid\":" + platform::JsonQuote(gid) +
                       ",\"hash\":" + platform::JsonQuote(gateways_[gid].hash) + "}";
    server_->Send(id, platform::EncodeEnvelope(envelope));
    return;
  }
  auto decoded = platform::DecodeEnvelope(text);
  if (!decoded.ok()) {
    Reply(id, 400, "", "unable to parse request");
    return;
  }
  const platform::Envelope& request = *decoded;
  requests_.push_back({id, s.gid, request.handler, request.token, request.payload});
  if (silent_) {
    return;
  }
  Gateway& gateway = gateways_[s.gid];
  const auto uri = StringPayload(request.payload);
  if (request.handler == "clear") {
    gateway = Gateway{};
    s.listening.clear();
  } else if (request.handler == "put") {
    rapidjson::Document doc;
    doc.Parse(request.payload.c_str());
    if (doc.HasParseError() || !doc.IsObject() || StringMember(doc, "iot_type").empty()) {
      Reply(id, 500, request.token, "empty iot_type");
      return;
    }
    s.listening.insert(StringMember(doc, "uri"));
  } else if (request.handler == "disconnect" || request.handler == "delete") {
    if (!uri) {
      Reply(id, 400, request.token, "expect uri as string in payload");
      return;
    }
    if (s.listening.erase(*uri) == 0 && request.handler == "disconnect") {
      Reply(id, 500, request.token, "not listening to device with uri '" + *uri + "'");
      return;
    }
  } else if (request.handler == "commit") {
    if (!uri) {
      Reply(id, 400, request.token, "expect hash as string in payload");
      return;
    }
    gateway.hash = *uri;
    gateway.devices = s.listening;
  } else if (request.handler == "event") {
    rapidjson::Document doc;
    doc.Parse(request.payload.c_str());
    if (doc.HasParseError() || !doc.IsObject() ||
        s.listening.count(StringMember(doc, "device_uri")) == 0) {
      Reply(id, 400, request.token, "error event: not listen to this device");
      return;
    }
  } else if (request.handler != "response") {
    Reply(id, 400, request.token, "unknown handler in request");
    return;
  }
  Reply(id, 200, request.token, "ok");
}

}  // namespace coapgw::ws_connector::test
