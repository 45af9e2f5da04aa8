#include "ws_connector/mapping.hpp"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "coapgw/common/time_format.hpp"

namespace coapgw::ws_connector {
namespace {

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

void WriteString(Writer& writer, std::string_view text) {
  writer.String(text.data(), static_cast<rapidjson::SizeType>(text.size()));
}

void WritePart(Writer& writer, std::string_view name, std::string_view value) {
  writer.StartObject();
  writer.Key("name");
  WriteString(writer, name);
  writer.Key("value");
  WriteString(writer, value);
  writer.EndObject();
}

std::string Serialize(const rapidjson::Value& value) {
  rapidjson::StringBuffer buffer;
  Writer writer(buffer);
  value.Accept(writer);
  return {buffer.GetString(), buffer.GetSize()};
}

bool IsTagPart(const std::string& text) {
  return !text.empty() && text.find_first_of(":;") == std::string::npos;
}

std::optional<uint16_t> SmallUint(const rapidjson::Value& object, const char* key) {
  const auto it = object.FindMember(key);
  if (it == object.MemberEnd() || !it->value.IsUint() || it->value.GetUint() > 65535) {
    return std::nullopt;
  }
  return static_cast<uint16_t>(it->value.GetUint());
}

}  // namespace

ws::platform::HashedDevice ToPlatformDevice(const events::Device& device,
                                            const std::string& default_type) {
  ws::platform::HashedDevice out;
  out.id = device.device_id;
  out.type = device.endpoint_type.empty() ? default_type : device.endpoint_type;
  out.name = device.endpoint;
  if (IsTagPart(device.sector)) {
    out.tags.emplace_back("d", device.sector);
  }
  return out;
}

bool IsPlatformListed(const events::Device& device) {
  return device.status == events::DeviceStatus::kConnected;
}

bool HasPlatformType(const events::Device& device, const std::string& default_type) {
  return !device.endpoint_type.empty() || !default_type.empty();
}

std::string PutPayload(const ws::platform::HashedDevice& device) {
  rapidjson::StringBuffer buffer;
  Writer writer(buffer);
  writer.StartObject();
  writer.Key("uri");
  WriteString(writer, device.id);
  writer.Key("name");
  WriteString(writer, device.name);
  writer.Key("iot_type");
  WriteString(writer, device.type);
  writer.Key("tags");
  writer.StartArray();
  for (const auto& [key, value] : device.tags) {
    WriteString(writer, key + ":" + value);
  }
  writer.EndArray();
  writer.EndObject();
  return {buffer.GetString(), buffer.GetSize()};
}

std::string EventPayload(const events::ObservedData& data) {
  rapidjson::StringBuffer meta_buffer;
  Writer meta(meta_buffer);
  meta.StartObject();
  if (data.content_format) {
    meta.Key("content_format");
    meta.Uint(*data.content_format);
  }
  meta.Key("code");
  WriteString(meta, data.code);
  meta.Key("observed");
  meta.Bool(data.observed);
  meta.Key("time");
  WriteString(meta, FormatRfc3339Millis(data.time));
  meta.EndObject();

  rapidjson::StringBuffer buffer;
  Writer writer(buffer);
  writer.StartObject();
  writer.Key("device_uri");
  WriteString(writer, data.device_id);
  writer.Key("service_uri");
  WriteString(writer, data.service);
  writer.Key("value");
  writer.StartArray();
  WritePart(writer, "metadata", {meta_buffer.GetString(), meta_buffer.GetSize()});
  WritePart(writer, "data", data.payload.data);
  writer.EndArray();
  writer.EndObject();
  return {buffer.GetString(), buffer.GetSize()};
}

std::optional<EventTarget> EventTargetOf(std::string_view payload_json) {
  rapidjson::Document doc;
  doc.Parse(payload_json.data(), payload_json.size());
  if (doc.HasParseError() || !doc.IsObject()) {
    return std::nullopt;
  }
  const auto device = doc.FindMember("device_uri");
  const auto service = doc.FindMember("service_uri");
  if (device == doc.MemberEnd() || !device->value.IsString() || service == doc.MemberEnd() ||
      !service->value.IsString()) {
    return std::nullopt;
  }
  return EventTarget{device->value.GetString(), service->value.GetString()};
}

Result<events::Command> ParseCommand(std::string_view payload_json) {
  rapidjson::Document doc;
  doc.Parse(payload_json.data(), payload_json.size());
  if (doc.HasParseError() || !doc.IsObject()) {
    return MakeError(ErrorCode::kInvalidArgument, "command payload is not a JSON object");
  }
  events::Command command;
  const auto device = doc.FindMember("device_url");
  if (device == doc.MemberEnd() || !device->value.IsString() ||
      device->value.GetStringLength() == 0) {
    return MakeError(ErrorCode::kInvalidArgument, "command without a device_url string");
  }
  command.device_id = device->value.GetString();
  const auto service = doc.FindMember("service_url");
  if (service == doc.MemberEnd() || !service->value.IsString()) {
    return MakeError(ErrorCode::kInvalidArgument, "command without a service_url string");
  }
  command.service = service->value.GetString();
  std::string metadata;
  const auto parts = doc.FindMember("protocol_parts");
  if (parts != doc.MemberEnd() && parts->value.IsArray()) {
    for (const auto& part : parts->value.GetArray()) {
      if (!part.IsObject() || !part.HasMember("name") || !part["name"].IsString()) {
        continue;
      }
      const auto value = part.FindMember("value");
      if (value == part.MemberEnd() || !value->value.IsString()) {
        continue;  // null: no value
      }
      const std::string name = part["name"].GetString();
      if (name == "data") {
        command.payload.data = value->value.GetString();
      } else if (name == "metadata") {
        metadata = value->value.GetString();
      }
    }
  }
  auto parsed = events::ParseService(command.service, !command.payload.data.empty());
  if (!parsed.ok()) {
    return MakeError(ErrorCode::kInvalidArgument, "service_url: " + parsed.error().message);
  }
  command.method = parsed->method;
  command.path = parsed->path;
  command.query = parsed->query;
  if (!metadata.empty()) {
    rapidjson::Document meta;
    meta.Parse(metadata.data(), metadata.size());
    if (!meta.HasParseError() && meta.IsObject()) {
      command.content_format = SmallUint(meta, "content_format");
      command.accept = SmallUint(meta, "accept");
      const auto query = meta.FindMember("query");
      if (query != meta.MemberEnd() && query->value.IsString() && command.query.empty()) {
        command.query = query->value.GetString();
      }
    }
  }
  command.payload.encoding = events::PayloadEncoding::kText;
  return command;
}

std::string ResponsePayload(std::string_view command_payload_json, std::string_view code,
                            std::optional<uint16_t> content_format, std::string_view data) {
  rapidjson::Document doc;
  doc.Parse(command_payload_json.data(), command_payload_json.size());
  if (doc.HasParseError() || !doc.IsObject()) {
    doc.SetObject();
  }
  rapidjson::StringBuffer meta_buffer;
  Writer meta(meta_buffer);
  meta.StartObject();
  meta.Key("code");
  WriteString(meta, code);
  if (content_format) {
    meta.Key("content_format");
    meta.Uint(*content_format);
  }
  meta.EndObject();

  auto& alloc = doc.GetAllocator();
  rapidjson::Value parts(rapidjson::kArrayType);
  const auto part = [&](const char* name, std::string_view value) {
    rapidjson::Value object(rapidjson::kObjectType);
    object.AddMember("name", rapidjson::Value(name, alloc), alloc);
    object.AddMember(
        "value",
        rapidjson::Value(value.data(), static_cast<rapidjson::SizeType>(value.size()), alloc),
        alloc);
    parts.PushBack(object, alloc);
  };
  part("metadata", {meta_buffer.GetString(), meta_buffer.GetSize()});
  part("data", data);
  doc.RemoveMember("protocol_parts");
  doc.AddMember("protocol_parts", parts, alloc);
  return Serialize(doc);
}

}  // namespace coapgw::ws_connector
