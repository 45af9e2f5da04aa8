#include "coapgw/common/http_server.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <exception>
#include <map>
#include <stdexcept>
#include <utility>
#include <vector>

#include "coapgw/common/log.hpp"

namespace coapgw {
namespace {

constexpr size_t kMaxRequestBytes = 8192;
constexpr size_t kMaxConnections = 32;
constexpr auto kConnectionTimeout = std::chrono::seconds(5);

const char* ReasonPhrase(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 204:
      return "No Content";
    case 400:
      return "Bad Request";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 409:
      return "Conflict";
    case 503:
      return "Service Unavailable";
    default:
      return status < 400 ? "OK" : status < 500 ? "Client Error" : "Server Error";
  }
}

std::string HttpResponse(int status, const char* reason, const std::string& content_type,
                         const std::string& body) {
  return "HTTP/1.1 " + std::to_string(status) + " " + reason + "\r\nContent-Type: " + content_type +
         "\r\nContent-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" +
         body;
}

void SetNonBlocking(int fd) {
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

}  // namespace

void Health::SetNotReady(std::string reason) {
  const std::lock_guard<std::mutex> lock(mutex_);
  reason_ = std::move(reason);
}

bool Health::ready() const {
  const std::lock_guard<std::mutex> lock(mutex_);
  return reason_.empty();
}

std::string Health::reason() const {
  const std::lock_guard<std::mutex> lock(mutex_);
  return reason_;
}

HttpServer::HttpServer(const HostPort& address, const Health& health,
                       const MetricsRegistry& metrics, HttpRoutes routes)
    : health_(health), metrics_(metrics), routes_(std::move(routes)) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const std::string port_text = std::to_string(address.port);
  const int rc = getaddrinfo(address.host.empty() ? nullptr : address.host.c_str(),
                             port_text.c_str(), &hints, &found);
  if (rc != 0 || found == nullptr) {
    throw std::runtime_error("http listener: cannot resolve '" + FormatHostPort(address) +
                             "': " + gai_strerror(rc));
  }
  const std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> guard(found, freeaddrinfo);
  listen_fd_ = socket(found->ai_family, found->ai_socktype | SOCK_CLOEXEC, 0);
  const int one = 1;
  setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (listen_fd_ < 0 || bind(listen_fd_, found->ai_addr, found->ai_addrlen) != 0 ||
      listen(listen_fd_, 16) != 0) {
    const std::string reason = std::strerror(errno);
    if (listen_fd_ >= 0) {
      close(listen_fd_);
    }
    throw std::runtime_error("http listener: cannot listen on " + FormatHostPort(address) + ": " +
                             reason);
  }
  sockaddr_storage bound{};
  socklen_t length = sizeof bound;
  getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&bound), &length);
  port_ = ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                                            : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  SetNonBlocking(listen_fd_);
  if (pipe2(wake_fds_, O_CLOEXEC | O_NONBLOCK) != 0) {
    close(listen_fd_);
    throw std::runtime_error("http listener: pipe failed");
  }
  log::Info("http", "listening", {{"address", FormatHostPort({address.host, port_})}});
  thread_ = std::thread([this] { Run(); });
}

HttpServer::~HttpServer() {
  const char byte = 0;
  [[maybe_unused]] const auto written = write(wake_fds_[1], &byte, 1);
  thread_.join();
  close(listen_fd_);
  close(wake_fds_[0]);
  close(wake_fds_[1]);
}

std::string HttpServer::Respond(const std::string& request) const {
  const size_t line_end = request.find("\r\n");
  const std::string line = request.substr(0, line_end);
  const size_t first_space = line.find(' ');
  const size_t second_space = line.find(' ', first_space + 1);
  if (first_space == std::string::npos || second_space == std::string::npos) {
    return HttpResponse(400, "Bad Request", "text/plain", "malformed request line\n");
  }
  const std::string method = line.substr(0, first_space);
  const std::string target = line.substr(first_space + 1, second_space - first_space - 1);
  if (routes_) {
    try {
      if (const std::optional<HttpReply> reply = routes_(method, target)) {
        return HttpResponse(reply->status, ReasonPhrase(reply->status), reply->content_type,
                            reply->body);
      }
    } catch (const std::exception& error) {
      log::Error("http", "route failed", {{"target", target}, {"error", error.what()}});
      return HttpResponse(500, "Internal Server Error", "text/plain", "internal error\n");
    }
  }
  const std::string path = target.substr(0, target.find('?'));
  if (method != "GET" && method != "HEAD") {
    return HttpResponse(405, "Method Not Allowed", "text/plain", "only GET\n");
  }
  if (path == "/healthz") {
    return HttpResponse(200, "OK", "text/plain", "ok\n");
  }
  if (path == "/readyz") {
    if (health_.ready()) {
      return HttpResponse(200, "OK", "text/plain", "ready\n");
    }
    return HttpResponse(503, "Service Unavailable", "text/plain",
                        "not ready: " + health_.reason() + "\n");
  }
  if (path == "/metrics") {
    return HttpResponse(200, "OK", "text/plain; version=0.0.4", metrics_.Render());
  }
  return HttpResponse(404, "Not Found", "text/plain", "not found\n");
}

void HttpServer::Run() {
  struct Connection {
    std::string in;
    std::string out;
    size_t sent = 0;
    std::chrono::steady_clock::time_point opened = std::chrono::steady_clock::now();
  };
  std::map<int, Connection> connections;
  for (;;) {
    std::vector<pollfd> fds;
    fds.push_back({wake_fds_[0], POLLIN, 0});
    fds.push_back({listen_fd_, POLLIN, 0});
    for (const auto& [fd, connection] : connections) {
      fds.push_back({fd, static_cast<short>(connection.out.empty() ? POLLIN : POLLOUT), 0});
    }
    if (poll(fds.data(), fds.size(), 1000) < 0 && errno != EINTR) {
      log::Error("http", "poll failed", {{"error", std::strerror(errno)}});
      return;
    }
    if ((fds[0].revents & POLLIN) != 0) {
      break;
    }
    // A client that neither sends a whole request nor reads its answer in time is dropped, so
    // a few stuck connections cannot lock the probes out.
    const auto now = std::chrono::steady_clock::now();
    for (auto it = connections.begin(); it != connections.end();) {
      if (now - it->second.opened > kConnectionTimeout) {
        close(it->first);
        it = connections.erase(it);
      } else {
        ++it;
      }
    }
    if ((fds[1].revents & POLLIN) != 0 && connections.size() < kMaxConnections) {
      const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd >= 0) {
        connections.emplace(fd, Connection{});
      }
    }
    for (size_t i = 2; i < fds.size(); ++i) {
      const int fd = fds[i].fd;
      if (fds[i].revents == 0 || connections.count(fd) == 0) {
        continue;
      }
      Connection& connection = connections[fd];
      bool done =
          (fds[i].revents & (POLLERR | POLLHUP | POLLNVAL)) != 0 && (fds[i].revents & POLLIN) == 0;
      if (!done && connection.out.empty()) {
        char buffer[2048];
        const ssize_t n = read(fd, buffer, sizeof buffer);
        if (n <= 0) {
          done = n == 0 || (errno != EAGAIN && errno != EINTR);
        } else {
          connection.in.append(buffer, static_cast<size_t>(n));
          if (connection.in.find("\r\n\r\n") != std::string::npos) {
            connection.out = Respond(connection.in);
          } else if (connection.in.size() > kMaxRequestBytes) {
            connection.out = HttpResponse(431, "Request Header Fields Too Large", "text/plain",
                                          "request too large\n");
          }
        }
      } else if (!done) {
        const ssize_t n = write(fd, connection.out.data() + connection.sent,
                                connection.out.size() - connection.sent);
        if (n > 0) {
          connection.sent += static_cast<size_t>(n);
        }
        done = connection.sent == connection.out.size() ||
               (n < 0 && errno != EAGAIN && errno != EINTR);
      }
      if (done) {
        close(fd);
        connections.erase(fd);
      }
    }
  }
  for (const auto& [fd, connection] : connections) {
    close(fd);
  }
}

}  // namespace coapgw
