#pragma once

// The web console (tools/platform-sim/console.html), compiled in at build time so the binary
// needs no files next to it.

namespace coapgw::platform_sim {

extern const char* const kConsolePage;

}  // namespace coapgw::platform_sim
