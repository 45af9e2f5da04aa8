// coapgw-observer: reads the devices' resources (RFC 7641 observation, polling otherwise) and
// publishes every value as observer.data; several instances share the devices. Wiring only; see
// services/observer/README.md.
#include "coapgw/common/service_main.hpp"
#include "observer/service.hpp"

int main(int argc, char** argv) {
  coapgw::Settings settings("coapgw-observer",
                            "Observes and polls device resources, publishing every value.");
  coapgw::observer::AddSettings(settings);
  return coapgw::RunService(argc, argv, settings, coapgw::observer::Configure);
}
