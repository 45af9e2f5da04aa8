#include "coapgw/bus/proxy.hpp"

#include <array>
#include <cstdint>
#include <cstring>
#include <stdexcept>

#include "coapgw/common/log.hpp"

namespace coapgw::bus {
namespace {

constexpr const char* kComponent = "bus";

std::string ControlEndpoint(const void* owner) {
  return "inproc://coapgw-bus-control-" + std::to_string(reinterpret_cast<uintptr_t>(owner));
}

std::string BindChecked(zmq::socket_t& socket, const std::string& endpoint, const char* role) {
  try {
    socket.bind(endpoint);
  } catch (const zmq::error_t& error) {
    throw std::runtime_error(std::string("cannot bind the ") + role + " endpoint '" + endpoint +
                             "': " + error.what());
  }
  return socket.get(zmq::sockopt::last_endpoint);
}

}  // namespace

Proxy::Proxy(zmq::context_t& context, const ProxyOptions& options)
    : xsub_(context, zmq::socket_type::xsub),
      xpub_(context, zmq::socket_type::xpub),
      control_proxy_side_(context, zmq::socket_type::pair),
      control_(context, zmq::socket_type::pair) {
  // Messages still queued in the proxy are lost when it stops; waiting for them would only delay
  // the stop (publishers' seq numbers show the loss to subscribers).
  for (zmq::socket_t* socket : {&xsub_, &xpub_, &control_proxy_side_, &control_}) {
    socket->set(zmq::sockopt::linger, 0);
  }
  xsub_.set(zmq::sockopt::rcvhwm, options.hwm);
  xpub_.set(zmq::sockopt::sndhwm, options.hwm);
  pub_endpoint_ = BindChecked(xsub_, options.pub_endpoint, "pub (XSUB)");
  sub_endpoint_ = BindChecked(xpub_, options.sub_endpoint, "sub (XPUB)");
  const std::string control_endpoint = ControlEndpoint(this);
  control_proxy_side_.bind(control_endpoint);
  control_.connect(control_endpoint);
}

Proxy::~Proxy() {
  Stop();
}

void Proxy::Start() {
  if (!thread_.joinable()) {
    thread_ = std::thread([this] { Run(); });
  }
}

void Proxy::Run() {
  try {
    zmq::proxy_steerable(xsub_, xpub_, zmq::socket_ref(), control_proxy_side_);
  } catch (const std::exception& error) {
    failure_ = error.what();
    failed_.store(true, std::memory_order_release);
    log::Error(kComponent, "proxy stopped", {{"error", failure_}});
  }
}

std::optional<std::string> Proxy::failure() const {
  if (!failed_.load(std::memory_order_acquire)) {
    return std::nullopt;
  }
  return failure_;
}

std::optional<ProxyStatistics> Proxy::Statistics(std::chrono::milliseconds timeout) {
  if (!thread_.joinable() || failed_.load(std::memory_order_acquire)) {
    return std::nullopt;
  }
  zmq::message_t frame;
  while (control_.recv(frame, zmq::recv_flags::dontwait)) {
    // A late answer to an earlier request that timed out: discard it.
  }
  if (!control_.send(zmq::str_buffer("STATISTICS"), zmq::send_flags::dontwait)) {
    return std::nullopt;
  }
  control_.set(zmq::sockopt::rcvtimeo, static_cast<int>(timeout.count()));
  // libzmq answers with 8 uint64 frames: frontend messages/bytes in/out, then the backend's.
  std::array<uint64_t, 8> values{};
  for (uint64_t& value : values) {
    if (!control_.recv(frame, zmq::recv_flags::none) || frame.size() != sizeof value) {
      return std::nullopt;
    }
    std::memcpy(&value, frame.data(), sizeof value);
  }
  ProxyStatistics statistics;
  statistics.published_messages = values[0];
  statistics.published_bytes = values[1];
  statistics.subscription_messages = values[4];
  statistics.subscription_bytes = values[5];
  return statistics;
}

void Proxy::Stop() {
  if (!thread_.joinable()) {
    return;
  }
  try {
    (void)control_.send(zmq::str_buffer("TERMINATE"), zmq::send_flags::dontwait);
  } catch (const zmq::error_t& error) {
    log::Error(kComponent, "cannot send TERMINATE to the proxy", {{"error", error.what()}});
  }
  thread_.join();
}

}  // namespace coapgw::bus
