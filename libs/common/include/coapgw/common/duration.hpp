#pragma once

// Durations in settings: "500ms", "3s", "1m", "2h", or a plain number of seconds ("10", "0.5").

#include <chrono>
#include <string>
#include <string_view>

#include "coapgw/common/result.hpp"

namespace coapgw {

using Millis = std::chrono::milliseconds;

/// Parses a duration; an empty, negative or unit-less-garbage text is kInvalidArgument.
Result<Millis> ParseDuration(std::string_view text);

/// The shortest exact spelling of a duration ("1500ms", "3s", "2m").
std::string FormatDuration(Millis duration);

}  // namespace coapgw
