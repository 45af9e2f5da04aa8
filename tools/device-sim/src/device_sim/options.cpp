#include "device_sim/options.hpp"

#include <string_view>

namespace coapgw::device_sim {
namespace {

constexpr const char* kDevices = "COAPGW_DEVICE_SIM_DEVICES";
constexpr const char* kPrefix = "COAPGW_DEVICE_SIM_PREFIX";
constexpr const char* kType = "COAPGW_DEVICE_SIM_TYPE";
constexpr const char* kSector = "COAPGW_DEVICE_SIM_SECTOR";
constexpr const char* kListen = "COAPGW_DEVICE_SIM_LISTEN";
constexpr const char* kRdUri = "COAPGW_RD_URI";
constexpr const char* kRegistration = "COAPGW_DEVICE_SIM_REGISTRATION";
constexpr const char* kLifetime = "COAPGW_DEVICE_SIM_LIFETIME";
constexpr const char* kObsPercent = "COAPGW_DEVICE_SIM_OBS_PERCENT";
constexpr const char* kInterval = "COAPGW_DEVICE_SIM_INTERVAL";
constexpr const char* kLargeSize = "COAPGW_DEVICE_SIM_LARGE_SIZE";
constexpr const char* kDeregister = "COAPGW_DEVICE_SIM_DEREGISTER";
constexpr const char* kWindow = "COAPGW_DEVICE_SIM_REGISTER_WINDOW";
constexpr const char* kRdTimeout = "COAPGW_DEVICE_SIM_RD_TIMEOUT";
constexpr const char* kPerLoop = "COAPGW_DEVICE_SIM_DEVICES_PER_LOOP";
constexpr const char* kControl = "COAPGW_DEVICE_SIM_CONTROL";

[[noreturn]] void Bad(const char* env, const std::string& value, const std::string& why) {
  throw SettingsError(std::string(env) + ": '" + value + "' " + why);
}

}  // namespace

const char* RegistrationModeName(RegistrationMode mode) {
  switch (mode) {
    case RegistrationMode::kFull:
      return "full";
    case RegistrationMode::kSimple:
      return "simple";
    case RegistrationMode::kNone:
      return "none";
  }
  return "?";
}

void AddSettings(Settings& settings) {
  settings.Add(
      {kDevices, "number of simulated devices", "5", SettingKind::kInt, false, false, 1, 60000});
  settings.Add({kPrefix, "endpoint names are <prefix>-<index>", "sim"});
  settings.Add({kType, "et= (platform device type id) sent with every registration", ""});
  settings.Add({kSector, "d= (sector) sent with every registration", ""});
  settings.Add({kListen,
                "host:port of device 0, the others on the next ports; port 0: free ports picked "
                "at start",
                "127.0.0.1:0"});
  settings.Add({kRdUri, "the Resource Directory devices register with", "coap://127.0.0.1:5683"});
  settings.Add({kRegistration,
                "full (POST /rd with links), simple (POST /.well-known/rd, RFC 9176 5.1) or none",
                "full"});
  settings.Add({kLifetime, "lt= of registrations in seconds; refreshed at 3/4 of it", "300",
                SettingKind::kInt, false, false, 1, 4294967295LL});
  settings.Add({kObsPercent, "percent of devices whose sensor links carry obs (spread evenly)",
                "60", SettingKind::kInt, false, false, 0, 100});
  settings.Add({kInterval, "sensor change and notification period", "5s", SettingKind::kDuration});
  settings.Add({kLargeSize, "size in bytes of /firmware (block-wise)", "65536", SettingKind::kInt,
                false, false, 1024, int64_t{4} * 1024 * 1024});
  settings.Add({kDeregister, "DELETE registrations on a clean stop", "true", SettingKind::kBool});
  settings.Add({kWindow, "RD exchanges (register, update, delete) in flight at most", "32",
                SettingKind::kInt, false, false, 1, 1024});
  settings.Add({kRdTimeout, "deadline of one exchange with the RD", "10s", SettingKind::kDuration});
  settings.Add({kPerLoop,
                "devices per libcoap loop (one thread each); every wake-up of a loop costs time "
                "in proportion to its devices",
                "1000", SettingKind::kInt, false, false, 1, 60000});
  settings.Add({kControl,
                "host:port of the HTTP control API (GET /devices, POST "
                "/devices/<i>/offline|online|move|register|deregister); off when unset",
                ""});
}

SimOptions OptionsFromSettings(const Settings& settings) {
  SimOptions options;
  options.devices = static_cast<size_t>(settings.Int(kDevices));
  options.prefix = settings.String(kPrefix);
  if (options.prefix.empty()) {
    Bad(kPrefix, options.prefix, "must not be empty");
  }
  options.device_type = settings.String(kType);
  options.sector = settings.String(kSector);

  const std::string& listen = settings.String(kListen);
  auto host_port = ParseHostPort(listen);
  if (!host_port.ok()) {
    Bad(kListen, listen, host_port.error().message);
  }
  options.listen = *host_port;
  if (options.listen.host.empty()) {
    options.listen.host = "127.0.0.1";
  }
  if (options.listen.port != 0 && options.listen.port + options.devices - 1 > 65535) {
    Bad(kListen, listen,
        "leaves no room for " + std::to_string(options.devices) + " consecutive ports");
  }

  const std::string& rd_uri = settings.String(kRdUri);
  auto uri = coap::ParseUri(rd_uri);
  if (!uri.ok()) {
    Bad(kRdUri, rd_uri, uri.error().message);
  }
  if (uri->endpoint.transport != coap::Transport::kUdp) {
    Bad(kRdUri, rd_uri, "must be coap:// (the simulated devices do not speak DTLS)");
  }
  options.rd = uri->endpoint;

  const std::string& mode = settings.String(kRegistration);
  if (mode == "full") {
    options.registration = RegistrationMode::kFull;
  } else if (mode == "simple") {
    options.registration = RegistrationMode::kSimple;
  } else if (mode == "none") {
    options.registration = RegistrationMode::kNone;
  } else {
    Bad(kRegistration, mode, "is not full, simple or none");
  }
  options.lifetime_s = settings.Int(kLifetime);
  options.obs_percent = static_cast<size_t>(settings.Int(kObsPercent));
  options.interval = settings.Duration(kInterval);
  if (options.interval < Millis(10)) {
    Bad(kInterval, FormatDuration(options.interval), "is below 10ms");
  }
  options.large_size = static_cast<size_t>(settings.Int(kLargeSize));
  options.deregister_on_stop = settings.Bool(kDeregister);
  options.register_window = static_cast<size_t>(settings.Int(kWindow));
  options.rd_timeout = settings.Duration(kRdTimeout);
  options.devices_per_loop = static_cast<size_t>(settings.Int(kPerLoop));

  if (settings.IsSet(kControl)) {
    const std::string& control = settings.String(kControl);
    auto address = ParseHostPort(control);
    if (!address.ok()) {
      Bad(kControl, control, address.error().message);
    }
    options.control = *address;
  }
  return options;
}

}  // namespace coapgw::device_sim
