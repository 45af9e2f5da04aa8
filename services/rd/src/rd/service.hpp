#pragma once

// The RD process: its settings and its body inside coapgw::RunService.

#include "coapgw/common/service_main.hpp"
#include "coapgw/common/settings.hpp"

namespace coapgw::rd {

/// Declares every setting of coapgw-rd.
void AddSettings(Settings& settings);

/// Checks the RD's settings (SettingsError names a bad one) and returns the body that runs the RD
/// until SIGTERM/SIGINT.
ServiceBody ConfigureRd(const Settings& settings);

}  // namespace coapgw::rd
