// Server and client round trips over real UDP on 127.0.0.1 / ::1.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstring>
#include <random>
#include <set>
#include <stdexcept>
#include <thread>

#include <gtest/gtest.h>

#include "coap_test_util.hpp"
#include "coapgw/test/wait.hpp"

namespace coapgw::coap::testing {
namespace {

// What the server saw, copied on the server loop and read back through it.
struct Seen {
  int requests = 0;
  Request last;
};

class ExchangeTest : public CoapFixture {
 protected:
  // "/echo": every method answers with what it received; the request is recorded in seen_.
  void AddEcho() {
    OnServer([&](Server& server) {
      Resource& echo = server.AddResource("/echo");
      for (const Method method :
           {Method::kGet, Method::kPost, Method::kPut, Method::kDelete, Method::kFetch}) {
        echo.On(method, [this, method](const Request& request, Response& response) {
          ++seen_.requests;
          seen_.last = request;
          switch (method) {
            case Method::kPost:
              response.SetCode(Code::kCreated).SetLocationPath("/echo/1");
              break;
            case Method::kPut:
              response.SetCode(Code::kChanged);
              break;
            case Method::kDelete:
              response.SetCode(Code::kDeleted);
              break;
            default:
              response.SetCode(Code::kContent).SetMaxAge(17).SetETag(0xBEEF);
              break;
          }
          if (!request.payload.empty() || method == Method::kGet || method == Method::kFetch) {
            response.SetPayload(std::string(MethodName(method)) + ":" + request.payload,
                                request.accept.value_or(content_format::kTextPlain));
          }
        });
      }
      return 0;
    });
  }

  Seen ServerSeen() {
    return OnServer([&](Server&) { return seen_; });
  }

  Seen seen_;
};

TEST_F(ExchangeTest, GetReturnsPayloadAndOptions) {
  AddEcho();
  ClientRequest request = To(Method::kGet, "/echo");
  request.query = {"a=1", "flag", "sp ace=x&y"};
  request.accept = content_format::kJson;
  auto response = Send(request);
  ASSERT_TRUE(response.ok()) << response.message();
  EXPECT_EQ(response->code, Code::kContent);
  EXPECT_EQ(FormatCode(response->code), "2.05");
  EXPECT_EQ(response->payload, "GET:");
  EXPECT_EQ(response->content_format, content_format::kJson);
  EXPECT_EQ(response->max_age, 17U);
  EXPECT_EQ(response->etag, std::string("\xBE\xEF", 2));

  const Seen seen = ServerSeen();
  EXPECT_EQ(seen.last.method, Method::kGet);
  EXPECT_EQ(seen.last.Path(), "/echo");
  EXPECT_EQ(seen.last.QueryValue("a"), "1");
  EXPECT_EQ(seen.last.QueryValue("flag"), "");
  EXPECT_EQ(seen.last.QueryValue("sp ace"), "x&y");
  EXPECT_EQ(seen.last.accept, content_format::kJson);
  EXPECT_TRUE(seen.last.confirmable);
  EXPECT_FALSE(seen.last.multicast);
  EXPECT_EQ(seen.last.transport, Transport::kUdp);
  EXPECT_EQ(seen.last.source.ip, "127.0.0.1");
  EXPECT_EQ(seen.last.source.family, Family::kIpv4);
  EXPECT_NE(seen.last.source.port, 0);
}

TEST_F(ExchangeTest, EveryMethodWithPayloadAndContentFormat) {
  AddEcho();
  struct Case {
    Method method;
    Code code;
  };
  for (const Case& c : {Case{Method::kPost, Code::kCreated}, Case{Method::kPut, Code::kChanged},
                        Case{Method::kDelete, Code::kDeleted}, Case{Method::kFetch, Code::kContent},
                        Case{Method::kGet, Code::kContent}}) {
    SCOPED_TRACE(MethodName(c.method));
    ClientRequest request = To(c.method, "/echo");
    request.payload = "{\"v\":1}";
    request.content_format = content_format::kJson;
    auto response = Send(request);
    ASSERT_TRUE(response.ok()) << response.message();
    EXPECT_EQ(response->code, c.code);
    EXPECT_EQ(response->payload, std::string(MethodName(c.method)) + ":{\"v\":1}");
    const Seen seen = ServerSeen();
    EXPECT_EQ(seen.last.method, c.method);
    EXPECT_EQ(seen.last.payload, "{\"v\":1}");
    EXPECT_EQ(seen.last.content_format, content_format::kJson);
    if (c.method == Method::kPost) {
      EXPECT_EQ(response->location_path, (std::vector<std::string>{"echo", "1"}));
    }
  }
}

TEST_F(ExchangeTest, NonConfirmableRequest) {
  AddEcho();
  RequestOptions non;
  non.confirmable = false;
  auto response = Send(To(Method::kGet, "/echo"), non);
  ASSERT_TRUE(response.ok()) << response.message();
  EXPECT_EQ(response->payload, "GET:");
  EXPECT_FALSE(ServerSeen().last.confirmable);
}

TEST_F(ExchangeTest, UnknownPathAndUnregisteredMethod) {
  AddEcho();
  auto missing = Send(To(Method::kGet, "/nothing/here"));
  ASSERT_TRUE(missing.ok());
  EXPECT_EQ(missing->code, Code::kNotFound);
  auto patch = Send(To(Method::kPatch, "/echo"));
  ASSERT_TRUE(patch.ok());
  EXPECT_EQ(patch->code, Code::kMethodNotAllowed);
}

TEST_F(ExchangeTest, UnknownHandlerServesUnregisteredPaths) {
  OnServer([&](Server& server) {
    server.SetUnknownHandler([](const Request& request, Response& response) {
      response.SetCode(Code::kChanged).SetPayload("dyn:" + request.Path());
    });
    return 0;
  });
  auto response = Send(To(Method::kPut, "/rd/42"));
  ASSERT_TRUE(response.ok()) << response.message();
  EXPECT_EQ(response->code, Code::kChanged);
  EXPECT_EQ(response->payload, "dyn:/rd/42");
}

TEST_F(ExchangeTest, HandlerExceptionBecomesInternalServerErrorAndServingGoesOn) {
  OnServer([&](Server& server) {
    server.AddResource("/boom").On(
        Method::kGet, [](const Request&, Response&) { throw std::runtime_error("handler bug"); });
    server.AddResource("/int").On(Method::kGet, [](const Request&, Response&) { throw 7; });
    server.AddResource("/ok").On(
        Method::kGet, [](const Request&, Response& response) { response.SetPayload("fine"); });
    return 0;
  });
  auto boom = Send(To(Method::kGet, "/boom"));
  ASSERT_TRUE(boom.ok());
  EXPECT_EQ(boom->code, Code::kInternalServerError);
  auto thrown_int = Send(To(Method::kGet, "/int"));
  ASSERT_TRUE(thrown_int.ok());
  EXPECT_EQ(thrown_int->code, Code::kInternalServerError);
  auto ok = Send(To(Method::kGet, "/ok"));
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->payload, "fine");
}

TEST_F(ExchangeTest, ClientCallbackExceptionIsContained) {
  AddEcho();
  std::atomic<int> calls{0};
  OnClient([&](Client& client) {
    return client.Send(To(Method::kGet, "/echo"), {}, [&](Outcome<ClientResponse>) {
      ++calls;
      throw std::runtime_error("callback bug");
    });
  });
  ASSERT_TRUE(test::WaitUntil([&] { return calls.load() == 1; }, kWait));
  auto after = Send(To(Method::kGet, "/echo"));
  EXPECT_TRUE(after.ok()) << after.message();
}

std::string RandomBody(size_t size) {
  std::mt19937 random(7);
  std::string body(size, '\0');
  for (auto& byte : body) {
    byte = static_cast<char>(random() & 0xFFU);
  }
  return body;
}

TEST_F(ExchangeTest, BlockWiseBothWays) {
  const std::string big = RandomBody(100 * 1000);
  std::string received;
  OnServer([&](Server& server) {
    server.AddResource("/big")
        .On(Method::kPut,
            [&](const Request& request, Response& response) {
              received = request.payload;
              response.SetCode(Code::kChanged);
            })
        .On(Method::kGet, [&](const Request&, Response& response) {
          response.SetPayload(big, content_format::kOctetStream).SetETag(0xABCDEF);
        });
    return 0;
  });
  ClientRequest put = To(Method::kPut, "/big");
  put.payload = big;
  put.content_format = content_format::kOctetStream;
  auto put_response = Send(put);
  ASSERT_TRUE(put_response.ok()) << put_response.message();
  EXPECT_EQ(put_response->code, Code::kChanged);
  EXPECT_EQ(OnServer([&](Server&) { return received == big; }), true);

  auto get_response = Send(To(Method::kGet, "/big"));
  ASSERT_TRUE(get_response.ok()) << get_response.message();
  EXPECT_EQ(get_response->code, Code::kContent);
  EXPECT_EQ(get_response->payload.size(), big.size());
  EXPECT_TRUE(get_response->payload == big);
  EXPECT_EQ(get_response->content_format, content_format::kOctetStream);
  EXPECT_EQ(get_response->etag, std::string("\xAB\xCD\xEF", 3));
  EXPECT_EQ(std::count_if(get_response->options.begin(), get_response->options.end(),
                          [](const Option& o) { return o.number == option::kETag; }),
            1);
}

// libcoap leaves a Content-Format of 0 out of a response with a body; the Server adds it, once,
// in every block.
TEST_F(ExchangeTest, TextPlainContentFormatIsSentSmallAndBlockWise) {
  const std::string big(5000, 'x');
  OnServer([&](Server& server) {
    server.AddResource("/text").On(Method::kGet, [](const Request&, Response& response) {
      response.SetPayload("21.37", content_format::kTextPlain);
    });
    server.AddResource("/long-text").On(Method::kGet, [&](const Request&, Response& response) {
      response.SetPayload(big, content_format::kTextPlain);
    });
    return 0;
  });
  for (const auto& [path, body] : {std::pair<std::string, std::string>{"/text", "21.37"},
                                   std::pair<std::string, std::string>{"/long-text", big}}) {
    auto response = Send(To(Method::kGet, path));
    ASSERT_TRUE(response.ok()) << path << ": " << response.message();
    EXPECT_EQ(response->payload, body) << path;
    EXPECT_EQ(response->content_format, content_format::kTextPlain) << path;
    EXPECT_EQ(std::count_if(response->options.begin(), response->options.end(),
                            [](const Option& o) { return o.number == option::kContentFormat; }),
              1)
        << path;
  }
}

TEST_F(ExchangeTest, SmallBlockSizeIsHonoured) {
  const std::string body = RandomBody(3000);
  std::vector<std::string> block1_seen;
  OnServer([&](Server& server) {
    server.AddResource("/b").On(Method::kPost, [&](const Request& request, Response& response) {
      response.SetCode(Code::kChanged).SetPayload(request.payload);
    });
    return 0;
  });
  ClientRequest post = To(Method::kPost, "/b");
  post.payload = body;
  RequestOptions options;
  options.block_size = 64;
  auto response = Send(post, options);
  ASSERT_TRUE(response.ok()) << response.message();
  EXPECT_TRUE(response->payload == body);
  options.block_size = 100;
  auto invalid = Send(post, options);
  ASSERT_FALSE(invalid.ok());
  EXPECT_EQ(invalid.failure(), Failure::kInvalid);
}

TEST_F(ExchangeTest, ManyRequestsInFlightShareOneSession) {
  AddEcho();
  constexpr int kCount = 64;
  std::atomic<int> ok{0};
  std::atomic<int> done{0};
  OnClient([&](Client& client) {
    for (int i = 0; i < kCount; ++i) {
      ClientRequest request = To(Method::kPost, "/echo");
      request.payload = std::to_string(i);
      client.Send(request, {}, [&, i](Outcome<ClientResponse> response) {
        if (response.ok() && response->payload == "POST:" + std::to_string(i)) {
          ++ok;
        }
        ++done;
      });
    }
    EXPECT_EQ(client.PendingCount(), static_cast<size_t>(kCount));
    return 0;
  });
  ASSERT_TRUE(test::WaitUntil([&] { return done.load() == kCount; }, 20s));
  EXPECT_EQ(ok.load(), kCount);
  EXPECT_EQ(OnClient([](Client& client) { return client.SessionCount(); }), 1U);
  EXPECT_EQ(OnClient([](Client& client) { return client.PendingCount(); }), 0U);
}

TEST_F(ExchangeTest, IdleSessionsAreReleased) {
  AddEcho();
  ClientOptions options;
  options.idle_session_timeout = 100ms;
  StartClient(options);
  ASSERT_TRUE(Send(To(Method::kGet, "/echo")).ok());
  EXPECT_EQ(OnClient([](Client& client) { return client.SessionCount(); }), 1U);
  EXPECT_TRUE(test::WaitUntil(
      [&] { return OnClient([](Client& client) { return client.SessionCount(); }) == 0; }, 3s));
  ASSERT_TRUE(Send(To(Method::kGet, "/echo")).ok());
}

TEST_F(ExchangeTest, CancelCompletesWithCancelled) {
  OnServer([&](Server& server) {
    server.AddResource("/slow").On(Method::kGet, [](const Request&, Response& response) {
      DeferredResponse never = response.Defer();
    });
    return 0;
  });
  Slot<Outcome<ClientResponse>> slot;
  const RequestId id = OnClient(
      [&](Client& client) { return client.Send(To(Method::kGet, "/slow"), {}, slot.Setter()); });
  ASSERT_TRUE(test::WaitUntil(
      [&] { return OnServer([](Server& s) { return s.DeferredCount(); }) == 1; }, kWait));
  EXPECT_TRUE(OnClient([&](Client& client) { return client.Cancel(id); }));
  EXPECT_FALSE(OnClient([&](Client& client) { return client.Cancel(id); }));
  auto outcome = slot.Wait();
  ASSERT_TRUE(outcome);
  ASSERT_FALSE(outcome->ok());
  EXPECT_EQ(outcome->failure(), Failure::kCancelled);
}

TEST_F(ExchangeTest, DestroyingTheClientCancelsPendingExchanges) {
  OnServer([&](Server& server) {
    server.AddResource("/slow").On(Method::kGet,
                                   [](const Request&, Response& response) { response.Defer(); });
    return 0;
  });
  Slot<Outcome<ClientResponse>> slot;
  OnClient(
      [&](Client& client) { return client.Send(To(Method::kGet, "/slow"), {}, slot.Setter()); });
  client_loop_.Call([&] { client_.reset(); });
  auto outcome = slot.Wait();
  ASSERT_TRUE(outcome);
  ASSERT_FALSE(outcome->ok());
  EXPECT_EQ(outcome->failure(), Failure::kCancelled);
  StartClient({});
}

TEST_F(ExchangeTest, UnresolvableHostFailsAsUnreachable) {
  ClientRequest request = To(Method::kGet, "/x");
  request.endpoint.host = "no-such-host.invalid";
  auto response = Send(request);
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.failure(), Failure::kUnreachable);
  EXPECT_EQ(response.error().code, ErrorCode::kUnavailable);
}

TEST_F(ExchangeTest, Ipv6Loopback) {
  StartServer(ServerOptions{}, "[::1]:0");
  AddEcho();
  EXPECT_EQ(address_.family, Family::kIpv6);
  Result<ClientRequest> request = ClientRequest::FromUri(
      Method::kGet, "coap://[::1]:" + std::to_string(address_.port) + "/echo?x=1");
  ASSERT_TRUE(request.ok());
  auto response = Send(*request);
  ASSERT_TRUE(response.ok()) << response.message();
  EXPECT_EQ(response->payload, "GET:");
  const Seen seen = ServerSeen();
  EXPECT_EQ(seen.last.source.family, Family::kIpv6);
  EXPECT_EQ(seen.last.source.ip, "::1");
  EXPECT_EQ(seen.last.QueryValue("x"), "1");
}

TEST_F(ExchangeTest, EndpointsReportTheBoundPort) {
  EXPECT_NE(address_.port, 0);
  EXPECT_EQ(OnServer([](Server& server) { return server.LocalPort(); }), address_.port);
  auto second = OnServer([](Server& server) { return server.AddEndpoint("127.0.0.1:0"); });
  ASSERT_TRUE(second.ok());
  EXPECT_NE(second->port, address_.port);
  // The same server may bind a port it already holds again (e.g. IPv4 next to a dual-stack
  // wildcard); a bad address must not bind.
  auto taken = OnServer([&](Server& server) { return server.AddEndpoint(address_.ToString()); });
  auto bad = OnServer([](Server& server) { return server.AddEndpoint("not an address"); });
  EXPECT_FALSE(bad.ok());
  auto foreign = OnServer([](Server& server) { return server.AddEndpoint("192.0.2.1:0"); });
  EXPECT_FALSE(foreign.ok());
  auto dtls =
      OnServer([](Server& server) { return server.AddEndpoint("127.0.0.1:0", Transport::kDtls); });
  ASSERT_FALSE(dtls.ok());
  EXPECT_EQ(dtls.error().code, ErrorCode::kUnsupported);
  (void)taken;
}

TEST_F(ExchangeTest, ReplacingAndRemovingResources) {
  OnServer([&](Server& server) {
    server.AddResource("/r").On(
        Method::kGet, [](const Request&, Response& response) { response.SetPayload("1"); });
    server.AddResource("r").On(
        Method::kGet, [](const Request&, Response& response) { response.SetPayload("2"); });
    EXPECT_NE(server.FindResource("/r"), nullptr);
    return 0;
  });
  auto replaced = Send(To(Method::kGet, "/r"));
  ASSERT_TRUE(replaced.ok());
  EXPECT_EQ(replaced->payload, "2");
  EXPECT_TRUE(OnServer([](Server& server) { return server.RemoveResource("/r"); }));
  EXPECT_FALSE(OnServer([](Server& server) { return server.RemoveResource("/r"); }));
  auto gone = Send(To(Method::kGet, "/r"));
  ASSERT_TRUE(gone.ok());
  EXPECT_EQ(gone->code, Code::kNotFound);
}

TEST_F(ExchangeTest, WellKnownCoreListsResourcesWithAttributes) {
  OnServer([&](Server& server) {
    ResourceOptions options;
    options.observable = true;
    options.link_attributes = {{"rt", "\"temperature\""}, {"ct", "0"}};
    server.AddResource("/sensors/temp", options)
        .On(Method::kGet, [](const Request&, Response& response) { response.SetPayload("21"); });
    return 0;
  });
  auto response = Send(To(Method::kGet, "/.well-known/core"));
  ASSERT_TRUE(response.ok()) << response.message();
  EXPECT_EQ(response->content_format, content_format::kLinkFormat);
  EXPECT_NE(response->payload.find("</sensors/temp>"), std::string::npos) << response->payload;
  EXPECT_NE(response->payload.find("rt=\"temperature\""), std::string::npos) << response->payload;
  EXPECT_NE(response->payload.find("obs"), std::string::npos) << response->payload;
}

TEST_F(ExchangeTest, OversizedRequestBodyIsRejected) {
  ContextOptions small;
  small.max_body_size = 1000;
  ContextThread loop(small);
  auto server = loop.Call([&] { return std::make_unique<Server>(loop.context()); });
  auto bound = loop.Call([&] { return server->AddEndpoint("127.0.0.1:0"); });
  ASSERT_TRUE(bound.ok());
  loop.Call([&] {
    server->AddResource("/in").On(
        Method::kPut, [](const Request&, Response& response) { response.SetCode(Code::kChanged); });
  });
  ClientRequest request = To(Method::kPut, "/in");
  request.endpoint = EndpointOf(*bound);
  request.payload = std::string(5000, 'x');
  auto response = Send(request);
  ASSERT_TRUE(response.ok()) << response.message();
  EXPECT_EQ(response->code, Code::kRequestEntityTooLarge);
  loop.Call([&] { server.reset(); });
}

// A server on a port another process holds would share its datagrams (libcoap binds with
// SO_REUSEADDR): refused, naming the cause. Sockets of this process may share a port on purpose.
TEST_F(ExchangeTest, APortHeldByAnotherProcessIsRefused) {
  int ready[2];
  ASSERT_EQ(pipe(ready), 0);
  const pid_t holder = fork();
  ASSERT_GE(holder, 0);
  if (holder == 0) {
    // Another process holding the port the way a libcoap server does (only async-signal-safe
    // calls after fork).
    const int fd = socket(AF_INET, SOCK_DGRAM, 0);
    const int on = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    sockaddr_in any{};
    any.sin_family = AF_INET;
    any.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof any;
    char port_text[2] = {};
    if (bind(fd, reinterpret_cast<sockaddr*>(&any), sizeof any) == 0 &&
        getsockname(fd, reinterpret_cast<sockaddr*>(&any), &length) == 0) {
      std::memcpy(port_text, &any.sin_port, sizeof port_text);
    }
    (void)!write(ready[1], port_text, sizeof port_text);
    pause();
    _exit(0);
  }
  close(ready[1]);
  uint16_t network_port = 0;
  const bool read_port = read(ready[0], &network_port, sizeof network_port) == 2;
  close(ready[0]);
  const uint16_t port = ntohs(network_port);

  ContextThread loop;
  auto other = loop.Call([&] { return std::make_unique<Server>(loop.context()); });
  auto taken = loop.Call([&] { return other->AddEndpoint("127.0.0.1:" + std::to_string(port)); });
  auto wildcard = loop.Call([&] { return other->AddEndpoint("0.0.0.0:" + std::to_string(port)); });
  // This process's own server port may be bound again (a client sending from it shares it too).
  auto own = loop.Call([&] { return other->AddEndpoint(address_.ToString()); });
  kill(holder, SIGKILL);
  waitpid(holder, nullptr, 0);
  auto freed = loop.Call([&] { return other->AddEndpoint("127.0.0.1:" + std::to_string(port)); });
  loop.Call([&] { other.reset(); });

  ASSERT_TRUE(read_port && port != 0);
  ASSERT_FALSE(taken.ok());
  EXPECT_NE(taken.error().message.find("in use by another process"), std::string::npos)
      << taken.error().message;
  EXPECT_FALSE(wildcard.ok());
  EXPECT_TRUE(own.ok()) << own.error().message;
  EXPECT_TRUE(freed.ok()) << freed.error().message;
}

// The per-exchange limit replaces the context's in both directions: a small context may fetch a
// large answer when the exchange allows it, and a request may hold an answer below the context's.
TEST_F(ExchangeTest, ResponseBodyLimitIsPerExchangeWhenSet) {
  OnServer([&](Server& server) {
    server.AddResource("/big").On(Method::kGet, [](const Request&, Response& response) {
      response.SetPayload(std::string(5000, 'b'));
    });
    return 0;
  });
  RequestOptions tight;
  tight.max_body_size = 1000;
  auto refused = Send(To(Method::kGet, "/big"), tight);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.failure(), Failure::kTooLarge) << refused.message();
  EXPECT_NE(refused.message().find("(1000)"), std::string::npos) << refused.message();

  ContextOptions small;
  small.max_body_size = 1000;
  ContextThread loop(small);
  auto client = loop.Call([&] { return std::make_unique<Client>(loop.context()); });
  const auto fetch = [&](RequestOptions options) {
    Slot<Outcome<ClientResponse>> slot;
    loop.Call([&] { return client->Send(To(Method::kGet, "/big"), options, slot.Setter()); });
    auto result = slot.Wait(options.timeout + kWait);
    return result ? std::move(*result)
                  : Outcome<ClientResponse>(Failure::kInternal, "test: no callback");
  };
  const auto by_context = fetch(RequestOptions{});
  ASSERT_FALSE(by_context.ok());
  EXPECT_EQ(by_context.failure(), Failure::kTooLarge) << by_context.message();
  RequestOptions roomy;
  roomy.max_body_size = 10000;
  const auto allowed = fetch(roomy);
  ASSERT_TRUE(allowed.ok()) << allowed.message();
  EXPECT_EQ(allowed->payload, std::string(5000, 'b'));
  loop.Call([&] { client.reset(); });
}

}  // namespace
}  // namespace coapgw::coap::testing

namespace coapgw::coap::testing {
namespace {

// The RD's pattern on one Context: a Server handler defers its answer, fetches the registrant's
// /.well-known/core with a Client on the same loop, and completes from the client's callback.
TEST_F(ExchangeTest, ServerAndClientShareOneLoop) {
  OnServer([&](Server& server) {  // the "device"
    ResourceOptions options;
    options.link_attributes = {{"rt", "\"temperature-c\""}};
    server.AddResource("/sensors/temp", options)
        .On(Method::kGet, [](const Request&, Response& response) { response.SetPayload("21"); });
    return 0;
  });
  ContextThread rd_loop;
  auto rd = rd_loop.Call([&] {
    auto pair = std::make_pair(std::make_unique<Server>(rd_loop.context()),
                               std::make_unique<Client>(rd_loop.context()));
    return pair;
  });
  Result<Address> rd_address = rd_loop.Call([&] { return rd.first->AddEndpoint("127.0.0.1:0"); });
  ASSERT_TRUE(rd_address.ok());
  const Endpoint device = EndpointOf(address_);
  rd_loop.Call([&] {
    rd.first->AddResource("/rd").On(Method::kPost, [&](const Request&, Response& response) {
      DeferredResponse pending = response.Defer();
      ClientRequest fetch;
      fetch.endpoint = device;
      fetch.path = {".well-known", "core"};
      rd.second->Send(fetch, {}, [pending](Outcome<ClientResponse> links) mutable {
        if (!links.ok()) {
          pending.Complete(Response(Code::kServiceUnavailable));
          return;
        }
        pending.Complete(
            Response(Code::kCreated).SetLocationPath("/rd/1").SetPayload(links->payload));
      });
    });
  });
  ClientRequest post = To(Method::kPost, "/rd");
  post.endpoint = EndpointOf(*rd_address);
  auto response = Send(post);
  ASSERT_TRUE(response.ok()) << response.message();
  EXPECT_EQ(response->code, Code::kCreated);
  EXPECT_EQ(response->location_path, (std::vector<std::string>{"rd", "1"}));
  EXPECT_NE(response->payload.find("</sensors/temp>"), std::string::npos) << response->payload;
  rd_loop.Call([&] {
    rd.second.reset();
    rd.first.reset();
  });
}

// libcoap binds with SO_REUSEADDR, under which Linux may give port 0 a port another such socket
// holds (about one pair in 200 endpoints): the server must notice and pick again.
TEST_F(ExchangeTest, PortZeroEndpointsNeverShareAPort) {
  std::set<uint16_t> ports{address_.port};
  for (int i = 0; i < 200; ++i) {
    auto bound = OnServer([](Server& server) { return server.AddEndpoint("127.0.0.1:0"); });
    ASSERT_TRUE(bound.ok()) << bound.error().message;
    EXPECT_TRUE(ports.insert(bound->port).second) << "port " << bound->port << " handed out twice";
    EXPECT_GT(OnServer([&](Server& server) { return server.ReceiveBufferBytes(*bound); }), 0);
  }
}

TEST_F(ExchangeTest, ReceiveBufferIsRaised) {
  const int granted = OnServer([&](Server& server) { return server.ReceiveBufferBytes(address_); });
  // The kernel may cap it (rmem_max) but never below its 208 KB default.
  EXPECT_GT(granted, 212992);
}

}  // namespace
}  // namespace coapgw::coap::testing
