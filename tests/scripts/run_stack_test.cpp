// scripts/run-stack, the README's run command, with this build's binaries (COAPGW_STACK_BIN), its
// own var folder and free loopback ports: a simulated device's data reaches the platform
// simulator's console, Ctrl-C (SIGINT to the whole process group, as a terminal sends it) and
// SIGTERM stop every process including PostgreSQL, a second run in the same folder finds the same
// devices, and a service that dies stops the stack with an error.

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <string>

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include "coapgw/test/http.hpp"
#include "coapgw/test/process.hpp"
#include "coapgw/test/wait.hpp"

namespace coapgw::test {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// The stack is up once the devices registered; the script's own limit for that is 60 s.
constexpr seconds kStartTimeout{120};
// Stopping waits at most 15 s per service before SIGKILL, then stops PostgreSQL.
constexpr seconds kStopTimeout{40};
constexpr seconds kDataTimeout{60};

// The body of an HTTP response ("" without one).
std::string Body(const std::string& response) {
  const auto end = response.find("\r\n\r\n");
  return end == std::string::npos ? "" : response.substr(end + 4);
}

// True when no process of the group is left (zombies included: they still count for kill).
bool GroupGone(pid_t group) {
  return kill(-group, 0) != 0 && errno == ESRCH;
}

class RunStackTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char folder[] = "/tmp/coapgw-run-stack-XXXXXX";
    ASSERT_NE(mkdtemp(folder), nullptr);
    var_ = folder;
    // The script hands each address to several processes, so the ports are picked here: below the
    // ephemeral range, where services binding port 0 (other tests') cannot take them, and the
    // same for both runs of a test. A port taken anyway ends the script at once ("... exited").
    std::set<uint16_t> taken;
    const auto tcp_port = [&] {
      for (;;) {
        const uint16_t port = StableTcpPort();
        if (taken.insert(port).second) {
          return port;
        }
      }
    };
    platform_port_ = tcp_port();
    control_port_ = tcp_port();
    const std::string bin = std::filesystem::path(BinaryPath("coapgw-bus")).parent_path();
    env_ = {
        {"COAPGW_STACK_BIN", bin},
        {"COAPGW_STACK_VAR", var_},
        {"COAPGW_STACK_PG_PORT", std::to_string(tcp_port())},
        {"COAPGW_BUS_PUB", "tcp://127.0.0.1:" + std::to_string(tcp_port())},
        {"COAPGW_BUS_SUB", "tcp://127.0.0.1:" + std::to_string(tcp_port())},
        {"COAPGW_RD_LISTEN", "127.0.0.1:" + std::to_string(StableUdpPort())},
        {"COAPGW_PLATFORM_SIM_LISTEN", "127.0.0.1:" + std::to_string(platform_port_)},
        {"COAPGW_DEVICE_SIM_CONTROL", "127.0.0.1:" + std::to_string(control_port_)},
        // What the script derives or defaults must not come from the test's environment.
        {"COAPGW_DATABASE_URL", ""},
        {"COAPGW_RD_URI", ""},
        {"COAPGW_PLATFORM_URL", ""},
        {"COAPGW_PLATFORM_SIM_STATE_FILE", ""},
        {"COAPGW_DEVICE_SIM_DEVICES", "3"},
        {"COAPGW_DEVICE_SIM_INTERVAL", "300ms"},
    };
  }

  void TearDown() override {
    // A failed test must not leave the stack running: the script's group, then PostgreSQL.
    if (stack_ && !GroupGone(stack_->pid())) {
      kill(-stack_->pid(), SIGKILL);
      WaitUntil([&] { return GroupGone(stack_->pid()); }, milliseconds(5000));
    }
    stack_.reset();
    std::system(
        ("'" + SourcePath("scripts/pg") + "' stop '" + var_ + "/pg' >/dev/null 2>&1").c_str());
    std::filesystem::remove_all(var_);
  }

  // Starts scripts/run-stack as the leader of its own process group (as in a terminal), its
  // output (stdout) captured with its stderr, and waits until it says it is running.
  void StartStack() {
    stack_.reset();
    stack_ = std::make_unique<Process>(
        std::vector<std::string>{"/bin/sh", "-c", "exec setsid \"$0\" 1>&2",
                                 SourcePath("scripts/run-stack")},
        env_);
    ASSERT_TRUE(stack_->WaitForStderr("run-stack: running", kStartTimeout)) << stack_->Stderr();
    EXPECT_NE(stack_->Stderr().find(
                  "platform console at http://127.0.0.1:" + std::to_string(platform_port_) + "/"),
              std::string::npos)
        << stack_->Stderr();
  }

  // The pid the script printed for a service ("observer started (pid 123, ...").
  pid_t ServicePid(const std::string& name) {
    std::smatch match;
    const std::string output = stack_->Stderr();
    if (!std::regex_search(output, match,
                           std::regex("run-stack: " + name + " started \\(pid (\\d+)"))) {
      ADD_FAILURE() << "no pid for " << name << " in\n" << output;
      return -1;
    }
    return static_cast<pid_t>(std::stoi(match[1].str()));
  }

  // Platform device uris (the gateway's device ids) by name, of the devices a gateway session
  // listens to.
  std::map<std::string, std::string> ListenedDevices() {
    std::map<std::string, std::string> devices;
    rapidjson::Document state;
    state.Parse(Body(HttpGet(platform_port_, "/api/state")).c_str());
    if (state.HasParseError() || !state.HasMember("devices")) {
      return devices;
    }
    for (const auto& device : state["devices"].GetArray()) {
      if (device["listened"].GetBool()) {
        devices[device["name"].GetString()] = device["uri"].GetString();
      }
    }
    return devices;
  }

  // Waits until the console's event feed has an accepted event of each of the 3 devices after
  // `after`, and returns the last seq.
  int64_t WaitForDataOfEveryDevice(int64_t after) {
    std::set<std::string> devices;
    int64_t last = after;
    const bool seen = WaitUntil(
        [&] {
          rapidjson::Document events;
          events.Parse(
              Body(HttpGet(platform_port_, "/api/events?after=" + std::to_string(last))).c_str());
          if (events.HasParseError() || !events.HasMember("events")) {
            return false;
          }
          for (const auto& event : events["events"].GetArray()) {
            if (event["accepted"].GetBool()) {
              devices.insert(event["device_name"].GetString());
            }
          }
          last = events["last_seq"].GetInt64();
          return devices.size() == 3;
        },
        kDataTimeout);
    EXPECT_TRUE(seen) << "events of " << devices.size() << " devices\n"
                      << stack_->Stderr() << Logs();
    return last;
  }

  // The end of every service's log, for failure messages.
  std::string Logs() const {
    std::string text;
    for (const auto& entry : std::filesystem::directory_iterator(var_ + "/log")) {
      std::ifstream file(entry.path());
      std::deque<std::string> lines;
      for (std::string line; std::getline(file, line);) {
        lines.push_back(line);
        if (lines.size() > 15) {
          lines.pop_front();
        }
      }
      text += "== " + entry.path().filename().string() + "\n";
      for (const auto& line : lines) {
        text += line + "\n";
      }
    }
    return text;
  }

  // Waits for the script's exit and checks that nothing it started is left.
  void ExpectStopped(int expected_exit_code) {
    const auto code = stack_->Wait(kStopTimeout);
    ASSERT_TRUE(code.has_value()) << "still running\n" << stack_->Stderr();
    EXPECT_EQ(*code, expected_exit_code) << stack_->Stderr();
    EXPECT_TRUE(GroupGone(stack_->pid())) << "a process of the stack's group is left";
    EXPECT_FALSE(std::filesystem::exists(var_ + "/pg/data/postmaster.pid"))
        << "PostgreSQL still running";
    EXPECT_NE(stack_->Stderr().find("run-stack: stopped"), std::string::npos) << stack_->Stderr();
  }

  std::string var_;
  uint16_t platform_port_ = 0;
  uint16_t control_port_ = 0;
  std::map<std::string, std::string> env_;
  std::unique_ptr<Process> stack_;
};

TEST_F(RunStackTest, ShowsDeviceDataStopsOnCtrlCAndSigtermAndRunsTwiceInARow) {
  StartStack();
  WaitForDataOfEveryDevice(0);
  const std::string console = HttpGet(platform_port_, "/");
  EXPECT_NE(console.find("200 OK"), std::string::npos) << console.substr(0, 200);
  EXPECT_NE(console.find("<title>coapgw platform-sim</title>"), std::string::npos);
  std::map<std::string, std::string> first;
  ASSERT_TRUE(WaitUntil([&] { return (first = ListenedDevices()).size() == 3; }, kDataTimeout))
      << Logs();

  kill(-stack_->pid(), SIGINT);  // Ctrl-C
  ExpectStopped(0);

  // Again in the same folder: the same PostgreSQL data and platform state, the same devices.
  StartStack();
  WaitForDataOfEveryDevice(0);
  std::map<std::string, std::string> second;
  ASSERT_TRUE(WaitUntil([&] { return (second = ListenedDevices()).size() == 3; }, kDataTimeout))
      << Logs();
  EXPECT_EQ(second, first);

  kill(stack_->pid(), SIGTERM);  // the script only: it stops the rest
  ExpectStopped(0);
}

TEST_F(RunStackTest, AServiceThatDiesStopsEverythingWithAnError) {
  StartStack();
  const pid_t observer = ServicePid("observer");
  ASSERT_GT(observer, 0);
  kill(observer, SIGKILL);
  ExpectStopped(1);
  EXPECT_NE(stack_->Stderr().find("run-stack: observer exited (status 137)"), std::string::npos)
      << stack_->Stderr();
}

}  // namespace
}  // namespace coapgw::test
