#pragma once

// A passive CoAP device for the discovery tests: a UDP socket on its own thread that answers
// GET /.well-known/core (NON or CON, Block2 in 512-byte blocks when the document is longer) with
// the links it is given, and nothing else. It can join a multicast group on an interface, and
// live in a network namespace the test created (its thread enters the namespace before it makes
// the socket), so that it answers there at that namespace's address.

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

namespace coapgw::rd::test {

struct ResponderOptions {
  std::string bind_ip = "0.0.0.0";
  uint16_t port = 0;      // 0: a free one
  std::string group;      // joined when set ("224.0.1.187")
  std::string interface;  // of the group ("lo")
  std::string netns;      // a namespace under /var/run/netns to live in; empty: this one
};

class Responder {
 public:
  /// Starts answering; throws std::runtime_error naming what failed (namespace, bind, join).
  Responder(ResponderOptions options, std::string links);
  ~Responder();
  Responder(const Responder&) = delete;
  Responder& operator=(const Responder&) = delete;

  uint16_t port() const { return port_; }
  /// Requests for /.well-known/core answered so far.
  int served() const { return served_.load(); }
  void SetLinks(std::string links);

 private:
  void Serve();
  std::string Links();

  std::mutex mutex_;
  std::string links_;  // guarded by mutex_
  int fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<int> served_{0};
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace coapgw::rd::test
