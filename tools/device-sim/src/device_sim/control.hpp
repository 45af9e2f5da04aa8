#pragma once

// The HTTP control API of coapgw-device-sim, as routes for coapgw::HttpServer:
//   GET  /devices                    every device's state, a JSON array
//   GET  /devices/<id>               one device (<id>: its index or its endpoint name)
//   POST /devices/<id>/<action>      offline | online | move | register | deregister
//   POST /devices/all/<action>       the action on every device it applies to
// Answers: 200 with the device's state afterwards (JSON), 404 unknown device, 400 unknown
// action, 405 wrong method, 409 the action does not apply now (e.g. online while online).

#include <optional>
#include <string>

#include "coapgw/common/http_server.hpp"
#include "device_sim/simulator.hpp"

namespace coapgw::device_sim {

/// {"index":3,"ep":"sim-3","address":"127.0.0.1:40123","online":true,"obs":true,...}
std::string DeviceJson(const DeviceStatus& status);

class ControlApi {
 public:
  /// `simulator` must outlive the API.
  explicit ControlApi(Simulator& simulator) : simulator_(simulator) {}

  /// The reply for `method` `target`, or nullopt for paths outside /devices (left to the
  /// server's built-in /healthz, /readyz, /metrics). Thread-safe.
  std::optional<HttpReply> Handle(const std::string& method, const std::string& target);

 private:
  Simulator& simulator_;
};

}  // namespace coapgw::device_sim
