#include "rd/device_record.hpp"

#include <charconv>
#include <string>

namespace coapgw::rd {
namespace {

events::Link ToEventLink(const linkformat::Link& link) {
  events::Link out;
  out.href = link.target;
  for (const auto value : link.Values("rt")) {
    out.resource_types.emplace_back(value);
  }
  for (const auto value : link.Values("if")) {
    out.interfaces.emplace_back(value);
  }
  for (const auto& attribute : link.attributes) {
    const std::string& name = attribute.name;
    if (name == "rt" || name == "if") {
      continue;
    }
    if (name == "ct" && attribute.value) {
      // ct may list several formats ("40 65060"); numbers outside 0-65535 are not formats.
      const std::string& text = *attribute.value;
      size_t pos = 0;
      while (pos < text.size()) {
        const size_t end = std::min(text.find(' ', pos), text.size());
        unsigned value = 0;
        const auto [ptr, error] = std::from_chars(text.data() + pos, text.data() + end, value);
        if (error == std::errc() && ptr == text.data() + end && value <= 65535) {
          out.content_formats.push_back(static_cast<uint16_t>(value));
        }
        pos = end + 1;
      }
    } else if (name == "obs") {
      out.observable = true;
    } else if (name == "anchor") {
      out.anchor = attribute.value.value_or("");
    } else {
      out.attributes.emplace(name, attribute.value.value_or(""));
    }
  }
  return out;
}

}  // namespace

events::Device ToDevice(const Registration& registration) {
  events::Device device;
  device.device_id = registration.device_id;
  device.endpoint = registration.ep;
  device.sector = registration.sector;
  device.endpoint_type = registration.et;
  device.base = registration.base;
  device.lifetime_s = static_cast<uint32_t>(registration.lt_s);
  device.status = registration.status == DeviceStatus::kConnected
                      ? events::DeviceStatus::kConnected
                      : events::DeviceStatus::kDisconnected;
  device.location = registration.Location();
  device.links.reserve(registration.links.size());
  for (const auto& link : registration.links) {
    device.links.push_back(ToEventLink(link));
  }
  for (const auto& attribute : registration.extra) {
    device.attributes.emplace(attribute.name, attribute.value.value_or(""));
  }
  device.registered_at = registration.registered_at;
  device.updated_at = registration.updated_at;
  return device;
}

std::vector<events::DeviceChange> ChangesBetween(const Registration& before,
                                                 const Registration& after) {
  std::vector<events::DeviceChange> changes;
  if (before.et != after.et) {
    changes.push_back(events::DeviceChange::kEndpointType);
  }
  if (before.base != after.base) {
    changes.push_back(events::DeviceChange::kBase);
  }
  if (before.lt_s != after.lt_s) {
    changes.push_back(events::DeviceChange::kLifetime);
  }
  if (before.status != after.status) {
    changes.push_back(events::DeviceChange::kStatus);
  }
  if (before.links != after.links) {
    changes.push_back(events::DeviceChange::kLinks);
  }
  if (before.extra != after.extra) {
    changes.push_back(events::DeviceChange::kAttributes);
  }
  return changes;
}

}  // namespace coapgw::rd
