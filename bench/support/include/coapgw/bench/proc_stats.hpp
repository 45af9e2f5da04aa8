#pragma once

// A process's resource use, read from /proc, for the benchmarks' cost-per-request figures.

#include <sys/types.h>

#include <cstdint>

namespace coapgw::bench {

/// User + system CPU time process `pid` has used so far, in seconds (0 if it cannot be read).
double ProcessCpuSeconds(pid_t pid);

/// Resident set size (VmRSS) of process `pid`, in bytes (0 if it cannot be read).
uint64_t ProcessRssBytes(pid_t pid);

}  // namespace coapgw::bench
