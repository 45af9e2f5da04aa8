#pragma once

// coapgw-platform-sim as a process: its settings and the body RunService runs.

#include "coapgw/common/service_main.hpp"
#include "platform_sim/simulator.hpp"

namespace coapgw::platform_sim {

/// Declares the COAPGW_PLATFORM_SIM_* settings (README.md, "Settings").
void AddPlatformSimSettings(Settings& settings);

/// SimOptions and the Model from loaded settings. Throws SettingsError naming the setting for a
/// bad value or an unreadable device-types file.
SimOptions SimOptionsFromSettings(const Settings& settings);
Model ModelFromSettings(const Settings& settings);

/// SimOptions and the Model from the settings (SettingsError: RunService prints it and exits 2
/// before anything starts) and the body that serves them (RunPlatformSim).
ServiceBody ConfigurePlatformSim(const Settings& settings);

/// Serves until SIGTERM/SIGINT, then closes every session ("connector shutdown") and returns 0.
/// Logs "listening" with the bound port once ready.
int RunPlatformSim(ServiceContext& ctx, const SimOptions& options, const Model& model);

}  // namespace coapgw::platform_sim
