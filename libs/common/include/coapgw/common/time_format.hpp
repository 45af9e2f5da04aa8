#pragma once

// RFC 3339 timestamps in UTC, as every bus message and log line carries them.

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace coapgw {

/// "2026-11-23T12:00:00.123Z".
std::string FormatRfc3339Millis(std::chrono::system_clock::time_point time);

/// Parses "YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM)"; nullopt when malformed.
std::optional<std::chrono::system_clock::time_point> ParseRfc3339(std::string_view text);

}  // namespace coapgw
