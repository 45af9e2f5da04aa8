#pragma once

// The pinger process: its settings, their checks and its body inside coapgw::RunService.

#include "coapgw/common/service_main.hpp"
#include "coapgw/common/settings.hpp"

namespace coapgw::pinger {

/// Declares every setting of coapgw-pinger.
void AddSettings(Settings& settings);

/// Checks the settings beyond what Settings validates (SettingsError for a bad one: RunService
/// prints it and exits 2, before anything starts) and returns the body that runs the pinger
/// until SIGTERM/SIGINT.
ServiceBody Configure(const Settings& settings);

}  // namespace coapgw::pinger
