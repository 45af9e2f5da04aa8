#pragma once

// The bus proxy that coapgw-bus runs (and tests and benchmarks embed): an XSUB socket bound for
// publishers, an XPUB socket bound for subscribers, and zmq::proxy_steerable forwarding messages
// one way and subscriptions the other on its own thread.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <thread>

#include <zmq.hpp>

#include "coapgw/bus/connection_options.hpp"

namespace coapgw::bus {

struct ProxyOptions {
  std::string pub_endpoint;  // bound by the XSUB socket; publishers connect here
  std::string sub_endpoint;  // bound by the XPUB socket; subscribers connect here
  int hwm = kDefaultHwm;     // XSUB RCVHWM and XPUB SNDHWM, per connection
};

/// Cumulative counts since Start, as libzmq's proxy keeps them (a multipart message counts once).
struct ProxyStatistics {
  uint64_t published_messages = 0;  // received from publishers (and forwarded)
  uint64_t published_bytes = 0;
  uint64_t subscription_messages = 0;  // subscribe/unsubscribe frames from subscribers
  uint64_t subscription_bytes = 0;
};

/// Owns the proxy sockets and thread. Start, Statistics and Stop are called from one owner thread;
/// the sockets belong to the proxy thread while it runs.
class Proxy {
 public:
  /// Binds both endpoints. Throws std::runtime_error naming the endpoint when a bind fails.
  Proxy(zmq::context_t& context, const ProxyOptions& options);
  /// Stops the proxy thread if it runs.
  ~Proxy();
  Proxy(const Proxy&) = delete;
  Proxy& operator=(const Proxy&) = delete;
  Proxy(Proxy&&) = delete;
  Proxy& operator=(Proxy&&) = delete;

  /// The endpoints actually bound (a port 0 or `*` resolved to the real port).
  const std::string& pub_endpoint() const { return pub_endpoint_; }
  const std::string& sub_endpoint() const { return sub_endpoint_; }

  /// Starts forwarding on the proxy thread.
  void Start();
  /// Asks the proxy for its counters; nullopt when it does not answer within `timeout` (it
  /// stopped, see failure()).
  std::optional<ProxyStatistics> Statistics(std::chrono::milliseconds timeout);
  /// Why the proxy thread ended on its own; nullopt while it runs or after a clean Stop.
  std::optional<std::string> failure() const;
  /// Terminates the proxy through its control socket and joins the thread. Idempotent.
  void Stop();

 private:
  void Run();

  zmq::socket_t xsub_;
  zmq::socket_t xpub_;
  zmq::socket_t control_proxy_side_;  // PAIR used by proxy_steerable
  zmq::socket_t control_;             // PAIR used by the owner thread
  std::string pub_endpoint_;
  std::string sub_endpoint_;
  std::thread thread_;
  std::atomic<bool> failed_{false};
  std::string failure_;  // written by the proxy thread before failed_ is set
};

}  // namespace coapgw::bus
