#pragma once

// Orderly shutdown: SIGINT and SIGTERM are blocked in every thread (construct this in main before
// any thread starts) and received synchronously with Wait(); no work runs in a signal handler.
// SIGPIPE is ignored so a peer closing a socket is an error code, not a dead process.

#include <optional>

#include "coapgw/common/duration.hpp"

namespace coapgw {

class StopSignal {
 public:
  StopSignal();
  ~StopSignal();
  StopSignal(const StopSignal&) = delete;
  StopSignal& operator=(const StopSignal&) = delete;

  /// Blocks until SIGINT or SIGTERM arrives; returns the signal number.
  int Wait();
  /// Waits at most `timeout`; nullopt when no signal arrived.
  std::optional<int> WaitFor(Millis timeout);
};

}  // namespace coapgw
