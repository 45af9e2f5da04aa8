#include "platform_sim/service.hpp"

#include <fstream>
#include <memory>
#include <sstream>

#include "coapgw/common/log.hpp"

namespace coapgw::platform_sim {
namespace {

constexpr const char* kComponent = "platform-sim";

SettingSpec Spec(const char* env, const char* help, const char* default_value,
                 SettingKind kind = SettingKind::kString) {
  SettingSpec spec{env, help, default_value, kind};
  return spec;
}

std::string ReadFile(const std::string& setting, const std::string& path) {
  std::ifstream file(path);
  if (!file) {
    throw SettingsError(setting + ": cannot read '" + path + "'");
  }
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

}  // namespace

void AddPlatformSimSettings(Settings& settings) {
  settings.Add(Spec("COAPGW_PLATFORM_SIM_LISTEN",
                    "address of the WebSocket server, the console and the API (host:port)",
                    "127.0.0.1:8093"));
  SettingSpec users = Spec("COAPGW_PLATFORM_SIM_USERS",
                           "accepted credentials: user:password,user2:pw2", "demo:demo");
  users.secret = true;
  settings.Add(users);
  settings.Add(Spec("COAPGW_PLATFORM_SIM_STATE_FILE",
                    "JSON file keeping gateways and devices across restarts; unset: memory only",
                    ""));
  settings.Add(Spec("COAPGW_PLATFORM_SIM_DEVICE_TYPES",
                    "JSON file of known device types [{id, services: [{id, service_type, url}]}]",
                    ""));
  settings.Add(Spec("COAPGW_PLATFORM_SIM_STRICT_TYPES",
                    "reject put of a device type not in COAPGW_PLATFORM_SIM_DEVICE_TYPES", "false",
                    SettingKind::kBool));
  settings.Add(Spec("COAPGW_PLATFORM_SIM_HANDSHAKE_TIMEOUT",
                    "time for the credentials message before the connection is closed", "40s",
                    SettingKind::kDuration));
  settings.Add(Spec("COAPGW_PLATFORM_SIM_IDLE_TIMEOUT",
                    "close a session after this long without any inbound frame", "40s",
                    SettingKind::kDuration));
  settings.Add(Spec("COAPGW_PLATFORM_SIM_PING_INTERVAL",
                    "server ping period, until the client sends a ping itself", "20s",
                    SettingKind::kDuration));
  SettingSpec errors = Spec("COAPGW_PLATFORM_SIM_MAX_CONSECUTIVE_ERRORS",
                            "close a session after more consecutive error replies than this; "
                            "-1: never",
                            "5", SettingKind::kInt);
  errors.min_int = -1;
  errors.max_int = 1'000'000;
  settings.Add(errors);
  SettingSpec history =
      Spec("COAPGW_PLATFORM_SIM_HISTORY", "events, commands, responses and frames kept for the API",
           "1000", SettingKind::kInt);
  history.min_int = 1;
  history.max_int = 1'000'000;
  settings.Add(history);
  settings.Add(Spec("COAPGW_PLATFORM_SIM_TLS_CERT",
                    "PEM certificate chain: serve wss:// instead of ws://", ""));
  settings.Add(
      Spec("COAPGW_PLATFORM_SIM_TLS_KEY", "PEM private key for COAPGW_PLATFORM_SIM_TLS_CERT", ""));
}

SimOptions SimOptionsFromSettings(const Settings& settings) {
  SimOptions options;
  auto listen = ParseHostPort(settings.String("COAPGW_PLATFORM_SIM_LISTEN"));
  if (!listen.ok()) {
    throw SettingsError("COAPGW_PLATFORM_SIM_LISTEN: " + listen.error().message);
  }
  options.server.listen = *listen;
  options.server.tls_cert_file = settings.String("COAPGW_PLATFORM_SIM_TLS_CERT");
  options.server.tls_key_file = settings.String("COAPGW_PLATFORM_SIM_TLS_KEY");
  if (options.server.tls_cert_file.empty() != options.server.tls_key_file.empty()) {
    throw SettingsError("COAPGW_PLATFORM_SIM_TLS_CERT and COAPGW_PLATFORM_SIM_TLS_KEY go together");
  }
  options.handshake_timeout = settings.Duration("COAPGW_PLATFORM_SIM_HANDSHAKE_TIMEOUT");
  options.idle_timeout = settings.Duration("COAPGW_PLATFORM_SIM_IDLE_TIMEOUT");
  options.ping_interval = settings.Duration("COAPGW_PLATFORM_SIM_PING_INTERVAL");
  options.max_consecutive_errors =
      static_cast<int>(settings.Int("COAPGW_PLATFORM_SIM_MAX_CONSECUTIVE_ERRORS"));
  options.history = static_cast<size_t>(settings.Int("COAPGW_PLATFORM_SIM_HISTORY"));
  options.state_file = settings.String("COAPGW_PLATFORM_SIM_STATE_FILE");
  return options;
}

Model ModelFromSettings(const Settings& settings) {
  ModelOptions options;
  auto users = ParseUsers(settings.String("COAPGW_PLATFORM_SIM_USERS"));
  if (!users.ok()) {
    throw SettingsError("COAPGW_PLATFORM_SIM_USERS: " + users.error().message);
  }
  options.users = *users;
  if (const std::string& path = settings.String("COAPGW_PLATFORM_SIM_DEVICE_TYPES");
      !path.empty()) {
    auto types = ParseDeviceTypes(ReadFile("COAPGW_PLATFORM_SIM_DEVICE_TYPES", path));
    if (!types.ok()) {
      throw SettingsError("COAPGW_PLATFORM_SIM_DEVICE_TYPES: " + types.error().message);
    }
    options.device_types = *types;
  }
  options.strict_types = settings.Bool("COAPGW_PLATFORM_SIM_STRICT_TYPES");
  return Model(options);
}

ServiceBody ConfigurePlatformSim(const Settings& settings) {
  auto options = std::make_shared<const SimOptions>(SimOptionsFromSettings(settings));
  auto model = std::make_shared<const Model>(ModelFromSettings(settings));
  return [options, model](ServiceContext& ctx) { return RunPlatformSim(ctx, *options, *model); };
}

int RunPlatformSim(ServiceContext& ctx, const SimOptions& options, const Model& model) {
  Simulator simulator(options, model);
  const std::string scheme = simulator.secure() ? "wss" : "ws";
  const std::string host = ctx.settings.String("COAPGW_PLATFORM_SIM_LISTEN");
  ctx.health.SetReady();
  log::Info(kComponent, "listening",
            {{"port", std::to_string(simulator.port())},
             {"platform_url", scheme + "://" + host.substr(0, host.rfind(':')) + ":" +
                                  std::to_string(simulator.port())},
             {"console", std::string(simulator.secure() ? "https" : "http") + "://" +
                             host.substr(0, host.rfind(':')) + ":" +
                             std::to_string(simulator.port()) + "/"}});
  const int signal = ctx.stop.Wait();
  log::Info(kComponent, "stopping", {{"signal", std::to_string(signal)}});
  ctx.health.SetNotReady("stopping");
  simulator.Shutdown();
  return 0;
}

}  // namespace coapgw::platform_sim
