// Interoperability with libcoap's own example programs (libcoap3-bin): coap-server-notls and
// coap-server-openssl as peers of our Client, coap-client-notls as a peer of our Server. All on
// 127.0.0.1; the child processes are killed by test::Process when a test ends.

#include <cstdio>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "coap_test_util.hpp"
#include "coapgw/test/process.hpp"
#include "coapgw/test/wait.hpp"

namespace coapgw::coap::testing {
namespace {

bool Available(const char* path) {
  return path != nullptr && path[0] != '\0';
}

std::string ReadFile(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  std::stringstream content;
  content << file.rdbuf();
  return content.str();
}

class InteropTest : public CoapFixture {
 protected:
  // Waits until a CoAP server answers GET /.well-known/core at `endpoint`.
  bool WaitForServer(const Endpoint& endpoint) {
    ClientRequest probe;
    probe.endpoint = endpoint;
    probe.path = {".well-known", "core"};
    RequestOptions quick;
    quick.timeout = 200ms;
    return test::WaitUntil([&] { return Send(probe, quick).ok(); }, kWait);
  }

  std::string TempPath(const std::string& name) {
    return "/tmp/coapgw-coap-test-" + std::to_string(getpid()) + "-" + name;
  }
};

TEST_F(InteropTest, ClientAgainstLibcoapServer) {
  if (!Available(COAP_SERVER_NOTLS)) {
    GTEST_SKIP() << "coap-server-notls not installed (libcoap3-bin)";
  }
  // coap-server-notls cannot bind port 0 and name it: a port below the ephemeral range, which
  // no service binding port 0 can take first.
  const uint16_t port = test::StableUdpPort();
  test::Process server({COAP_SERVER_NOTLS, "-A", "127.0.0.1", "-p", std::to_string(port)});
  const Endpoint peer{Transport::kUdp, "127.0.0.1", port};
  ASSERT_TRUE(WaitForServer(peer)) << server.Stderr();

  ClientRequest core;
  core.endpoint = peer;
  core.path = {".well-known", "core"};
  auto links = Send(core);
  ASSERT_TRUE(links.ok()) << links.message();
  EXPECT_EQ(links->code, Code::kContent);
  EXPECT_EQ(links->content_format, content_format::kLinkFormat);
  EXPECT_NE(links->payload.find("</time>"), std::string::npos) << links->payload;

  ClientRequest put;
  put.method = Method::kPut;
  put.endpoint = peer;
  put.path = {"example_data"};
  put.payload = std::string(5000, 'z');  // block-wise (Block1) to libcoap's server
  put.content_format = content_format::kTextPlain;
  auto stored = Send(put);
  ASSERT_TRUE(stored.ok()) << stored.message();
  EXPECT_EQ(CodeClass(stored->code), 2) << FormatCode(stored->code);
  ClientRequest get = put;
  get.method = Method::kGet;
  get.payload.clear();
  get.content_format.reset();
  auto fetched = Send(get);
  ASSERT_TRUE(fetched.ok()) << fetched.message();
  EXPECT_EQ(fetched->payload, put.payload);

  // /time is observable and coap-server notifies it every second.
  struct Events {
    std::mutex mutex;
    std::vector<Outcome<Notification>> list;
  } events;
  Observation observation;
  ClientRequest time = core;
  time.path = {"time"};
  OnClient([&](Client& client) {
    observation = client.Observe(time, {}, [&](Outcome<Notification> event) {
      std::lock_guard<std::mutex> lock(events.mutex);
      events.list.push_back(std::move(event));
    });
    return 0;
  });
  const auto count = [&] {
    std::lock_guard<std::mutex> lock(events.mutex);
    return events.list.size();
  };
  ASSERT_TRUE(test::WaitUntil([&] { return count() >= 3; }, 5s)) << "got " << count();
  {
    std::lock_guard<std::mutex> lock(events.mutex);
    for (const auto& event : events.list) {
      ASSERT_TRUE(event.ok()) << event.message();
      EXPECT_TRUE(event->observing);
      EXPECT_FALSE(event->response.payload.empty());
    }
    EXPECT_EQ(events.list.front()->response.max_age, 1U);
  }
  OnClient([&](Client&) {
    observation.Cancel();
    return 0;
  });
  const size_t after_cancel = count();
  // Another exchange flushes anything in flight; no notification is delivered after Cancel().
  ASSERT_TRUE(Send(core).ok());
  EXPECT_EQ(count(), after_cancel);
}

TEST_F(InteropTest, LibcoapClientAgainstServer) {
  if (!Available(COAP_CLIENT_NOTLS)) {
    GTEST_SKIP() << "coap-client-notls not installed (libcoap3-bin)";
  }
  const std::string big(70000, 'b');
  std::string put_seen;
  OnServer([&](Server& server) {
    server.AddResource("/hello").On(Method::kGet, [](const Request&, Response& response) {
      response.SetPayload("hello from coapgw", content_format::kTextPlain);
    });
    server.AddResource("/big")
        .On(Method::kGet,
            [&](const Request&, Response& response) {
              response.SetPayload(big, content_format::kOctetStream);
            })
        .On(Method::kPut, [&](const Request& request, Response& response) {
          put_seen = request.payload;
          response.SetCode(Code::kChanged);
        });
    return 0;
  });
  const std::string base = "coap://127.0.0.1:" + std::to_string(address_.port);

  const std::string hello_out = TempPath("hello");
  {
    test::Process client({COAP_CLIENT_NOTLS, "-m", "get", "-o", hello_out, base + "/hello"});
    ASSERT_EQ(client.Wait(kWait), 0) << client.Stderr();
  }
  EXPECT_EQ(ReadFile(hello_out), "hello from coapgw");
  std::remove(hello_out.c_str());

  const std::string big_out = TempPath("big");
  {
    test::Process client(
        {COAP_CLIENT_NOTLS, "-m", "get", "-b", "256", "-o", big_out, base + "/big"});
    ASSERT_EQ(client.Wait(kWait), 0) << client.Stderr();
  }
  EXPECT_EQ(ReadFile(big_out).size(), big.size());
  EXPECT_TRUE(ReadFile(big_out) == big);
  std::remove(big_out.c_str());

  const std::string upload = TempPath("upload");
  {
    std::ofstream file(upload, std::ios::binary);
    file << std::string(9000, 'u');
  }
  {
    test::Process client({COAP_CLIENT_NOTLS, "-m", "put", "-f", upload, base + "/big"});
    ASSERT_EQ(client.Wait(kWait), 0) << client.Stderr();
  }
  std::remove(upload.c_str());
  EXPECT_EQ(OnServer([&](Server&) { return put_seen; }), std::string(9000, 'u'));
}

class DtlsTest : public InteropTest {
 protected:
  void StartDtlsServer() {
    ServerOptions options;
    options.psk = ServerPsk{"coapgw-hint", [](std::string_view identity) {
                              return identity == "gw-1" ? std::optional<std::string>("secret-key-1")
                                                        : std::nullopt;
                            }};
    StartServer(options);
    auto dtls = OnServer(
        [](Server& server) { return server.AddEndpoint("127.0.0.1:0", Transport::kDtls); });
    ASSERT_TRUE(dtls.ok()) << dtls.error().message;
    dtls_address_ = *dtls;
    OnServer([&](Server& server) {
      server.AddResource("/secure").On(Method::kGet,
                                       [this](const Request& request, Response& response) {
                                         identity_ = request.dtls_identity.value_or("");
                                         transport_ = request.transport;
                                         response.SetPayload("secret data");
                                       });
      return 0;
    });
  }

  void UseKeys(PskCredentials credentials) {
    keys_.SetDefault(std::move(credentials));
    ClientOptions options;
    options.psk_keys = &keys_;
    StartClient(options);
  }

  Address dtls_address_;
  StaticPskKeyStore keys_;
  std::string identity_;  // server loop
  Transport transport_ = Transport::kUdp;
};

TEST_F(DtlsTest, PskRoundTripCarriesTheIdentity) {
  StartDtlsServer();
  UseKeys({"gw-1", "secret-key-1"});
  ClientRequest request = To(Method::kGet, "/secure");
  request.endpoint = EndpointOf(dtls_address_, Transport::kDtls);
  auto response = Send(request);
  ASSERT_TRUE(response.ok()) << response.message();
  EXPECT_EQ(response->payload, "secret data");
  EXPECT_EQ(OnServer([&](Server&) { return identity_; }), "gw-1");
  EXPECT_EQ(OnServer([&](Server&) { return transport_; }), Transport::kDtls);
  // The session (and its handshake) is reused.
  ASSERT_TRUE(Send(request).ok());
  EXPECT_EQ(OnClient([](Client& client) { return client.SessionCount(); }), 1U);
}

TEST_F(DtlsTest, UnknownIdentityFails) {
  StartDtlsServer();
  UseKeys({"intruder", "whatever"});
  ClientRequest request = To(Method::kGet, "/secure");
  request.endpoint = EndpointOf(dtls_address_, Transport::kDtls);
  RequestOptions options;
  options.timeout = 2s;
  auto response = Send(request, options);
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.failure(), Failure::kSecurity) << response.message();
}

TEST_F(DtlsTest, NoKeyForThePeerIsASecurityFailure) {
  StartDtlsServer();
  ClientRequest request = To(Method::kGet, "/secure");
  request.endpoint = EndpointOf(dtls_address_, Transport::kDtls);
  auto response = Send(request);
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.failure(), Failure::kSecurity);
}

TEST_F(DtlsTest, ClientAgainstLibcoapDtlsServer) {
  if (!Available(COAP_SERVER_OPENSSL)) {
    GTEST_SKIP() << "coap-server-openssl not installed (libcoap3-bin)";
  }
  // coap-server-notls cannot bind port 0 and name it: a port below the ephemeral range, which
  // no service binding port 0 can take first.
  const uint16_t port = test::StableUdpPort();
  // coap-server listens for DTLS on port + 1.
  test::Process server(
      {COAP_SERVER_OPENSSL, "-A", "127.0.0.1", "-p", std::to_string(port), "-k", "libcoap-key"});
  ASSERT_TRUE(WaitForServer(Endpoint{Transport::kUdp, "127.0.0.1", port})) << server.Stderr();
  UseKeys({"any-identity", "libcoap-key"});
  Result<ClientRequest> request = ClientRequest::FromUri(
      Method::kGet, "coaps://127.0.0.1:" + std::to_string(port + 1) + "/time");
  ASSERT_TRUE(request.ok());
  auto response = Send(*request);
  ASSERT_TRUE(response.ok()) << response.message() << "\n" << server.Stderr();
  EXPECT_EQ(response->code, Code::kContent);
  EXPECT_FALSE(response->payload.empty());
}

}  // namespace
}  // namespace coapgw::coap::testing
