// coapgw-pinger: liveness of the registered devices by CoAP ping; verdicts go to the RD over the
// bus. Wiring only; see services/pinger/README.md.
#include "coapgw/common/service_main.hpp"
#include "pinger/service.hpp"

int main(int argc, char** argv) {
  coapgw::Settings settings("coapgw-pinger",
                            "Checks that registered devices are reachable (CoAP ping).");
  coapgw::pinger::AddSettings(settings);
  return coapgw::RunService(argc, argv, settings, coapgw::pinger::Configure);
}
