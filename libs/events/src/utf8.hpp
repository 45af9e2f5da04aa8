#pragma once

// UTF-8 checks for what goes into JSON strings: RapidJSON's writer copies bytes as they are, so
// invalid UTF-8 from a device would otherwise produce invalid JSON.

#include <string>
#include <string_view>

namespace coapgw::events::internal {

/// `bytes` with every byte that is not part of a well-formed UTF-8 sequence replaced by U+FFFD.
std::string ReplaceInvalidUtf8(std::string_view bytes);

}  // namespace coapgw::events::internal
