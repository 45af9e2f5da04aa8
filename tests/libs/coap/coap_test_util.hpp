#pragma once

// Shared set-up of the libs/coap tests: a server and a client, each on its own loop thread, talking
// over real UDP on loopback, and helpers that wait for callbacks with a deadline.

#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <utility>

#include <gtest/gtest.h>

#include "coapgw/coap/client.hpp"
#include "coapgw/coap/context.hpp"
#include "coapgw/coap/server.hpp"
#include "coapgw/coap/uri.hpp"

namespace coapgw::coap::testing {

using namespace std::chrono_literals;

/// How long a test waits for any single callback before failing.
constexpr std::chrono::milliseconds kWait = 5s;

/// A one-shot slot a callback fills on the loop thread and the test thread waits on.
template <class T>
class Slot {
 public:
  Slot() : promise_(std::make_shared<std::promise<T>>()), future_(promise_->get_future()) {}

  /// A callable that fills the slot (later calls are ignored).
  auto Setter() {
    return [promise = promise_](T value) {
      try {
        promise->set_value(std::move(value));
      } catch (const std::future_error&) {
      }
    };
  }
  bool Ready() const { return future_.wait_for(0s) == std::future_status::ready; }
  /// The value, or nullopt (and a test failure) if it did not come within `timeout`.
  std::optional<T> Wait(std::chrono::milliseconds timeout = kWait) {
    if (future_.wait_for(timeout) != std::future_status::ready) {
      ADD_FAILURE() << "no callback within " << timeout.count() << " ms";
      return std::nullopt;
    }
    return future_.get();
  }

 private:
  std::shared_ptr<std::promise<T>> promise_;
  std::future<T> future_;
};

class CoapFixture : public ::testing::Test {
 protected:
  void SetUp() override { StartServer(ServerOptions{}); }

  void TearDown() override {
    client_loop_.Call([&] { client_.reset(); });
    server_loop_.Call([&] { server_.reset(); });
  }

  void StartServer(ServerOptions options, std::string listen = "127.0.0.1:0") {
    server_loop_.Call([&] { server_.reset(); });
    server_ = server_loop_.Call(
        [&] { return std::make_unique<Server>(server_loop_.context(), std::move(options)); });
    Result<Address> bound = server_loop_.Call([&] { return server_->AddEndpoint(listen); });
    ASSERT_TRUE(bound.ok()) << bound.error().message;
    address_ = *bound;
  }

  void StartClient(ClientOptions options) {
    client_loop_.Call([&] { client_.reset(); });
    client_ = client_loop_.Call(
        [&] { return std::make_unique<Client>(client_loop_.context(), options); });
  }

  /// Runs `fn(server)` on the server loop.
  template <class F>
  auto OnServer(F&& fn) {
    return server_loop_.Call([&] { return fn(*server_); });
  }
  /// Runs `fn(client)` on the client loop.
  template <class F>
  auto OnClient(F&& fn) {
    return client_loop_.Call([&] { return fn(*client_); });
  }

  ClientRequest To(Method method, const std::string& path) const {
    ClientRequest request;
    request.method = method;
    request.endpoint = EndpointOf(address_);
    request.path = SplitPath(path);
    return request;
  }

  Outcome<ClientResponse> Send(ClientRequest request, RequestOptions options = {}) {
    Slot<Outcome<ClientResponse>> slot;
    OnClient([&](Client& client) { return client.Send(request, options, slot.Setter()); });
    auto result = slot.Wait(options.timeout + kWait);
    return result ? std::move(*result)
                  : Outcome<ClientResponse>(Failure::kInternal, "test: no callback");
  }

  ContextThread server_loop_;
  ContextThread client_loop_;
  std::unique_ptr<Server> server_;
  std::unique_ptr<Client> client_ =
      client_loop_.Call([&] { return std::make_unique<Client>(client_loop_.context()); });
  Address address_;
};

}  // namespace coapgw::coap::testing
