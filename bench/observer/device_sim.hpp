#pragma once

// A compact simulator of many observable CoAP devices for the observer benchmark: raw UDP on
// loopback, no libcoap, so that it costs far less than the observer it feeds. Devices share a
// few sockets (device k lives on socket k % sockets at path /d/<k>), since what is measured is
// the observer's cost per notification, not the kernel's per socket.
//
// It answers GET (plain, Observe=0 registration, Observe=1 deregistration) with 2.05 and sends
// NON notifications to the registered observers, round-robin, at a given aggregate rate. Each
// notification's payload is "<device>:<sequence>" with a sequence number unique over the run, so
// that a receiver can tell a duplicate. Runs on its own thread.

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace coapgw::bench {

struct DeviceSimOptions {
  int devices = 10000;
  int sockets = 100;
  uint32_t max_age_s = 3600;  // sent with every response
};

class DeviceSim {
 public:
  /// Binds the sockets on 127.0.0.1 (ephemeral ports) and starts the thread. Throws
  /// std::runtime_error when a socket cannot be made.
  explicit DeviceSim(DeviceSimOptions options);
  ~DeviceSim();
  DeviceSim(const DeviceSim&) = delete;
  DeviceSim& operator=(const DeviceSim&) = delete;

  /// The port device `k` listens on.
  uint16_t PortOf(int device) const;
  /// The path of device `k`'s resource, "/d/<k>".
  static std::string PathOf(int device);

  /// Starts (rate > 0) or stops (0) the notifications: `rate` per second over all relations.
  void SetRate(double rate);

  /// Active observe relations, and devices with at least / more than one.
  int64_t relations() const { return relations_.load(); }
  int64_t observed_devices() const { return observed_devices_.load(); }
  int64_t multiply_observed_devices() const { return multiply_observed_.load(); }
  /// Notifications sent, and those the kernel refused (send buffer full).
  uint64_t sent() const { return sent_.load(); }
  uint64_t send_failures() const { return send_failures_.load(); }
  uint64_t requests() const { return requests_.load(); }

 private:
  struct State;  // the simulator thread's (sockets, relations)
  void Run();
  void Receive(size_t socket_index);
  void Notify(uint64_t count);

  DeviceSimOptions options_;
  std::unique_ptr<State> state_;
  std::vector<uint16_t> ports_;
  std::atomic<double> rate_{0};
  std::atomic<bool> stopping_{false};
  std::atomic<int64_t> relations_{0};
  std::atomic<int64_t> observed_devices_{0};
  std::atomic<int64_t> multiply_observed_{0};
  std::atomic<uint64_t> sent_{0};
  std::atomic<uint64_t> send_failures_{0};
  std::atomic<uint64_t> requests_{0};
  std::thread thread_;
};

}  // namespace coapgw::bench
