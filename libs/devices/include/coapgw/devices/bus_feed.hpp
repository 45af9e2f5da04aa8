#pragma once

// Hands bus messages to a coap::Context's loop thread. ZeroMQ sockets and libcoap contexts each
// belong to one thread; a BusFeed owns a bus::Subscriber on a thread of its own and posts every
// received message to the loop, where `handler` runs. Stops (and joins) on destruction.

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <zmq.hpp>

#include "coapgw/bus/subscriber.hpp"
#include "coapgw/coap/context.hpp"

namespace coapgw::devices {

class BusFeed {
 public:
  using Handler = std::function<void(const bus::Message&)>;

  /// Subscribes to `topic_prefixes` at `endpoint` and starts the thread. Throws what
  /// bus::Subscriber throws (bad endpoint or prefix).
  BusFeed(zmq::context_t& zmq_context, const std::string& endpoint,
          std::vector<std::string> topic_prefixes, coap::Context& loop, Handler handler,
          bus::SubscriberOptions options = {});
  ~BusFeed();
  BusFeed(const BusFeed&) = delete;
  BusFeed& operator=(const BusFeed&) = delete;

 private:
  std::atomic<bool> stopping_{false};
  std::shared_ptr<Handler> handler_;
  std::thread thread_;
};

}  // namespace coapgw::devices
