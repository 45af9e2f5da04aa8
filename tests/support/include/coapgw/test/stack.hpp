#pragma once

// The whole gateway as real processes, for end-to-end tests: coapgw-bus, coapgw-rd on a fresh
// PostgreSQL database (TestDatabase, from COAPGW_TEST_DATABASE_URL), coapgw-platform-sim,
// coapgw-ws-connector, coapgw-executer, coapgw-pinger, coapgw-observer and coapgw-device-sim, each
// on loopback ports picked once (below the ephemeral range, so a restarted part finds its port
// free again) and each killable and restartable on its own.
//
//   Stack stack;                                   // picks ports, creates the database
//   std::string error;
//   ASSERT_TRUE(stack.Start(&error)) << error;     // every part, in order, each waited ready
//   stack.Kill(Stack::Part::kRd);                  // SIGKILL
//   ASSERT_TRUE(stack.StartPart(Stack::Part::kRd, &error)) << error;
//   auto state = stack.PlatformGet("/api/state");
//   ADD_FAILURE() << stack.Tail(Stack::Part::kWsConnector);

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <rapidjson/document.h>

#include "coapgw/events/messages.hpp"
#include "coapgw/test/process.hpp"
#include "ws_testing.hpp"

namespace coapgw::rd::test {
class TestDatabase;
}

namespace coapgw::test {

/// What the stack is started with; the defaults suit tests (fast pings, polls and ticks).
struct StackOptions {
  int devices = 3;                             // coapgw-device-sim devices
  std::string device_type = "iot#e2e-device";  // their et= (a platform device type)
  std::string device_prefix = "e2e";           // endpoint names <prefix>-<i>
  std::string device_interval = "500ms";       // sensor ticks (notifications)
  std::string poll_interval = "1s";            // observer polls of non-observable links
  std::string observer_filter = "if=core.s";   // the sensors only
  std::string ping_interval = "1s";            // pinger
  std::string ping_timeout = "600ms";
  std::string ping_misses = "2";
  std::string log_level = "info";  // every part; info or debug (HTTP ports are read from the logs)
  /// The platform's device types (JSON, written to the file COAPGW_PLATFORM_SIM_DEVICE_TYPES
  /// names). Empty: device_type with the services of the simulated devices, so that the platform
  /// refuses events of other services.
  std::string platform_device_types;
  /// Extra environment per part, by Stack::Name() ("coapgw-observer" → {"COAPGW_…", "…"}).
  std::map<std::string, std::map<std::string, std::string>> extra_env;
};

class Stack {
 public:
  /// The processes, in start order.
  enum class Part {
    kBus,
    kRd,
    kPlatformSim,
    kWsConnector,
    kExecuter,
    kPinger,
    kObserver,
    kDeviceSim,
  };
  static constexpr std::array<Part, 8> kParts = {
      Part::kBus,      Part::kRd,     Part::kPlatformSim, Part::kWsConnector,
      Part::kExecuter, Part::kPinger, Part::kObserver,    Part::kDeviceSim};

  /// The binary's name, e.g. "coapgw-ws-connector".
  static std::string Name(Part part);

  /// Creates the database and picks the ports; starts nothing. Throws when the database cannot be
  /// created (COAPGW_TEST_DATABASE_URL unset or the server unreachable).
  explicit Stack(StackOptions options = {});
  /// Stops what still runs (SIGTERM, then SIGKILL), in reverse start order; drops the database.
  ~Stack();
  Stack(const Stack&) = delete;
  Stack& operator=(const Stack&) = delete;

  /// Starts every part not running, in start order, each waited ready (see StartPart). False,
  /// with the failing part and every log tail in `error`, when one was not.
  bool Start(std::string* error);
  /// Starts `part` (again, after a Kill or Stop) and waits until it is ready: /readyz 200 (the
  /// ws-connector: connected and synced; the device simulator: every device registered once),
  /// the platform simulator's /api/state. False, with its log tail in `error`, after 20 s.
  bool StartPart(Part part, std::string* error);
  /// SIGTERM to every running part in reverse start order; true when each exited 0 within 5 s
  /// (the contract's clean stop; a sanitizer report at exit fails it too). Otherwise false, with
  /// the parts that did not and their log tails in `error`.
  bool StopAll(std::string* error);
  /// SIGKILL and reap (nothing of the part's shutdown runs).
  void Kill(Part part);
  /// SIGTERM; the exit code, or nullopt when it did not end within 5 s (then it is killed).
  std::optional<int> Stop(Part part);
  bool Running(Part part);
  /// The part's current process; nullptr before its first start.
  Process* process(Part part);

  /// The last `lines` lines the part wrote to stderr (in this and, marked, earlier runs).
  std::string Tail(Part part, size_t lines = 40) const;
  /// Tail() of every part that ran.
  std::string Tails(size_t lines = 25) const;

  const rd::test::TestDatabase& database() const { return *database_; }
  uint16_t rd_port() const { return rd_port_; }
  std::string rd_uri() const;
  std::string bus_pub() const { return bus_pub_; }
  std::string bus_sub() const { return bus_sub_; }
  uint16_t platform_port() const { return platform_port_; }
  uint16_t device_control_port() const { return device_control_port_; }
  /// The part's /healthz, /readyz, /metrics port (the device simulator's is its control port).
  /// Each process binds it itself and logs it: a new one at every start, 0 before the first.
  uint16_t http_port(Part part) const;

  /// GET `target` from the platform simulator's control API: the JSON body, IsNull unless 200.
  rapidjson::Document PlatformGet(const std::string& target) const;
  /// POST `body` (JSON) to the platform simulator's control API.
  ws::test::HttpResult PlatformPost(const std::string& target, const std::string& body) const;
  /// POST /devices/<id>/<action> to the device simulator's control API.
  ws::test::HttpResult DeviceAction(const std::string& id, const std::string& action) const;
  /// GET `target` from the device simulator's control API: the JSON body, IsNull unless 200.
  rapidjson::Document DeviceSimGet(const std::string& target) const;
  /// A metric's value from the part's /metrics (the sum over its label sets); nullopt when the
  /// part does not answer or has no such metric.
  std::optional<double> Metric(Part part, const std::string& name) const;

  /// The RD's device records (GET /coapgw/devices over CoAP); nullopt when the RD did not answer
  /// with a snapshot within 5 s.
  std::optional<std::vector<events::Device>> RdDevices();

 private:
  struct Slot {
    std::unique_ptr<Process> process;
    std::string earlier_logs;  // stderr of earlier runs, each headed by how it ended
    int runs = 0;
  };
  class RdClient;

  std::map<std::string, std::string> EnvOf(Part part) const;
  std::vector<std::string> ArgvOf(Part part) const;
  bool Ready(Part part);

  StackOptions options_;
  std::unique_ptr<rd::test::TestDatabase> database_;
  uint16_t rd_port_;
  std::string bus_pub_;
  std::string bus_sub_;
  uint16_t platform_port_;
  uint16_t device_control_port_ = 0;  // = http_ports_[kDeviceSim]
  std::map<Part, uint16_t> http_ports_;
  std::map<Part, Slot> slots_;
  std::unique_ptr<RdClient> rd_client_;
  ws::test::TempDir files_;
};

}  // namespace coapgw::test
