#pragma once

// A child process for tests that run the real binaries: started with its own environment, its
// stderr captured to a file, stopped with a signal and reaped with a deadline. The destructor
// kills and reaps whatever is still running, so a failing test never leaks a process.

#include <sys/types.h>

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace coapgw::test {

/// build/bin/<name> (from COAPGW_BIN_DIR, set by ctest).
std::string BinaryPath(const std::string& name);

/// A path in the source tree (from COAPGW_SOURCE_DIR, set by ctest).
std::string SourcePath(const std::string& relative);

class Process {
 public:
  /// Starts `argv[0]` with `argv`, the current environment plus `env` (which wins).
  Process(std::vector<std::string> argv, std::map<std::string, std::string> env = {});
  ~Process();
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  pid_t pid() const { return pid_; }
  bool running();

  /// Sends `signal` and waits up to `timeout`; returns the exit code (128 + signal when killed by
  /// one), or nullopt if it did not exit in time.
  std::optional<int> Stop(int signal, std::chrono::milliseconds timeout);
  /// Waits for exit without signalling.
  std::optional<int> Wait(std::chrono::milliseconds timeout);
  void Kill();  // SIGKILL and reap

  /// Everything the process wrote to stderr so far.
  std::string Stderr() const;
  /// Waits until stderr contains `text`; false on timeout or exit.
  bool WaitForStderr(const std::string& text, std::chrono::milliseconds timeout);

 private:
  pid_t pid_ = -1;
  std::optional<int> exit_code_;
  std::string stderr_path_;
};

/// A free loopback port (bound and released; the usual small race is acceptable in tests).
/// Waits until `process` runs and its operations endpoint on 127.0.0.1:`http_port` answers
/// GET /readyz with 200; false when it exited or `timeout` passed first.
bool WaitReady(Process& process, uint16_t http_port, std::chrono::milliseconds timeout);

uint16_t FreeTcpPort();
uint16_t FreeUdpPort();

/// A free loopback port below the kernel's ephemeral range: a process restarted on it finds it
/// free again, where an ephemeral port may meanwhile have gone to a client socket of another
/// process (tests run in parallel).
uint16_t StableTcpPort();
uint16_t StableUdpPort();

}  // namespace coapgw::test
