#pragma once

// The frame every coapgw executable runs in (docs/architecture.md, "Service lifecycle"):
// settings -> logging -> signals blocked -> HTTP operations endpoint -> the service body ->
// orderly stop. A bad setting exits 2 with one line; a start-up failure exits 1 with one line.
//
//   int main(int argc, char** argv) {
//     coapgw::Settings settings("coapgw-bus", "ZeroMQ proxy");
//     settings.Add({...});
//     return coapgw::RunService(argc, argv, settings, [](coapgw::ServiceContext& ctx) {
//       ... start loops ...
//       ctx.stop.Wait();
//       ... stop loops ...
//       return 0;
//     });
//   }

#include <functional>

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

/// Runs `body` inside the service frame; returns the process exit code. AddCommonSettings is
/// applied to `settings` here.
int RunService(int argc, char** argv, Settings& settings,
               const std::function<int(ServiceContext&)>& body);

}  // namespace coapgw
