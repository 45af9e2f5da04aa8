#pragma once

// The ws-connector process: its settings and its body inside coapgw::RunService.

#include "coapgw/common/service_main.hpp"
#include "coapgw/common/settings.hpp"

namespace coapgw::ws_connector {

/// Declares every setting of coapgw-ws-connector.
void AddSettings(Settings& settings);

/// Runs the connector until SIGTERM/SIGINT; returns the exit code. Throws SettingsError for a
/// setting that parses but makes no sense (URL scheme, RD URI, durations out of range).
int RunWsConnector(ServiceContext& context);

}  // namespace coapgw::ws_connector
