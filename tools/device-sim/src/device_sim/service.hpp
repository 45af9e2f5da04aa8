#pragma once

// The coapgw-device-sim process: its settings and its body inside coapgw::RunService.

#include "coapgw/common/service_main.hpp"
#include "coapgw/common/settings.hpp"
#include "device_sim/options.hpp"

namespace coapgw::device_sim {

/// The simulator's options from the settings (SettingsError: RunService prints it and exits 2
/// before anything starts) and the body that runs them (RunDeviceSim).
ServiceBody ConfigureDeviceSim(const Settings& settings);

/// Runs the devices until SIGTERM/SIGINT, then deregisters them (when enabled) within a few
/// seconds; returns the exit code.
int RunDeviceSim(ServiceContext& context, const SimOptions& options);

}  // namespace coapgw::device_sim
