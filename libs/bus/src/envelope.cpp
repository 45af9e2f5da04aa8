#include "coapgw/bus/envelope.hpp"

#include <algorithm>
#include <charconv>

#include "coapgw/common/time_format.hpp"

namespace coapgw::bus {
namespace {

bool IsNameChar(char ch) {
  return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
         ch == '_' || ch == '-';
}

bool IsBlank(char ch) {
  return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r';
}

Error Invalid(std::string message) {
  return MakeError(ErrorCode::kInvalidArgument, "envelope: " + std::move(message));
}

std::string_view View(const rapidjson::Value& value) {
  return {value.GetString(), value.GetStringLength()};
}

}  // namespace

bool IsValidName(std::string_view name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), IsNameChar);
}

bool IsValidTopic(std::string_view topic) {
  size_t start = 0;
  for (;;) {
    const size_t dot = topic.find('.', start);
    if (!IsValidName(topic.substr(start, dot == std::string_view::npos ? dot : dot - start))) {
      return false;
    }
    if (dot == std::string_view::npos) {
      return true;
    }
    start = dot + 1;
  }
}

bool IsValidTopicPrefix(std::string_view prefix) {
  if (prefix.empty()) {
    return true;
  }
  if (prefix.back() == '.') {
    prefix.remove_suffix(1);
  }
  return IsValidTopic(prefix);
}

bool LooksLikeJsonObject(std::string_view json) {
  while (!json.empty() && IsBlank(json.front())) {
    json.remove_prefix(1);
  }
  while (!json.empty() && IsBlank(json.back())) {
    json.remove_suffix(1);
  }
  return json.size() >= 2 && json.front() == '{' && json.back() == '}';
}

void AppendEnvelope(std::string& out, std::string_view topic, std::string_view publisher,
                    uint64_t seq, std::string_view time, std::string_view data_json) {
  char seq_text[24];
  const auto converted = std::to_chars(seq_text, seq_text + sizeof seq_text, seq);
  out.reserve(out.size() + 64 + topic.size() + publisher.size() + time.size() + data_json.size());
  out.append(R"({"type":")").append(topic);
  out.append(R"(","v":1,"publisher":")").append(publisher);
  out.append(R"(","seq":)").append(seq_text, converted.ptr);
  out.append(R"(,"time":")").append(time);
  out.append(R"(","data":)").append(data_json);
  out.push_back('}');
}

Result<EnvelopeHeader> ReadEnvelopeHeader(const rapidjson::Document& document,
                                          std::string_view topic) {
  if (!document.IsObject()) {
    return Invalid("not a JSON object");
  }
  const auto type = document.FindMember("type");
  if (type == document.MemberEnd() || !type->value.IsString()) {
    return Invalid("\"type\" missing or not a string");
  }
  if (View(type->value) != topic) {
    return Invalid("\"type\" '" + std::string(View(type->value)) + "' differs from the topic");
  }
  const auto version = document.FindMember("v");
  if (version == document.MemberEnd() || !version->value.IsUint64()) {
    return Invalid("\"v\" missing or not an unsigned integer");
  }
  if (version->value.GetUint64() != kEnvelopeVersion) {
    return MakeError(ErrorCode::kUnsupported,
                     "envelope: version " + std::to_string(version->value.GetUint64()) +
                         " is not supported (expected " + std::to_string(kEnvelopeVersion) + ")");
  }
  const auto publisher = document.FindMember("publisher");
  if (publisher == document.MemberEnd() || !publisher->value.IsString() ||
      publisher->value.GetStringLength() == 0) {
    return Invalid("\"publisher\" missing or not a non-empty string");
  }
  const auto seq = document.FindMember("seq");
  if (seq == document.MemberEnd() || !seq->value.IsUint64() || seq->value.GetUint64() == 0) {
    return Invalid("\"seq\" missing or not an integer >= 1");
  }
  const auto time = document.FindMember("time");
  if (time == document.MemberEnd() || !time->value.IsString() || !ParseRfc3339(View(time->value))) {
    return Invalid("\"time\" missing or not an RFC 3339 time");
  }
  const auto data = document.FindMember("data");
  if (data == document.MemberEnd() || !data->value.IsObject()) {
    return Invalid("\"data\" missing or not an object");
  }
  return EnvelopeHeader{View(publisher->value), seq->value.GetUint64(), View(time->value)};
}

}  // namespace coapgw::bus
