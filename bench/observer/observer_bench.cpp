// observer_bench: coapgw-observer's sustained throughput and cost per observed resource.
//
// Runs the real coapgw-bus and N coapgw-observer processes against simulated devices on loopback
// (DeviceSim: raw UDP, many devices per socket) and a stand-in RD that serves only the device
// snapshot (GET /coapgw/devices) the observers start from. Once every device is observed exactly
// once, the devices notify at a fixed aggregate rate; the program counts the observer.data
// messages that come out of the bus (and any duplicate notification), and reads the observers'
// CPU time and RSS from /proc. bench/README.md ("Observer") has the figures and the commands.
//
//   observer_bench --bin-dir build-release/bin [--devices 10000] [--sockets 100] [--rate 25000]
//                  [--instances 1] [--warmup 3] [--seconds 10] [--baseline]

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <zmq.hpp>

#include "coapgw/bench/proc_stats.hpp"
#include "coapgw/coap/context.hpp"
#include "coapgw/coap/server.hpp"
#include "coapgw/events/codec.hpp"
#include "device_sim.hpp"

extern char** environ;  // NOLINT(readability-redundant-declaration): POSIX, not in a header.

namespace coapgw::bench {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

struct Options {
  std::string bin_dir;
  int devices = 10000;
  int sockets = 100;
  double rate = 25000;
  int instances = 1;
  double warmup_s = 3;
  double seconds = 10;
  bool baseline = false;
  double stall_bus_s = 0;  // SIGSTOP the bus this long in the middle of the window
};

[[noreturn]] void Usage(const std::string& problem) {
  std::cerr << "observer_bench: " << problem
            << "\nusage: observer_bench --bin-dir DIR [--devices N] [--sockets N] [--rate R] "
               "[--instances N] [--warmup S] [--seconds S] [--baseline] [--stall-bus S]\n";
  std::exit(2);
}

Options ParseOptions(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        Usage(arg + " needs a value");
      }
      return argv[++i];
    };
    if (arg == "--bin-dir") {
      options.bin_dir = value();
    } else if (arg == "--devices") {
      options.devices = std::stoi(value());
    } else if (arg == "--sockets") {
      options.sockets = std::stoi(value());
    } else if (arg == "--rate") {
      options.rate = std::stod(value());
    } else if (arg == "--instances") {
      options.instances = std::stoi(value());
    } else if (arg == "--warmup") {
      options.warmup_s = std::stod(value());
    } else if (arg == "--seconds") {
      options.seconds = std::stod(value());
    } else if (arg == "--stall-bus") {
      options.stall_bus_s = std::stod(value());
    } else if (arg == "--baseline") {
      options.baseline = true;
    } else {
      Usage("unknown argument " + arg);
    }
  }
  if (options.bin_dir.empty()) {
    Usage("--bin-dir is required");
  }
  if (options.devices < 1 || options.sockets < 1 || options.instances < 1) {
    Usage("--devices, --sockets and --instances must be positive");
  }
  return options;
}

uint16_t FreeTcpPort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    throw std::runtime_error("cannot bind a loopback port");
  }
  socklen_t length = sizeof address;
  getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  close(fd);
  return ntohs(address.sin_port);
}

// GET http://127.0.0.1:port/path; the whole response ("" when the connection failed).
std::string HttpGet(uint16_t port, const std::string& path) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval timeout{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    close(fd);
    return "";
  }
  const std::string request = "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
  (void)send(fd, request.data(), request.size(), MSG_NOSIGNAL);
  std::string response;
  char buffer[4096];
  ssize_t n = 0;
  while ((n = recv(fd, buffer, sizeof buffer, 0)) > 0) {
    response.append(buffer, static_cast<size_t>(n));
  }
  close(fd);
  return response;
}

double Metric(const std::string& metrics, const std::string& name) {
  const size_t at = metrics.find("\n" + name + " ");
  return at == std::string::npos ? -1 : std::stod(metrics.substr(at + name.size() + 2));
}

// A child process with extra environment variables; SIGKILLed if still running at destruction.
class Child {
 public:
  Child(const std::string& path, const std::map<std::string, std::string>& env) {
    std::vector<std::string> entries;
    for (char** e = environ; *e != nullptr; ++e) {
      const std::string entry = *e;
      if (env.count(entry.substr(0, entry.find('='))) == 0) {
        entries.push_back(entry);
      }
    }
    for (const auto& [name, value] : env) {
      entries.push_back(name + "=" + value);
    }
    std::vector<char*> envp;
    for (auto& entry : entries) {
      envp.push_back(entry.data());
    }
    envp.push_back(nullptr);
    std::string program = path;
    char* argv[] = {program.data(), nullptr};
    if (posix_spawn(&pid_, path.c_str(), nullptr, nullptr, argv, envp.data()) != 0) {
      throw std::runtime_error("cannot start " + path);
    }
  }
  ~Child() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  Child(Child&&) = delete;
  Child& operator=(Child&&) = delete;

  pid_t pid() const { return pid_; }
  // SIGTERM and wait; the exit code (-1 if it did not exit within `timeout` or died by a signal).
  int Stop(milliseconds timeout) {
    kill(pid_, SIGTERM);
    const auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      }
      std::this_thread::sleep_for(milliseconds(10));
    }
    return -1;
  }

 private:
  pid_t pid_ = -1;
};

bool WaitFor(const std::function<bool()>& condition, milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (!condition()) {
    if (Clock::now() >= deadline) {
      return false;
    }
    std::this_thread::sleep_for(milliseconds(50));
  }
  return true;
}

// The stand-in RD: GET /coapgw/devices answers the snapshot of the simulated devices (or of none).
class SnapshotServer {
 public:
  SnapshotServer(const DeviceSim& sim, int devices) {
    const auto now = std::chrono::system_clock::now();
    full_ = "{\"publisher\":\"rd-bench0000\",\"seq\":{},\"devices\":[";
    for (int k = 0; k < devices; ++k) {
      events::Device device;
      device.device_id = "bench-device-" + std::to_string(k);
      device.endpoint = "sim" + std::to_string(k);
      device.base = "coap://127.0.0.1:" + std::to_string(sim.PortOf(k));
      device.location = "/rd/" + std::to_string(k + 1);
      events::Link link;
      link.href = DeviceSim::PathOf(k);
      link.observable = true;
      link.content_formats = {0};
      device.links = {link};
      device.registered_at = now;
      device.updated_at = now;
      full_ += (k == 0 ? "" : ",") + events::Encode(events::DeviceRegistered{device});
    }
    full_ += "]}";
    loop_.Call([&] {
      server_ = std::make_unique<coap::Server>(loop_.context());
      auto bound = server_->AddEndpoint("127.0.0.1:0");
      if (!bound.ok()) {
        throw std::runtime_error("snapshot server: " + bound.error().message);
      }
      port_ = bound->port;
      server_->AddResource("/coapgw/devices")
          .On(coap::Method::kGet, [this](const coap::Request&, coap::Response& response) {
            response.SetPayload(empty_.load() ? kEmpty : full_, coap::content_format::kJson);
          });
    });
  }
  ~SnapshotServer() {
    loop_.Call([&] { server_.reset(); });
  }
  SnapshotServer(const SnapshotServer&) = delete;
  SnapshotServer& operator=(const SnapshotServer&) = delete;
  SnapshotServer(SnapshotServer&&) = delete;
  SnapshotServer& operator=(SnapshotServer&&) = delete;

  void SetEmpty(bool empty) { empty_.store(empty); }
  uint16_t port() const { return port_; }
  size_t bytes() const { return full_.size(); }

 private:
  static constexpr const char* kEmpty =
      "{\"publisher\":\"rd-bench0000\",\"seq\":{},\"devices\":[]}";
  coap::ContextThread loop_;
  std::unique_ptr<coap::Server> server_;
  std::string full_;
  std::atomic<bool> empty_{false};
  uint16_t port_ = 0;
};

// Counts observer.data messages leaving the bus, per publishing instance, and duplicates of a
// notification (its payload "<device>:<sequence>" is unique per notification). Reads the raw
// frames: parsing every envelope would cost this process more than the observer it measures.
class DataCounter {
 public:
  DataCounter(zmq::context_t& context, const std::string& endpoint)
      : socket_(context, zmq::socket_type::sub) {
    socket_.set(zmq::sockopt::rcvhwm, 1'000'000);
    socket_.set(zmq::sockopt::linger, 0);
    socket_.set(zmq::sockopt::subscribe, "observer.data");
    socket_.connect(endpoint);
    thread_ = std::thread([this] { Run(); });
  }
  ~DataCounter() {
    stopping_.store(true);
    thread_.join();
  }
  DataCounter(const DataCounter&) = delete;
  DataCounter& operator=(const DataCounter&) = delete;
  DataCounter(DataCounter&&) = delete;
  DataCounter& operator=(DataCounter&&) = delete;

  uint64_t total() const { return total_.load(); }
  uint64_t duplicates() const { return duplicates_.load(); }
  std::map<std::string, uint64_t> per_instance() const {
    const std::lock_guard<std::mutex> lock(mutex_);
    return per_instance_;
  }

 private:
  static std::string_view Field(std::string_view json, std::string_view key) {
    const std::string pattern = "\"" + std::string(key) + "\":\"";
    const size_t at = json.find(pattern);
    if (at == std::string_view::npos) {
      return {};
    }
    const size_t start = at + pattern.size();
    return json.substr(start, json.find('"', start) - start);
  }

  void Run() {
    std::map<std::string, uint64_t> local;
    std::vector<bool> seen;
    while (!stopping_.load()) {
      zmq::pollitem_t item{static_cast<void*>(socket_), 0, ZMQ_POLLIN, 0};
      if (zmq::poll(&item, 1, milliseconds(100)) <= 0) {
        continue;
      }
      for (int n = 0; n < 1000; ++n) {
        zmq::message_t topic;
        zmq::message_t body;
        if (!socket_.recv(topic, zmq::recv_flags::dontwait)) {
          break;
        }
        if (!socket_.recv(body, zmq::recv_flags::none)) {
          break;
        }
        const std::string_view json(static_cast<const char*>(body.data()), body.size());
        const std::string_view payload = Field(json, "payload");
        const size_t colon = payload.find(':');
        if (colon != std::string_view::npos) {
          const auto seq = static_cast<size_t>(std::stoull(std::string(payload.substr(colon + 1))));
          if (seq >= seen.size()) {
            seen.resize(std::max(seq + 1, seen.size() * 2));
          }
          if (seen[seq]) {
            duplicates_.fetch_add(1);
          }
          seen[seq] = true;
        }
        ++local[std::string(Field(json, "publisher"))];
        total_.fetch_add(1);
      }
      const std::lock_guard<std::mutex> lock(mutex_);
      per_instance_ = local;
    }
  }

  zmq::socket_t socket_;
  std::atomic<bool> stopping_{false};
  std::atomic<uint64_t> total_{0};
  std::atomic<uint64_t> duplicates_{0};
  mutable std::mutex mutex_;
  std::map<std::string, uint64_t> per_instance_;
  std::thread thread_;
};

struct Observer {
  std::unique_ptr<Child> process;
  uint16_t http_port = 0;
};

Observer StartObserver(const Options& options, const std::string& bus_pub,
                       const std::string& bus_sub, uint16_t rd_port) {
  Observer observer;
  observer.http_port = FreeTcpPort();
  observer.process = std::make_unique<Child>(
      options.bin_dir + "/coapgw-observer",
      std::map<std::string, std::string>{
          {"COAPGW_BUS_PUB", bus_pub},
          {"COAPGW_BUS_SUB", bus_sub},
          {"COAPGW_RD_URI", "coap://127.0.0.1:" + std::to_string(rd_port)},
          {"COAPGW_HTTP_LISTEN", "127.0.0.1:" + std::to_string(observer.http_port)},
          {"COAPGW_LOG_LEVEL", "warn"}});
  return observer;
}

double Elapsed(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

int Run(const Options& options) {
  zmq::context_t zmq_context;
  const std::string bus_pub = "tcp://127.0.0.1:" + std::to_string(FreeTcpPort());
  const std::string bus_sub = "tcp://127.0.0.1:" + std::to_string(FreeTcpPort());
  Child bus(
      options.bin_dir + "/coapgw-bus",
      {{"COAPGW_BUS_PUB", bus_pub}, {"COAPGW_BUS_SUB", bus_sub}, {"COAPGW_LOG_LEVEL", "warn"}});
  DeviceSimOptions sim_options;
  sim_options.devices = options.devices;
  sim_options.sockets = options.sockets;
  DeviceSim sim(sim_options);
  SnapshotServer rd(sim, options.devices);
  DataCounter counter(zmq_context, bus_sub);
  std::printf("devices %d on %d sockets, snapshot %zu bytes, offered rate %.0f/s, %d instance(s)\n",
              options.devices, options.sockets, rd.bytes(), options.rate, options.instances);

  uint64_t idle_rss = 0;
  if (options.baseline) {
    rd.SetEmpty(true);
    Observer idle = StartObserver(options, bus_pub, bus_sub, rd.port());
    WaitFor(
        [&] { return Metric(HttpGet(idle.http_port, "/metrics"), "coapgw_observer_settled") == 1; },
        milliseconds(30000));
    idle_rss = bench::ProcessRssBytes(idle.process->pid());
    idle.process->Stop(milliseconds(5000));
    rd.SetEmpty(false);
    std::printf("baseline: an observer with no device: RSS %.1f MB\n",
                static_cast<double>(idle_rss) / 1e6);
  }

  const auto setup_start = Clock::now();
  std::vector<Observer> observers;
  for (int i = 0; i < options.instances; ++i) {
    observers.push_back(StartObserver(options, bus_pub, bus_sub, rd.port()));
  }
  const bool ready = WaitFor(
      [&] {
        if (sim.observed_devices() != options.devices || sim.multiply_observed_devices() != 0) {
          return false;
        }
        double owned = 0;
        for (const auto& observer : observers) {
          const std::string metrics = HttpGet(observer.http_port, "/metrics");
          if (Metric(metrics, "coapgw_observer_settled") != 1) {
            return false;
          }
          owned += Metric(metrics, "coapgw_observer_owned_devices");
        }
        return owned == options.devices;
      },
      milliseconds(180000));
  if (!ready) {
    std::printf("not every device observed exactly once: %lld observed, %lld more than once\n",
                static_cast<long long>(sim.observed_devices()),
                static_cast<long long>(sim.multiply_observed_devices()));
    return 1;
  }
  std::printf("setup: %d devices observed once each after %.1f s (%llu requests)\n",
              options.devices, Elapsed(setup_start),
              static_cast<unsigned long long>(sim.requests()));
  std::vector<uint64_t> rss_observing;
  for (const auto& observer : observers) {
    rss_observing.push_back(bench::ProcessRssBytes(observer.process->pid()));
  }

  sim.SetRate(options.rate);
  std::this_thread::sleep_for(std::chrono::duration<double>(options.warmup_s));
  const auto window_start = Clock::now();
  const uint64_t received_start = counter.total();
  const uint64_t sent_start = sim.sent();
  const auto instances_start = counter.per_instance();
  std::vector<double> cpu_start;
  for (const auto& observer : observers) {
    cpu_start.push_back(bench::ProcessCpuSeconds(observer.process->pid()));
  }
  const double bus_cpu_start = bench::ProcessCpuSeconds(bus.pid());
  uint64_t stall_peak_rss = 0;
  if (options.stall_bus_s > 0) {
    // The bus stops reading: the observers' queues fill, then their outboxes coalesce.
    const double before = std::max(0.0, (options.seconds - options.stall_bus_s) / 2);
    std::this_thread::sleep_for(std::chrono::duration<double>(before));
    kill(bus.pid(), SIGSTOP);
    const auto stall_end = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                              std::chrono::duration<double>(options.stall_bus_s));
    while (Clock::now() < stall_end) {
      for (const auto& observer : observers) {
        stall_peak_rss = std::max(stall_peak_rss, bench::ProcessRssBytes(observer.process->pid()));
      }
      std::this_thread::sleep_for(milliseconds(100));
    }
    kill(bus.pid(), SIGCONT);
    std::this_thread::sleep_for(std::chrono::duration<double>(
        std::max(0.0, options.seconds - before - options.stall_bus_s)));
  } else {
    std::this_thread::sleep_for(std::chrono::duration<double>(options.seconds));
  }
  const double window = Elapsed(window_start);
  const uint64_t received = counter.total() - received_start;
  const uint64_t sent = sim.sent() - sent_start;
  const double bus_cpu = bench::ProcessCpuSeconds(bus.pid()) - bus_cpu_start;
  const auto instances_end = counter.per_instance();
  std::vector<double> cpu;
  std::vector<uint64_t> rss_end;
  for (size_t i = 0; i < observers.size(); ++i) {
    cpu.push_back(bench::ProcessCpuSeconds(observers[i].process->pid()) - cpu_start[i]);
    rss_end.push_back(bench::ProcessRssBytes(observers[i].process->pid()));
  }
  sim.SetRate(0);

  const double events_per_s = static_cast<double>(received) / window;
  std::printf(
      "window %.1f s: sent %.0f notifications/s, received %.0f observer.data/s "
      "(%.1f%% of sent), duplicates %llu, send failures %llu\n",
      window, static_cast<double>(sent) / window, events_per_s,
      sent > 0 ? 100.0 * static_cast<double>(received) / static_cast<double>(sent) : 0.0,
      static_cast<unsigned long long>(counter.duplicates()),
      static_cast<unsigned long long>(sim.send_failures()));
  std::printf("coapgw-bus: %.1f%% CPU, %.2f us per event\n", 100 * bus_cpu / window,
              received > 0 ? 1e6 * bus_cpu / static_cast<double>(received) : 0.0);
  double total_cpu = 0;
  uint64_t total_rss = 0;
  for (size_t i = 0; i < observers.size(); ++i) {
    const std::string metrics = HttpGet(observers[i].http_port, "/metrics");
    const double owned = Metric(metrics, "coapgw_observer_owned_devices");
    total_cpu += cpu[i];
    total_rss += rss_end[i];
    std::printf(
        "observer %zu: %.0f devices, %.1f%% CPU, RSS %.1f MB observing (%.1f MB at the "
        "end), notifications %.0f, events %.0f, coalesced %.0f, bus refusals %.0f, "
        "outbox dropped %.0f\n",
        i, owned, 100 * cpu[i] / window, static_cast<double>(rss_observing[i]) / 1e6,
        static_cast<double>(rss_end[i]) / 1e6,
        Metric(metrics, "coapgw_observer_values_total{source=\"notification\"}"),
        Metric(metrics, "coapgw_observer_events_total"),
        Metric(metrics, "coapgw_observer_coalesced_total"),
        Metric(metrics, "coapgw_observer_bus_refused_total"),
        Metric(metrics, "coapgw_observer_outbox_dropped_total"));
  }
  for (const auto& [instance, count] : instances_end) {
    const auto before = instances_start.find(instance);
    const uint64_t start = before == instances_start.end() ? 0 : before->second;
    std::printf("  %s: %.0f events/s\n", instance.c_str(),
                static_cast<double>(count - start) / window);
  }
  std::printf(
      "observers together: %.0f events/s, %.1f%% CPU, %.2f us CPU per event, "
      "RSS %.0f bytes per observed resource",
      events_per_s, 100 * total_cpu / window,
      received > 0 ? 1e6 * total_cpu / static_cast<double>(received) : 0.0,
      static_cast<double>(total_rss) / options.devices);
  if (idle_rss > 0) {
    std::printf(" (%.0f above %d idle instance(s))",
                (static_cast<double>(total_rss) -
                 static_cast<double>(idle_rss) * static_cast<double>(options.instances)) /
                    options.devices,
                options.instances);
  }
  if (options.stall_bus_s > 0) {
    std::printf("\nbus stalled %.1f s: peak observer RSS %.1f MB", options.stall_bus_s,
                static_cast<double>(stall_peak_rss) / 1e6);
  }
  std::printf("\nRESULT instances=%d rate=%.0f events_per_s=%.0f cpu_us_per_event=%.2f\n",
              options.instances, options.rate, events_per_s,
              received > 0 ? 1e6 * total_cpu / static_cast<double>(received) : 0.0);

  // A clean stop deregisters every observation: no relation is left on the devices.
  for (auto& observer : observers) {
    const int code = observer.process->Stop(milliseconds(5000));
    if (code != 0) {
      std::printf("observer exit code %d\n", code);
    }
  }
  const auto stopped = Clock::now();
  WaitFor([&] { return sim.relations() == 0; }, milliseconds(5000));
  std::printf("relations gone after %.2f s\n", Elapsed(stopped));
  std::printf("after stopping the observers: %lld observe relations left on the devices\n",
              static_cast<long long>(sim.relations()));
  bus.Stop(milliseconds(5000));
  return 0;
}

}  // namespace
}  // namespace coapgw::bench

int main(int argc, char** argv) {
  try {
    return coapgw::bench::Run(coapgw::bench::ParseOptions(argc, argv));
  } catch (const std::exception& error) {
    std::cerr << "observer_bench: " << error.what() << "\n";
    return 1;
  }
}
