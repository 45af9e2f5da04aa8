#pragma once

// The operations endpoint every service can switch on with COAPGW_HTTP_LISTEN:
//   GET /healthz  200 while the process runs (liveness)
//   GET /readyz   200 when Health says ready, else 503 with the reason (readiness)
//   GET /metrics  the MetricsRegistry in Prometheus text format
// A small poll(2) loop on its own thread; requests are tiny and answered with Connection: close.

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "coapgw/common/host_port.hpp"
#include "coapgw/common/metrics.hpp"

namespace coapgw {

/// Readiness of a service, set by its parts (e.g. "database unreachable"). Thread-safe.
class Health {
 public:
  void SetReady() { SetNotReady(""); }
  void SetNotReady(std::string reason);
  bool ready() const;
  std::string reason() const;

 private:
  mutable std::mutex mutex_;
  std::string reason_ = "starting";
};

/// The answer of an extra route (HttpRoutes).
struct HttpReply {
  int status = 200;
  std::string content_type = "text/plain";
  std::string body;
};

/// Extra routes, tried before the built-in ones: gets the method ("POST") and the request target
/// ("/devices/3/offline?x=1") and returns the reply, or nullopt to leave the request to the
/// built-in routes. Runs on the server's thread; request bodies are not read. An exception
/// becomes a 500.
using HttpRoutes =
    std::function<std::optional<HttpReply>(const std::string& method, const std::string& target)>;

class HttpServer {
 public:
  /// Binds `address` (port 0 picks a free port) and starts serving, with `routes` (if any) before
  /// the built-in ones. Throws std::runtime_error when the address cannot be bound.
  HttpServer(const HostPort& address, const Health& health, const MetricsRegistry& metrics,
             HttpRoutes routes = {});
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  /// The bound port (useful when the setting asked for port 0).
  uint16_t port() const { return port_; }

 private:
  void Run();
  std::string Respond(const std::string& request) const;

  const Health& health_;
  const MetricsRegistry& metrics_;
  HttpRoutes routes_;
  int listen_fd_ = -1;
  int wake_fds_[2] = {-1, -1};
  uint16_t port_ = 0;
  std::thread thread_;
};

}  // namespace coapgw
