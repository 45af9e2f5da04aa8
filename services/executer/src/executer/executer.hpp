#pragma once

// The executer's engine: ws.command in, CoAP exchange with the device, executer.command-result
// out. Runs on the loop thread of a coap::Context, together with the coap::Client it uses and the
// device mirror it reads addresses from.
//
// Per command: checked (deadline, payload size, device known and connected), queued per device
// (CommandQueue: NSTART per device, a global cap, bounded queues), started when its turn comes
// with the device's address looked up at that moment (so a device that moved is reached where it
// is now), sent as a CON request with the remaining time to the deadline as its exchange
// deadline, and answered with exactly one result. Commands still waiting at their deadline get
// `timeout`; a late CoAP response is discarded by the client.

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "coapgw/coap/client.hpp"
#include "coapgw/coap/context.hpp"
#include "coapgw/devices/device_mirror.hpp"
#include "coapgw/events/messages.hpp"
#include "executer/command_queue.hpp"
#include "executer/wake_timer.hpp"

namespace coapgw::executer {

/// What the executer needs to know about devices: the RD's current records. The service wires it
/// to a devices::DeviceMirror; tests fill it by hand.
class DeviceLookup {
 public:
  virtual ~DeviceLookup() = default;
  /// The device's current record, or nullptr when the RD has no such device.
  virtual const events::Device* Find(const std::string& device_id) const = 0;
  /// False until the records are complete (first snapshot) and while a resync is pending:
  /// commands then wait instead of being answered from possibly stale addresses.
  virtual bool synced() const = 0;
};

/// A DeviceLookup over a devices::DeviceMirror (set with Attach before the loop runs).
class MirrorLookup final : public DeviceLookup {
 public:
  void Attach(const devices::DeviceMirror* mirror) { mirror_ = mirror; }
  const events::Device* Find(const std::string& device_id) const override;
  bool synced() const override;

 private:
  const devices::DeviceMirror* mirror_ = nullptr;
};

struct ExecuterOptions {
  QueueLimits limits;
  /// Largest request payload sent (else `too-large` without sending) and response body passed
  /// on (else `too-large`). The coap::Context's ContextOptions::max_body_size bounds what libcoap
  /// reassembles at all; it must not be below this value.
  size_t max_body_bytes = size_t{1024} * 1024;
  /// Upper bound on the time a command may take, whatever its `deadline` says (a far-future
  /// deadline from a skewed clock must not hold a queue slot forever).
  std::chrono::milliseconds command_timeout{10000};
  /// Block size for block-wise transfers (16..1024; 0: libcoap's choice, 1024).
  uint16_t block_size = 0;
};

/// Counters since construction (loop thread).
struct ExecuterStats {
  uint64_t received = 0;
  uint64_t started = 0;   // exchanges sent to devices
  uint64_t results = 0;   // results published (one per command received)
  uint64_t rejected = 0;  // refused because a queue was full
  uint64_t timeouts = 0;  // results with code `timeout`
};

class Executer final : public devices::DeviceListener {
 public:
  using ResultSink = std::function<void(const events::CommandResult&)>;

  /// `context`, `client` and `devices` must outlive the executer. `sink` publishes each result
  /// (exactly once per command), on the loop thread.
  Executer(coap::Context& context, coap::Client& client, const DeviceLookup& devices,
           ExecuterOptions options, ResultSink sink);
  ~Executer() override;
  Executer(const Executer&) = delete;
  Executer& operator=(const Executer&) = delete;
  Executer(Executer&&) = delete;
  Executer& operator=(Executer&&) = delete;

  /// Takes one command (loop thread). Its result comes through the sink, possibly at once.
  void Submit(events::Command command);

  /// Answers every waiting and in-flight command with `error` ("executer stopping") and refuses
  /// later ones the same way. Call before destroying the Client.
  void Shutdown();

  // devices::DeviceListener: a device that went away or became disconnected fails its waiting
  // commands; a completed snapshot lets waiting commands start.
  void OnDeviceUpsert(const events::Device& device, const events::Device* before,
                      const std::vector<events::DeviceChange>& changes) override;
  void OnDeviceGone(const events::Device& device, devices::GoneReason reason) override;
  void OnSynced(size_t devices) override;

  const ExecuterStats& stats() const { return stats_; }
  const CommandQueue& queue() const { return queue_; }

 private:
  struct InFlight {
    Job job;
    coap::RequestId request = 0;
  };

  void Pump();
  void Start(Job job);
  void OnResponse(uint64_t key, const coap::Outcome<coap::ClientResponse>& outcome);
  void Fail(const Job& job, std::string_view code, std::string detail);
  void Publish(const events::CommandResult& result);
  void OnExpiry();

  coap::Client& client_;
  const DeviceLookup& devices_;
  ExecuterOptions options_;
  ResultSink sink_;
  CommandQueue queue_;
  std::map<uint64_t, InFlight> in_flight_;  // by local key
  uint64_t next_key_ = 1;
  WakeTimer expiry_;  // at the earliest deadline of a waiting command
  bool stopping_ = false;
  ExecuterStats stats_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace coapgw::executer
