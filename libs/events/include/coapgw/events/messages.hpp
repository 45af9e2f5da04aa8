#pragma once

// The `data` part of every bus message, as C++ structs (proto/v1/*.schema.json and
// proto/README.md describe the wire). Services only see these structs; libs/events/codec.hpp
// turns them into JSON and back. Each message struct names its topic in `kTopic`.
//
// Conventions: times are UTC time points written as RFC 3339 with milliseconds, so anything finer
// than a millisecond is lost on the wire; durations are std::chrono types written as integers with
// the unit in the key (`_ms`, `_us`, `_s`); std::optional fields are omitted from the wire when
// empty (never written as null). Enumerations decode unknown strings to kUnknown so that a newer
// producer never breaks an older consumer.

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "coapgw/events/payload.hpp"
#include "coapgw/events/service.hpp"

namespace coapgw::events {

using Timestamp = std::chrono::system_clock::time_point;

/// One web link of a registration (RFC 6690 / RFC 9176 §3.3), as the RD stores it.
struct Link {
  std::string href;                            // "href": target, usually a path ("/sensors/temp")
  std::vector<std::string> resource_types;     // "rt"
  std::vector<std::string> interfaces;         // "if"
  std::vector<std::uint16_t> content_formats;  // "ct"
  bool observable = false;                     // "obs"
  std::string anchor;                          // "anchor": empty when the link has none
  std::map<std::string, std::string> attributes;  // "attrs": every other target attribute

  bool operator==(const Link& other) const;
  bool operator!=(const Link& other) const { return !(*this == other); }
};

/// A device's connection state as the RD records it; integers on the wire.
enum class DeviceStatus {
  kUnknown = -1,  // a value this build does not know (never produced)
  kDisconnected = 0,
  kConnected = 1,
};

/// A device: one RD endpoint registration plus its stable platform id.
struct Device {
  std::string device_id;                           // "device_id": stable platform id of (d, ep)
  std::string endpoint;                            // "ep": endpoint name (the platform device name)
  std::string sector;                              // "d": may be empty
  std::string endpoint_type;                       // "et": the platform device type; may be empty
  std::string base;                                // "base": e.g. "coap://[2001:db8::1]:5683"
  std::uint32_t lifetime_s = 90000;                // "lt_s": RFC 9176 default 25 h
  DeviceStatus status = DeviceStatus::kConnected;  // "status"
  std::string location;     // "location": registration resource, e.g. "/rd/42"
  std::vector<Link> links;  // "links"
  std::map<std::string, std::string> attributes;  // "attrs": other endpoint attributes
  Timestamp registered_at;  // "registered_at": first registration of this device id
  Timestamp updated_at;     // "updated_at": last registration, update or status change

  bool operator==(const Device& other) const;
  bool operator!=(const Device& other) const { return !(*this == other); }
};

/// Which part of a device record an `rd.device.updated` changed (wire names are the record's keys).
enum class DeviceChange {
  kUnknown,       // a name this build does not know
  kEndpointType,  // "et"
  kBase,          // "base"
  kLifetime,      // "lt_s"
  kStatus,        // "status"
  kLinks,         // "links"
  kAttributes,    // "attrs"
};

/// "et", "base", ...; "unknown" for kUnknown.
std::string_view DeviceChangeName(DeviceChange change);
/// The change named `name`; kUnknown for anything else.
DeviceChange ParseDeviceChange(std::string_view name);

/// rd.device.registered: a new registration (or one after expiry or removal).
struct DeviceRegistered {
  static constexpr std::string_view kTopic = "rd.device.registered";
  Device device;
  bool operator==(const DeviceRegistered& other) const { return device == other.device; }
};

/// rd.device.updated: a registration update or re-registration that changed the record.
struct DeviceUpdated {
  static constexpr std::string_view kTopic = "rd.device.updated";
  Device device;                      // the record after the update
  std::vector<DeviceChange> changes;  // "changes": empty for a plain refresh

  /// True when `changes` lists `change`.
  bool Changed(DeviceChange change) const;
  bool operator==(const DeviceUpdated& other) const {
    return device == other.device && changes == other.changes;
  }
};

/// rd.device.removed: the registration was deleted explicitly; the device id ends here.
struct DeviceRemoved {
  static constexpr std::string_view kTopic = "rd.device.removed";
  Device device;  // the record as it was before removal
  bool operator==(const DeviceRemoved& other) const { return device == other.device; }
};

/// rd.device.expired: the lifetime ran out; the device id survives a later re-registration.
struct DeviceExpired {
  static constexpr std::string_view kTopic = "rd.device.expired";
  Device device;  // the record as it was at expiry
  bool operator==(const DeviceExpired& other) const { return device == other.device; }
};

/// rd.device.status: the RD changed the device's status (1 ⇄ 0), e.g. after ping failures.
struct DeviceStatusChanged {
  static constexpr std::string_view kTopic = "rd.device.status";
  Device device;  // the record with the new status
  bool operator==(const DeviceStatusChanged& other) const { return device == other.device; }
};

/// pinger.device.liveness: the result of one CoAP ping of a device.
struct DeviceLiveness {
  static constexpr std::string_view kTopic = "pinger.device.liveness";
  std::string device_id;                         // "device_id"
  bool reachable = false;                        // "reachable": the device answered (RST or ACK)
  std::uint32_t consecutive_misses = 0;          // "consecutive_misses": 0 when reachable
  std::optional<std::chrono::microseconds> rtt;  // "rtt_us": only when reachable
  Timestamp checked_at;                          // "checked_at"

  bool operator==(const DeviceLiveness& other) const;
};

/// observer.data: one representation obtained from a device (notification or poll).
struct ObservedData {
  static constexpr std::string_view kTopic = "observer.data";
  std::string device_id;                        // "device_id"
  std::string service;                          // "service": "GET /sensors/temp"
  std::string path;                             // "path": "/sensors/temp"
  std::string code;                             // "code": CoAP response code, "2.05"
  std::optional<std::uint16_t> content_format;  // "content_format": absent when none
  Payload payload;                              // "payload", "payload_encoding"
  bool observed = false;                        // "observed": notification (true) or poll
  Timestamp time;                               // "time": reception time

  bool operator==(const ObservedData& other) const;
};

/// ws.command: a platform command for the executer.
struct Command {
  static constexpr std::string_view kTopic = "ws.command";
  std::string command_id;                       // "command_id": correlates command and result
  std::string device_id;                        // "device_id"
  std::string service;                          // "service": as the platform gave it
  Method method = Method::kGet;                 // "method": resolved by ParseService
  std::string path;                             // "path"
  std::string query;                            // "query": "a=1&b=2", may be empty
  std::optional<std::uint16_t> content_format;  // "content_format" of the request payload
  std::optional<std::uint16_t> accept;          // "accept"
  Payload payload;                              // "payload", "payload_encoding"
  Timestamp deadline;                           // "deadline": give up (code "timeout") after it

  bool operator==(const Command& other) const;
};

/// Codes of executer.command-result other than a CoAP response code ("2.04").
inline constexpr std::string_view kCodeTimeout = "timeout";
inline constexpr std::string_view kCodeUnknownDevice = "unknown-device";
inline constexpr std::string_view kCodeDeviceDisconnected = "device-disconnected";
inline constexpr std::string_view kCodeUnreachable = "unreachable";
inline constexpr std::string_view kCodeReset = "rst";
inline constexpr std::string_view kCodeTooLarge = "too-large";
inline constexpr std::string_view kCodeError = "error";

/// executer.command-result: the outcome of one ws.command.
struct CommandResult {
  static constexpr std::string_view kTopic = "executer.command-result";
  std::string command_id;                       // "command_id": from the command
  std::string device_id;                        // "device_id"
  std::string code;                             // "code": "2.04" or one of kCode*
  std::optional<std::uint16_t> content_format;  // "content_format" of the response payload
  Payload payload;                              // "payload", "payload_encoding"
  std::chrono::milliseconds duration{0};        // "duration_ms": command received → result
  std::optional<std::string> detail;            // "detail": human-readable cause of a failure

  bool operator==(const CommandResult& other) const;
};

/// observer.heartbeat: an observer instance announces itself (instances share the devices).
struct ObserverHeartbeat {
  static constexpr std::string_view kTopic = "observer.heartbeat";
  std::string instance_id;                // "instance_id"
  Timestamp started_at;                   // "started_at"
  std::chrono::milliseconds interval{0};  // "interval_ms": next heartbeat due within this
  std::uint32_t owned_devices = 0;        // "owned_devices"

  bool operator==(const ObserverHeartbeat& other) const;
};

}  // namespace coapgw::events
