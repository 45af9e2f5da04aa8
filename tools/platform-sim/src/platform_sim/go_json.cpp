#include "platform_sim/go_json.hpp"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <optional>

#include <rapidjson/document.h>

namespace coapgw::platform_sim {
namespace {

// encoding/json's UnmarshalTypeError.Value: the JSON kind that did not fit.
const char* JsonKind(const rapidjson::Value& value) {
  if (value.IsString()) {
    return "string";
  }
  if (value.IsNumber()) {
    return "number";
  }
  if (value.IsObject()) {
    return "object";
  }
  if (value.IsArray()) {
    return "array";
  }
  return "bool";
}

// UnmarshalTypeError.Error() as Go 1.10 (2018, the PC build) words it.
Error TypeError(const rapidjson::Value& value, const std::string& go_type,
                const std::string& go_struct = "", const std::string& field = "") {
  std::string message = std::string("json: cannot unmarshal ") + JsonKind(value);
  if (!go_struct.empty()) {
    message += " into Go struct field " + go_struct + "." + field + " of type " + go_type;
  } else {
    message += " into Go value of type " + go_type;
  }
  return MakeError(ErrorCode::kInvalidArgument, std::move(message));
}

bool EqualFold(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

// One field of a Go struct: its JSON name and how a value is stored into it.
struct Field {
  const char* name;
  std::function<Status(const rapidjson::Value&)> decode;
};

// Decodes an object into a Go struct: keys in document order, matched exactly or else
// case-insensitively, later keys overwriting earlier ones, null leaving a field alone, unknown
// keys ignored; the first type error is the result.
Status DecodeStruct(const rapidjson::Value& value, const std::string& go_type,
                    const std::vector<Field>& fields) {
  if (value.IsNull()) {
    return Status::Ok();
  }
  if (!value.IsObject()) {
    return TypeError(value, go_type);
  }
  for (const auto& member : value.GetObject()) {
    const std::string_view key(member.name.GetString(), member.name.GetStringLength());
    const Field* match = nullptr;
    for (const auto& field : fields) {
      if (key == field.name) {
        match = &field;
        break;
      }
    }
    for (const auto& field : fields) {
      if (match == nullptr && EqualFold(key, field.name)) {
        match = &field;
      }
    }
    if (match == nullptr || member.value.IsNull()) {
      continue;
    }
    if (auto status = match->decode(member.value); !status.ok()) {
      return status;
    }
  }
  return Status::Ok();
}

Field StringField(const char* name, const char* go_struct, std::string& out) {
  return {name, [name, go_struct, &out](const rapidjson::Value& value) -> Status {
            if (!value.IsString()) {
              return TypeError(value, "string", go_struct, name);
            }
            out.assign(value.GetString(), value.GetStringLength());
            return Status::Ok();
          }};
}

// Go's utf8.DecodeRune: the code point and its length, or nullopt for an invalid sequence.
std::optional<std::pair<char32_t, size_t>> DecodeRune(std::string_view text, size_t at) {
  const auto byte = [&](size_t i) { return static_cast<unsigned char>(text[at + i]); };
  const unsigned char first = byte(0);
  size_t length = 0;
  char32_t rune = 0;
  char32_t minimum = 0;
  if (first >= 0xC2 && first <= 0xDF) {
    length = 2;
    rune = first & 0x1FU;
    minimum = 0x80;
  } else if (first >= 0xE0 && first <= 0xEF) {
    length = 3;
    rune = first & 0x0FU;
    minimum = 0x800;
  } else if (first >= 0xF0 && first <= 0xF4) {
    length = 4;
    rune = first & 0x07U;
    minimum = 0x10000;
  } else {
    return std::nullopt;
  }
  if (at + length > text.size()) {
    return std::nullopt;
  }
  for (size_t i = 1; i < length; ++i) {
    if ((byte(i) & 0xC0U) != 0x80U) {
      return std::nullopt;
    }
    rune = (rune << 6U) | (byte(i) & 0x3FU);
  }
  if (rune < minimum || rune > 0x10FFFF || (rune >= 0xD800 && rune <= 0xDFFF)) {
    return std::nullopt;
  }
  return std::make_pair(rune, length);
}

// strconv.AppendFloat(f, 'f' or 'e', -1, 64) as encoding/json chooses it.
std::string GoFloat(double number) {
  if (number == 0) {
    return std::signbit(number) ? "-0" : "0";
  }
  // The shortest %e spelling that reads back as the same double.
  char buffer[64];
  for (int precision = 0; precision < 17; ++precision) {
    std::snprintf(buffer, sizeof buffer, "%.*e", precision, number);
    if (std::strtod(buffer, nullptr) == number) {
      break;
    }
  }
  const std::string scientific = buffer;
  const bool negative = scientific[0] == '-';
  const size_t e_at = scientific.find('e');
  std::string digits;
  for (size_t i = negative ? 1 : 0; i < e_at; ++i) {
    if (scientific[i] != '.') {
      digits.push_back(scientific[i]);
    }
  }
  const int exponent = std::atoi(scientific.c_str() + e_at + 1);
  const double magnitude = std::fabs(number);
  std::string out = negative ? "-" : "";
  if (magnitude < 1e-6 || magnitude >= 1e21) {
    out += digits.substr(0, 1);
    if (digits.size() > 1) {
      out += "." + digits.substr(1);
    }
    // Only exponents >= 21 or <= -7 get here; encoding/json trims Go's "e-07" to "e-7".
    out += (exponent < 0 ? "e-" : "e+") + std::to_string(std::abs(exponent));
    return out;
  }
  const int count = static_cast<int>(digits.size());
  if (exponent < 0) {
    out += "0." + std::string(static_cast<size_t>(-exponent - 1), '0') + digits;
  } else if (exponent + 1 >= count) {
    out += digits + std::string(static_cast<size_t>(exponent + 1 - count), '0');
  } else {
    out += digits.substr(0, static_cast<size_t>(exponent + 1)) + "." +
           digits.substr(static_cast<size_t>(exponent + 1));
  }
  return out;
}

void WriteGoJson(const rapidjson::Value& value, std::string& out) {
  if (value.IsNull()) {
    out += "null";
  } else if (value.IsBool()) {
    out += value.GetBool() ? "true" : "false";
  } else if (value.IsString()) {
    out += GoQuote(std::string_view(value.GetString(), value.GetStringLength()));
  } else if (value.IsNumber()) {
    out += GoFloat(value.GetDouble());
  } else if (value.IsArray()) {
    out += '[';
    bool first = true;
    for (const auto& item : value.GetArray()) {
      out += first ? "" : ",";
      first = false;
      WriteGoJson(item, out);
    }
    out += ']';
  } else {
    // A Go map: keys sorted bytewise, a repeated key keeping its last value.
    std::map<std::string, const rapidjson::Value*> sorted;
    for (const auto& member : value.GetObject()) {
      sorted[std::string(member.name.GetString(), member.name.GetStringLength())] = &member.value;
    }
    out += '{';
    bool first = true;
    for (const auto& [key, item] : sorted) {
      out += first ? "" : ",";
      first = false;
      out += GoQuote(key);
      out += ':';
      WriteGoJson(*item, out);
    }
    out += '}';
  }
}

}  // namespace

Result<RawRequest> DecodeRawRequest(const rapidjson::Value& message) {
  RawRequest request;
  if (auto status = DecodeStruct(message, "lib.RawRequest",
                                 {StringField("handler", "RawRequest", request.handler),
                                  StringField("token", "RawRequest", request.token)});
      !status.ok()) {
    return status.error();
  }
  return request;
}

Result<Credentials> DecodeCredentials(const rapidjson::Value& message) {
  Credentials credentials;
  if (auto status = DecodeStruct(message, "lib.Credentials",
                                 {StringField("user", "Credentials", credentials.user),
                                  StringField("pw", "Credentials", credentials.password),
                                  StringField("token", "Credentials", credentials.token),
                                  StringField("gid", "Credentials", credentials.gateway_id)});
      !status.ok()) {
    return status.error();
  }
  return credentials;
}

Result<ConnectorDevice> DecodeConnectorDevice(const rapidjson::Value& payload) {
  ConnectorDevice device;
  const Field tags{"tags", [&device](const rapidjson::Value& value) -> Status {
                     if (!value.IsArray()) {
                       return TypeError(value, "[]string", "ConnectorDevice", "tags");
                     }
                     device.tags.clear();
                     for (const auto& item : value.GetArray()) {
                       if (item.IsNull()) {
                         device.tags.emplace_back();
                       } else if (item.IsString()) {
                         device.tags.emplace_back(item.GetString(), item.GetStringLength());
                       } else {
                         return TypeError(item, "string", "ConnectorDevice", "tags");
                       }
                     }
                     return Status::Ok();
                   }};
  if (auto status = DecodeStruct(payload, "model.ConnectorDevice",
                                 {StringField("iot_type", "ConnectorDevice", device.iot_type),
                                  StringField("uri", "ConnectorDevice", device.uri),
                                  StringField("name", "ConnectorDevice", device.name), tags});
      !status.ok()) {
    return status.error();
  }
  return device;
}

Result<EventMessage> DecodeEventMessage(const rapidjson::Value& payload) {
  EventMessage event;
  const Field parts{
      "value", [&event](const rapidjson::Value& value) -> Status {
        if (!value.IsArray()) {
          return TypeError(value, "formatter_lib.EventMsg", "EventMessage", "value");
        }
        event.value.clear();
        for (const auto& item : value.GetArray()) {
          ProtocolPart part;
          if (!item.IsNull() && !item.IsObject()) {
            return TypeError(item, "formatter_lib.ProtocolPart", "EventMessage", "value");
          }
          if (auto status = DecodeStruct(item, "formatter_lib.ProtocolPart",
                                         {StringField("name", "ProtocolPart", part.name),
                                          StringField("value", "ProtocolPart", part.value)});
              !status.ok()) {
            return status;
          }
          event.value.push_back(part);
        }
        return Status::Ok();
      }};
  if (auto status =
          DecodeStruct(payload, "model.EventMessage",
                       {StringField("device_uri", "EventMessage", event.device_uri),
                        StringField("service_uri", "EventMessage", event.service_uri), parts});
      !status.ok()) {
    return status.error();
  }
  return event;
}

std::string GoSprint(const EventMessage& event) {
  std::string out = "{" + event.device_uri + " " + event.service_uri + " [";
  for (size_t i = 0; i < event.value.size(); ++i) {
    out += (i == 0 ? "{" : " {") + event.value[i].name + " " + event.value[i].value + "}";
  }
  return out + "]}";
}

std::string GoSprintln(const std::vector<Service>& services) {
  std::string out = "[";
  for (size_t i = 0; i < services.size(); ++i) {
    out += (i == 0 ? "{" : " {") + services[i].id + " " + services[i].service_type + " " +
           services[i].url + "}";
  }
  return out + "]\n";
}

const char* GoKind(const rapidjson::Value& value) {
  if (value.IsString()) {
    return "string";
  }
  if (value.IsNumber()) {
    return "float64";
  }
  if (value.IsObject()) {
    return "map";
  }
  if (value.IsArray()) {
    return "slice";
  }
  if (value.IsBool()) {
    return "bool";
  }
  return "invalid";
}

std::string GoQuote(std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "\"";
  size_t at = 0;
  while (at < text.size()) {
    const auto byte = static_cast<unsigned char>(text[at]);
    if (byte < 0x80) {
      if (byte == '"' || byte == '\\') {
        out += '\\';
        out += static_cast<char>(byte);
      } else if (byte == '\n') {
        out += "\\n";
      } else if (byte == '\r') {
        out += "\\r";
      } else if (byte == '\t') {
        out += "\\t";
      } else if (byte < 0x20 || byte == '<' || byte == '>' || byte == '&') {
        out += "\\u00";
        out += kHex[byte >> 4U];
        out += kHex[byte & 0x0FU];
      } else {
        out += static_cast<char>(byte);
      }
      ++at;
      continue;
    }
    const auto rune = DecodeRune(text, at);
    if (!rune) {
      out += "\\ufffd";
      ++at;
    } else if (rune->first == 0x2028 || rune->first == 0x2029) {
      out += rune->first == 0x2028 ? "\\u2028" : "\\u2029";
      at += rune->second;
    } else {
      out.append(text.substr(at, rune->second));
      at += rune->second;
    }
  }
  return out + "\"";
}

std::string GoJson(const rapidjson::Value& value) {
  std::string out;
  WriteGoJson(value, out);
  return out;
}

std::string GoMessage(int status, std::string_view handler, std::string_view token,
                      std::string_view content_type, std::string_view payload_json) {
  std::string out = "{\"status\":" + std::to_string(status) + ",\"handler\":" + GoQuote(handler) +
                    ",\"token\":" + GoQuote(token) + ",\"content_type\":" + GoQuote(content_type) +
                    ",\"payload\":";
  out += payload_json;
  out += "}";
  return out;
}

}  // namespace coapgw::platform_sim
