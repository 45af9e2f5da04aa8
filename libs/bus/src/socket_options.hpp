#pragma once

#include <string>

#include <zmq.hpp>

#include "coapgw/bus/connection_options.hpp"

namespace coapgw::bus {

enum class Direction { kSend, kReceive };

/// Applies linger, the HWM of `direction`, reconnect and heartbeat settings to a client socket.
void ApplyConnectionOptions(zmq::socket_t& socket, const ConnectionOptions& options,
                            Direction direction);

/// Checks `endpoint` and connects; throws std::invalid_argument naming the endpoint.
void ConnectChecked(zmq::socket_t& socket, const std::string& endpoint);

}  // namespace coapgw::bus
