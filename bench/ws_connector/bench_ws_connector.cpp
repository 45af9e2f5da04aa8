// bench_ws_connector: coapgw-ws-connector between coapgw-bus and a platform (bench/README.md,
// "WebSocket connector"). Loopback only; every wait is bounded.
//
//   bench_ws_connector --connector=PATH --bus-pub=EP --bus-sub=EP [--events=N] [--window=W]
//                      [--commands=M] [--device=ID] [--sim-port=P]
//
// The program is the platform: a libs/ws server that answers the handshake and every request
// with 200 "ok", counts events and times command responses. It starts the connector (the
// environment is passed on, with COAPGW_PLATFORM_URL pointing at itself), plays the observer
// (publishes observer.data) and the executer (answers every ws.command at once with a
// command-result: no device time), and measures in the same run:
//   events     N observer.data → bus → connector (outbox in PostgreSQL) → `event` frames
//              received, at most W published and not yet received; events/s and the connector's
//              CPU time per event
//   bus        the same N messages on another topic straight from publisher to subscriber
//              through coapgw-bus with the same window (the reference rate)
//   commands   M commands one at a time: `command` frame out → ws.command → executer →
//              executer.command-result → `response` frame in; p50/p99
//   ws-echo    M round trips of a frame of the same size over a libs/ws client and this server
//              (the reference round trip)
// With --sim-port the platform is coapgw-platform-sim on that port instead (credentials demo/demo):
// only the events phase (and its bus reference) runs, counted from the simulator's
// /api/state counters.
// Output: one line per phase (key=value).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <rapidjson/document.h>
#include <zmq.hpp>

#include "coapgw/bench/proc_stats.hpp"
#include "coapgw/bus/publisher.hpp"
#include "coapgw/bus/subscriber.hpp"
#include "coapgw/events/codec.hpp"
#include "coapgw/ws/client.hpp"
#include "coapgw/ws/platform_protocol.hpp"
#include "coapgw/ws/server.hpp"

extern char** environ;

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
namespace platform = coapgw::ws::platform;

struct Args {
  std::string connector;
  std::string bus_pub;
  std::string bus_sub;
  std::string device = "dev-0";
  size_t events = 100'000;
  size_t window = 2'000;
  size_t commands = 2'000;
  uint16_t sim_port = 0;
};

Args ParseArgs(int argc, char** argv) {
  Args args;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const auto eq = arg.find('=');
    const std::string key = arg.substr(0, eq);
    const std::string value = eq == std::string::npos ? "" : arg.substr(eq + 1);
    if (key == "--connector") {
      args.connector = value;
    } else if (key == "--bus-pub") {
      args.bus_pub = value;
    } else if (key == "--bus-sub") {
      args.bus_sub = value;
    } else if (key == "--device") {
      args.device = value;
    } else if (key == "--events") {
      args.events = std::stoul(value);
    } else if (key == "--window") {
      args.window = std::stoul(value);
    } else if (key == "--commands") {
      args.commands = std::stoul(value);
    } else if (key == "--sim-port") {
      args.sim_port = static_cast<uint16_t>(std::stoul(value));
    } else {
      std::fprintf(stderr, "bench_ws_connector: unknown argument %s\n", arg.c_str());
      std::exit(2);
    }
  }
  if (args.connector.empty() || args.bus_pub.empty() || args.bus_sub.empty()) {
    std::fprintf(stderr, "bench_ws_connector: --connector, --bus-pub and --bus-sub are required\n");
    std::exit(2);
  }
  return args;
}

[[noreturn]] void Die(const std::string& why) {
  std::fprintf(stderr, "bench_ws_connector: %s\n", why.c_str());
  std::exit(1);
}

double Percentile(std::vector<double> values, double p) {
  if (values.empty()) {
    return 0;
  }
  std::sort(values.begin(), values.end());
  const auto index = static_cast<size_t>(p * static_cast<double>(values.size() - 1) + 0.5);
  return values[std::min(index, values.size() - 1)];
}

// GET http://127.0.0.1:port/target; the body, empty on any failure.
std::string HttpGetBody(uint16_t port, const std::string& target) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) {
    return "";
  }
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval timeout{2, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  std::string response;
  if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0) {
    const std::string request =
        "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    if (send(fd, request.data(), request.size(), MSG_NOSIGNAL) ==
        static_cast<ssize_t>(request.size())) {
      char buffer[16384];
      ssize_t n = 0;
      while ((n = recv(fd, buffer, sizeof buffer, 0)) > 0) {
        response.append(buffer, static_cast<size_t>(n));
      }
    }
  }
  close(fd);
  const auto body = response.find("\r\n\r\n");
  return body == std::string::npos ? "" : response.substr(body + 4);
}

// The simulator's counters.events, polled every 5 ms on its own thread.
class SimEventCounter {
 public:
  explicit SimEventCounter(uint16_t port)
      : thread_([this, port] {
          while (!stop_.load()) {
            rapidjson::Document state;
            state.Parse(HttpGetBody(port, "/api/state").c_str());
            if (state.IsObject() && state.HasMember("counters") &&
                state["counters"].HasMember("events")) {
              events_.store(state["counters"]["events"].GetUint64());
            }
            std::this_thread::sleep_for(milliseconds(5));
          }
        }) {}
  ~SimEventCounter() {
    stop_.store(true);
    thread_.join();
  }
  uint64_t events() const { return events_.load(); }

 private:
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> events_{0};
  std::thread thread_;
};

std::string EventData(const std::string& device, size_t i) {
  coapgw::events::ObservedData data;
  data.device_id = device;
  data.service = "GET /sensors/temp";
  data.path = "/sensors/temp";
  data.code = "2.05";
  data.content_format = 0;
  data.payload.data = "21." + std::to_string(i % 10);
  data.observed = true;
  data.time = std::chrono::system_clock::now();
  return coapgw::events::Encode(data);
}

// The platform: handshake, 200 "ok" to every request, event count, response times by task id.
class Platform {
 public:
  Platform() {
    coapgw::ws::ServerHandlers handlers;
    handlers.on_open = [this](coapgw::ws::ConnectionId id, const coapgw::ws::ConnectionInfo& info) {
      if (info.path == "/echo") {
        echo_.insert(id);
      }
    };
    handlers.on_text = [this](coapgw::ws::ConnectionId id, std::string text) {
      OnText(id, std::move(text));
    };
    server_ = std::make_unique<coapgw::ws::Server>(coapgw::ws::ServerOptions{}, handlers);
  }
  ~Platform() { server_.reset(); }

  std::string url() const { return "ws://127.0.0.1:" + std::to_string(server_->port()); }
  uint64_t events() const { return events_.load(); }

  // Sends a command with task id `task` to the gateway; false when none is connected.
  bool SendCommand(const std::string& device, const std::string& task) {
    const coapgw::ws::ConnectionId gateway = gateway_.load();
    if (gateway == 0) {
      return false;
    }
    platform::Envelope envelope;
    envelope.handler = "command";
    envelope.token = "";
    envelope.payload = R"({"device_url":")" + device +
                       R"(","service_url":"GET /sensors/temp","task_id":")" + task +
                       R"(","worker_id":"bench","protocol_parts":[{"name":"metadata","value":""},)"
                       R"({"name":"data","value":""}]})";
    server_->Send(gateway, platform::EncodeEnvelope(envelope));
    return true;
  }

  // Waits for the response to task `task`; false on timeout.
  bool WaitResponse(const std::string& task, milliseconds timeout) {
    std::unique_lock<std::mutex> lock(mutex_);
    return answered_.wait_for(lock, timeout, [&] { return responded_.count(task) != 0; });
  }

 private:
  void OnText(coapgw::ws::ConnectionId id, std::string text) {
    if (echo_.count(id) != 0) {
      server_->Send(id, std::move(text));
      return;
    }
    auto envelope = platform::DecodeEnvelope(text);
    if (!envelope.ok()) {
      return;
    }
    platform::Envelope reply;
    reply.status = 200;
    reply.handler = "response";
    reply.token = envelope->token;
    reply.payload = "\"ok\"";
    if (envelope->token == platform::kCredentialsToken) {
      reply.payload = R"({"gid":"iot#bench-gateway","hash":""})";
      gateway_.store(id);
    } else if (envelope->handler == "event") {
      events_.fetch_add(1);
    } else if (envelope->handler == "response") {
      rapidjson::Document payload;
      payload.Parse(envelope->payload.c_str());
      if (payload.IsObject() && payload.HasMember("task_id") && payload["task_id"].IsString()) {
        const std::lock_guard<std::mutex> lock(mutex_);
        responded_.insert(payload["task_id"].GetString());
        answered_.notify_all();
      }
    }
    server_->Send(id, platform::EncodeEnvelope(reply));
  }

  std::set<coapgw::ws::ConnectionId> echo_;  // I/O thread only
  std::atomic<coapgw::ws::ConnectionId> gateway_{0};
  std::atomic<uint64_t> events_{0};
  std::mutex mutex_;
  std::condition_variable answered_;
  std::set<std::string> responded_;
  std::unique_ptr<coapgw::ws::Server> server_;
};

// Answers every ws.command at once (the executer without a device), on its own thread.
class InstantExecuter {
 public:
  InstantExecuter(zmq::context_t& context, const std::string& bus_pub, const std::string& bus_sub)
      : thread_([this, &context, bus_pub, bus_sub] {
          coapgw::bus::Subscriber subscriber(
              context, bus_sub,
              std::vector<std::string>{std::string(coapgw::events::Command::kTopic)});
          coapgw::bus::Publisher publisher(context, bus_pub, "bench-executer");
          while (!stop_.load()) {
            auto message = subscriber.Receive(milliseconds(50));
            if (!message) {
              continue;
            }
            auto command = coapgw::events::DecodeCommand(message->data());
            if (!command.ok()) {
              continue;
            }
            coapgw::events::CommandResult result;
            result.command_id = command->command_id;
            result.device_id = command->device_id;
            result.code = "2.05";
            result.content_format = 0;
            result.payload.data = "21.5";
            (void)publisher.Publish(coapgw::events::CommandResult::kTopic,
                                    coapgw::events::Encode(result));
          }
        }) {}
  ~InstantExecuter() {
    stop_.store(true);
    thread_.join();
  }

 private:
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

pid_t StartConnector(const std::string& path, const std::string& url) {
  setenv("COAPGW_PLATFORM_URL", url.c_str(), 1);
  pid_t pid = 0;
  char* argv[] = {const_cast<char*>(path.c_str()), nullptr};
  if (posix_spawn(&pid, path.c_str(), nullptr, nullptr, argv, environ) != 0) {
    Die("cannot start " + path);
  }
  return pid;
}

template <typename F>
bool WaitFor(F&& done, milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (!done()) {
    if (Clock::now() > deadline) {
      return false;
    }
    std::this_thread::sleep_for(milliseconds(1));
  }
  return true;
}

// Publishes `count` messages on `topic`, at most `window` ahead of `received()`; the seconds from
// the first publish until `received()` reached `count` (negative when it did not within 120 s).
template <typename Received>
double Pump(coapgw::bus::Publisher& publisher, std::string_view topic, const Args& args,
            size_t count, Received&& received) {
  std::vector<std::string> payloads;
  for (size_t i = 0; i < 10; ++i) {
    payloads.push_back(EventData(args.device, i));
  }
  const uint64_t base = received();
  const auto start = Clock::now();
  const auto deadline = start + std::chrono::seconds(120);
  size_t published = 0;
  while (received() - base < count) {
    if (Clock::now() > deadline) {
      return -1;
    }
    if (published < count && published - (received() - base) < args.window) {
      (void)publisher.Publish(topic, payloads[published % payloads.size()]);
      ++published;
    } else {
      // Not a spin: on a 2-core machine a spinning publisher takes a core from the connector.
      std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
  }
  return std::chrono::duration<double>(Clock::now() - start).count();
}

}  // namespace

int main(int argc, char** argv) {
  const Args args = ParseArgs(argc, argv);
  zmq::context_t zmq;
  Platform platform;
  InstantExecuter executer(zmq, args.bus_pub, args.bus_sub);
  coapgw::bus::Publisher publisher(zmq, args.bus_pub, "bench-observer");

  std::unique_ptr<SimEventCounter> sim;
  if (args.sim_port != 0) {
    setenv("COAPGW_PLATFORM_USER", "demo", 1);
    setenv("COAPGW_PLATFORM_PASSWORD", "demo", 1);
    sim = std::make_unique<SimEventCounter>(args.sim_port);
  }
  const auto platform_events = [&] { return sim ? sim->events() : platform.events(); };
  const pid_t connector =
      StartConnector(args.connector, sim ? "ws://127.0.0.1:" + std::to_string(args.sim_port) + "/"
                                         : platform.url());
  const auto stop_connector = [connector] {
    kill(connector, SIGTERM);
    int status = 0;
    waitpid(connector, &status, 0);
  };
  // Ready: data flowing (synced, and the bus subscription has joined).
  if (!WaitFor(
          [&] {
            (void)publisher.Publish(coapgw::events::ObservedData::kTopic,
                                    EventData(args.device, 0));
            return WaitFor([&] { return platform_events() > 0; }, milliseconds(100));
          },
          milliseconds(30'000))) {
    stop_connector();
    Die("no event reached the platform within 30 s");
  }
  WaitFor([] { return false; }, milliseconds(300));  // the probes still on their way

  // Reference: the bus alone, same messages, same window.
  {
    coapgw::bus::Subscriber subscriber(zmq, args.bus_sub, std::vector<std::string>{"bench.data"});
    uint64_t got = 0;
    WaitFor(
        [&] {
          (void)publisher.Publish("bench.data", EventData(args.device, 0));
          return subscriber.Receive(milliseconds(50)).has_value();
        },
        milliseconds(10'000));
    while (subscriber.Receive(milliseconds(100))) {
    }
    const double seconds = Pump(publisher, "bench.data", args, args.events, [&] {
      while (subscriber.Receive(milliseconds(0))) {
        ++got;
      }
      return got;
    });
    std::printf("%s events=%zu window=%zu seconds=%.3f rate=%.0f\n", sim ? "bus-sim" : "bus",
                args.events, args.window, seconds,
                seconds > 0 ? static_cast<double>(args.events) / seconds : 0.0);
  }

  // The connector: observer.data → platform events.
  {
    const double cpu_before = coapgw::bench::ProcessCpuSeconds(connector);
    const double seconds =
        Pump(publisher, coapgw::events::ObservedData::kTopic, args, args.events, platform_events);
    const double cpu = coapgw::bench::ProcessCpuSeconds(connector) - cpu_before;
    std::printf("%s events=%zu window=%zu seconds=%.3f rate=%.0f connector_cpu_us_per_event=%.1f\n",
                sim ? "connector-sim" : "connector", args.events, args.window, seconds,
                seconds > 0 ? static_cast<double>(args.events) / seconds : 0.0,
                cpu * 1e6 / static_cast<double>(args.events));
    if (seconds < 0) {
      stop_connector();
      Die("events did not all arrive within 120 s (" + std::to_string(platform.events()) + ")");
    }
  }

  if (sim) {
    stop_connector();
    return 0;
  }

  // Command round trips, one at a time.
  std::vector<double> rtt_us;
  for (size_t i = 0; i < args.commands; ++i) {
    const std::string task = "t-" + std::to_string(i);
    const auto start = Clock::now();
    if (!platform.SendCommand(args.device, task) ||
        !platform.WaitResponse(task, milliseconds(15'000))) {
      stop_connector();
      Die("command " + task + " got no response");
    }
    rtt_us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - start).count());
  }
  std::printf("commands commands=%zu p50_us=%.0f p99_us=%.0f\n", args.commands,
              Percentile(rtt_us, 0.50), Percentile(rtt_us, 0.99));

  // Reference: a raw WebSocket round trip of a command-sized frame to the same server.
  std::vector<double> echo_us;
  {
    std::mutex mutex;
    std::condition_variable cv;
    size_t echoed = 0;
    bool open = false;
    coapgw::ws::ClientHandlers handlers;
    handlers.on_open = [&] {
      const std::lock_guard<std::mutex> lock(mutex);
      open = true;
      cv.notify_all();
    };
    handlers.on_text = [&](std::string) {
      const std::lock_guard<std::mutex> lock(mutex);
      ++echoed;
      cv.notify_all();
    };
    coapgw::ws::ClientOptions options;
    options.ping_idle = milliseconds(0);
    coapgw::ws::Client client(options, handlers);
    (void)client.Connect(platform.url() + "/echo");
    std::unique_lock<std::mutex> lock(mutex);
    if (!cv.wait_for(lock, milliseconds(5000), [&] { return open; })) {
      Die("echo connection did not open");
    }
    const std::string frame(300, 'x');
    for (size_t i = 0; i < args.commands; ++i) {
      const auto start = Clock::now();
      lock.unlock();
      (void)client.Send(frame);
      lock.lock();
      if (!cv.wait_for(lock, milliseconds(5000), [&] { return echoed == i + 1; })) {
        Die("echo timed out");
      }
      echo_us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - start).count());
    }
  }
  std::printf("ws-echo round_trips=%zu p50_us=%.0f p99_us=%.0f\n", args.commands,
              Percentile(echo_us, 0.50), Percentile(echo_us, 0.99));
  std::printf("overhead p50_us=%.0f p99_us=%.0f (commands minus ws-echo)\n",
              Percentile(rtt_us, 0.50) - Percentile(echo_us, 0.50),
              Percentile(rtt_us, 0.99) - Percentile(echo_us, 0.99));
  stop_connector();
  return 0;
}
