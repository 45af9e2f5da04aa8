// coapgw-executer: platform commands from the bus become CoAP requests to the devices, and their
// outcomes go back on the bus. Wiring only; see services/executer/README.md.
#include "coapgw/common/service_main.hpp"
#include "executer/service.hpp"

int main(int argc, char** argv) {
  coapgw::Settings settings("coapgw-executer",
                            "Executes platform commands as CoAP requests to the devices.");
  coapgw::executer::AddSettings(settings);
  return coapgw::RunService(argc, argv, settings, coapgw::executer::Configure);
}
