// Many endpoints on one Server: which endpoint a request came to, closing one endpoint, and a
// Client that sends from a Server endpoint's address (the peer can answer back there).

#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "coap_test_util.hpp"
#include "coapgw/test/wait.hpp"

namespace coapgw::coap::testing {
namespace {

class EndpointTest : public CoapFixture {
 protected:
  // "/where": answers "<local> from <source>"; "/slow" defers forever; "/temp" is observable.
  void AddResources() {
    OnServer([&](Server& server) {
      server.AddResource("/where").On(Method::kGet, [](const Request& request, Response& response) {
        response.SetPayload(request.local.ToString() + " from " + request.source.ToString());
      });
      server.AddResource("/slow").On(Method::kGet, [this](const Request&, Response& response) {
        deferred_ = response.Defer();
      });
      ResourceOptions observable;
      observable.observable = true;
      server.AddResource("/temp", observable)
          .On(Method::kGet, [](const Request&, Response& response) { response.SetPayload("21"); });
      return 0;
    });
  }

  ClientRequest ToAddress(const Address& address, Method method, const std::string& path) const {
    ClientRequest request = To(method, path);
    request.endpoint = EndpointOf(address);
    return request;
  }

  DeferredResponse deferred_;  // server loop
};

TEST_F(EndpointTest, RequestsKnowTheEndpointTheyCameTo) {
  AddResources();
  const auto second = OnServer([](Server& server) { return server.AddEndpoint("127.0.0.1:0"); });
  ASSERT_TRUE(second.ok()) << second.error().message;
  for (const Address& endpoint : {address_, *second}) {
    auto response = Send(ToAddress(endpoint, Method::kGet, "/where"));
    ASSERT_TRUE(response.ok()) << response.message();
    EXPECT_EQ(response->payload.rfind(endpoint.ToString() + " from 127.0.0.1:", 0), 0U)
        << response->payload;
  }
}

// The server formats a peer's address once per session and reuses it: each peer, IPv4 or IPv6,
// still sees its own address, request after request.
TEST_F(EndpointTest, EachPeerSeesItsOwnSourceRequestAfterRequest) {
  AddResources();
  const auto v6 = OnServer([](Server& server) { return server.AddEndpoint("[::1]:0"); });
  ASSERT_TRUE(v6.ok()) << v6.error().message;
  const auto where = [&](const Address& endpoint) {
    auto response = Send(ToAddress(endpoint, Method::kGet, "/where"));
    EXPECT_TRUE(response.ok()) << response.message();
    return response.ok() ? response->payload : std::string();
  };
  const std::string first = where(address_);
  EXPECT_EQ(first.rfind(address_.ToString() + " from 127.0.0.1:", 0), 0U) << first;
  EXPECT_EQ(where(address_), first);
  const std::string first_v6 = where(*v6);
  EXPECT_EQ(first_v6.rfind(v6->ToString() + " from [::1]:", 0), 0U) << first_v6;
  EXPECT_EQ(where(*v6), first_v6);

  StartClient(ClientOptions{});  // another peer: a new source port
  const std::string second = where(address_);
  EXPECT_EQ(second.rfind(address_.ToString() + " from 127.0.0.1:", 0), 0U) << second;
  EXPECT_NE(second, first);
  EXPECT_EQ(where(address_), second);
}

TEST_F(EndpointTest, RemovedEndpointGoesSilentAndForgetsItsObservers) {
  AddResources();
  const auto kept = OnServer([](Server& server) { return server.AddEndpoint("127.0.0.1:0"); });
  ASSERT_TRUE(kept.ok());
  Slot<bool> registered;
  Observation observation = OnClient([&](Client& client) {
    return client.Observe(To(Method::kGet, "/temp"), {},
                          [set = registered.Setter()](Outcome<Notification> event) mutable {
                            set(event.ok() && event->observing);
                          });
  });
  ASSERT_EQ(registered.Wait(), true);
  EXPECT_EQ(OnServer([](Server& server) { return server.ObserverCount("/temp"); }), 1U);

  EXPECT_TRUE(OnServer([&](Server& server) { return server.RemoveEndpoint(address_); }));
  EXPECT_FALSE(OnServer([&](Server& server) { return server.RemoveEndpoint(address_); }));
  EXPECT_EQ(OnServer([](Server& server) { return server.ObserverCount("/temp"); }), 0U);
  EXPECT_EQ(OnServer([](Server& server) { return server.NotifyObservers("/temp"); }), 0U);
  EXPECT_EQ(OnServer([](Server& server) { return server.endpoints(); }),
            std::vector<Address>{*kept});
  RequestOptions quick;
  quick.timeout = std::chrono::milliseconds(1000);
  EXPECT_FALSE(Send(To(Method::kGet, "/temp"), quick).ok());
  EXPECT_TRUE(Send(ToAddress(*kept, Method::kGet, "/temp")).ok());

  // The same port can be bound again and serves again.
  const auto again =
      OnServer([&](Server& server) { return server.AddEndpoint(address_.ToString()); });
  ASSERT_TRUE(again.ok()) << again.error().message;
  EXPECT_TRUE(test::WaitUntil([&] { return Send(To(Method::kGet, "/temp"), quick).ok(); }, kWait));
  OnClient([&](Client&) {
    observation.Cancel();
    return 0;
  });
}

TEST_F(EndpointTest, RemovingAnEndpointDropsItsDeferredExchanges) {
  AddResources();
  Slot<Outcome<ClientResponse>> answer;
  RequestOptions options;
  options.timeout = std::chrono::milliseconds(500);
  OnClient([&](Client& client) {
    return client.Send(To(Method::kGet, "/slow"), options, answer.Setter());
  });
  ASSERT_TRUE(test::WaitUntil(
      [&] { return OnServer([](Server& server) { return server.DeferredCount(); }) == 1; }, kWait));
  EXPECT_TRUE(OnServer([&](Server& server) { return server.RemoveEndpoint(address_); }));
  EXPECT_EQ(OnServer([](Server& server) { return server.DeferredCount(); }), 0U);
  EXPECT_FALSE(OnServer([&](Server&) { return deferred_.pending(); }));
  auto outcome = answer.Wait();
  ASSERT_TRUE(outcome.has_value());
  EXPECT_FALSE(outcome->ok());
}

TEST_F(EndpointTest, ClientSendsFromAServerEndpointThatThePeerCanReachBack) {
  AddResources();
  // A server on the client's loop: the "device" whose endpoint the client sends from.
  auto device = OnClient([&](Client&) { return std::make_unique<Server>(client_loop_.context()); });
  const auto device_address = OnClient([&](Client&) { return device->AddEndpoint("127.0.0.1:0"); });
  ASSERT_TRUE(device_address.ok());
  OnClient([&](Client&) {
    device->AddResource("/hello").On(Method::kGet, [](const Request&, Response& response) {
      response.SetPayload("hello back");
    });
    return 0;
  });

  ClientRequest request = To(Method::kGet, "/where");
  request.source = *device_address;
  auto seen = Send(request);
  ASSERT_TRUE(seen.ok()) << seen.message();
  EXPECT_EQ(seen->payload, address_.ToString() + " from " + device_address->ToString());

  // The peer answers back to the source it saw, while the client's session on that port lives.
  auto back_client =
      OnServer([&](Server&) { return std::make_unique<Client>(server_loop_.context()); });
  Slot<Outcome<ClientResponse>> back;
  OnServer([&](Server&) {
    return back_client->Send(ToAddress(*device_address, Method::kGet, "/hello"), {}, back.Setter());
  });
  auto hello = back.Wait();
  ASSERT_TRUE(hello.has_value());
  ASSERT_TRUE(hello->ok()) << hello->message();
  EXPECT_EQ((*hello)->payload, "hello back");
  // A second request from the same source reuses the session.
  EXPECT_TRUE(Send(request).ok());
  EXPECT_EQ(OnClient([](Client& client) { return client.SessionCount(); }), 1U);

  OnServer([&](Server&) {
    back_client.reset();
    return 0;
  });
  OnClient([&](Client&) {
    device.reset();
    return 0;
  });
}

TEST_F(EndpointTest, SourceOfAnotherAddressFamilyIsInvalid) {
  ClientRequest request = To(Method::kGet, "/where");
  request.source = Address{Family::kIpv6, "::1", 0};
  auto outcome = Send(request);
  ASSERT_FALSE(outcome.ok());
  EXPECT_EQ(outcome.failure(), Failure::kInvalid) << outcome.message();
}

}  // namespace
}  // namespace coapgw::coap::testing
