#pragma once

// The executer process: its settings and its body inside coapgw::RunService.

#include "coapgw/common/service_main.hpp"
#include "coapgw/common/settings.hpp"

namespace coapgw::executer {

/// Declares every setting of coapgw-executer.
void AddSettings(Settings& settings);

/// Runs the executer until SIGTERM/SIGINT; returns the exit code. Throws SettingsError for a bad
/// setting (RunService prints it and exits 2).
int RunExecuter(ServiceContext& service);

}  // namespace coapgw::executer
