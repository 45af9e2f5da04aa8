#include "ws_testing.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>

#include "coapgw/test/wait.hpp"

namespace coapgw::ws::test {
namespace {

// Content-Length of a response head, or nullopt.
std::optional<size_t> ContentLength(const std::string& head) {
  std::string lower = head;
  for (char& ch : lower) {
    ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  }
  const auto at = lower.find("content-length:");
  if (at == std::string::npos) {
    return std::nullopt;
  }
  return static_cast<size_t>(std::strtoull(lower.c_str() + at + 15, nullptr, 10));
}

}  // namespace

HttpResult Http(uint16_t port, const std::string& method, const std::string& target,
                const std::string& body) {
  HttpResult result;
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval timeout{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    close(fd);
    return result;
  }
  std::string request = method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n";
  if (!body.empty() || method == "POST") {
    request +=
        "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  }
  request += "\r\n" + body;
  if (send(fd, request.data(), request.size(), MSG_NOSIGNAL) !=
      static_cast<ssize_t>(request.size())) {
    close(fd);
    return result;
  }
  std::string response;
  char buffer[4096];
  for (;;) {
    const auto head_end = response.find("\r\n\r\n");
    if (head_end != std::string::npos) {
      const auto length = ContentLength(response.substr(0, head_end));
      if (length && response.size() >= head_end + 4 + *length) {
        break;
      }
    }
    const ssize_t n = recv(fd, buffer, sizeof buffer, 0);
    if (n <= 0) {
      break;
    }
    response.append(buffer, static_cast<size_t>(n));
  }
  close(fd);
  const auto head_end = response.find("\r\n\r\n");
  if (response.compare(0, 9, "HTTP/1.1 ") != 0 || head_end == std::string::npos) {
    return result;
  }
  result.status = std::atoi(response.c_str() + 9);
  result.head = response.substr(0, head_end);
  result.body = response.substr(head_end + 4);
  return result;
}

TempDir::TempDir() {
  char path_template[] = "/tmp/coapgw-ws-test-XXXXXX";
  if (mkdtemp(path_template) == nullptr) {
    throw std::runtime_error("mkdtemp failed");
  }
  path_ = path_template;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

CertFiles MakeSelfSignedCert(const std::string& dir, const std::string& name,
                             const std::string& subject_alt_names) {
  CertFiles files{dir + "/" + name + ".pem", dir + "/" + name + ".key"};
  const std::string command =
      "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1"
      " -subj /CN=coapgw-test -addext 'subjectAltName=" +
      subject_alt_names + "' -keyout '" + files.key + "' -out '" + files.cert + "' > '" + dir +
      "/openssl.log' 2>&1";
  if (std::system(command.c_str()) != 0) {
    throw std::runtime_error("openssl failed: " + command);
  }
  return files;
}

ClientHandlers ClientEvents::Handlers() {
  ClientHandlers handlers;
  handlers.on_open = [this] {
    const std::lock_guard<std::mutex> lock(mutex_);
    ++opens_;
  };
  handlers.on_text = [this](std::string text) {
    const std::lock_guard<std::mutex> lock(mutex_);
    texts_.push_back(std::move(text));
  };
  handlers.on_close = [this](const CloseEvent& event) {
    const std::lock_guard<std::mutex> lock(mutex_);
    closes_.push_back(event);
  };
  return handlers;
}

int ClientEvents::opens() const {
  const std::lock_guard<std::mutex> lock(mutex_);
  return opens_;
}

std::vector<std::string> ClientEvents::texts() const {
  const std::lock_guard<std::mutex> lock(mutex_);
  return texts_;
}

std::vector<CloseEvent> ClientEvents::closes() const {
  const std::lock_guard<std::mutex> lock(mutex_);
  return closes_;
}

bool ClientEvents::WaitOpens(size_t n, int timeout_ms) const {
  return coapgw::test::WaitUntil([&] { return static_cast<size_t>(opens()) >= n; },
                                 std::chrono::milliseconds(timeout_ms));
}

bool ClientEvents::WaitTexts(size_t n, int timeout_ms) const {
  return coapgw::test::WaitUntil([&] { return texts().size() >= n; },
                                 std::chrono::milliseconds(timeout_ms));
}

std::optional<CloseEvent> ClientEvents::WaitClose(int timeout_ms) const {
  if (!coapgw::test::WaitUntil([&] { return !closes().empty(); },
                               std::chrono::milliseconds(timeout_ms))) {
    return std::nullopt;
  }
  return closes().front();
}

}  // namespace coapgw::ws::test
