#pragma once

// Invariant check for the fuzz targets: on failure print the input and abort, which libFuzzer
// reports as a crash and saves as an artifact.

#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace coapgw::linkformat::fuzz {

inline void Check(bool condition, const char* what, std::string_view input) {
  if (!condition) {
    std::fprintf(stderr, "invariant broken: %s\ninput (%zu bytes): %.*s\n", what, input.size(),
                 static_cast<int>(input.size()), input.data());
    std::abort();
  }
}

}  // namespace coapgw::linkformat::fuzz
