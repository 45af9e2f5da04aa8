#pragma once

// The coapgw-device-sim process: its settings and its body inside coapgw::RunService.

#include "coapgw/common/service_main.hpp"
#include "coapgw/common/settings.hpp"

namespace coapgw::device_sim {

/// Runs the devices until SIGTERM/SIGINT, then deregisters them (when enabled) within a few
/// seconds; returns the exit code.
int RunDeviceSim(ServiceContext& context);

}  // namespace coapgw::device_sim
