// coapgw-device-sim: N simulated CoAP devices in one process that register with the RD, serve
// sensors, actuators and a large resource, and go offline or move on command. Wiring only; see
// tools/device-sim/README.md.
#include "coapgw/common/service_main.hpp"
#include "device_sim/options.hpp"
#include "device_sim/service.hpp"

int main(int argc, char** argv) {
  coapgw::Settings settings("coapgw-device-sim",
                            "Simulated CoAP devices for the local stack, tests and benchmarks.");
  coapgw::device_sim::AddSettings(settings);
  return coapgw::RunService(argc, argv, settings, coapgw::device_sim::ConfigureDeviceSim);
}
