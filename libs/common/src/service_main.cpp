#include "coapgw/common/service_main.hpp"

#include <exception>
#include <iostream>
#include <memory>

#include "coapgw/common/log.hpp"

extern char** environ;  // NOLINT(readability-redundant-declaration): POSIX, not in a header.

namespace coapgw {

int RunService(int argc, char** argv, Settings& settings,
               const std::function<ServiceBody(const Settings&)>& configure) {
  AddCommonSettings(settings);
  try {
    if (const auto exit_code = settings.Load(argc, argv, environ)) {
      return *exit_code;
    }
    const auto level = log::ParseLevel(settings.String("COAPGW_LOG_LEVEL"));
    const auto format = log::ParseFormat(settings.String("COAPGW_LOG_FORMAT"));
    if (!level.ok()) {
      throw SettingsError("COAPGW_LOG_LEVEL: " + level.error().message);
    }
    if (!format.ok()) {
      throw SettingsError("COAPGW_LOG_FORMAT: " + format.error().message);
    }
    std::unique_ptr<HostPort> http_address;
    if (settings.IsSet("COAPGW_HTTP_LISTEN")) {
      auto parsed = ParseHostPort(settings.String("COAPGW_HTTP_LISTEN"));
      if (!parsed.ok()) {
        throw SettingsError("COAPGW_HTTP_LISTEN: " + parsed.error().message);
      }
      http_address = std::make_unique<HostPort>(*parsed);
    }
    log::Configure(*level, *format);
    const ServiceBody body = configure(settings);

    StopSignal stop;  // Before any thread exists, so every thread inherits the blocked mask.
    Health health;
    MetricsRegistry metrics;
    std::unique_ptr<HttpServer> http;
    if (http_address) {
      http = std::make_unique<HttpServer>(*http_address, health, metrics);
    }
    ServiceContext context{settings, health, metrics, stop};
    log::Info(settings.program(), "starting");
    const int code = body(context);
    log::Info(settings.program(), "stopped", {{"exit_code", std::to_string(code)}});
    return code;
  } catch (const SettingsError& error) {
    std::cerr << settings.program() << ": " << error.what() << "\n";
    return 2;
  } catch (const std::exception& error) {
    log::Error(settings.program(), "fatal", {{"error", error.what()}});
    return 1;
  }
}

int RunService(int argc, char** argv, Settings& settings, const ServiceBody& body) {
  return RunService(argc, argv, settings, [&body](const Settings&) { return body; });
}

int WaitForStop(ServiceContext& service, const std::string& component) {
  const int signal_number = service.stop.Wait();
  log::Info(component, "stopping", {{"signal", std::to_string(signal_number)}});
  service.health.SetNotReady("stopping");
  return signal_number;
}

}  // namespace coapgw
