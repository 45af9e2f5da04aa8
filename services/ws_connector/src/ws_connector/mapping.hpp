#pragma once

// How RD devices, observed data and commands map onto platform messages (gateway contract §3,
// platform-protocol.md §5-6). Pure functions, thread-safe.

#include <optional>
#include <string>
#include <string_view>

#include "coapgw/common/result.hpp"
#include "coapgw/events/messages.hpp"
#include "coapgw/ws/platform_protocol.hpp"

namespace coapgw::ws_connector {

/// The platform device of an RD device: uri = device_id, name = ep, iot_type = et (or
/// `default_type` when the registration has no et), tags ["d:<sector>"] when the sector is set
/// and is a valid tag value (no ':' or ';').
ws::platform::HashedDevice ToPlatformDevice(const events::Device& device,
                                            const std::string& default_type = "");

/// True when the device belongs on the platform as a listened device (status 1). Disconnected
/// devices are `disconnect`ed and are neither `put` nor covered by the gateway hash.
bool IsPlatformListed(const events::Device& device);

/// True when the device has a platform type: its et, else `default_type`. A device without one
/// cannot be `put` (the platform answers 500 "empty iot_type") and is left out.
bool HasPlatformType(const events::Device& device, const std::string& default_type);

/// The `put` payload {"uri","name","iot_type","tags":["k:v"]}.
std::string PutPayload(const ws::platform::HashedDevice& device);

/// The `event` payload of one observed value: service_uri = data.service, protocol parts
/// metadata = JSON string {"content_format"?,"code","observed","time"} and data = the payload.
std::string EventPayload(const events::ObservedData& data);

/// Where an event goes: its payload's device_uri and service_uri.
struct EventTarget {
  std::string device;
  std::string service;
};

/// The target of an `event` payload; nullopt when it is not an object with device_uri and
/// service_uri strings.
std::optional<EventTarget> EventTargetOf(std::string_view payload_json);

/// Reads device_url, service_url and protocol_parts (metadata: JSON string with optional
/// content_format, accept, query; data: the request payload). kInvalidArgument naming the field
/// when the payload is not an object, device_url or service_url is missing, or the service does
/// not parse.
Result<events::Command> ParseCommand(std::string_view payload_json);

/// The `response` payload: the command payload with protocol_parts replaced by metadata =
/// {"code":code[,"content_format":N]} as a JSON string and data = `data`. When the command
/// payload is not a JSON object the result is built around an empty object.
std::string ResponsePayload(std::string_view command_payload_json, std::string_view code,
                            std::optional<uint16_t> content_format, std::string_view data);

}  // namespace coapgw::ws_connector
