#include "device_sim/service.hpp"

#include <memory>

#include "coapgw/common/http_server.hpp"
#include "device_sim/control.hpp"
#include "device_sim/options.hpp"
#include "device_sim/simulator.hpp"

namespace coapgw::device_sim {
namespace {

// Deregistrations get this long on SIGTERM, so that the whole stop stays within 5 s.
constexpr Millis kDeregisterDeadline{3000};

}  // namespace

ServiceBody ConfigureDeviceSim(const Settings& settings) {
  auto options = std::make_shared<const SimOptions>(OptionsFromSettings(settings));
  return [options](ServiceContext& context) { return RunDeviceSim(context, *options); };
}

int RunDeviceSim(ServiceContext& context, const SimOptions& options) {
  Simulator simulator(options, context.metrics, context.health);
  ControlApi api(simulator);
  std::unique_ptr<HttpServer> control;
  if (options.control) {
    control =
        std::make_unique<HttpServer>(*options.control, context.health, context.metrics,
                                     [&api](const std::string& method, const std::string& target) {
                                       return api.Handle(method, target);
                                     });
  }
  context.stop.Wait();
  control.reset();  // no control requests while stopping
  simulator.Stop(kDeregisterDeadline);
  return 0;
}

}  // namespace coapgw::device_sim
