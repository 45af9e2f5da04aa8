#include "observer_harness.hpp"

#include <signal.h>

#include <atomic>
#include <future>
#include <stdexcept>

#include "coapgw/bus/subscriber.hpp"
#include "coapgw/events/codec.hpp"
#include "coapgw/test/wait.hpp"

namespace coapgw::observer::test {
namespace {

using coapgw::test::BinaryPath;
using coapgw::test::Process;
using coapgw::test::Stack;
using coapgw::test::WaitReady;
using coapgw::test::WaitUntil;

constexpr milliseconds kStartTimeout{10000};

}  // namespace

BusRecorder::BusRecorder(zmq::context_t& context, const std::string& sub_endpoint) {
  // Subscribed here, in the caller's thread, so that the subscription exists when this returns.
  auto subscriber = std::make_shared<bus::Subscriber>(
      context, sub_endpoint, std::vector<std::string>{"observer.", "rd.device."});
  auto stopping = std::make_shared<std::atomic<bool>>(false);
  stop_ = stopping;
  thread_ = std::thread([this, subscriber, stopping] {
    while (!stopping->load()) {
      auto message = subscriber->Receive(milliseconds(50));
      if (!message) {
        continue;
      }
      const std::lock_guard<std::mutex> lock(mutex_);
      if (message->topic == events::ObservedData::kTopic) {
        auto data = events::DecodeObservedData(message->data());
        if (data.ok()) {
          data_.push_back({message->publisher, std::move(*data)});
        }
      } else if (message->topic == events::ObserverHeartbeat::kTopic) {
        auto heartbeat = events::DecodeObserverHeartbeat(message->data());
        if (heartbeat.ok()) {
          heartbeats_[heartbeat->instance_id] = *heartbeat;
        }
      } else {
        // Every rd.device.* message carries the whole record under the same keys.
        auto record = events::DecodeDeviceRegistered(message->data());
        if (record.ok()) {
          devices_[record->device.endpoint] = record->device;
        }
      }
    }
  });
}

BusRecorder::~BusRecorder() {
  stop_->store(true);
  thread_.join();
}

std::vector<SeenData> BusRecorder::Data() const {
  const std::lock_guard<std::mutex> lock(mutex_);
  return data_;
}

void BusRecorder::ClearData() {
  const std::lock_guard<std::mutex> lock(mutex_);
  data_.clear();
}

std::map<std::string, events::ObserverHeartbeat> BusRecorder::Heartbeats() const {
  const std::lock_guard<std::mutex> lock(mutex_);
  return heartbeats_;
}

std::optional<events::Device> BusRecorder::Device(const std::string& endpoint) const {
  const std::lock_guard<std::mutex> lock(mutex_);
  const auto it = devices_.find(endpoint);
  if (it == devices_.end()) {
    return std::nullopt;
  }
  return it->second;
}

DeviceFarm::DeviceFarm() {
  loop_.Call([&] {
    server_ = std::make_unique<coap::Server>(loop_.context());
    client_ = std::make_unique<coap::Client>(loop_.context());
  });
}

DeviceFarm::~DeviceFarm() {
  loop_.Call([&] {
    client_.reset();
    server_.reset();
  });
}

uint16_t DeviceFarm::AddDevice(const std::string& path, bool observable,
                               std::optional<uint32_t> max_age) {
  return loop_.Call([&]() -> uint16_t {
    auto bound = server_->AddEndpoint("127.0.0.1:0");
    if (!bound.ok()) {
      throw std::runtime_error("device endpoint: " + bound.error().message);
    }
    AddResourceOnLoop(path, observable, max_age);
    return bound->port;
  });
}

void DeviceFarm::AddResource(const std::string& path, bool observable) {
  loop_.Call([&] { AddResourceOnLoop(path, observable, std::nullopt); });
}

void DeviceFarm::AddResourceOnLoop(const std::string& path, bool observable,
                                   std::optional<uint32_t> max_age) {
  coap::ResourceOptions options;
  options.observable = observable;
  server_->AddResource(path, options)
      .On(coap::Method::kGet,
          [this, path, max_age](const coap::Request& request, coap::Response& response) {
            (void)request;
            response.SetPayload(path + "#" + std::to_string(counters_[path]));
            if (max_age) {
              response.SetMaxAge(*max_age);
            }
          });
}

void DeviceFarm::Notify(const std::string& path) {
  loop_.Call([&] {
    ++counters_[path];
    return server_->NotifyObservers(path);
  });
}

size_t DeviceFarm::Observers(const std::string& path) {
  return loop_.Call([&] { return server_->ObserverCount(path); });
}

bool DeviceFarm::Close(uint16_t port) {
  return loop_.Call([&] {
    for (const auto& endpoint : server_->endpoints()) {
      if (endpoint.port == port) {
        return server_->RemoveEndpoint(endpoint);
      }
    }
    return false;
  });
}

bool DeviceFarm::Reopen(uint16_t port) {
  return loop_.Call([&] { return server_->AddEndpoint("127.0.0.1:" + std::to_string(port)).ok(); });
}

coap::Outcome<coap::ClientResponse> DeviceFarm::Send(coap::Method method, uint16_t port,
                                                     const std::string& target, std::string payload,
                                                     std::optional<uint16_t> content_format) {
  auto request =
      coap::ClientRequest::FromUri(method, "coap://127.0.0.1:" + std::to_string(port) + target);
  if (!request.ok()) {
    return coap::Outcome<coap::ClientResponse>(coap::Failure::kInvalid, request.error().message);
  }
  request->payload = std::move(payload);
  request->content_format = content_format;
  auto promise = std::make_shared<std::promise<coap::Outcome<coap::ClientResponse>>>();
  auto future = promise->get_future();
  loop_.Call([&] {
    coap::RequestOptions options;
    options.timeout = milliseconds(5000);
    client_->Send(*request, options, [promise](coap::Outcome<coap::ClientResponse> outcome) {
      promise->set_value(std::move(outcome));
    });
  });
  return future.get();
}

ObserverStack::ObserverStack() = default;

ObserverStack::~ObserverStack() {
  // All observers stop at the same time (each lingers a moment for its deregistrations).
  for (auto& observer : observers_) {
    if (observer.process->running()) {
      ::kill(observer.process->pid(), SIGTERM);
    }
  }
  for (auto& observer : observers_) {
    observer.process->Stop(SIGTERM, milliseconds(5000));
  }
  publisher_.reset();
  recorder_.reset();
  // stack_ stops the RD, then the bus.
}

bool ObserverStack::Start(std::string* error) {
  if (!stack_.StartPart(Stack::Part::kBus, error)) {
    return false;
  }
  recorder_ = std::make_unique<BusRecorder>(zmq_context_, stack_.bus_sub());
  publisher_ = std::make_unique<bus::Publisher>(zmq_context_, stack_.bus_pub(), "observer-test");
  return stack_.StartPart(Stack::Part::kRd, error);
}

int ObserverStack::StartObserver(const std::map<std::string, std::string>& extra,
                                 std::string* error) {
  Observer observer;
  std::map<std::string, std::string> env = {
      {"COAPGW_BUS_PUB", stack_.bus_pub()},   {"COAPGW_BUS_SUB", stack_.bus_sub()},
      {"COAPGW_RD_URI", stack_.rd_uri()},     {"COAPGW_HTTP_LISTEN", "127.0.0.1:0"},
      {"COAPGW_POLL_INTERVAL", "500ms"},      {"COAPGW_OBSERVER_HEARTBEAT_INTERVAL", "200ms"},
      {"COAPGW_OBSERVER_RETRY_MIN", "200ms"}, {"COAPGW_OBSERVER_MAX_AGE_GRACE", "500ms"}};
  for (const auto& [name, value] : extra) {
    env[name] = value;
  }
  observer.process =
      std::make_unique<Process>(std::vector<std::string>{BinaryPath("coapgw-observer")}, env);
  observer.http_port = WaitReady(*observer.process, kStartTimeout);
  const bool ready = observer.http_port != 0;
  observers_.push_back(std::move(observer));
  if (!ready) {
    if (error != nullptr) {
      *error = "coapgw-observer not ready:\n" + Logs();
    }
    return -1;
  }
  return static_cast<int>(observers_.size()) - 1;
}

std::string ObserverStack::InstanceId(int index) {
  const std::string log = observer(index).Stderr();
  const std::string marker = "started instance=";
  const size_t at = log.find(marker);
  if (at == std::string::npos) {
    return "";
  }
  const size_t start = at + marker.size();
  return log.substr(start, log.find(' ', start) - start);
}

std::string ObserverStack::Logs() {
  std::string logs = stack_.Tails(200);
  for (size_t i = 0; i < observers_.size(); ++i) {
    logs += "---- observer " + std::to_string(i) + "\n" + observers_[i].process->Stderr();
  }
  return logs;
}

std::string ObserverStack::Register(DeviceFarm& farm, const std::string& ep,
                                    const std::string& base, const std::string& links) const {
  auto response = farm.Send(coap::Method::kPost, stack_.rd_port(),
                            "/rd?ep=" + ep + "&base=" + base + "&lt=3600", links,
                            coap::content_format::kLinkFormat);
  if (!response.ok() || response->code != coap::Code::kCreated) {
    return "";
  }
  return coap::JoinPath(response->location_path);
}

bool ObserverStack::SetReachable(const std::string& endpoint, bool reachable) {
  const auto wanted =
      reachable ? events::DeviceStatus::kConnected : events::DeviceStatus::kDisconnected;
  return WaitUntil(
      [&] {
        const auto device = recorder_->Device(endpoint);
        if (!device) {
          return false;
        }
        if (device->status == wanted) {
          return true;
        }
        // The RD's subscription may not have reached this publisher yet: say it again.
        events::DeviceLiveness liveness;
        liveness.device_id = device->device_id;
        liveness.reachable = reachable;
        liveness.consecutive_misses = reachable ? 0 : 1;
        if (reachable) {
          liveness.rtt = std::chrono::microseconds(500);
        }
        liveness.checked_at = std::chrono::system_clock::now();
        (void)publisher_->Publish(events::DeviceLiveness::kTopic, events::Encode(liveness));
        return WaitUntil(
            [&] {
              const auto now = recorder_->Device(endpoint);
              return now && now->status == wanted;
            },
            milliseconds(200));
      },
      milliseconds(5000));
}

}  // namespace coapgw::observer::test
