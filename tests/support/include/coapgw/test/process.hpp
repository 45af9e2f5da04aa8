#pragma once

// A child process for tests that run the real binaries: started with its own environment, its
// stderr captured to a file, stopped with a signal and reaped with a deadline. The destructor
// kills and reaps whatever is still running, so a failing test never leaks a process.

#include <sys/types.h>

#include <chrono>
#include <map>
#include <memory>
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

/// The prefix of the line in which a service's HTTP server names the loopback port it bound.
inline constexpr char kHttpListening[] = "http: listening address=127.0.0.1:";

/// The port in the first "`prefix`<port>" of `log`, 0 while there is none. A process given port 0
/// names the port it bound in its own log, and only that line proves the port is its: a port picked
/// in advance may go to another test's process first, which then answers on it.
uint16_t LoggedPort(const std::string& log, const std::string& prefix);

/// Waits until `process` (started with COAPGW_HTTP_LISTEN=127.0.0.1:0) logs its HTTP port and
/// answers GET /readyz with 200 there: that port, or 0 when it exited or `timeout` passed first.
uint16_t WaitReady(Process& process, std::chrono::milliseconds timeout);

/// A coapgw-bus process and the endpoints it bound.
struct BusProcess {
  std::unique_ptr<Process> process;
  std::string pub;  // "tcp://127.0.0.1:<port>"; empty when the bus did not get there
  std::string sub;
};

/// Starts coapgw-bus on loopback ports it picks itself (tcp://127.0.0.1:*) with `env` added, and
/// waits up to `timeout` for its "forwarding" line, which names them.
BusProcess StartBus(std::chrono::milliseconds timeout, std::map<std::string, std::string> env = {});

/// A free loopback port (bound and released): only for a socket of the test itself or a port
/// nothing binds, since another process may take it before a child binds it.
uint16_t FreeTcpPort();
uint16_t FreeUdpPort();

/// A free loopback port below the kernel's ephemeral range: a process restarted on it finds it
/// free again, where an ephemeral port may meanwhile have gone to a client socket of another
/// process (tests run in parallel).
uint16_t StableTcpPort();
uint16_t StableUdpPort();

}  // namespace coapgw::test
