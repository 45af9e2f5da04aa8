#pragma once

// A compact JSON builder for the simulator's API answers and records (RapidJSON's Writer with
// key/value shortcuts). Not for frames sent to gateways: those follow Go's rules (go_json.hpp).

#include <cstdint>
#include <string>
#include <string_view>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace coapgw::platform_sim {

class JsonOut {
 public:
  JsonOut() : writer_(buffer_) {}

  JsonOut& Open() { return Do(writer_.StartObject()); }
  JsonOut& Close() { return Do(writer_.EndObject()); }
  JsonOut& OpenArray() { return Do(writer_.StartArray()); }
  JsonOut& CloseArray() { return Do(writer_.EndArray()); }
  JsonOut& Key(std::string_view key) {
    return Do(writer_.Key(key.data(), static_cast<rapidjson::SizeType>(key.size())));
  }
  JsonOut& String(std::string_view value) {
    return Do(writer_.String(value.data(), static_cast<rapidjson::SizeType>(value.size())));
  }
  JsonOut& Int(int64_t value) { return Do(writer_.Int64(value)); }
  JsonOut& Bool(bool value) { return Do(writer_.Bool(value)); }
  JsonOut& Null() { return Do(writer_.Null()); }
  /// Inserts JSON text verbatim (a record, a payload already serialized).
  JsonOut& Raw(std::string_view json) {
    return Do(writer_.RawValue(json.data(), json.size(), rapidjson::kObjectType));
  }

  JsonOut& Str(std::string_view key, std::string_view value) { return Key(key).String(value); }
  JsonOut& Num(std::string_view key, int64_t value) { return Key(key).Int(value); }
  JsonOut& Flag(std::string_view key, bool value) { return Key(key).Bool(value); }
  JsonOut& RawField(std::string_view key, std::string_view json) { return Key(key).Raw(json); }

  std::string str() const { return {buffer_.GetString(), buffer_.GetSize()}; }

 private:
  JsonOut& Do(bool /*ok*/) { return *this; }

  rapidjson::StringBuffer buffer_;
  rapidjson::Writer<rapidjson::StringBuffer> writer_;
};

}  // namespace coapgw::platform_sim
