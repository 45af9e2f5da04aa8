#pragma once

// The running system of a device-sim process test: a fresh PostgreSQL database (TestDatabase of
// tests/services/rd), the real coapgw-bus and coapgw-rd on loopback ports they bind themselves,
// and any number of coapgw-device-sim processes, each with its HTTP control API on a port it binds
// itself (all read back from the processes' logs).

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "coapgw/test/process.hpp"
#include "pg_fixture.hpp"
#include "sim_testing.hpp"

namespace coapgw::device_sim::test {

/// coapgw-bus and coapgw-rd on a fresh database; both stopped (and the database dropped) by the
/// destructor.
class RdStack {
 public:
  RdStack();
  ~RdStack();
  RdStack(const RdStack&) = delete;
  RdStack& operator=(const RdStack&) = delete;
  RdStack(RdStack&&) = delete;
  RdStack& operator=(RdStack&&) = delete;

  /// Starts the bus, then the RD; false (with the logs in `error`) when either was not ready
  /// within 10 s.
  bool Start(std::string* error);
  /// "coap://127.0.0.1:<port>".
  std::string RdUri() const;
  /// GET `target` ("/rd-lookup/ep?ep=x") from the RD: the payload of a 2.05, else "<what>".
  std::string Get(const std::string& target);
  /// Everything the RD wrote to stderr.
  std::string RdLog() const;
  const rd::test::TestDatabase& database() const { return database_; }

 private:
  rd::test::TestDatabase database_;
  uint16_t rd_port_ = 0;  // from the RD's log
  std::unique_ptr<coapgw::test::Process> bus_;
  std::unique_ptr<coapgw::test::Process> rd_;
  BlockingClient coap_;
};

/// A coapgw-device-sim process.
class SimProcess {
 public:
  /// Starts the binary with `env` (COAPGW_DEVICE_SIM_CONTROL is added) and waits up to 10 s for
  /// `ready` in its stderr; started() says whether it came.
  explicit SimProcess(std::map<std::string, std::string> env,
                      const std::string& ready = "all devices registered");

  bool started() const { return started_; }
  coapgw::test::Process& process() { return *process_; }
  uint16_t control_port() const { return control_port_; }

  /// GET /devices.
  std::vector<SimDevice> Devices() const;
  SimDevice Device(size_t index) const;
  /// POST /devices/<id>/<action>: the HTTP status and the body.
  std::pair<int, std::string> Control(const std::string& id, const std::string& action) const;

 private:
  uint16_t control_port_ = 0;  // from its log
  std::unique_ptr<coapgw::test::Process> process_;
  bool started_ = false;
};

}  // namespace coapgw::device_sim::test
