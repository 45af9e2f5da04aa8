#pragma once

// The observer process: its settings and its body inside coapgw::RunService.

#include "coapgw/common/service_main.hpp"
#include "coapgw/common/settings.hpp"

namespace coapgw::observer {

/// Declares every setting of coapgw-observer.
void AddSettings(Settings& settings);

/// Runs the observer until SIGTERM/SIGINT; returns the exit code. Throws SettingsError for a
/// setting that parses but makes no sense (RD URI, filter, durations out of range).
int RunObserver(ServiceContext& service);

}  // namespace coapgw::observer
