#include "platform_sim/model.hpp"

#include <algorithm>
#include <chrono>

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <rapidjson/prettywriter.h>
#include <rapidjson/stringbuffer.h>

#include "coapgw/common/ids.hpp"

namespace coapgw::platform_sim {
namespace {

std::string Base36(long long value) {
  static constexpr char kDigits[] = "0123456789abcdefghijklmnopqrstuvwxyz";
  if (value <= 0) {
    return "0";
  }
  std::string out;
  while (value > 0) {
    out.insert(out.begin(), kDigits[value % 36]);
    value /= 36;
  }
  return out;
}

// PC lib/iot.go IndexTags: "key:value" split at the first ':'; malformed tags are skipped.
std::map<std::string, std::string> IndexTags(const std::vector<std::string>& tags) {
  std::map<std::string, std::string> index;
  for (const auto& tag : tags) {
    const auto colon = tag.find(':');
    if (colon != std::string::npos) {
      index[tag.substr(0, colon)] = tag.substr(colon + 1);
    }
  }
  return index;
}

using Writer = rapidjson::PrettyWriter<rapidjson::StringBuffer>;

void WriteStrings(Writer& writer, const char* key, const std::vector<std::string>& values) {
  writer.Key(key);
  writer.StartArray();
  for (const auto& value : values) {
    writer.String(value);
  }
  writer.EndArray();
}

void WriteString(Writer& writer, const char* key, const std::string& value) {
  writer.Key(key);
  writer.String(value);
}

Error Invalid(std::string message) {
  return MakeError(ErrorCode::kInvalidArgument, std::move(message));
}

// Reads string member `key` of `object` ("" when absent); false when present but not a string.
bool ReadString(const rapidjson::Value& object, const char* key, std::string& out) {
  const auto member = object.FindMember(key);
  if (member == object.MemberEnd()) {
    out.clear();
    return true;
  }
  if (!member->value.IsString()) {
    return false;
  }
  out = member->value.GetString();
  return true;
}

bool ReadStrings(const rapidjson::Value& object, const char* key, std::vector<std::string>& out) {
  out.clear();
  const auto member = object.FindMember(key);
  if (member == object.MemberEnd()) {
    return true;
  }
  if (!member->value.IsArray()) {
    return false;
  }
  for (const auto& item : member->value.GetArray()) {
    if (!item.IsString()) {
      return false;
    }
    out.emplace_back(item.GetString());
  }
  return true;
}

}  // namespace

Model::Model(ModelOptions options) : options_(std::move(options)) {}

bool Model::Authenticate(const std::string& user, const std::string& password) const {
  const auto found = options_.users.find(user);
  return found != options_.users.end() && found->second == password;
}

const Gateway& Model::ProvideGateway(const std::string& id, const std::string& user,
                                     bool* created) {
  const auto found = gateways_.find(id);
  if (found != gateways_.end() && found->second.owner == user) {
    *created = false;
    return found->second;
  }
  Gateway gateway;
  gateway.id = "iot#" + RandomUuid();
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  gateway.name = "new-gateway-" + Base36(now);
  gateway.owner = user;
  *created = true;
  return gateways_[gateway.id] = gateway;
}

Status Model::ClearGateway(const std::string& id) {
  const auto found = gateways_.find(id);
  if (found == gateways_.end()) {
    return MakeError(ErrorCode::kNotFound, "cannot clear not existing gateway");
  }
  for (const auto& device_id : found->second.devices) {
    const auto device = devices_.find(device_id);
    if (device != devices_.end() && device->second.gateway == id) {
      device->second.gateway.clear();
    }
  }
  found->second.devices.clear();
  found->second.hash.clear();
  return Status::Ok();
}

Status Model::CommitGateway(const std::string& id, const std::string& hash,
                            const std::vector<std::string>& device_ids) {
  const auto found = gateways_.find(id);
  if (found == gateways_.end()) {
    return MakeError(ErrorCode::kNotFound, "gateway (" + id + ") does not exist");
  }
  for (const auto& device_id : device_ids) {
    const auto device = devices_.find(device_id);
    if (device != devices_.end() && !device->second.gateway.empty() &&
        device->second.gateway != id) {
      return MakeError(ErrorCode::kConflict, "gateway (" + id + ") may not own devices");
    }
  }
  for (const auto& old_id : found->second.devices) {
    const auto device = devices_.find(old_id);
    if (device != devices_.end() && device->second.gateway == id) {
      device->second.gateway.clear();
    }
  }
  for (const auto& device_id : device_ids) {
    const auto device = devices_.find(device_id);
    if (device != devices_.end()) {
      device->second.gateway = id;
    }
  }
  found->second.hash = hash;
  found->second.devices = device_ids;
  return Status::Ok();
}

std::vector<const Device*> Model::DevicesByUri(const std::string& user,
                                               const std::string& uri) const {
  std::vector<const Device*> matches;
  for (const auto& [id, device] : devices_) {
    if (device.owner == user && device.uri == uri) {
      matches.push_back(&device);
    }
  }
  return matches;
}

Result<const Device*> Model::CreateDevice(const std::string& user, const ConnectorDevice& device) {
  if (device.iot_type.empty()) {
    return Invalid("empty iot_type");
  }
  if (options_.strict_types && FindDeviceType(device.iot_type) == nullptr) {
    return Invalid("error while creating device skeleton: unknown device type '" + device.iot_type +
                   "'");
  }
  Device created;
  created.id = "iot#" + RandomUuid();
  created.uri = device.uri;
  created.name = device.name;
  created.device_type = device.iot_type;
  created.tags = device.tags;
  created.owner = user;
  const auto [slot, inserted] = devices_.emplace(created.id, created);
  return &slot->second;
}

const Device* Model::UpdateDevice(const std::string& device_id, const ConnectorDevice& device) {
  const auto found = devices_.find(device_id);
  if (found == devices_.end()) {
    return nullptr;
  }
  Device& stored = found->second;
  const auto platform_tags = IndexTags(stored.tags);
  auto merged = platform_tags;
  for (const auto& [key, value] : IndexTags(device.tags)) {
    merged[key] = value;
  }
  if (merged != platform_tags) {
    stored.tags.clear();
    for (const auto& [key, value] : merged) {
      stored.tags.push_back(key + ":" + value);
    }
  }
  stored.name = device.name;
  return &stored;
}

Status Model::DeleteDevice(const std::string& user, const std::string& uri) {
  const auto matches = DevicesByUri(user, uri);
  if (matches.size() != 1) {
    return MakeError(ErrorCode::kNotFound, "cant find exactly one device with given uri");
  }
  const std::string id = matches[0]->id;
  for (auto& [gateway_id, gateway] : gateways_) {
    gateway.devices.erase(std::remove(gateway.devices.begin(), gateway.devices.end(), id),
                          gateway.devices.end());
  }
  devices_.erase(id);
  return Status::Ok();
}

const Gateway* Model::FindGateway(const std::string& id) const {
  const auto found = gateways_.find(id);
  return found == gateways_.end() ? nullptr : &found->second;
}

const Device* Model::FindDevice(const std::string& id) const {
  const auto found = devices_.find(id);
  return found == devices_.end() ? nullptr : &found->second;
}

const DeviceType* Model::FindDeviceType(const std::string& id) const {
  for (const auto& type : options_.device_types) {
    if (type.id == id) {
      return &type;
    }
  }
  return nullptr;
}

std::string Model::SaveJson() const {
  rapidjson::StringBuffer buffer;
  Writer writer(buffer);
  writer.StartObject();
  writer.Key("version");
  writer.Int(1);
  writer.Key("gateways");
  writer.StartArray();
  for (const auto& [id, gateway] : gateways_) {
    writer.StartObject();
    WriteString(writer, "id", gateway.id);
    WriteString(writer, "name", gateway.name);
    WriteString(writer, "owner", gateway.owner);
    WriteString(writer, "hash", gateway.hash);
    WriteStrings(writer, "devices", gateway.devices);
    writer.EndObject();
  }
  writer.EndArray();
  writer.Key("devices");
  writer.StartArray();
  for (const auto& [id, device] : devices_) {
    writer.StartObject();
    WriteString(writer, "id", device.id);
    WriteString(writer, "uri", device.uri);
    WriteString(writer, "name", device.name);
    WriteString(writer, "device_type", device.device_type);
    WriteStrings(writer, "tags", device.tags);
    WriteString(writer, "owner", device.owner);
    WriteString(writer, "gateway", device.gateway);
    writer.EndObject();
  }
  writer.EndArray();
  writer.EndObject();
  return std::string(buffer.GetString(), buffer.GetSize()) + "\n";
}

Status Model::LoadJson(const std::string& text) {
  rapidjson::Document document;
  document.Parse(text.c_str(), text.size());
  if (document.HasParseError()) {
    return Invalid(std::string("not JSON: ") +
                   rapidjson::GetParseError_En(document.GetParseError()) + " at offset " +
                   std::to_string(document.GetErrorOffset()));
  }
  if (!document.IsObject() || !document.HasMember("version") || !document["version"].IsInt() ||
      document["version"].GetInt() != 1) {
    return Invalid("not a version 1 state document");
  }
  std::map<std::string, Gateway> gateways;
  std::map<std::string, Device> devices;
  const auto list = [&](const char* key) -> const rapidjson::Value* {
    const auto member = document.FindMember(key);
    return member != document.MemberEnd() && member->value.IsArray() ? &member->value : nullptr;
  };
  const auto* gateway_list = list("gateways");
  const auto* device_list = list("devices");
  if (gateway_list == nullptr || device_list == nullptr) {
    return Invalid("'gateways' and 'devices' must be arrays");
  }
  for (const auto& item : gateway_list->GetArray()) {
    Gateway gateway;
    if (!item.IsObject() || !ReadString(item, "id", gateway.id) ||
        !ReadString(item, "name", gateway.name) || !ReadString(item, "owner", gateway.owner) ||
        !ReadString(item, "hash", gateway.hash) || !ReadStrings(item, "devices", gateway.devices) ||
        gateway.id.empty()) {
      return Invalid("malformed gateway #" + std::to_string(gateways.size() + 1));
    }
    gateways[gateway.id] = gateway;
  }
  for (const auto& item : device_list->GetArray()) {
    Device device;
    if (!item.IsObject() || !ReadString(item, "id", device.id) ||
        !ReadString(item, "uri", device.uri) || !ReadString(item, "name", device.name) ||
        !ReadString(item, "device_type", device.device_type) ||
        !ReadStrings(item, "tags", device.tags) || !ReadString(item, "owner", device.owner) ||
        !ReadString(item, "gateway", device.gateway) || device.id.empty()) {
      return Invalid("malformed device #" + std::to_string(devices.size() + 1));
    }
    devices[device.id] = device;
  }
  gateways_ = std::move(gateways);
  devices_ = std::move(devices);
  return Status::Ok();
}

Result<std::map<std::string, std::string>> ParseUsers(const std::string& text) {
  std::map<std::string, std::string> users;
  size_t start = 0;
  while (start <= text.size()) {
    const size_t end = std::min(text.find(',', start), text.size());
    const std::string entry = text.substr(start, end - start);
    const size_t colon = entry.find(':');
    if (colon == std::string::npos || colon == 0) {
      return Invalid("user entry '" + entry + "' is not name:password");
    }
    if (!users.emplace(entry.substr(0, colon), entry.substr(colon + 1)).second) {
      return Invalid("user '" + entry.substr(0, colon) + "' appears twice");
    }
    start = end + 1;
  }
  return users;
}

Result<std::vector<DeviceType>> ParseDeviceTypes(const std::string& text) {
  rapidjson::Document document;
  document.Parse(text.c_str(), text.size());
  if (document.HasParseError() || !document.IsArray()) {
    return Invalid("device types must be a JSON array of {id, services}");
  }
  std::vector<DeviceType> types;
  for (const auto& item : document.GetArray()) {
    DeviceType type;
    const auto services = item.IsObject() ? item.FindMember("services") : item.MemberEnd();
    if (!item.IsObject() || !ReadString(item, "id", type.id) || type.id.empty() ||
        (services != item.MemberEnd() && !services->value.IsArray())) {
      return Invalid("malformed device type #" + std::to_string(types.size() + 1));
    }
    if (services != item.MemberEnd()) {
      for (const auto& entry : services->value.GetArray()) {
        Service service;
        if (!entry.IsObject() || !ReadString(entry, "id", service.id) ||
            !ReadString(entry, "service_type", service.service_type) ||
            !ReadString(entry, "url", service.url)) {
          return Invalid("malformed service in device type '" + type.id + "'");
        }
        type.services.push_back(service);
      }
    }
    types.push_back(type);
  }
  return types;
}

}  // namespace coapgw::platform_sim
