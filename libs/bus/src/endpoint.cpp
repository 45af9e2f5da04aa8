#include "coapgw/bus/endpoint.hpp"

namespace coapgw::bus {
namespace {

Error Invalid(std::string_view endpoint, const std::string& why) {
  return MakeError(ErrorCode::kInvalidArgument,
                   "'" + std::string(endpoint) + "' is not a ZeroMQ endpoint (" + why + ")");
}

bool IsPort(std::string_view text) {
  if (text == "*") {
    return true;
  }
  if (text.empty() || text.size() > 5) {
    return false;
  }
  unsigned port = 0;
  for (const char ch : text) {
    if (ch < '0' || ch > '9') {
      return false;
    }
    port = port * 10 + static_cast<unsigned>(ch - '0');
  }
  return port <= 65535;
}

}  // namespace

Status CheckEndpoint(std::string_view endpoint) {
  const size_t separator = endpoint.find("://");
  if (separator == std::string_view::npos) {
    return Invalid(endpoint, "expected tcp://host:port, ipc://path or inproc://name");
  }
  const std::string_view scheme = endpoint.substr(0, separator);
  const std::string_view address = endpoint.substr(separator + 3);
  if (address.empty()) {
    return Invalid(endpoint, "nothing after " + std::string(scheme) + "://");
  }
  if (scheme == "ipc" || scheme == "inproc") {
    return Status::Ok();
  }
  if (scheme != "tcp") {
    return Invalid(endpoint, "unsupported transport '" + std::string(scheme) + "'");
  }
  const size_t colon = address.rfind(':');
  if (colon == std::string_view::npos || colon == 0) {
    return Invalid(endpoint, "expected tcp://host:port");
  }
  if (!IsPort(address.substr(colon + 1))) {
    return Invalid(endpoint, "the port must be 0-65535 or *");
  }
  return Status::Ok();
}

void AddPubEndpointSetting(Settings& settings, const std::string& help) {
  settings.Add({kPubEndpointSetting,
                help.empty() ? "bus endpoint publishers connect to (coapgw-bus binds it)" : help,
                kDefaultPubEndpoint});
}

void AddSubEndpointSetting(Settings& settings, const std::string& help) {
  settings.Add({kSubEndpointSetting,
                help.empty() ? "bus endpoint subscribers connect to (coapgw-bus binds it)" : help,
                kDefaultSubEndpoint});
}

std::string EndpointSetting(const Settings& settings, std::string_view env) {
  const std::string& value = settings.String(env);
  const Status status = CheckEndpoint(value);
  if (!status.ok()) {
    throw SettingsError(std::string(env) + ": " + status.error().message);
  }
  return value;
}

}  // namespace coapgw::bus
