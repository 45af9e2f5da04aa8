#include "coapgw/devices/bus_feed.hpp"

#include <chrono>

namespace coapgw::devices {

BusFeed::BusFeed(zmq::context_t& zmq_context, const std::string& endpoint,
                 std::vector<std::string> topic_prefixes, coap::Context& loop, Handler handler,
                 bus::SubscriberOptions options)
    : handler_(std::make_shared<Handler>(std::move(handler))) {
  // Constructed here so that a bad endpoint throws in the caller's thread.
  auto subscriber =
      std::make_shared<bus::Subscriber>(zmq_context, endpoint, topic_prefixes, options);
  thread_ = std::thread([this, subscriber, &loop, handler = handler_] {
    while (!stopping_.load()) {
      auto message = subscriber->Receive(std::chrono::milliseconds(200));
      if (!message) {
        if (subscriber->terminated()) {
          return;
        }
        continue;
      }
      auto shared = std::make_shared<bus::Message>(std::move(*message));
      loop.Post([handler, shared] { (*handler)(*shared); });
    }
  });
}

BusFeed::~BusFeed() {
  stopping_.store(true);
  thread_.join();
}

}  // namespace coapgw::devices
