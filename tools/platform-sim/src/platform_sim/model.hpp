#pragma once

// The platform's records as the simulator keeps them (platform-protocol.md §12.1): users, device
// types, gateways and device instances, with the rules of the IOT device repository that the
// connector server (PC) relies on: provide, clear and commit of a gateway (IOT lib/api/gateway.go,
// lib/persistence/gateway.go), devices looked up by uri per user, created, updated with merged
// tags and deleted (PC lib/iot.go). Sessions and listening are not here (simulator.hpp).
//
// Not thread-safe: owned by the simulator's I/O thread.

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "coapgw/common/result.hpp"

namespace coapgw::platform_sim {

/// A service of a device type (PC model/iot.go ShortService).
struct Service {
  std::string id;
  std::string service_type;  // "Sensor" or "Actuator"
  std::string url;           // what events name as service_uri and commands as service_url
};

struct DeviceType {
  std::string id;
  std::vector<Service> services;
};

/// A device instance on the platform.
struct Device {
  std::string id;   // "iot#<uuid>"
  std::string uri;  // the gateway's local id, unique per user
  std::string name;
  std::string device_type;
  std::vector<std::string> tags;  // "key:value"
  std::string owner;              // user name
  std::string gateway;            // id of the gateway that committed it, "" when none
};

struct Gateway {
  std::string id;  // "iot#<uuid>"
  std::string name;
  std::string owner;
  std::string hash;                  // as stored by the last commit; "" when new or cleared
  std::vector<std::string> devices;  // device ids of the last commit
};

/// The put payload (PC model/iot.go ConnectorDevice).
struct ConnectorDevice {
  std::string iot_type;
  std::string uri;
  std::string name;
  std::vector<std::string> tags;
};

struct ModelOptions {
  std::map<std::string, std::string> users;  // name -> password
  std::vector<DeviceType> device_types;      // known types; any other type id is accepted unless
  bool strict_types = false;                 // strict: put of an unknown type fails like IOT's
};

class Model {
 public:
  explicit Model(ModelOptions options);

  /// True when `user` exists with `password`.
  bool Authenticate(const std::string& user, const std::string& password) const;

  /// IOT "provide": the gateway `id` when it exists and belongs to `user`; otherwise a new one
  /// named "new-gateway-<base36 unix time>" with a fresh id and an empty hash. `created` tells.
  const Gateway& ProvideGateway(const std::string& id, const std::string& user, bool* created);

  /// IOT "clear": devices [] and hash "", releasing the devices. kNotFound for an unknown id.
  Status ClearGateway(const std::string& id);

  /// IOT "commit": stores hash and device list. kConflict "gateway (<id>) may not own devices"
  /// when a device belongs to another gateway (IOT replies 400, which PC ignores, so nothing is
  /// stored while the client hears "ok"); kNotFound for an unknown gateway.
  Status CommitGateway(const std::string& id, const std::string& hash,
                       const std::vector<std::string>& device_ids);

  /// The devices of `user` with `uri` (IOT /url_to_devices).
  std::vector<const Device*> DevicesByUri(const std::string& user, const std::string& uri) const;

  /// Creates a device of `user` (PC CreateIotDevice): "empty iot_type" for an empty type,
  /// "error while creating device skeleton: unknown device type '<id>'" for an unknown type in
  /// strict mode (both kInvalidArgument; PC answers them with 500).
  Result<const Device*> CreateDevice(const std::string& user, const ConnectorDevice& device);

  /// PC UpdateDevice: a new name replaces the old; tags are merged by key, the client's value
  /// winning and keys it does not send kept. The type never changes.
  const Device* UpdateDevice(const std::string& device_id, const ConnectorDevice& device);

  /// PC DeleteDeviceInstance: kNotFound "cant find exactly one device with given uri" unless
  /// `user` has exactly one device with `uri`; the device also leaves its gateway's list.
  Status DeleteDevice(const std::string& user, const std::string& uri);

  const Gateway* FindGateway(const std::string& id) const;
  const Device* FindDevice(const std::string& id) const;
  /// The type with `id`, or nullptr when it is not configured.
  const DeviceType* FindDeviceType(const std::string& id) const;

  const std::map<std::string, Gateway>& gateways() const { return gateways_; }
  const std::map<std::string, Device>& devices() const { return devices_; }
  const ModelOptions& options() const { return options_; }

  /// Gateways and devices as JSON (the state file), and back. Load replaces both; a malformed
  /// document is kInvalidArgument naming the problem.
  std::string SaveJson() const;
  Status LoadJson(const std::string& text);

 private:
  ModelOptions options_;
  std::map<std::string, Gateway> gateways_;
  std::map<std::string, Device> devices_;
};

/// Parses "user:password,user2:password2"; kInvalidArgument for an entry without ':' or a
/// duplicate user.
Result<std::map<std::string, std::string>> ParseUsers(const std::string& text);

/// Device types from JSON: [{"id": "...", "services": [{"id","service_type","url"}]}].
Result<std::vector<DeviceType>> ParseDeviceTypes(const std::string& text);

}  // namespace coapgw::platform_sim
