#pragma once

// The RD process: its settings and its body inside coapgw::RunService.

#include "coapgw/common/service_main.hpp"
#include "coapgw/common/settings.hpp"

namespace coapgw::rd {

/// Declares every setting of coapgw-rd.
void AddSettings(Settings& settings);

/// Runs the RD until SIGTERM/SIGINT; returns the exit code.
int RunRd(ServiceContext& context);

}  // namespace coapgw::rd
