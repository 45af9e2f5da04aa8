// coapgw-ws-connector: the gateway's WebSocket client of the platform (platform-protocol.md):
// devices from the RD, data events from the observer, commands to the executer. Wiring only; see
// services/ws_connector/README.md.
#include "coapgw/common/service_main.hpp"
#include "ws_connector/service.hpp"

int main(int argc, char** argv) {
  coapgw::Settings settings("coapgw-ws-connector",
                            "WebSocket client of the IoT platform: devices, events, commands.");
  coapgw::ws_connector::AddSettings(settings);
  return coapgw::RunService(argc, argv, settings, coapgw::ws_connector::Configure);
}
