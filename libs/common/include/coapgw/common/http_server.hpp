#pragma once

// The operations endpoint every service can switch on with COAPGW_HTTP_LISTEN:
//   GET /healthz  200 while the process runs (liveness)
//   GET /readyz   200 when Health says ready, else 503 with the reason (readiness)
//   GET /metrics  the MetricsRegistry in Prometheus text format
// A small poll(2) loop on its own thread; requests are tiny and answered with Connection: close.

#include <atomic>
#include <memory>
#include <mutex>
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

class HttpServer {
 public:
  /// Binds `address` (port 0 picks a free port) and starts serving. Throws std::runtime_error
  /// when the address cannot be bound.
  HttpServer(const HostPort& address, const Health& health, const MetricsRegistry& metrics);
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
  int listen_fd_ = -1;
  int wake_fds_[2] = {-1, -1};
  uint16_t port_ = 0;
  std::thread thread_;
};

}  // namespace coapgw
