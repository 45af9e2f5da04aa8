#include "echo_device.hpp"

#include <algorithm>
#include <stdexcept>

namespace coapgw::test {

EchoDevice::EchoDevice(EchoDeviceOptions options) : options_(std::move(options)) {
  loop_.Call([this] {
    coap::ServerOptions server_options;
    if (options_.dtls_identity_key) {
      const auto [identity, key] = *options_.dtls_identity_key;
      server_options.psk = coap::ServerPsk{
          "echo-device", [identity = identity, key = key](std::string_view asked) {
            return asked == identity ? std::optional<std::string>(key) : std::nullopt;
          }};
    }
    server_ = std::make_unique<coap::Server>(loop_.context(), server_options);
    const auto transport =
        options_.dtls_identity_key ? coap::Transport::kDtls : coap::Transport::kUdp;
    auto bound = server_->AddEndpoint("127.0.0.1:0", transport);
    if (!bound.ok()) {
      throw std::runtime_error("EchoDevice: " + bound.error().message);
    }
    port_ = bound->port;
    const auto count = [this] {
      const std::lock_guard<std::mutex> lock(mutex_);
      ++requests_;
    };
    const auto echo = [count](const coap::Request& request, coap::Response& response) {
      count();
      response.SetCode(coap::Code::kChanged);
      if (!request.payload.empty()) {
        response.SetPayload(request.payload, request.content_format.value_or(0));
      }
    };
    server_->AddResource("/echo")
        .On(coap::Method::kGet,
            [count](const coap::Request&, coap::Response& response) {
              count();
              response.SetPayload("hello", 0);
            })
        .On(coap::Method::kPut, echo)
        .On(coap::Method::kPost, echo)
        .On(coap::Method::kDelete, [count](const coap::Request&, coap::Response& response) {
          count();
          response.SetCode(coap::Code::kDeleted);
        });
    server_->AddResource("/big").On(
        coap::Method::kGet, [count](const coap::Request& request, coap::Response& response) {
          count();
          const auto size = request.QueryValue("n");
          response.SetPayload(std::string(size ? std::stoul(*size) : 4096, 'b'), 0);
        });
    server_->AddResource("/query").On(
        coap::Method::kGet, [count](const coap::Request& request, coap::Response& response) {
          count();
          std::string text;
          for (const auto& item : request.query) {
            text += (text.empty() ? "" : "&") + item;
          }
          text += "|cf=" + (request.content_format ? std::to_string(*request.content_format) : "");
          text += "|accept=" + (request.accept ? std::to_string(*request.accept) : "");
          response.SetPayload(text, 0);
        });
    server_->AddResource("/seq").On(
        coap::Method::kPut, [this, count](const coap::Request& request, coap::Response& response) {
          count();
          {
            const std::lock_guard<std::mutex> lock(mutex_);
            sequence_.push_back(request.payload);
            max_open_ = std::max(max_open_, ++open_);
          }
          coap::DeferredResponse deferred = response.Defer();
          loop_.context().After(options_.seq_delay, [this, deferred]() mutable {
            {
              const std::lock_guard<std::mutex> lock(mutex_);
              --open_;
            }
            deferred.Complete(coap::Response(coap::Code::kChanged));
          });
        });
  });
}

EchoDevice::~EchoDevice() {
  loop_.Call([this] { server_.reset(); });
}

std::string EchoDevice::base() const {
  return std::string(options_.dtls_identity_key ? "coaps" : "coap") +
         "://127.0.0.1:" + std::to_string(port_);
}

std::vector<std::string> EchoDevice::sequence() const {
  const std::lock_guard<std::mutex> lock(mutex_);
  return sequence_;
}

int EchoDevice::max_concurrent() const {
  const std::lock_guard<std::mutex> lock(mutex_);
  return max_open_;
}

int EchoDevice::requests() const {
  const std::lock_guard<std::mutex> lock(mutex_);
  return requests_;
}

}  // namespace coapgw::test
