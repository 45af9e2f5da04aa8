#pragma once

// The machinery behind codec.cpp. Each message lists its JSON fields once, in
// `Fields<T>::Visit(visitor, value)`; JsonWriter visits to write them and JsonReader visits to
// read them, so encoding and decoding cannot disagree about keys, order or optionality.

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "coapgw/common/result.hpp"
#include "coapgw/events/messages.hpp"

namespace coapgw::events::internal {

/// Specialised for every struct written as (or flattened into) a JSON object, with
/// `template <class V, class M> static void Visit(V& visitor, M& value)` calling
/// `visitor("key", value.member)` per field; M is const when writing.
template <class T>
struct Fields {
  static constexpr bool kDefined = false;
};

template <class T>
struct IsOptional : std::false_type {};
template <class T>
struct IsOptional<std::optional<T>> : std::true_type {};

/// Writes one JSON object; optional fields that are empty are left out.
class JsonWriter {
 public:
  JsonWriter() : writer_(buffer_) { writer_.StartObject(); }

  template <class T>
  void operator()(const char* key, const T& value) {
    if constexpr (IsOptional<T>::value) {
      if (value.has_value()) {
        writer_.Key(key);
        Write(*value);
      }
    } else {
      writer_.Key(key);
      Write(value);
    }
  }

  /// Closes the object and returns the JSON text.
  std::string Finish() {
    writer_.EndObject();
    return {buffer_.GetString(), buffer_.GetSize()};
  }

 private:
  void Write(const std::string& value);
  void Write(bool value) { writer_.Bool(value); }
  void Write(std::uint16_t value) { writer_.Uint(value); }
  void Write(std::uint32_t value) { writer_.Uint(value); }
  template <class Rep, class Period>
  void Write(std::chrono::duration<Rep, Period> value) {
    writer_.Int64(static_cast<std::int64_t>(value.count()));
  }
  void Write(Timestamp value);
  void Write(DeviceStatus value) { writer_.Int(static_cast<int>(value)); }
  void Write(DeviceChange value);
  void Write(PayloadEncoding value);
  void Write(Method value);
  void Write(const std::map<std::string, std::string>& value);

  template <class T>
  void Write(const std::vector<T>& values) {
    writer_.StartArray();
    for (const T& value : values) {
      Write(value);
    }
    writer_.EndArray();
  }

  template <class T, std::enable_if_t<Fields<T>::kDefined, int> = 0>
  void Write(const T& object) {
    writer_.StartObject();
    Fields<T>::Visit(*this, object);
    writer_.EndObject();
  }

  rapidjson::StringBuffer buffer_;
  rapidjson::Writer<rapidjson::StringBuffer> writer_;
};

/// Reads the fields of one JSON object, stopping at the first missing or ill-typed field.
class JsonReader {
 public:
  /// `object` must be a JSON object; `prefix` is prepended to field names in errors ("links[0].").
  JsonReader(const rapidjson::Value& object, std::string prefix)
      : object_(object), prefix_(std::move(prefix)) {}

  template <class T>
  void operator()(const char* key, T& out) {
    if (error_.has_value()) {
      return;
    }
    const auto member = object_.FindMember(key);
    const bool present = member != object_.MemberEnd();
    if constexpr (IsOptional<T>::value) {
      out.reset();
      typename T::value_type value{};
      if (present && Read(member->value, prefix_ + key, value)) {
        out = std::move(value);
      }
    } else if (!present) {
      Fail(prefix_ + key, "is missing");
    } else {
      Read(member->value, prefix_ + key, out);
    }
  }

  /// The first failure, if any.
  const std::optional<Error>& error() const { return error_; }

 private:
  bool Read(const rapidjson::Value& json, const std::string& path, std::string& out);
  bool Read(const rapidjson::Value& json, const std::string& path, bool& out);
  bool Read(const rapidjson::Value& json, const std::string& path, std::uint16_t& out);
  bool Read(const rapidjson::Value& json, const std::string& path, std::uint32_t& out);
  bool Read(const rapidjson::Value& json, const std::string& path, Timestamp& out);
  bool Read(const rapidjson::Value& json, const std::string& path, DeviceStatus& out);
  bool Read(const rapidjson::Value& json, const std::string& path, DeviceChange& out) {
    return ReadEnum(json, path, ParseDeviceChange, out);
  }
  bool Read(const rapidjson::Value& json, const std::string& path, PayloadEncoding& out) {
    return ReadEnum(json, path, ParsePayloadEncoding, out);
  }
  bool Read(const rapidjson::Value& json, const std::string& path, Method& out) {
    return ReadEnum(json, path, ParseMethod, out);
  }
  bool Read(const rapidjson::Value& json, const std::string& path,
            std::map<std::string, std::string>& out);

  // Durations are non-negative integers in the unit the key names (`_ms`, `_us`).
  template <class Rep, class Period>
  bool Read(const rapidjson::Value& json, const std::string& path,
            std::chrono::duration<Rep, Period>& out) {
    std::int64_t count = 0;
    if (!ReadNonNegative(json, path, count)) {
      return false;
    }
    out = std::chrono::duration<Rep, Period>(count);
    return true;
  }

  template <class Enum>
  bool ReadEnum(const rapidjson::Value& json, const std::string& path,
                Enum (*parse)(std::string_view), Enum& out) {
    std::string name;
    if (!Read(json, path, name)) {
      return false;
    }
    out = parse(name);
    return true;
  }

  template <class T>
  bool Read(const rapidjson::Value& json, const std::string& path, std::vector<T>& out) {
    if (!json.IsArray()) {
      return Fail(path, "must be an array");
    }
    out.clear();
    out.reserve(json.Size());
    for (rapidjson::SizeType i = 0; i < json.Size(); ++i) {
      T item{};
      if (!Read(json[i], path + "[" + std::to_string(i) + "]", item)) {
        return false;
      }
      out.push_back(std::move(item));
    }
    return true;
  }

  template <class T, std::enable_if_t<Fields<T>::kDefined, int> = 0>
  bool Read(const rapidjson::Value& json, const std::string& path, T& out) {
    if (!json.IsObject()) {
      return Fail(path, "must be an object");
    }
    JsonReader nested(json, path + ".");
    Fields<T>::Visit(nested, out);
    if (nested.error_.has_value()) {
      error_ = std::move(nested.error_);
      return false;
    }
    return true;
  }

  bool ReadNonNegative(const rapidjson::Value& json, const std::string& path, std::int64_t& out);
  bool Fail(const std::string& path, const std::string& what);

  const rapidjson::Value& object_;
  std::string prefix_;
  std::optional<Error> error_;
};

/// Encodes a struct that has Fields<T> as a JSON object.
template <class T>
std::string EncodeObject(const T& value) {
  JsonWriter writer;
  Fields<T>::Visit(writer, value);
  return writer.Finish();
}

/// Decodes a JSON object into a struct that has Fields<T>.
template <class T>
Result<T> DecodeObject(const rapidjson::Value& data) {
  if (!data.IsObject()) {
    return MakeError(ErrorCode::kInvalidArgument, "data must be a JSON object");
  }
  T value{};
  JsonReader reader(data, "");
  Fields<T>::Visit(reader, value);
  if (reader.error().has_value()) {
    return *reader.error();
  }
  return value;
}

}  // namespace coapgw::events::internal
