#pragma once

// The running system of an observer process test: the real coapgw-bus and coapgw-rd on a fresh
// PostgreSQL database (parts of a test::Stack), any number of coapgw-observer processes,
// a subscriber that records what the observers publish, and simulated devices (one coap::Server
// on loopback, one UDP endpoint per device, registered with the RD as a third party).

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <zmq.hpp>

#include "coapgw/bus/publisher.hpp"
#include "coapgw/coap/client.hpp"
#include "coapgw/coap/context.hpp"
#include "coapgw/coap/server.hpp"
#include "coapgw/events/messages.hpp"
#include "coapgw/test/process.hpp"
#include "coapgw/test/stack.hpp"

namespace coapgw::observer::test {

using std::chrono::milliseconds;

/// One observer.data message: the publishing instance and the decoded data.
struct SeenData {
  std::string instance;
  events::ObservedData data;
};

/// Records observer.data, observer.heartbeat and rd.device.* from the bus on its own thread.
class BusRecorder {
 public:
  BusRecorder(zmq::context_t& context, const std::string& sub_endpoint);
  ~BusRecorder();
  BusRecorder(const BusRecorder&) = delete;
  BusRecorder& operator=(const BusRecorder&) = delete;
  BusRecorder(BusRecorder&&) = delete;
  BusRecorder& operator=(BusRecorder&&) = delete;

  std::vector<SeenData> Data() const;
  void ClearData();
  /// The latest heartbeat of each instance.
  std::map<std::string, events::ObserverHeartbeat> Heartbeats() const;
  /// The latest rd.device.* record per endpoint name.
  std::optional<events::Device> Device(const std::string& endpoint) const;

 private:
  mutable std::mutex mutex_;
  std::vector<SeenData> data_;
  std::map<std::string, events::ObserverHeartbeat> heartbeats_;
  std::map<std::string, events::Device> devices_;
  std::shared_ptr<std::atomic<bool>> stop_;
  std::thread thread_;
};

/// Simulated devices: one coap::Server on its own loop, one loopback endpoint per device, each
/// device with one resource whose GET answers "<path>#<counter>" (text, no Content-Format).
class DeviceFarm {
 public:
  DeviceFarm();
  ~DeviceFarm();
  DeviceFarm(const DeviceFarm&) = delete;
  DeviceFarm& operator=(const DeviceFarm&) = delete;
  DeviceFarm(DeviceFarm&&) = delete;
  DeviceFarm& operator=(DeviceFarm&&) = delete;

  /// A new endpoint on 127.0.0.1 (its port) serving `path`; `observable` decides whether it
  /// accepts observations; `max_age` is sent with every response.
  uint16_t AddDevice(const std::string& path, bool observable,
                     std::optional<uint32_t> max_age = std::nullopt);
  /// Another resource on the same server (every endpoint serves every path).
  void AddResource(const std::string& path, bool observable);
  /// Increments the counter of `path` and notifies its observers.
  void Notify(const std::string& path);
  /// Observers of `path` the server knows.
  size_t Observers(const std::string& path);
  /// Closes / reopens the endpoint at `port` (the device goes away / comes back).
  bool Close(uint16_t port);
  bool Reopen(uint16_t port);

  /// A request to coap://127.0.0.1:`port``target` from the farm's client; waits for the answer.
  coap::Outcome<coap::ClientResponse> Send(coap::Method method, uint16_t port,
                                           const std::string& target, std::string payload = {},
                                           std::optional<uint16_t> content_format = std::nullopt);

 private:
  void AddResourceOnLoop(const std::string& path, bool observable, std::optional<uint32_t> max_age);

  coap::ContextThread loop_;
  std::unique_ptr<coap::Server> server_;
  std::unique_ptr<coap::Client> client_;
  std::map<std::string, int> counters_;  // loop thread
};

/// Bus + RD (+ database) + observers.
class ObserverStack {
 public:
  /// Creates the database and picks ports; starts nothing.
  ObserverStack();
  ~ObserverStack();
  ObserverStack(const ObserverStack&) = delete;
  ObserverStack& operator=(const ObserverStack&) = delete;
  ObserverStack(ObserverStack&&) = delete;
  ObserverStack& operator=(ObserverStack&&) = delete;

  /// Starts coapgw-bus, the recorder, and coapgw-rd; false (with the logs in `error`) when they
  /// are not ready within 20 s.
  bool Start(std::string* error);
  /// Starts a coapgw-observer with the test timings (heartbeat 200 ms, poll 500 ms, ...)
  /// overridden by `extra`, and waits until it is ready (mirror synced). Returns its index, or -1
  /// (with its log in `error`).
  int StartObserver(const std::map<std::string, std::string>& extra = {},
                    std::string* error = nullptr);
  coapgw::test::Process& observer(int index) { return *observers_.at(index).process; }
  uint16_t observer_http_port(int index) const { return observers_.at(index).http_port; }
  /// The instance id (bus publisher id) of observer `index`, from its log ("" if not yet known).
  std::string InstanceId(int index);
  /// Everything every process wrote to stderr, for failure messages.
  std::string Logs();

  /// Third-party registration: POST /rd?ep=`ep`&base=`base`&lt=3600 with `links`; the location,
  /// or "" when the RD did not answer 2.01.
  std::string Register(DeviceFarm& farm, const std::string& ep, const std::string& base,
                       const std::string& links) const;
  /// Publishes a pinger.device.liveness verdict (as the pinger would) until the RD's
  /// rd.device.status for it shows `reachable`; false after 5 s.
  bool SetReachable(const std::string& endpoint, bool reachable);

  BusRecorder& recorder() { return *recorder_; }
  uint16_t rd_port() const { return stack_.rd_port(); }

 private:
  struct Observer {
    std::unique_ptr<coapgw::test::Process> process;
    uint16_t http_port = 0;
  };

  coapgw::test::Stack stack_;  // its bus and RD only
  zmq::context_t zmq_context_;
  std::unique_ptr<BusRecorder> recorder_;
  std::unique_ptr<bus::Publisher> publisher_;
  std::vector<Observer> observers_;
};

}  // namespace coapgw::observer::test
