#include "coapgw/common/duration.hpp"

#include <cmath>
#include <cstdlib>
#include <string>

namespace coapgw {

Result<Millis> ParseDuration(std::string_view text) {
  const std::string input(text);
  if (input.empty()) {
    return MakeError(ErrorCode::kInvalidArgument, "empty duration");
  }
  const char* begin = input.c_str();
  char* end = nullptr;
  const double number = std::strtod(begin, &end);
  if (end == begin || !std::isfinite(number) || number < 0 || input[0] == '+' ||
      input.find_first_of("eExX") != std::string::npos) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "'" + input + "' is not a duration (use e.g. 500ms, 3s, 1m)");
  }
  const std::string unit(end);
  double factor_ms = 0;
  if (unit.empty() || unit == "s") {
    factor_ms = 1000;
  } else if (unit == "ms") {
    factor_ms = 1;
  } else if (unit == "m") {
    factor_ms = 60'000;
  } else if (unit == "h") {
    factor_ms = 3'600'000;
  } else {
    return MakeError(ErrorCode::kInvalidArgument,
                     "'" + input + "' has unknown unit '" + unit + "' (use ms, s, m or h)");
  }
  const double ms = number * factor_ms;
  if (ms > 1e15) {
    return MakeError(ErrorCode::kInvalidArgument, "'" + input + "' is too long a duration");
  }
  return Millis(static_cast<Millis::rep>(std::llround(ms)));
}

std::string FormatDuration(Millis duration) {
  const auto ms = duration.count();
  if (ms != 0 && ms % 3'600'000 == 0) {
    return std::to_string(ms / 3'600'000) + "h";
  }
  if (ms != 0 && ms % 60'000 == 0) {
    return std::to_string(ms / 60'000) + "m";
  }
  if (ms % 1000 == 0) {
    return std::to_string(ms / 1000) + "s";
  }
  return std::to_string(ms) + "ms";
}

}  // namespace coapgw
