#include "coapgw/events/codec.hpp"

#include <array>

#include "json_io.hpp"

namespace coapgw::events {
namespace internal {

// The wire keys of every message, in the order they are written. proto/v1/*.schema.json and
// proto/README.md document the same keys; tests/contract checks that they agree.

template <>
struct Fields<Link> {
  static constexpr bool kDefined = true;
  template <class V, class M>
  static void Visit(V& v, M& m) {
    v("href", m.href);
    v("rt", m.resource_types);
    v("if", m.interfaces);
    v("ct", m.content_formats);
    v("obs", m.observable);
    v("anchor", m.anchor);
    v("attrs", m.attributes);
  }
};

template <>
struct Fields<Device> {
  static constexpr bool kDefined = true;
  template <class V, class M>
  static void Visit(V& v, M& m) {
    v("device_id", m.device_id);
    v("ep", m.endpoint);
    v("d", m.sector);
    v("et", m.endpoint_type);
    v("base", m.base);
    v("lt_s", m.lifetime_s);
    v("status", m.status);
    v("location", m.location);
    v("links", m.links);
    v("attrs", m.attributes);
    v("registered_at", m.registered_at);
    v("updated_at", m.updated_at);
  }
};

// The rd.device.* messages other than updated are the device record, flattened.
template <class T>
struct DeviceRecordFields {
  static constexpr bool kDefined = true;
  template <class V, class M>
  static void Visit(V& v, M& m) {
    Fields<Device>::Visit(v, m.device);
  }
};
template <>
struct Fields<DeviceRegistered> : DeviceRecordFields<DeviceRegistered> {};
template <>
struct Fields<DeviceRemoved> : DeviceRecordFields<DeviceRemoved> {};
template <>
struct Fields<DeviceExpired> : DeviceRecordFields<DeviceExpired> {};
template <>
struct Fields<DeviceStatusChanged> : DeviceRecordFields<DeviceStatusChanged> {};

template <>
struct Fields<DeviceUpdated> {
  static constexpr bool kDefined = true;
  template <class V, class M>
  static void Visit(V& v, M& m) {
    Fields<Device>::Visit(v, m.device);
    v("changes", m.changes);
  }
};

template <>
struct Fields<DeviceLiveness> {
  static constexpr bool kDefined = true;
  template <class V, class M>
  static void Visit(V& v, M& m) {
    v("device_id", m.device_id);
    v("reachable", m.reachable);
    v("consecutive_misses", m.consecutive_misses);
    v("rtt_us", m.rtt);
    v("checked_at", m.checked_at);
  }
};

template <>
struct Fields<ObservedData> {
  static constexpr bool kDefined = true;
  template <class V, class M>
  static void Visit(V& v, M& m) {
    v("device_id", m.device_id);
    v("service", m.service);
    v("path", m.path);
    v("code", m.code);
    v("content_format", m.content_format);
    v("payload", m.payload.data);
    v("payload_encoding", m.payload.encoding);
    v("observed", m.observed);
    v("time", m.time);
  }
};

template <>
struct Fields<Command> {
  static constexpr bool kDefined = true;
  template <class V, class M>
  static void Visit(V& v, M& m) {
    v("command_id", m.command_id);
    v("device_id", m.device_id);
    v("service", m.service);
    v("method", m.method);
    v("path", m.path);
    v("query", m.query);
    v("content_format", m.content_format);
    v("accept", m.accept);
    v("payload", m.payload.data);
    v("payload_encoding", m.payload.encoding);
    v("deadline", m.deadline);
  }
};

template <>
struct Fields<CommandResult> {
  static constexpr bool kDefined = true;
  template <class V, class M>
  static void Visit(V& v, M& m) {
    v("command_id", m.command_id);
    v("device_id", m.device_id);
    v("code", m.code);
    v("content_format", m.content_format);
    v("payload", m.payload.data);
    v("payload_encoding", m.payload.encoding);
    v("duration_ms", m.duration);
    v("detail", m.detail);
  }
};

template <>
struct Fields<ObserverHeartbeat> {
  static constexpr bool kDefined = true;
  template <class V, class M>
  static void Visit(V& v, M& m) {
    v("instance_id", m.instance_id);
    v("started_at", m.started_at);
    v("interval_ms", m.interval);
    v("owned_devices", m.owned_devices);
  }
};

namespace {

template <class T>
Result<std::string> ReencodeAs(const rapidjson::Value& data) {
  Result<T> message = DecodeObject<T>(data);
  if (!message.ok()) {
    return message.error();
  }
  return EncodeObject(*message);
}

struct TopicCodec {
  std::string_view topic;
  Result<std::string> (*reencode)(const rapidjson::Value&);
};

template <class T>
constexpr TopicCodec CodecOf() {
  return TopicCodec{T::kTopic, &ReencodeAs<T>};
}

constexpr std::array kTopicCodecs = {
    CodecOf<DeviceRegistered>(),    CodecOf<DeviceUpdated>(),
    CodecOf<DeviceRemoved>(),       CodecOf<DeviceExpired>(),
    CodecOf<DeviceStatusChanged>(), CodecOf<DeviceLiveness>(),
    CodecOf<ObservedData>(),        CodecOf<Command>(),
    CodecOf<CommandResult>(),       CodecOf<ObserverHeartbeat>(),
};

}  // namespace
}  // namespace internal

std::string Encode(const DeviceRegistered& message) {
  return internal::EncodeObject(message);
}
std::string Encode(const DeviceUpdated& message) {
  return internal::EncodeObject(message);
}
std::string Encode(const DeviceRemoved& message) {
  return internal::EncodeObject(message);
}
std::string Encode(const DeviceExpired& message) {
  return internal::EncodeObject(message);
}
std::string Encode(const DeviceStatusChanged& message) {
  return internal::EncodeObject(message);
}
std::string Encode(const DeviceLiveness& message) {
  return internal::EncodeObject(message);
}
std::string Encode(const ObservedData& message) {
  return internal::EncodeObject(message);
}
std::string Encode(const Command& message) {
  return internal::EncodeObject(message);
}
std::string Encode(const CommandResult& message) {
  return internal::EncodeObject(message);
}
std::string Encode(const ObserverHeartbeat& message) {
  return internal::EncodeObject(message);
}

template <class T>
Result<T> Decode(const rapidjson::Value& data) {
  return internal::DecodeObject<T>(data);
}

template Result<DeviceRegistered> Decode<DeviceRegistered>(const rapidjson::Value& data);
template Result<DeviceUpdated> Decode<DeviceUpdated>(const rapidjson::Value& data);
template Result<DeviceRemoved> Decode<DeviceRemoved>(const rapidjson::Value& data);
template Result<DeviceExpired> Decode<DeviceExpired>(const rapidjson::Value& data);
template Result<DeviceStatusChanged> Decode<DeviceStatusChanged>(const rapidjson::Value& data);
template Result<DeviceLiveness> Decode<DeviceLiveness>(const rapidjson::Value& data);
template Result<ObservedData> Decode<ObservedData>(const rapidjson::Value& data);
template Result<Command> Decode<Command>(const rapidjson::Value& data);
template Result<CommandResult> Decode<CommandResult>(const rapidjson::Value& data);
template Result<ObserverHeartbeat> Decode<ObserverHeartbeat>(const rapidjson::Value& data);

Result<DeviceRegistered> DecodeDeviceRegistered(const rapidjson::Value& data) {
  return Decode<DeviceRegistered>(data);
}
Result<DeviceUpdated> DecodeDeviceUpdated(const rapidjson::Value& data) {
  return Decode<DeviceUpdated>(data);
}
Result<DeviceRemoved> DecodeDeviceRemoved(const rapidjson::Value& data) {
  return Decode<DeviceRemoved>(data);
}
Result<DeviceExpired> DecodeDeviceExpired(const rapidjson::Value& data) {
  return Decode<DeviceExpired>(data);
}
Result<DeviceStatusChanged> DecodeDeviceStatusChanged(const rapidjson::Value& data) {
  return Decode<DeviceStatusChanged>(data);
}
Result<DeviceLiveness> DecodeDeviceLiveness(const rapidjson::Value& data) {
  return Decode<DeviceLiveness>(data);
}
Result<ObservedData> DecodeObservedData(const rapidjson::Value& data) {
  return Decode<ObservedData>(data);
}
Result<Command> DecodeCommand(const rapidjson::Value& data) {
  return Decode<Command>(data);
}
Result<CommandResult> DecodeCommandResult(const rapidjson::Value& data) {
  return Decode<CommandResult>(data);
}
Result<ObserverHeartbeat> DecodeObserverHeartbeat(const rapidjson::Value& data) {
  return Decode<ObserverHeartbeat>(data);
}

const std::vector<std::string_view>& KnownTopics() {
  static const std::vector<std::string_view> topics = [] {
    std::vector<std::string_view> names;
    names.reserve(internal::kTopicCodecs.size());
    for (const auto& codec : internal::kTopicCodecs) {
      names.push_back(codec.topic);
    }
    return names;
  }();
  return topics;
}

Result<std::string> Reencode(std::string_view topic, const rapidjson::Value& data) {
  for (const auto& codec : internal::kTopicCodecs) {
    if (codec.topic == topic) {
      return codec.reencode(data);
    }
  }
  return MakeError(ErrorCode::kNotFound, "no codec for topic '" + std::string(topic) + "'");
}

}  // namespace coapgw::events
