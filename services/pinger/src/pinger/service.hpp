#pragma once

// The pinger process: its settings and its body inside coapgw::RunService.

#include "coapgw/common/service_main.hpp"
#include "coapgw/common/settings.hpp"

namespace coapgw::pinger {

/// Declares every setting of coapgw-pinger.
void AddSettings(Settings& settings);

/// Runs the pinger until SIGTERM/SIGINT; returns the exit code. Throws SettingsError for a bad
/// setting (RunService prints it and exits 2).
int RunPinger(ServiceContext& service);

}  // namespace coapgw::pinger
