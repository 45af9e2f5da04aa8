#pragma once

// Random identifiers: UUID v4 strings for tokens, command ids and publisher ids.

#include <string>

namespace coapgw {

/// A random RFC 4122 version-4 UUID, lower-case ("3b5ff3b1-fd16-45cb-9f09-8650346c544e").
/// Thread-safe.
std::string RandomUuid();

}  // namespace coapgw
