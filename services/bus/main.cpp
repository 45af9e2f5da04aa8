// coapgw-bus: the ZeroMQ XSUB/XPUB proxy every service publishes and subscribes through.

#include "bus/service.hpp"

int main(int argc, char** argv) {
  coapgw::Settings settings(
      "coapgw-bus",
      "ZeroMQ XSUB/XPUB proxy: publishers connect to COAPGW_BUS_PUB, subscribers to "
      "COAPGW_BUS_SUB.");
  coapgw::bus::AddBusSettings(settings);
  return coapgw::RunService(argc, argv, settings, coapgw::bus::ConfigureBus);
}
