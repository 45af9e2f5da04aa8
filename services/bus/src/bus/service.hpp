#pragma once

// coapgw-bus as a service: its settings and the body RunService runs.

#include "coapgw/bus/proxy.hpp"
#include "coapgw/common/service_main.hpp"

namespace coapgw::bus {

/// Declares COAPGW_BUS_PUB, COAPGW_BUS_SUB and COAPGW_BUS_HWM (as coapgw-bus reads them).
void AddBusSettings(Settings& settings);

/// The proxy's options from the settings (SettingsError for a bad endpoint: RunService prints it
/// and exits 2 before anything starts) and the body that runs it (RunBus).
ServiceBody ConfigureBus(const Settings& settings);

/// Binds, forwards until SIGTERM/SIGINT, mirrors the proxy's counters into ctx.metrics every
/// second and marks ctx.health ready once both endpoints are bound. Returns the exit code: 0 after
/// a signal, 1 when the proxy thread fails. Throws std::runtime_error when an endpoint cannot be
/// bound.
int RunBus(ServiceContext& ctx, const ProxyOptions& options);

}  // namespace coapgw::bus
