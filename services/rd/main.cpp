// coapgw-rd: the CoRE Resource Directory (RFC 9176 + draft-11 groups), persisted in PostgreSQL,
// announcing every change on the bus. Wiring only; see services/rd/README.md.
#include "coapgw/common/service_main.hpp"
#include "rd/service.hpp"

int main(int argc, char** argv) {
  coapgw::Settings settings("coapgw-rd", "CoRE Resource Directory (RFC 9176) of the gateway.");
  coapgw::rd::AddSettings(settings);
  return coapgw::RunService(argc, argv, settings, coapgw::rd::ConfigureRd);
}
