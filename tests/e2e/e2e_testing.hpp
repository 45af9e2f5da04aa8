#pragma once

// Reading the end-to-end story off the running stack: the platform simulator's view (devices,
// events, the protocol log), the RD's records, and failure messages that name the step and show
// the log tails of the processes involved.

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <vector>

#include <rapidjson/document.h>

#include "coapgw/test/stack.hpp"

namespace coapgw::e2e {

using Part = test::Stack::Part;

/// A device as the platform sees it (GET /api/state "devices").
struct PlatformDevice {
  std::string id;   // the platform's own id ("iot#…")
  std::string uri;  // the gateway's id for it: the RD's device_id
  std::string name;
  std::string iot_type;
  std::string gateway;  // the gateway it is committed to ("" when none)
  bool listened = false;
  std::vector<std::string> tags;
};

/// One `event` the platform received (GET /api/events), its value parts split out.
struct PlatformEvent {
  uint64_t seq = 0;
  int64_t session = 0;
  std::string device_uri;
  std::string service_uri;
  std::string metadata;  // the "metadata" part ("" when absent)
  std::string data;      // the "data" part
  bool accepted = false;
  std::string error;
};

/// One request the gateway sent (an "in" frame of GET /api/frames), decoded.
struct PlatformRequest {
  uint64_t seq = 0;
  int64_t session = 0;
  std::string handler;
  std::string payload;  // the payload as JSON text (a string payload keeps its quotes)
};

/// The gateway's state on the platform (GET /api/state "gateways"; there is one gateway).
struct PlatformGateway {
  std::string id;
  std::string hash;
  bool connected = false;
  std::vector<std::string> devices;  // platform ids (PlatformDevice::id)
};

std::vector<PlatformDevice> PlatformDevices(const test::Stack& stack);
/// The device named `name`, if the platform has one.
std::optional<PlatformDevice> PlatformDeviceNamed(const test::Stack& stack,
                                                  const std::string& name);
std::optional<PlatformGateway> Gateway(const test::Stack& stack);
std::vector<PlatformEvent> PlatformEvents(const test::Stack& stack, uint64_t after = 0);
std::vector<PlatformRequest> PlatformRequests(const test::Stack& stack, uint64_t after = 0);
/// The platform's last record sequence number (events, frames, commands, responses share it).
uint64_t PlatformLastSeq(const test::Stack& stack);

/// The RD's record of endpoint `ep` (nullopt when it has none or did not answer).
std::optional<events::Device> RdDevice(test::Stack& stack, const std::string& ep);

/// A failure message: "step <step>: <what>" and the log tails of `parts` (every part when empty).
std::string Failure(const test::Stack& stack, const std::string& step, const std::string& what,
                    std::initializer_list<Part> parts = {});

/// Parses JSON text; IsNull when it is not JSON.
rapidjson::Document Parse(const std::string& text);

}  // namespace coapgw::e2e
