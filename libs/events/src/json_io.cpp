#include "json_io.hpp"

#include <limits>

#include "coapgw/common/time_format.hpp"
#include "coapgw/events/payload.hpp"
#include "utf8.hpp"

namespace coapgw::events::internal {
namespace {

// RapidJSON's writer copies bytes as they are: repair invalid UTF-8 so the output stays JSON.
template <class Emit>
void WithValidUtf8(const std::string& text, Emit emit) {
  if (IsValidUtf8(text)) {
    emit(text);
  } else {
    emit(ReplaceInvalidUtf8(text));
  }
}

}  // namespace

void JsonWriter::Write(const std::string& value) {
  WithValidUtf8(value, [this](const std::string& text) {
    writer_.String(text.data(), static_cast<rapidjson::SizeType>(text.size()));
  });
}

void JsonWriter::Write(Timestamp value) {
  Write(FormatRfc3339Millis(value));
}

void JsonWriter::Write(DeviceChange value) {
  Write(std::string(DeviceChangeName(value)));
}

void JsonWriter::Write(PayloadEncoding value) {
  Write(std::string(PayloadEncodingName(value)));
}

void JsonWriter::Write(Method value) {
  Write(std::string(MethodName(value)));
}

void JsonWriter::Write(const std::map<std::string, std::string>& value) {
  writer_.StartObject();
  for (const auto& [key, text] : value) {
    WithValidUtf8(key, [this](const std::string& name) {
      writer_.Key(name.data(), static_cast<rapidjson::SizeType>(name.size()));
    });
    Write(text);
  }
  writer_.EndObject();
}

bool JsonReader::Fail(const std::string& path, const std::string& what) {
  error_ = MakeError(ErrorCode::kInvalidArgument, "field '" + path + "' " + what);
  return false;
}

bool JsonReader::Read(const rapidjson::Value& json, const std::string& path, std::string& out) {
  if (!json.IsString()) {
    return Fail(path, "must be a string");
  }
  out.assign(json.GetString(), json.GetStringLength());
  return true;
}

bool JsonReader::Read(const rapidjson::Value& json, const std::string& path, bool& out) {
  if (!json.IsBool()) {
    return Fail(path, "must be a boolean");
  }
  out = json.GetBool();
  return true;
}

bool JsonReader::Read(const rapidjson::Value& json, const std::string& path, std::uint16_t& out) {
  if (!json.IsUint() || json.GetUint() > std::numeric_limits<std::uint16_t>::max()) {
    return Fail(path, "must be an integer in 0..65535");
  }
  out = static_cast<std::uint16_t>(json.GetUint());
  return true;
}

bool JsonReader::Read(const rapidjson::Value& json, const std::string& path, std::uint32_t& out) {
  if (!json.IsUint()) {
    return Fail(path, "must be an integer in 0..4294967295");
  }
  out = json.GetUint();
  return true;
}

bool JsonReader::ReadNonNegative(const rapidjson::Value& json, const std::string& path,
                                 std::int64_t& out) {
  if (!json.IsInt64() || json.GetInt64() < 0) {
    return Fail(path, "must be a non-negative integer");
  }
  out = json.GetInt64();
  return true;
}

bool JsonReader::Read(const rapidjson::Value& json, const std::string& path, Timestamp& out) {
  std::optional<Timestamp> time;
  if (json.IsString()) {
    time = ParseRfc3339(std::string_view(json.GetString(), json.GetStringLength()));
  }
  if (!time.has_value()) {
    return Fail(path, "must be an RFC 3339 time");
  }
  out = *time;
  return true;
}

bool JsonReader::Read(const rapidjson::Value& json, const std::string& path, DeviceStatus& out) {
  if (!json.IsInt()) {
    return Fail(path, "must be an integer");
  }
  switch (json.GetInt()) {
    case 0:
      out = DeviceStatus::kDisconnected;
      break;
    case 1:
      out = DeviceStatus::kConnected;
      break;
    default:
      out = DeviceStatus::kUnknown;
      break;
  }
  return true;
}

bool JsonReader::Read(const rapidjson::Value& json, const std::string& path,
                      std::map<std::string, std::string>& out) {
  if (!json.IsObject()) {
    return Fail(path, "must be an object");
  }
  out.clear();
  for (auto member = json.MemberBegin(); member != json.MemberEnd(); ++member) {
    std::string key(member->name.GetString(), member->name.GetStringLength());
    std::string field = path;
    field.append(".").append(key);
    std::string value;
    if (!Read(member->value, field, value)) {
      return false;
    }
    out.emplace(std::move(key), std::move(value));
  }
  return true;
}

}  // namespace coapgw::events::internal
