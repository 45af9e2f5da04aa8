#pragma once

// The two bus endpoints of the contract (§2) and their validation. Every service that publishes
// declares COAPGW_BUS_PUB, every service that subscribes COAPGW_BUS_SUB; coapgw-bus binds both.

#include <string>
#include <string_view>

#include "coapgw/common/result.hpp"
#include "coapgw/common/settings.hpp"

namespace coapgw::bus {

inline constexpr const char* kPubEndpointSetting = "COAPGW_BUS_PUB";
inline constexpr const char* kSubEndpointSetting = "COAPGW_BUS_SUB";
inline constexpr const char* kDefaultPubEndpoint = "tcp://127.0.0.1:7100";
inline constexpr const char* kDefaultSubEndpoint = "tcp://127.0.0.1:7101";

/// Checks that `endpoint` is a ZeroMQ endpoint the bus can use: `tcp://host:port` (port a number
/// or `*`), `ipc://path` or `inproc://name`. kInvalidArgument names what is wrong.
Status CheckEndpoint(std::string_view endpoint);

/// Declares COAPGW_BUS_PUB (publishers connect there) with its default; `help` replaces the
/// default help line (coapgw-bus binds it rather than connecting).
void AddPubEndpointSetting(Settings& settings, const std::string& help = "");
/// Declares COAPGW_BUS_SUB (subscribers connect there) with its default.
void AddSubEndpointSetting(Settings& settings, const std::string& help = "");

/// The value of an endpoint setting, validated with CheckEndpoint. Throws SettingsError with one
/// line naming the setting, so RunService exits 2.
std::string EndpointSetting(const Settings& settings, std::string_view env);

}  // namespace coapgw::bus
