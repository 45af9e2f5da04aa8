#include "coapgw/test/process.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "coapgw/test/http.hpp"
#include "coapgw/test/wait.hpp"

extern char** environ;  // NOLINT(readability-redundant-declaration)

namespace coapgw::test {
namespace {

std::string EnvOr(const char* name, const std::string& fallback) {
  const char* value = std::getenv(name);
  return value != nullptr ? value : fallback;
}

uint16_t FreePort(int type) {
  const int fd = socket(AF_INET, type, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    close(fd);
    throw std::runtime_error("cannot bind a loopback port");
  }
  socklen_t length = sizeof address;
  getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  close(fd);
  return ntohs(address.sin_port);
}

// A free loopback port of `type` between 10000 and the start of the ephemeral range.
uint16_t StablePort(int type) {
  int ephemeral_low = 32768;
  std::ifstream("/proc/sys/net/ipv4/ip_local_port_range") >> ephemeral_low;
  std::random_device seed;
  std::mt19937 random(seed());
  std::uniform_int_distribution<int> pick(10'000, std::max(10'001, ephemeral_low - 1));
  for (int attempt = 0; attempt < 100; ++attempt) {
    const auto port = static_cast<uint16_t>(pick(random));
    const int fd = socket(AF_INET, type, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const bool free = bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
    close(fd);
    if (free) {
      return port;
    }
  }
  return FreePort(type);
}

}  // namespace

std::string BinaryPath(const std::string& name) {
  return EnvOr("COAPGW_BIN_DIR", COAPGW_DEFAULT_BIN_DIR) + "/" + name;
}

std::string SourcePath(const std::string& relative) {
  return EnvOr("COAPGW_SOURCE_DIR", COAPGW_DEFAULT_SOURCE_DIR) + "/" + relative;
}

Process::Process(std::vector<std::string> argv, std::map<std::string, std::string> env) {
  char path_template[] = "/tmp/coapgw-test-stderr-XXXXXX";
  const int stderr_fd = mkstemp(path_template);
  if (stderr_fd < 0) {
    throw std::runtime_error("mkstemp failed");
  }
  stderr_path_ = path_template;

  std::map<std::string, std::string> merged;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    const char* eq = std::strchr(*entry, '=');
    if (eq != nullptr) {
      merged[std::string(*entry, static_cast<size_t>(eq - *entry))] = eq + 1;
    }
  }
  for (auto& [key, value] : env) {
    merged[key] = value;
  }
  std::vector<std::string> env_strings;
  env_strings.reserve(merged.size());
  for (const auto& [key, value] : merged) {
    env_strings.push_back(key + "=" + value);
  }
  std::vector<char*> env_pointers;
  for (auto& text : env_strings) {
    env_pointers.push_back(text.data());
  }
  env_pointers.push_back(nullptr);
  std::vector<char*> arg_pointers;
  for (auto& text : argv) {
    arg_pointers.push_back(text.data());
  }
  arg_pointers.push_back(nullptr);

  pid_ = fork();
  if (pid_ < 0) {
    throw std::runtime_error("fork failed");
  }
  if (pid_ == 0) {
    // The child must not inherit the test's blocked signal mask.
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    // A crashed test must not leave its services running (the signal comes when the thread that
    // forked exits; tests start processes from their main thread).
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    dup2(stderr_fd, STDERR_FILENO);
    const int null_fd = open("/dev/null", O_RDWR);
    dup2(null_fd, STDIN_FILENO);
    // Nothing else of the test may leak into the child: libcoap opens its sockets without
    // close-on-exec, and a service holding a copy of a test device's socket keeps its port bound
    // after the test closed it (and may receive its datagrams).
    if (syscall(SYS_close_range, 3U, ~0U, 0U) != 0) {
      for (long fd = sysconf(_SC_OPEN_MAX) - 1; fd >= 3; --fd) {
        close(static_cast<int>(fd));
      }
    }
    execve(arg_pointers[0], arg_pointers.data(), env_pointers.data());
    _exit(127);
  }
  close(stderr_fd);
}

Process::~Process() {
  if (running()) {
    Kill();
  }
  unlink(stderr_path_.c_str());
}

bool Process::running() {
  if (exit_code_ || pid_ <= 0) {
    return false;
  }
  int status = 0;
  const pid_t done = waitpid(pid_, &status, WNOHANG);
  if (done == pid_) {
    exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return false;
  }
  return true;
}

std::optional<int> Process::Wait(std::chrono::milliseconds timeout) {
  WaitUntil([this] { return !running(); }, timeout);
  return exit_code_;
}

std::optional<int> Process::Stop(int signal, std::chrono::milliseconds timeout) {
  if (running()) {
    kill(pid_, signal);
  }
  return Wait(timeout);
}

void Process::Kill() {
  if (running()) {
    kill(pid_, SIGKILL);
    int status = 0;
    waitpid(pid_, &status, 0);
    exit_code_ = 128 + SIGKILL;
  }
}

std::string Process::Stderr() const {
  std::ifstream file(stderr_path_);
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

bool Process::WaitForStderr(const std::string& text, std::chrono::milliseconds timeout) {
  return WaitUntil([&] { return Stderr().find(text) != std::string::npos || !running(); },
                   timeout) &&
         Stderr().find(text) != std::string::npos;
}

uint16_t FreeTcpPort() {
  return FreePort(SOCK_STREAM);
}
uint16_t FreeUdpPort() {
  return FreePort(SOCK_DGRAM);
}

uint16_t StableTcpPort() {
  return StablePort(SOCK_STREAM);
}
uint16_t StableUdpPort() {
  return StablePort(SOCK_DGRAM);
}

uint16_t LoggedPort(const std::string& log, const std::string& prefix) {
  const size_t at = log.find(prefix);
  if (at == std::string::npos) {
    return 0;
  }
  const unsigned long port = std::strtoul(log.c_str() + at + prefix.size(), nullptr, 10);
  return port <= 65535 ? static_cast<uint16_t>(port) : 0;
}

BusProcess StartBus(std::chrono::milliseconds timeout, std::map<std::string, std::string> env) {
  const std::string any = "tcp://127.0.0.1:*";
  env["COAPGW_BUS_PUB"] = any;
  env["COAPGW_BUS_SUB"] = any;
  BusProcess bus;
  bus.process = std::make_unique<Process>(std::vector<std::string>{BinaryPath("coapgw-bus")}, env);
  if (bus.process->WaitForStderr("forwarding", timeout)) {
    const std::string log = bus.process->Stderr();
    const uint16_t pub = LoggedPort(log, "forwarding pub=tcp://127.0.0.1:");
    const uint16_t sub = LoggedPort(log, " sub=tcp://127.0.0.1:");
    if (pub != 0 && sub != 0) {
      bus.pub = "tcp://127.0.0.1:" + std::to_string(pub);
      bus.sub = "tcp://127.0.0.1:" + std::to_string(sub);
    }
  }
  return bus;
}

uint16_t WaitReady(Process& process, std::chrono::milliseconds timeout) {
  uint16_t port = 0;
  const bool ready = WaitUntil(
      [&] {
        if (!process.running()) {
          return false;
        }
        if (port == 0) {
          port = LoggedPort(process.Stderr(), kHttpListening);
        }
        return port != 0 && HttpGet(port, "/readyz").rfind("HTTP/1.1 200", 0) == 0;
      },
      timeout);
  return ready ? port : 0;
}

}  // namespace coapgw::test
