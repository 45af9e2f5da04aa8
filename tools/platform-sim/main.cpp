// coapgw-platform-sim: a faithful simulator of the SEPL platform's WebSocket server, with a web
// console and a control API (README.md).

#include "platform_sim/service.hpp"

int main(int argc, char** argv) {
  coapgw::Settings settings(
      "coapgw-platform-sim",
      "Simulates the SEPL platform-connector WebSocket server (platform-protocol.md) for the "
      "gateway's tests and local runs; web console and control API on the same port.");
  coapgw::platform_sim::AddPlatformSimSettings(settings);
  return coapgw::RunService(argc, argv, settings, coapgw::platform_sim::ConfigurePlatformSim);
}
