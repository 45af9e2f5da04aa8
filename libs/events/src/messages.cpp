#include "coapgw/events/messages.hpp"

#include <algorithm>
#include <tuple>

#include "enum_names.hpp"

namespace coapgw::events {
namespace {

constexpr internal::EnumNames<DeviceChange, 6> kDeviceChangeNames({{
    {DeviceChange::kEndpointType, "et"},
    {DeviceChange::kBase, "base"},
    {DeviceChange::kLifetime, "lt_s"},
    {DeviceChange::kStatus, "status"},
    {DeviceChange::kLinks, "links"},
    {DeviceChange::kAttributes, "attrs"},
}});

}  // namespace

std::string_view DeviceChangeName(DeviceChange change) {
  return kDeviceChangeNames.Name(change);
}

DeviceChange ParseDeviceChange(std::string_view name) {
  return kDeviceChangeNames.Parse(name);
}

bool Link::operator==(const Link& other) const {
  return std::tie(href, resource_types, interfaces, content_formats, observable, anchor,
                  attributes) == std::tie(other.href, other.resource_types, other.interfaces,
                                          other.content_formats, other.observable, other.anchor,
                                          other.attributes);
}

bool Device::operator==(const Device& other) const {
  return std::tie(device_id, endpoint, sector, endpoint_type, base, lifetime_s, status, location,
                  links, attributes, registered_at, updated_at) ==
         std::tie(other.device_id, other.endpoint, other.sector, other.endpoint_type, other.base,
                  other.lifetime_s, other.status, other.location, other.links, other.attributes,
                  other.registered_at, other.updated_at);
}

bool DeviceUpdated::Changed(DeviceChange change) const {
  return std::find(changes.begin(), changes.end(), change) != changes.end();
}

bool DeviceLiveness::operator==(const DeviceLiveness& other) const {
  return std::tie(device_id, reachable, consecutive_misses, rtt, checked_at) ==
         std::tie(other.device_id, other.reachable, other.consecutive_misses, other.rtt,
                  other.checked_at);
}

bool ObservedData::operator==(const ObservedData& other) const {
  return std::tie(device_id, service, path, code, content_format, payload, observed, time) ==
         std::tie(other.device_id, other.service, other.path, other.code, other.content_format,
                  other.payload, other.observed, other.time);
}

bool Command::operator==(const Command& other) const {
  return std::tie(command_id, device_id, service, method, path, query, content_format, accept,
                  payload, deadline) ==
         std::tie(other.command_id, other.device_id, other.service, other.method, other.path,
                  other.query, other.content_format, other.accept, other.payload, other.deadline);
}

bool CommandResult::operator==(const CommandResult& other) const {
  return std::tie(command_id, device_id, code, content_format, payload, duration, detail) ==
         std::tie(other.command_id, other.device_id, other.code, other.content_format,
                  other.payload, other.duration, other.detail);
}

bool ObserverHeartbeat::operator==(const ObserverHeartbeat& other) const {
  return std::tie(instance_id, started_at, interval, owned_devices) ==
         std::tie(other.instance_id, other.started_at, other.interval, other.owned_devices);
}

}  // namespace coapgw::events
