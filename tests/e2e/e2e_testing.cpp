#include "e2e_testing.hpp"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace coapgw::e2e {
namespace {

std::string StringOf(const rapidjson::Value& object, const char* key) {
  const auto member = object.FindMember(key);
  return member != object.MemberEnd() && member->value.IsString() ? member->value.GetString() : "";
}

int64_t IntOf(const rapidjson::Value& object, const char* key) {
  const auto member = object.FindMember(key);
  return member != object.MemberEnd() && member->value.IsInt64() ? member->value.GetInt64() : 0;
}

bool BoolOf(const rapidjson::Value& object, const char* key) {
  const auto member = object.FindMember(key);
  return member != object.MemberEnd() && member->value.IsBool() && member->value.GetBool();
}

std::vector<std::string> StringsOf(const rapidjson::Value& object, const char* key) {
  std::vector<std::string> strings;
  const auto member = object.FindMember(key);
  if (member != object.MemberEnd() && member->value.IsArray()) {
    for (const auto& item : member->value.GetArray()) {
      if (item.IsString()) {
        strings.emplace_back(item.GetString());
      }
    }
  }
  return strings;
}

std::string JsonText(const rapidjson::Value& value) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  value.Accept(writer);
  return buffer.GetString();
}

}  // namespace

rapidjson::Document Parse(const std::string& text) {
  rapidjson::Document document;
  document.Parse(text.c_str(), text.size());
  if (document.HasParseError()) {
    document.SetNull();
  }
  return document;
}

std::vector<PlatformDevice> PlatformDevices(const test::Stack& stack) {
  std::vector<PlatformDevice> devices;
  const auto state = stack.PlatformGet("/api/state");
  if (!state.IsObject() || !state.HasMember("devices")) {
    return devices;
  }
  for (const auto& item : state["devices"].GetArray()) {
    devices.push_back(PlatformDevice{StringOf(item, "id"), StringOf(item, "uri"),
                                     StringOf(item, "name"), StringOf(item, "iot_type"),
                                     StringOf(item, "gateway"), BoolOf(item, "listened"),
                                     StringsOf(item, "tags")});
  }
  return devices;
}

std::optional<PlatformDevice> PlatformDeviceNamed(const test::Stack& stack,
                                                  const std::string& name) {
  for (auto& device : PlatformDevices(stack)) {
    if (device.name == name) {
      return device;
    }
  }
  return std::nullopt;
}

std::optional<PlatformGateway> Gateway(const test::Stack& stack) {
  const auto state = stack.PlatformGet("/api/state");
  if (!state.IsObject() || !state.HasMember("gateways") || state["gateways"].Size() != 1) {
    return std::nullopt;
  }
  const auto& gateway = state["gateways"][0];
  return PlatformGateway{StringOf(gateway, "id"), StringOf(gateway, "hash"),
                         BoolOf(gateway, "connected"), StringsOf(gateway, "devices")};
}

std::vector<PlatformEvent> PlatformEvents(const test::Stack& stack, uint64_t after) {
  std::vector<PlatformEvent> events;
  const auto list = stack.PlatformGet("/api/events?after=" + std::to_string(after));
  if (!list.IsObject() || !list.HasMember("events")) {
    return events;
  }
  for (const auto& item : list["events"].GetArray()) {
    PlatformEvent event;
    event.seq = static_cast<uint64_t>(IntOf(item, "seq"));
    event.session = IntOf(item, "session");
    event.device_uri = StringOf(item, "device_uri");
    event.service_uri = StringOf(item, "service_uri");
    event.accepted = BoolOf(item, "accepted");
    event.error = StringOf(item, "error");
    const auto value = item.FindMember("value");
    if (value != item.MemberEnd() && value->value.IsArray()) {
      for (const auto& part : value->value.GetArray()) {
        const std::string name = StringOf(part, "name");
        (name == "metadata" ? event.metadata : event.data) = StringOf(part, "value");
      }
    }
    events.push_back(std::move(event));
  }
  return events;
}

std::vector<PlatformRequest> PlatformRequests(const test::Stack& stack, uint64_t after) {
  std::vector<PlatformRequest> requests;
  const auto list = stack.PlatformGet("/api/frames?after=" + std::to_string(after));
  if (!list.IsObject() || !list.HasMember("frames")) {
    return requests;
  }
  for (const auto& item : list["frames"].GetArray()) {
    if (StringOf(item, "direction") != "in") {
      continue;
    }
    const auto frame = Parse(StringOf(item, "text"));
    if (!frame.IsObject() || !frame.HasMember("handler") || !frame.HasMember("payload")) {
      continue;
    }
    requests.push_back(PlatformRequest{static_cast<uint64_t>(IntOf(item, "seq")),
                                       IntOf(item, "session"), StringOf(frame, "handler"),
                                       JsonText(frame["payload"])});
  }
  return requests;
}

uint64_t PlatformLastSeq(const test::Stack& stack) {
  const auto list = stack.PlatformGet("/api/events?after=999999999999");
  return list.IsObject() ? static_cast<uint64_t>(IntOf(list, "last_seq")) : 0;
}

std::optional<events::Device> RdDevice(test::Stack& stack, const std::string& ep) {
  auto devices = stack.RdDevices();
  if (devices) {
    for (auto& device : *devices) {
      if (device.endpoint == ep) {
        return device;
      }
    }
  }
  return std::nullopt;
}

std::string Failure(const test::Stack& stack, const std::string& step, const std::string& what,
                    std::initializer_list<Part> parts) {
  std::string message = "step " + step + ": " + what + "\n";
  if (parts.size() == 0) {
    return message + stack.Tails();
  }
  for (const Part part : parts) {
    message += stack.Tail(part);
  }
  return message;
}

}  // namespace coapgw::e2e
