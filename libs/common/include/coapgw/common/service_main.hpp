#pragma once

// The frame every coapgw executable runs in (docs/architecture.md, "Service lifecycle"):
// settings -> logging -> the service's own checks -> signals blocked -> HTTP operations endpoint
// -> the service body -> orderly stop. A bad setting exits 2 with one line (nothing else is
// printed); a start-up failure exits 1 with one line.
//
//   ServiceBody Configure(const coapgw::Settings& settings) {
//     auto config = std::make_shared<const Config>(LoadConfig(settings));  // SettingsError
//     return [config](coapgw::ServiceContext& ctx) {
//       ... start loops ...
//       WaitForStop(ctx, "component");
//       ... stop loops ...
//       return 0;
//     };
//   }
//   int main(int argc, char** argv) {
//     coapgw::Settings settings("coapgw-bus", "ZeroMQ proxy");
//     settings.Add({...});
//     return coapgw::RunService(argc, argv, settings, Configure);
//   }

#include <functional>
#include <string>

#include "coapgw/common/http_server.hpp"
#include "coapgw/common/metrics.hpp"
#include "coapgw/common/settings.hpp"
#include "coapgw/common/stop_signal.hpp"

namespace coapgw {

struct ServiceContext {
  const Settings& settings;
  Health& health;
  MetricsRegistry& metrics;
  StopSignal& stop;
};

/// What a service runs once its settings are checked; returns the process exit code.
using ServiceBody = std::function<int(ServiceContext&)>;

/// Runs the service frame; returns the process exit code. AddCommonSettings is applied to
/// `settings` here. `configure` checks the service's own settings (SettingsError for a bad one)
/// and returns the body; it runs before anything starts (no thread, no HTTP endpoint, no
/// "starting" line), so that a bad setting prints only its error line. It must not start threads:
/// SIGINT and SIGTERM are blocked after it returns.
int RunService(int argc, char** argv, Settings& settings,
               const std::function<ServiceBody(const Settings&)>& configure);

/// RunService for a body without checks of its own (or that throws SettingsError itself, after
/// the "starting" line).
int RunService(int argc, char** argv, Settings& settings, const ServiceBody& body);

/// Waits for SIGINT or SIGTERM, logs "<component>: stopping signal=N" and marks the service not
/// ready ("stopping"); returns the signal number. The body then stops taking new work.
int WaitForStop(ServiceContext& service, const std::string& component);

}  // namespace coapgw
