#include "socket_options.hpp"

#include <stdexcept>

#include "coapgw/bus/endpoint.hpp"

namespace coapgw::bus {
namespace {

int Millis(std::chrono::milliseconds duration) {
  return static_cast<int>(duration.count());
}

}  // namespace

void ApplyConnectionOptions(zmq::socket_t& socket, const ConnectionOptions& options,
                            Direction direction) {
  socket.set(zmq::sockopt::linger, Millis(options.linger));
  if (direction == Direction::kSend) {
    socket.set(zmq::sockopt::sndhwm, options.hwm);
  } else {
    socket.set(zmq::sockopt::rcvhwm, options.hwm);
  }
  socket.set(zmq::sockopt::reconnect_ivl, Millis(options.reconnect_interval));
  socket.set(zmq::sockopt::reconnect_ivl_max, Millis(options.reconnect_interval_max));
  if (options.heartbeat_interval.count() > 0) {
    socket.set(zmq::sockopt::heartbeat_ivl, Millis(options.heartbeat_interval));
    socket.set(zmq::sockopt::heartbeat_timeout, Millis(options.heartbeat_timeout));
  }
}

void ConnectChecked(zmq::socket_t& socket, const std::string& endpoint) {
  const Status status = CheckEndpoint(endpoint);
  if (!status.ok()) {
    throw std::invalid_argument(status.error().message);
  }
  try {
    socket.connect(endpoint);
  } catch (const zmq::error_t& error) {
    throw std::invalid_argument("cannot connect to bus endpoint '" + endpoint +
                                "': " + error.what());
  }
}

}  // namespace coapgw::bus
