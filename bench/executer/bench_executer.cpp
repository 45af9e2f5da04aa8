// bench_executer: commands per second and latency through coapgw-bus and coapgw-executer against
// a device_farm, with the same requests sent directly over CoAP (no bus, no executer) in the same
// run as the reference. Loopback only; every phase bounded in count and time.
//
//   bench_executer --rd=coap://127.0.0.1:P --bus-pub=tcp://… --bus-sub=tcp://…
//                  [--commands=20000] [--window=64] [--rounds=5] [--seconds=60]
//                  [--executer-pid=PID]
//
// Commands go round robin over the farm's devices (GET /value), at most `window` outstanding.
// The two paths alternate, `rounds` times each with commands ÷ rounds requests, so that load from
// elsewhere on the machine falls on both alike; rates are the medians of the rounds, percentiles
// are over all requests of a path.
// Latency: from publishing ws.command to receiving its executer.command-result (for the
// reference: from Client::Send to the response). With --executer-pid, the executer's CPU time
// (utime + stime from /proc) over the measured phase is reported per command.

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include <rapidjson/document.h>
#include <zmq.hpp>

#include "coapgw/bench/proc_stats.hpp"
#include "coapgw/bus/publisher.hpp"
#include "coapgw/bus/subscriber.hpp"
#include "coapgw/coap/client.hpp"
#include "coapgw/coap/context.hpp"
#include "coapgw/coap/uri.hpp"
#include "coapgw/events/codec.hpp"

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
namespace coap = coapgw::coap;
namespace events = coapgw::events;

std::string Flag(int argc, char** argv, std::string_view name, std::string fallback) {
  const std::string prefix = "--" + std::string(name) + "=";
  for (int i = 1; i < argc; ++i) {
    if (std::string_view(argv[i]).rfind(prefix, 0) == 0) {
      return argv[i] + prefix.size();
    }
  }
  return fallback;
}

struct Device {
  std::string id;
  coap::Endpoint endpoint;
};

struct Figures {
  size_t done = 0;
  size_t failed = 0;
  double seconds = 0;
  std::vector<double> latencies_us;
  std::vector<double> rates;  // per round

  void Add(const Figures& round) {
    done += round.done;
    failed += round.failed;
    seconds += round.seconds;
    latencies_us.insert(latencies_us.end(), round.latencies_us.begin(), round.latencies_us.end());
    rates.push_back(round.done / std::max(round.seconds, 1e-9));
  }

  void Print(const char* name) {
    std::sort(latencies_us.begin(), latencies_us.end());
    const auto at = [&](double q) {
      return latencies_us.empty()
                 ? 0.0
                 : latencies_us[std::min(latencies_us.size() - 1,
                                         static_cast<size_t>(q * latencies_us.size()))];
    };
    std::sort(rates.begin(), rates.end());
    const double rate = rates.empty() ? 0.0 : rates[rates.size() / 2];
    std::printf(
        "%s done=%zu failed=%zu seconds=%.2f rate=%.0f rate_min=%.0f rate_max=%.0f p50_us=%.0f "
        "p99_us=%.0f\n",
        name, done, failed, seconds, rate, rates.empty() ? 0.0 : rates.front(),
        rates.empty() ? 0.0 : rates.back(), at(0.50), at(0.99));
  }
};

std::vector<Device> FetchDevices(coap::ContextThread& loop, coap::Client& client,
                                 const std::string& rd) {
  auto request = coap::ClientRequest::FromUri(coap::Method::kGet, rd + "/coapgw/devices");
  std::promise<coap::Outcome<coap::ClientResponse>> promise;
  auto future = promise.get_future();
  loop.Call([&] {
    client.Send(*request, {}, [&promise](coap::Outcome<coap::ClientResponse> outcome) {
      promise.set_value(std::move(outcome));
    });
  });
  auto outcome = future.get();
  std::vector<Device> devices;
  if (!outcome.ok()) {
    std::fprintf(stderr, "bench_executer: snapshot: %s\n", outcome.error().message.c_str());
    return devices;
  }
  rapidjson::Document document;
  document.Parse(outcome->payload.c_str(), outcome->payload.size());
  for (const auto& item : document["devices"].GetArray()) {
    auto decoded = events::DecodeDeviceRegistered(item);
    if (decoded.ok()) {
      devices.push_back(
          {decoded->device.device_id, coap::ParseUri(decoded->device.base)->endpoint});
    }
  }
  return devices;
}

// The reference: GET /value straight to the devices, `window` outstanding.
Figures Direct(coap::ContextThread& loop, coap::Client& client, const std::vector<Device>& devices,
               size_t first_id, size_t count, size_t window, milliseconds limit) {
  Figures figures;
  std::mutex mutex;
  std::promise<void> finished;
  size_t sent = 0;
  const auto start = Clock::now();
  std::function<void()> send_one;
  send_one = [&] {  // loop thread
    if (sent >= count || Clock::now() - start > limit) {
      return;
    }
    const Device& device = devices[(first_id + sent++) % devices.size()];
    coap::ClientRequest request;
    request.endpoint = device.endpoint;
    request.path = {"value"};
    const auto began = Clock::now();
    client.Send(std::move(request), {},
                [&, began](const coap::Outcome<coap::ClientResponse>& outcome) {
                  {
                    const std::lock_guard<std::mutex> lock(mutex);
                    ++figures.done;
                    figures.failed += outcome.ok() ? 0 : 1;
                    figures.latencies_us.push_back(
                        std::chrono::duration<double, std::micro>(Clock::now() - began).count());
                    if (figures.done == count) {
                      finished.set_value();
                    }
                  }
                  send_one();
                });
  };
  loop.Call([&] {
    for (size_t i = 0; i < std::min(window, count); ++i) {
      send_one();
    }
  });
  finished.get_future().wait_for(limit + milliseconds(5000));
  figures.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return loop.Call([&] { return figures; });
}

events::Command MakeCommand(const std::string& id, const Device& device, milliseconds timeout) {
  events::Command command;
  command.command_id = id;
  command.device_id = device.id;
  command.service = "GET /value";
  command.method = events::Method::kGet;
  command.path = "/value";
  command.deadline = std::chrono::system_clock::now() + timeout;
  return command;
}

// The route through the bus works once a probe (deadline passed: answered without reaching the
// device) comes back.
bool WaitForRoute(coapgw::bus::Publisher& publisher, coapgw::bus::Subscriber& subscriber,
                  const Device& device) {
  const auto route_deadline = Clock::now() + milliseconds(10'000);
  bool routed = false;
  for (int probe = 0; !routed && Clock::now() < route_deadline; ++probe) {
    (void)publisher.Publish(
        events::Command::kTopic,
        events::Encode(MakeCommand("probe-" + std::to_string(probe), device, milliseconds(-1))));
    routed = subscriber.Receive(milliseconds(100)).has_value();
  }
  while (subscriber.Receive(milliseconds(200))) {
  }
  return routed;
}

// Through the bus and the executer, `window` outstanding; ids start at `first_id`.
Figures ThroughExecuter(coapgw::bus::Publisher& publisher, coapgw::bus::Subscriber& subscriber,
                        const std::vector<Device>& devices, size_t first_id, size_t count,
                        size_t window, milliseconds limit) {
  Figures figures;
  std::map<std::string, Clock::time_point> outstanding;
  size_t sent = 0;
  const auto start = Clock::now();
  while (figures.done < count && Clock::now() - start < limit) {
    while (outstanding.size() < window && sent < count) {
      const std::string id = "c" + std::to_string(first_id + sent);
      outstanding.emplace(id, Clock::now());
      (void)publisher.Publish(
          events::Command::kTopic,
          events::Encode(
              MakeCommand(id, devices[(first_id + sent) % devices.size()], milliseconds(10'000))));
      ++sent;
    }
    auto message = subscriber.Receive(milliseconds(1000));
    if (!message) {
      continue;
    }
    auto result = events::DecodeCommandResult(message->data());
    if (!result.ok()) {
      continue;
    }
    const auto it = outstanding.find(result->command_id);
    if (it == outstanding.end()) {
      continue;
    }
    ++figures.done;
    figures.failed += result->code == "2.05" ? 0 : 1;
    figures.latencies_us.push_back(
        std::chrono::duration<double, std::micro>(Clock::now() - it->second).count());
    outstanding.erase(it);
  }
  figures.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return figures;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string rd = Flag(argc, argv, "rd", "coap://127.0.0.1:5683");
  const std::string pub = Flag(argc, argv, "bus-pub", "tcp://127.0.0.1:7100");
  const std::string sub = Flag(argc, argv, "bus-sub", "tcp://127.0.0.1:7101");
  const size_t count = std::stoul(Flag(argc, argv, "commands", "20000"));
  const size_t window = std::stoul(Flag(argc, argv, "window", "64"));
  const milliseconds limit(1000 * std::stoul(Flag(argc, argv, "seconds", "60")));
  const std::string executer_pid = Flag(argc, argv, "executer-pid", "");

  coap::ContextOptions options;
  options.max_body_size = 64 * 1024 * 1024;
  coap::ContextThread loop(options);
  std::unique_ptr<coap::Client> client;
  loop.Call([&] { client = std::make_unique<coap::Client>(loop.context()); });
  const std::vector<Device> devices = FetchDevices(loop, *client, rd);
  if (devices.empty()) {
    loop.Call([&] { client.reset(); });
    return 1;
  }
  const size_t rounds = std::max<size_t>(1, std::stoul(Flag(argc, argv, "rounds", "5")));
  std::printf("devices=%zu commands=%zu window=%zu rounds=%zu\n", devices.size(), count, window,
              rounds);

  zmq::context_t zmq_context;
  coapgw::bus::Subscriber subscriber(zmq_context, sub,
                                     {std::string(events::CommandResult::kTopic)});
  coapgw::bus::Publisher publisher(zmq_context, pub, "bench");
  if (!WaitForRoute(publisher, subscriber, devices[0])) {
    std::fprintf(stderr, "bench_executer: no result from the executer\n");
    loop.Call([&] { client.reset(); });
    return 1;
  }
  Figures direct;
  Figures executer;
  double cpu_s = 0;
  const size_t per_round = count / rounds;
  for (size_t round = 0; round < rounds; ++round) {
    direct.Add(Direct(loop, *client, devices, round * per_round, per_round, window, limit));
    const double cpu_before =
        executer_pid.empty() ? 0 : coapgw::bench::ProcessCpuSeconds(std::stoi(executer_pid));
    executer.Add(ThroughExecuter(publisher, subscriber, devices, round * per_round, per_round,
                                 window, limit));
    cpu_s += executer_pid.empty()
                 ? 0
                 : coapgw::bench::ProcessCpuSeconds(std::stoi(executer_pid)) - cpu_before;
  }
  direct.Print("direct");
  executer.Print("executer");
  if (!executer_pid.empty()) {
    std::printf("executer_cpu_s=%.2f cpu_us_per_command=%.1f\n", cpu_s,
                1e6 * cpu_s / std::max<size_t>(executer.done, 1));
  }
  loop.Call([&] { client.reset(); });
  return executer.done == per_round * rounds ? 0 : 1;
}
