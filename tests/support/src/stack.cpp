#include "coapgw/test/stack.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <future>
#include <set>
#include <sstream>
#include <utility>

#include "coapgw/coap/client.hpp"
#include "coapgw/coap/context.hpp"
#include "coapgw/events/codec.hpp"
#include "coapgw/test/http.hpp"
#include "coapgw/test/wait.hpp"
#include "pg_fixture.hpp"

namespace coapgw::test {
namespace {

using std::chrono::milliseconds;

constexpr milliseconds kReadyTimeout{20'000};
constexpr milliseconds kStopTimeout{5000};
constexpr milliseconds kRdTimeout{5000};
constexpr char kUser[] = "demo";

std::string Loopback(uint16_t port) {
  return "127.0.0.1:" + std::to_string(port);
}

// The services of the simulated devices that the observer reads (the sensors) and that commands
// use (the LED), named as the gateway contract §3 names services.
std::string DefaultDeviceTypes(const std::string& type) {
  return R"([{"id":")" + type +
         R"(","services":[)"
         R"({"id":"svc-temp","service_type":"sensor","url":"GET /sensors/temp"},)"
         R"({"id":"svc-hum","service_type":"sensor","url":"GET /sensors/hum"},)"
         R"({"id":"svc-led-get","service_type":"actuator","url":"GET /actuators/led"},)"
         R"({"id":"svc-led-put","service_type":"actuator","url":"PUT /actuators/led"}]}])";
}

rapidjson::Document ParseOrNull(const ws::test::HttpResult& result) {
  rapidjson::Document document;
  if (result.status == 200) {
    document.Parse(result.body.c_str(), result.body.size());
  }
  if (result.status != 200 || document.HasParseError()) {
    document.SetNull();
  }
  return document;
}

std::string LastLines(const std::string& text, size_t lines) {
  size_t end = text.size();
  if (end > 0 && text[end - 1] == '\n') {
    --end;
  }
  size_t count = 0;
  for (size_t i = end; i > 0; --i) {
    if (text[i - 1] == '\n' && ++count == lines) {
      return "[…]\n" + text.substr(i);
    }
  }
  return text;
}

}  // namespace

// A CoAP client on its own loop thread whose requests block until they end.
class Stack::RdClient {
 public:
  RdClient() {
    loop_.Call([this] { client_ = std::make_unique<coap::Client>(loop_.context()); });
  }
  ~RdClient() {
    loop_.Call([this] { client_.reset(); });
  }
  RdClient(const RdClient&) = delete;
  RdClient& operator=(const RdClient&) = delete;

  coap::Outcome<coap::ClientResponse> Get(const std::string& uri) {
    auto request = coap::ClientRequest::FromUri(coap::Method::kGet, uri);
    auto promise = std::make_shared<std::promise<coap::Outcome<coap::ClientResponse>>>();
    auto future = promise->get_future();
    coap::RequestOptions options;
    options.timeout = kRdTimeout;
    loop_.Call([&] {
      client_->Send(*request, options, [promise](coap::Outcome<coap::ClientResponse> outcome) {
        promise->set_value(std::move(outcome));
      });
    });
    return future.get();
  }

 private:
  coap::ContextThread loop_;
  std::unique_ptr<coap::Client> client_;
};

std::string Stack::Name(Part part) {
  switch (part) {
    case Part::kBus:
      return "coapgw-bus";
    case Part::kRd:
      return "coapgw-rd";
    case Part::kPlatformSim:
      return "coapgw-platform-sim";
    case Part::kWsConnector:
      return "coapgw-ws-connector";
    case Part::kExecuter:
      return "coapgw-executer";
    case Part::kPinger:
      return "coapgw-pinger";
    case Part::kObserver:
      return "coapgw-observer";
    case Part::kDeviceSim:
      return "coapgw-device-sim";
  }
  return "?";
}

Stack::Stack(StackOptions options)
    : options_(std::move(options)),
      database_(std::make_unique<rd::test::TestDatabase>()),
      rd_client_(std::make_unique<RdClient>()) {
  // Every port distinct, all below the ephemeral range.
  std::set<uint16_t> taken;
  const auto pick = [&](int type) {
    for (;;) {
      const uint16_t port = type == SOCK_DGRAM ? StableUdpPort() : StableTcpPort();
      if (taken.insert(port).second) {
        return port;
      }
    }
  };
  rd_port_ = pick(SOCK_DGRAM);
  bus_pub_ = "tcp://" + Loopback(pick(SOCK_STREAM));
  bus_sub_ = "tcp://" + Loopback(pick(SOCK_STREAM));
  platform_port_ = pick(SOCK_STREAM);
  std::ofstream(files_.path() + "/device-types.json")
      << (options_.platform_device_types.empty() ? DefaultDeviceTypes(options_.device_type)
                                                 : options_.platform_device_types);
  // The other parts bind their HTTP port themselves (port 0), read back at each start.
  for (const Part part : kParts) {
    http_ports_[part] = part == Part::kPlatformSim ? platform_port_ : 0;
  }
}

Stack::~Stack() {
  for (auto it = kParts.rbegin(); it != kParts.rend(); ++it) {
    auto slot = slots_.find(*it);
    if (slot != slots_.end() && slot->second.process && slot->second.process->running() &&
        !slot->second.process->Stop(SIGTERM, kStopTimeout)) {
      slot->second.process->Kill();
    }
  }
  rd_client_.reset();
}

std::string Stack::rd_uri() const {
  return "coap://" + Loopback(rd_port_);
}

uint16_t Stack::http_port(Part part) const {
  return http_ports_.at(part);
}

std::map<std::string, std::string> Stack::EnvOf(Part part) const {
  std::map<std::string, std::string> env = {
      {"COAPGW_LOG_LEVEL", options_.log_level},
      {"COAPGW_BUS_PUB", bus_pub_},
      {"COAPGW_BUS_SUB", bus_sub_},
      {"COAPGW_RD_URI", rd_uri()},
  };
  if (part != Part::kPlatformSim && part != Part::kDeviceSim) {
    env["COAPGW_HTTP_LISTEN"] = Loopback(0);
  }
  switch (part) {
    case Part::kBus:
      break;
    case Part::kRd:
      env["COAPGW_DATABASE_URL"] = database_->url();
      env["COAPGW_RD_LISTEN"] = Loopback(rd_port_);
      break;
    case Part::kPlatformSim:
      env["COAPGW_PLATFORM_SIM_USERS"] = std::string(kUser) + ":" + kUser;
      env["COAPGW_PLATFORM_SIM_HISTORY"] = "100000";
      env["COAPGW_PLATFORM_SIM_DEVICE_TYPES"] = files_.path() + "/device-types.json";
      env["COAPGW_PLATFORM_SIM_STRICT_TYPES"] = "true";
      break;
    case Part::kWsConnector:
      env["COAPGW_DATABASE_URL"] = database_->url();
      env["COAPGW_PLATFORM_URL"] = "ws://" + Loopback(platform_port_) + "/";
      env["COAPGW_PLATFORM_USER"] = kUser;
      env["COAPGW_PLATFORM_PASSWORD"] = kUser;
      env["COAPGW_WS_RECONNECT_MIN"] = "50ms";
      env["COAPGW_WS_RECONNECT_MAX"] = "500ms";
      env["COAPGW_WS_REQUEST_TIMEOUT"] = "5s";
      env["COAPGW_COMMAND_TIMEOUT"] = "8s";
      break;
    case Part::kExecuter:
      env["COAPGW_COMMAND_TIMEOUT"] = "8s";
      break;
    case Part::kPinger:
      env["COAPGW_PING_INTERVAL"] = options_.ping_interval;
      env["COAPGW_PING_TIMEOUT"] = options_.ping_timeout;
      env["COAPGW_PING_MISSES"] = options_.ping_misses;
      break;
    case Part::kObserver:
      env["COAPGW_POLL_INTERVAL"] = options_.poll_interval;
      env["COAPGW_OBSERVER_FILTER"] = options_.observer_filter;
      env["COAPGW_OBSERVER_HEARTBEAT_INTERVAL"] = "250ms";
      env["COAPGW_OBSERVER_RETRY_MIN"] = "200ms";
      break;
    case Part::kDeviceSim:
      env["COAPGW_DEVICE_SIM_DEVICES"] = std::to_string(options_.devices);
      env["COAPGW_DEVICE_SIM_PREFIX"] = options_.device_prefix;
      env["COAPGW_DEVICE_SIM_TYPE"] = options_.device_type;
      env["COAPGW_DEVICE_SIM_INTERVAL"] = options_.device_interval;
      env["COAPGW_DEVICE_SIM_CONTROL"] = Loopback(0);
      env["COAPGW_DEVICE_SIM_LISTEN"] = "127.0.0.1:0";
      env["COAPGW_DEVICE_SIM_LARGE_SIZE"] = "1024";
      break;
  }
  const auto extra = options_.extra_env.find(Name(part));
  if (extra != options_.extra_env.end()) {
    for (const auto& [name, value] : extra->second) {
      env[name] = value;
    }
  }
  return env;
}

std::vector<std::string> Stack::ArgvOf(Part part) const {
  std::vector<std::string> argv{BinaryPath(Name(part))};
  if (part == Part::kPlatformSim) {
    argv.push_back("--platform-sim-listen=" + Loopback(platform_port_));
  }
  return argv;
}

bool Stack::Ready(Part part) {
  const std::string log = slots_.at(part).process->Stderr();
  if (part == Part::kPlatformSim) {
    // The port is this process's only once its log says so: before, another test's simulator
    // may answer on it.
    return log.find("platform-sim: listening port=" + std::to_string(platform_port_) + " ") !=
               std::string::npos &&
           PlatformGet("/api/state").IsObject();
  }
  uint16_t& port = http_ports_.at(part);
  if (port == 0) {
    port = LoggedPort(log, kHttpListening);
    if (port == 0) {
      return false;
    }
    if (part == Part::kDeviceSim) {
      device_control_port_ = port;
    }
  }
  return HttpGet(port, "/readyz").rfind("HTTP/1.1 200", 0) == 0;
}

bool Stack::StartPart(Part part, std::string* error) {
  Slot& slot = slots_[part];
  if (slot.process) {
    if (slot.process->running()) {
      *error = Name(part) + " is running already";
      return false;
    }
    const auto code = slot.process->Wait(milliseconds(0));
    slot.earlier_logs += "==== run " + std::to_string(slot.runs) + " (ended with " +
                         (code ? std::to_string(*code) : std::string("?")) + ") ====\n" +
                         slot.process->Stderr();
  }
  ++slot.runs;
  if (part != Part::kPlatformSim) {
    http_ports_[part] = 0;  // a new one, read back from the new process's log
  }
  slot.process = std::make_unique<Process>(ArgvOf(part), EnvOf(part));
  Process& process = *slot.process;
  if (!WaitUntil([&] { return !process.running() || Ready(part); }, kReadyTimeout) ||
      !process.running()) {
    const auto code = process.Wait(milliseconds(0));
    *error = Name(part) + " did not get ready within " +
             std::to_string(kReadyTimeout.count() / 1000) + " s" +
             (code ? " (exited with " + std::to_string(*code) + ")" : std::string()) + ":\n" +
             Tail(part);
    return false;
  }
  return true;
}

bool Stack::Start(std::string* error) {
  for (const Part part : kParts) {
    if (Running(part)) {
      continue;
    }
    std::string why;
    if (!StartPart(part, &why)) {
      *error = why + "\n\nall parts:\n" + Tails();
      return false;
    }
  }
  return true;
}

bool Stack::StopAll(std::string* error) {
  std::string failures;
  for (auto it = kParts.rbegin(); it != kParts.rend(); ++it) {
    if (!Running(*it)) {
      continue;
    }
    const auto code = Stop(*it);
    if (code != 0) {
      failures += Name(*it) +
                  (code ? " exited with " + std::to_string(*code)
                        : std::string(" did not stop within 5 s")) +
                  ":\n" + Tail(*it);
    }
  }
  *error = failures;
  return failures.empty();
}

void Stack::Kill(Part part) {
  auto slot = slots_.find(part);
  if (slot != slots_.end() && slot->second.process) {
    slot->second.process->Kill();
  }
}

std::optional<int> Stack::Stop(Part part) {
  auto slot = slots_.find(part);
  if (slot == slots_.end() || !slot->second.process) {
    return std::nullopt;
  }
  auto code = slot->second.process->Stop(SIGTERM, kStopTimeout);
  if (!code) {
    slot->second.process->Kill();
  }
  return code;
}

bool Stack::Running(Part part) {
  auto slot = slots_.find(part);
  return slot != slots_.end() && slot->second.process && slot->second.process->running();
}

Process* Stack::process(Part part) {
  auto slot = slots_.find(part);
  return slot == slots_.end() ? nullptr : slot->second.process.get();
}

std::string Stack::Tail(Part part, size_t lines) const {
  const auto slot = slots_.find(part);
  if (slot == slots_.end() || !slot->second.process) {
    return "---- " + Name(part) + ": not started ----\n";
  }
  const std::string current = slot->second.process->Stderr();
  std::string text = slot->second.earlier_logs;
  if (!text.empty()) {
    text += "==== run " + std::to_string(slot->second.runs) + " (current) ====\n";
  }
  text += current;
  return "---- " + Name(part) + " (stderr, last " + std::to_string(lines) + " lines) ----\n" +
         LastLines(text, lines);
}

std::string Stack::Tails(size_t lines) const {
  std::string all;
  for (const Part part : kParts) {
    if (slots_.count(part) != 0) {
      all += Tail(part, lines);
    }
  }
  return all;
}

rapidjson::Document Stack::PlatformGet(const std::string& target) const {
  return ParseOrNull(ws::test::Http(platform_port_, "GET", target));
}

ws::test::HttpResult Stack::PlatformPost(const std::string& target, const std::string& body) const {
  return ws::test::Http(platform_port_, "POST", target, body);
}

ws::test::HttpResult Stack::DeviceAction(const std::string& id, const std::string& action) const {
  return ws::test::Http(device_control_port_, "POST", "/devices/" + id + "/" + action);
}

rapidjson::Document Stack::DeviceSimGet(const std::string& target) const {
  return ParseOrNull(ws::test::Http(device_control_port_, "GET", target));
}

std::optional<double> Stack::Metric(Part part, const std::string& name) const {
  const auto result = ws::test::Http(http_ports_.at(part), "GET", "/metrics");
  if (result.status != 200) {
    return std::nullopt;
  }
  std::optional<double> sum;
  std::istringstream lines(result.body);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.rfind(name, 0) != 0 || line.size() == name.size() ||
        (line[name.size()] != ' ' && line[name.size()] != '{')) {
      continue;
    }
    const size_t space = line.rfind(' ');
    sum = sum.value_or(0) + std::strtod(line.c_str() + space + 1, nullptr);
  }
  return sum;
}

std::optional<std::vector<events::Device>> Stack::RdDevices() {
  auto snapshot = rd_client_->Get(rd_uri() + "/coapgw/devices");
  if (!snapshot.ok() || snapshot->code != coap::Code::kContent) {
    return std::nullopt;
  }
  rapidjson::Document document;
  document.Parse(snapshot->payload.c_str(), snapshot->payload.size());
  if (document.HasParseError() || !document.IsObject() || !document.HasMember("devices") ||
      !document["devices"].IsArray()) {
    return std::nullopt;
  }
  std::vector<events::Device> devices;
  for (const auto& item : document["devices"].GetArray()) {
    auto decoded = events::DecodeDeviceRegistered(item);
    if (!decoded.ok()) {
      return std::nullopt;
    }
    devices.push_back(std::move(decoded->device));
  }
  return devices;
}

}  // namespace coapgw::test
