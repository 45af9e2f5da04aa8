#include "executer/executer.hpp"

#include <algorithm>
#include <utility>

#include "coapgw/common/log.hpp"
#include "executer/coap_mapping.hpp"

namespace coapgw::executer {
namespace {

using std::chrono::milliseconds;
using SteadyClock = std::chrono::steady_clock;

constexpr char kLog[] = "executer";
constexpr char kStopping[] = "executer stopping";

// Decoded size of a payload without decoding it (base64: 3 bytes per 4 characters, less padding).
size_t PayloadSize(const events::Payload& payload) {
  if (payload.encoding != events::PayloadEncoding::kBase64) {
    return payload.data.size();
  }
  const std::string& data = payload.data;
  size_t padding = 0;
  for (size_t i = data.size(); i > 0 && data[i - 1] == '=' && padding < 2; --i) {
    ++padding;
  }
  return (data.size() - padding) * 3 / 4;
}

// From the command's arrival until now.
milliseconds Elapsed(const Job& job) {
  return std::chrono::duration_cast<milliseconds>(SteadyClock::now() - job.received);
}

// A command reduced to what a result needs, for commands whose Job was handed to the queue.
events::Command Stub(const events::Command& command) {
  events::Command stub;
  stub.command_id = command.command_id;
  stub.device_id = command.device_id;
  stub.service = command.service;
  return stub;
}

}  // namespace

const events::Device* MirrorLookup::Find(const std::string& device_id) const {
  return mirror_ == nullptr ? nullptr : mirror_->Find(device_id);
}

bool MirrorLookup::synced() const {
  return mirror_ != nullptr && mirror_->synced();
}

Executer::Executer(coap::Context& context, coap::Client& client, const DeviceLookup& devices,
                   ExecuterOptions options, ResultSink sink)
    : client_(client),
      devices_(devices),
      options_(options),
      sink_(std::move(sink)),
      queue_(options.limits),
      expiry_(context, [this] { OnExpiry(); }) {}

Executer::~Executer() {
  *alive_ = false;
}

void Executer::Submit(events::Command command) {
  ++stats_.received;
  const SteadyTime now = SteadyClock::now();
  const auto remaining = std::min(
      std::chrono::duration_cast<milliseconds>(command.deadline - std::chrono::system_clock::now()),
      options_.command_timeout);
  Job job{std::move(command), now, now + remaining};
  if (stopping_) {
    Fail(job, events::kCodeError, kStopping);
    return;
  }
  // The device before the deadline: "unknown-device" says more than "timeout", and a command
  // whose deadline has passed thereby probes whether the executer knows a device without ever
  // reaching it (the integration tests do).
  if (devices_.synced()) {
    const events::Device* device = devices_.Find(job.command.device_id);
    if (device == nullptr) {
      Fail(job, events::kCodeUnknownDevice, "the RD has no device with this id");
      return;
    }
    if (device->status == events::DeviceStatus::kDisconnected) {
      Fail(job, events::kCodeDeviceDisconnected, "the RD marks the device disconnected");
      return;
    }
  }
  if (remaining.count() <= 0) {
    Fail(job, events::kCodeTimeout, "the deadline had passed when the command arrived");
    return;
  }
  const size_t size = PayloadSize(job.command.payload);
  if (size > options_.max_body_bytes) {
    Fail(job, events::kCodeTooLarge,
         "payload of " + std::to_string(size) + " bytes exceeds the limit of " +
             std::to_string(options_.max_body_bytes));
    return;
  }
  const Job stub{Stub(job.command), job.received, job.deadline};
  switch (queue_.Add(std::move(job))) {
    case Admission::kQueued:
      break;
    case Admission::kDeviceQueueFull:
      ++stats_.rejected;
      Fail(stub, events::kCodeError,
           "queue full: " + std::to_string(options_.limits.device_queue) +
               " commands already wait for this device");
      return;
    case Admission::kQueueFull:
      ++stats_.rejected;
      Fail(stub, events::kCodeError,
           "queue full: " + std::to_string(options_.limits.max_queued) +
               " commands already wait in total");
      return;
  }
  expiry_.WakeAt(*queue_.NextDeadline());
  Pump();
}

void Executer::Pump() {
  if (stopping_ || !devices_.synced()) {
    return;
  }
  // Start() may finish a job at once (unknown device, bad base), which frees its slot: go on
  // until nothing more can start.
  for (;;) {
    std::vector<Job> startable = queue_.TakeStartable();
    if (startable.empty()) {
      return;
    }
    for (Job& job : startable) {
      Start(std::move(job));
    }
  }
}

void Executer::Start(Job job) {
  const std::string device_id = job.command.device_id;
  const auto finish = [&](std::string_view code, std::string detail) {
    queue_.Finished(device_id);
    Fail(job, code, std::move(detail));
  };
  const events::Device* device = devices_.Find(device_id);
  if (device == nullptr) {
    finish(events::kCodeUnknownDevice, "the RD has no device with this id");
    return;
  }
  if (device->status == events::DeviceStatus::kDisconnected) {
    finish(events::kCodeDeviceDisconnected, "the RD marks the device disconnected");
    return;
  }
  const auto remaining = std::chrono::ceil<milliseconds>(job.deadline - SteadyClock::now());
  if (remaining.count() <= 0) {
    finish(events::kCodeTimeout, "the deadline passed while the command waited");
    return;
  }
  auto request = BuildRequest(job.command, device->base);
  if (!request.ok()) {
    finish(events::kCodeError, request.error().message);
    return;
  }
  coap::RequestOptions request_options;
  request_options.confirmable = true;
  request_options.timeout = remaining;
  request_options.block_size = options_.block_size;
  if (log::Enabled(log::Level::kDebug)) {  // the fields cost more than the check
    log::Debug(kLog, "sending",
               {{"command_id", job.command.command_id},
                {"device_id", device_id},
                {"service", job.command.service},
                {"to", request->endpoint.ToUri()}});
  }
  const uint64_t key = next_key_++;
  InFlight& slot = in_flight_[key];
  slot.job = std::move(job);
  ++stats_.started;
  // The callback never runs inside Send, so the slot exists when it does.
  slot.request =
      client_.Send(std::move(*request), request_options,
                   [this, alive = alive_, key](const coap::Outcome<coap::ClientResponse>& outcome) {
                     if (*alive) {
                       OnResponse(key, outcome);
                     }
                   });
}

void Executer::OnResponse(uint64_t key, const coap::Outcome<coap::ClientResponse>& outcome) {
  const auto it = in_flight_.find(key);
  if (it == in_flight_.end()) {
    return;  // already answered (Shutdown)
  }
  const Job job = std::move(it->second.job);
  in_flight_.erase(it);
  queue_.Finished(job.command.device_id);
  if (outcome.ok() && outcome->payload.size() > options_.max_body_bytes) {
    Publish(FailedResult(job.command, events::kCodeTooLarge,
                         "response body of " + std::to_string(outcome->payload.size()) +
                             " bytes exceeds the limit of " +
                             std::to_string(options_.max_body_bytes),
                         Elapsed(job)));
  } else {
    Publish(ResultOf(job.command, outcome, Elapsed(job)));
  }
  Pump();
}

void Executer::Fail(const Job& job, std::string_view code, std::string detail) {
  Publish(FailedResult(job.command, code, std::move(detail), Elapsed(job)));
}

void Executer::Publish(const events::CommandResult& result) {
  ++stats_.results;
  if (result.code == events::kCodeTimeout) {
    ++stats_.timeouts;
  }
  const bool success = IsResponseCode(result.code) && result.code.front() == '2';
  const log::Level level = success ? log::Level::kDebug : log::Level::kInfo;
  if (log::Enabled(level)) {
    log::Write(level, kLog, "command done",
               {{"command_id", result.command_id},
                {"device_id", result.device_id},
                {"code", result.code},
                {"duration_ms", std::to_string(result.duration.count())},
                {"detail", result.detail.value_or("")}});
  }
  sink_(result);
}

void Executer::OnExpiry() {
  const std::string detail = devices_.synced()
                                 ? "the deadline passed while earlier commands for the device ran"
                                 : "the deadline passed while waiting for the RD's device list";
  for (const Job& job : queue_.TakeExpired(SteadyClock::now())) {
    Fail(job, events::kCodeTimeout, detail);
  }
  if (const auto next = queue_.NextDeadline()) {
    expiry_.WakeAt(*next);
  }
}

void Executer::Shutdown() {
  stopping_ = true;
  expiry_.Cancel();
  for (const Job& job : queue_.TakeAllWaiting()) {
    Fail(job, events::kCodeError, kStopping);
  }
  std::map<uint64_t, InFlight> running;
  running.swap(in_flight_);
  for (auto& [key, slot] : running) {
    client_.Cancel(slot.request);  // its callback finds no slot and does nothing
    queue_.Finished(slot.job.command.device_id);
    Fail(slot.job, events::kCodeError, kStopping);
  }
}

void Executer::OnDeviceUpsert(const events::Device& device, const events::Device* before,
                              const std::vector<events::DeviceChange>& changes) {
  (void)before;
  (void)changes;
  if (device.status == events::DeviceStatus::kDisconnected) {
    for (const Job& job : queue_.TakeWaiting(device.device_id)) {
      Fail(job, events::kCodeDeviceDisconnected, "the RD marked the device disconnected");
    }
    return;
  }
  Pump();
}

void Executer::OnDeviceGone(const events::Device& device, devices::GoneReason reason) {
  const char* why = reason == devices::GoneReason::kRemoved   ? "the device was removed"
                    : reason == devices::GoneReason::kExpired ? "the device's registration expired"
                                                              : "the device left the RD";
  for (const Job& job : queue_.TakeWaiting(device.device_id)) {
    Fail(job, events::kCodeUnknownDevice, why);
  }
}

void Executer::OnSynced(size_t devices) {
  (void)devices;
  Pump();
}

}  // namespace coapgw::executer
