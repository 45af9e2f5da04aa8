#pragma once

// Socket settings shared by the bus's client sockets (Publisher, Subscriber). The reasoning
// behind the defaults is in libs/bus/README.md ("High-water marks" and "Reconnects").

#include <chrono>

namespace coapgw::bus {

/// Per-pipe queue limit, in messages, on client sockets and on both sides of coapgw-bus.
inline constexpr int kDefaultHwm = 100'000;

struct ConnectionOptions {
  /// SNDHWM of a Publisher, RCVHWM of a Subscriber (messages, per connection).
  int hwm = kDefaultHwm;
  /// First reconnect delay after the bus goes away; doubles up to reconnect_interval_max.
  std::chrono::milliseconds reconnect_interval{100};
  std::chrono::milliseconds reconnect_interval_max{1000};
  /// ZMTP heartbeats: a bus that stops answering (host gone, no TCP reset) is dropped after
  /// heartbeat_timeout and reconnected. 0 disables heartbeats.
  std::chrono::milliseconds heartbeat_interval{2000};
  std::chrono::milliseconds heartbeat_timeout{6000};
  /// How long closing the socket may wait to flush queued messages (ZMQ_LINGER). Never -1: a
  /// bus that is down would otherwise hang the process's shutdown.
  std::chrono::milliseconds linger{0};
};

}  // namespace coapgw::bus
