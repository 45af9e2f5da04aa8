#pragma once

// The settings of coapgw-device-sim (environment COAPGW_DEVICE_SIM_* and the matching --flags,
// plus the shared COAPGW_RD_URI) and the options struct the Simulator takes.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "coapgw/coap/uri.hpp"
#include "coapgw/common/duration.hpp"
#include "coapgw/common/host_port.hpp"
#include "coapgw/common/settings.hpp"

namespace coapgw::device_sim {

/// How devices announce themselves to the RD (RFC 9176).
enum class RegistrationMode {
  kFull,    // POST /rd?ep=...&lt=... with the links, updates to the location, DELETE at the end
  kSimple,  // POST /.well-known/rd?ep=...&lt=... (§5.1): the RD fetches /.well-known/core
  kNone,    // no RD at all: devices only serve
};

/// "full", "simple", "none".
const char* RegistrationModeName(RegistrationMode mode);

struct SimOptions {
  size_t devices = 5;
  std::string prefix = "sim";  // endpoint names are <prefix>-<index>
  std::string device_type;     // et=, empty for none
  std::string sector;          // d=, empty for none
  /// Where the devices listen: the host, and the first device's port (the others follow
  /// consecutively) or 0 for a kernel-chosen port each.
  HostPort listen{"127.0.0.1", 0};
  coap::Endpoint rd;
  RegistrationMode registration = RegistrationMode::kFull;
  int64_t lifetime_s = 300;
  size_t obs_percent = 60;  // share of devices whose sensor links carry "obs"
  Millis interval{5000};    // sensor change and notification period
  size_t large_size = 65536;
  bool deregister_on_stop = true;
  size_t register_window = 32;     // RD exchanges in flight at most (shared by the loops)
  size_t devices_per_loop = 1000;  // devices on one libcoap loop (thread)
  Millis rd_timeout{10000};        // deadline of one exchange with the RD
  std::optional<HostPort> control;
};

/// Declares every setting of coapgw-device-sim.
void AddSettings(Settings& settings);

/// The options from loaded settings; throws SettingsError naming the setting when a value is
/// inconsistent (a bad RD URI, a port range past 65535, ...).
SimOptions OptionsFromSettings(const Settings& settings);

}  // namespace coapgw::device_sim
