#pragma once

// Helpers for tests that move messages over a real bus (tests/libs/bus, tests/services/bus).

#include <chrono>
#include <optional>
#include <string_view>

#include "coapgw/bus/publisher.hpp"
#include "coapgw/bus/subscriber.hpp"

namespace coapgw::test {

/// The next message on `topic`, skipping others (e.g. leftover probes); nullopt after `timeout`.
inline std::optional<bus::Message> ReceiveOn(bus::Subscriber& subscriber, std::string_view topic,
                                             std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() < 0) {
      return std::nullopt;
    }
    auto message = subscriber.Receive(left);
    if (!message || message->topic == topic) {
      return message;
    }
  }
}

/// Publishes probes on `probe_topic` until `subscriber` (subscribed to it) receives one of this
/// publisher's: from then on the publisher holds the subscriber's subscriptions, so nothing is
/// lost to the slow joiner. A probe of another publisher (one left over from an earlier route)
/// proves nothing about this one and is skipped. False after `timeout`.
inline bool WaitForRoute(bus::Publisher& publisher, bus::Subscriber& subscriber,
                         std::string_view probe_topic,
                         std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    (void)publisher.Publish(probe_topic, "{}");
    const auto probe = ReceiveOn(subscriber, probe_topic, std::chrono::milliseconds(10));
    if (probe && probe->publisher == publisher.id()) {
      return true;
    }
  }
  return false;
}

}  // namespace coapgw::test
