#pragma once

// JSON codec of the bus messages' `data` part (the envelope around it belongs to libs/bus). This
// is the only code that knows the JSON keys; proto/v1/*.schema.json documents the same wire.
//
// Encode writes every field in a fixed order and never fails; strings that are not valid UTF-8 are
// written with U+FFFD in place of the bad bytes, so the output is always valid JSON.
// Decode* read a parsed `data` object: a missing or ill-typed field gives kInvalidArgument with a
// message naming the field ("field 'links[1].href' is missing"); unknown fields are ignored and
// unknown enumeration strings become kUnknown, so that producers can add to v1 without breaking
// consumers. All functions are thread-safe.

#include <string>
#include <string_view>
#include <vector>

#include <rapidjson/fwd.h>

#include "coapgw/common/result.hpp"
#include "coapgw/events/messages.hpp"

namespace coapgw::events {

/// The `data` JSON of each message.
std::string Encode(const DeviceRegistered& message);
std::string Encode(const DeviceUpdated& message);
std::string Encode(const DeviceRemoved& message);
std::string Encode(const DeviceExpired& message);
std::string Encode(const DeviceStatusChanged& message);
std::string Encode(const DeviceLiveness& message);
std::string Encode(const ObservedData& message);
std::string Encode(const Command& message);
std::string Encode(const CommandResult& message);
std::string Encode(const ObserverHeartbeat& message);

/// The message from its `data` object; kInvalidArgument naming the first bad field.
Result<DeviceRegistered> DecodeDeviceRegistered(const rapidjson::Value& data);
Result<DeviceUpdated> DecodeDeviceUpdated(const rapidjson::Value& data);
Result<DeviceRemoved> DecodeDeviceRemoved(const rapidjson::Value& data);
Result<DeviceExpired> DecodeDeviceExpired(const rapidjson::Value& data);
Result<DeviceStatusChanged> DecodeDeviceStatusChanged(const rapidjson::Value& data);
Result<DeviceLiveness> DecodeDeviceLiveness(const rapidjson::Value& data);
Result<ObservedData> DecodeObservedData(const rapidjson::Value& data);
Result<Command> DecodeCommand(const rapidjson::Value& data);
Result<CommandResult> DecodeCommandResult(const rapidjson::Value& data);
Result<ObserverHeartbeat> DecodeObserverHeartbeat(const rapidjson::Value& data);

/// Decode<T> for generic code (a subscriber templated on the message type): the same as DecodeT,
/// for T one of the message structs above (others do not link).
template <class T>
Result<T> Decode(const rapidjson::Value& data);

/// Every topic this codec knows, in a fixed order.
const std::vector<std::string_view>& KnownTopics();

/// Decodes `data` as the message of `topic` and encodes it again: the canonical form of a message
/// (what this build understands of it). kNotFound for a topic this codec does not know, otherwise
/// the decode error. For tools and contract tests.
Result<std::string> Reencode(std::string_view topic, const rapidjson::Value& data);

}  // namespace coapgw::events
