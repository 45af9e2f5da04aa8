// CoAP ping and per-exchange deadlines against a live server, a closed port (ICMP) and a black hole
// (a bound UDP socket nobody answers from).

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "coap_test_util.hpp"
#include "coapgw/test/process.hpp"
#include "coapgw/test/wait.hpp"

namespace coapgw::coap::testing {
namespace {

// A bound loopback UDP socket; closed with the object.
class LoopbackPeer {
 public:
  LoopbackPeer() {
    fd_ = socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address);
    socklen_t length = sizeof address;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length);
    port_ = ntohs(address.sin_port);
  }
  ~LoopbackPeer() { close(fd_); }
  LoopbackPeer(const LoopbackPeer&) = delete;
  LoopbackPeer& operator=(const LoopbackPeer&) = delete;

  Endpoint endpoint() const { return Endpoint{Transport::kUdp, "127.0.0.1", port_}; }

 protected:
  int fd_ = -1;
  uint16_t port_ = 0;
};

// Swallows everything: datagrams queue in its buffer unread, nothing is answered.
class BlackHole : public LoopbackPeer {};

// Answers every CON with RST, as a device does for a message it cannot process.
class Resetter : public LoopbackPeer {
 public:
  Resetter() {
    timeval timeout{0, 50000};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    thread_ = std::thread([this] { Serve(); });
  }
  ~Resetter() {
    stop_ = true;
    thread_.join();
  }
  Resetter(const Resetter&) = delete;
  Resetter& operator=(const Resetter&) = delete;

 private:
  void Serve() {
    while (!stop_) {
      char buffer[1500];
      sockaddr_in from{};
      socklen_t length = sizeof from;
      const ssize_t n =
          recvfrom(fd_, buffer, sizeof buffer, 0, reinterpret_cast<sockaddr*>(&from), &length);
      if (n >= 4 && ((static_cast<uint8_t>(buffer[0]) >> 4U) & 3U) == 0) {
        {
          // Recorded before the RST goes out: the ping completes on the RST, and the test reads
          // the senders as soon as it has.
          const std::lock_guard<std::mutex> lock(mutex_);
          senders_.push_back(ntohs(from.sin_port));
        }
        const char reset[4] = {'\x70', '\x00', buffer[2], buffer[3]};
        sendto(fd_, reset, sizeof reset, 0, reinterpret_cast<sockaddr*>(&from), length);
      }
    }
  }

 public:
  /// The source port of every CON answered so far.
  std::vector<uint16_t> senders() {
    const std::lock_guard<std::mutex> lock(mutex_);
    return senders_;
  }

 private:
  std::mutex mutex_;
  std::vector<uint16_t> senders_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

class PingDeadlineTest : public CoapFixture {
 protected:
  // libcoap 4.3.1 servers rate-limit RSTs against a tick counter that starts anywhere in the first
  // second of the process, so a ping in a young process may need its CON retransmission: make that
  // come after 1 s rather than 2-3 s.
  void SetUp() override {
    CoapFixture::SetUp();
    ClientOptions options;
    options.ack_timeout = 1s;
    options.ack_random_factor = 1.0;
    StartClient(options);
  }

  Outcome<Millis> Ping(const Endpoint& endpoint, Millis timeout,
                       const std::optional<Address>& source = std::nullopt) {
    Slot<Outcome<Millis>> slot;
    OnClient([&](Client& client) { return client.Ping(endpoint, timeout, slot.Setter(), source); });
    auto result = slot.Wait(timeout + kWait);
    return result ? std::move(*result) : Outcome<Millis>(Failure::kInternal, "test: no callback");
  }

  size_t Sessions() {
    return OnClient([](Client& client) { return client.SessionCount(); });
  }
};

TEST_F(PingDeadlineTest, PingToALiveEndpointSucceeds) {
  auto rtt = Ping(EndpointOf(address_), 2s);
  ASSERT_TRUE(rtt.ok()) << rtt.message();
  EXPECT_GE(rtt->count(), 0);
  EXPECT_LT(*rtt, 2s);
  // The session is cached and reused. (A second ping right away would wait for a CON
  // retransmission: libcoap servers send at most one RST per peer every 250 ms.)
  ASSERT_TRUE(Send(To(Method::kGet, "/.well-known/core")).ok());
  EXPECT_EQ(Sessions(), 1U);
}

// The pinger's pattern: pings from one bound port (a Server endpoint holds it), so that a device
// sees one peer rather than a new ephemeral port per ping.
TEST_F(PingDeadlineTest, PingsFromASourceComeFromItsPort) {
  auto holder = OnClient([&](Client&) { return std::make_unique<Server>(client_loop_.context()); });
  const auto source = OnClient([&](Client&) { return holder->AddEndpoint("127.0.0.1:0"); });
  ASSERT_TRUE(source.ok());
  Resetter peer;
  for (int i = 0; i < 2; ++i) {
    auto rtt = Ping(peer.endpoint(), 2s, *source);
    ASSERT_TRUE(rtt.ok()) << rtt.message();
  }
  EXPECT_EQ(peer.senders(), (std::vector<uint16_t>{source->port, source->port}));
  OnClient([&](Client&) {
    holder.reset();
    return 0;
  });
}

TEST_F(PingDeadlineTest, PingToAClosedPortFailsUnreachableBeforeTheTimeout) {
  const Endpoint closed{Transport::kUdp, "127.0.0.1", test::FreeUdpPort()};
  const auto started = std::chrono::steady_clock::now();
  auto outcome = Ping(closed, 3s);
  ASSERT_FALSE(outcome.ok());
  EXPECT_EQ(outcome.failure(), Failure::kUnreachable) << outcome.message();
  EXPECT_LT(std::chrono::steady_clock::now() - started, 3s);
  // Nothing else uses that session: it is reset and dropped, so libcoap stops retransmitting.
  EXPECT_TRUE(test::WaitUntil([&] { return Sessions() == 0; }, kWait));
}

TEST_F(PingDeadlineTest, PingToABlackHoleTimesOut) {
  BlackHole hole;
  auto outcome = Ping(hole.endpoint(), 300ms);
  ASSERT_FALSE(outcome.ok());
  EXPECT_EQ(outcome.failure(), Failure::kTimeout) << outcome.message();
  EXPECT_EQ(outcome.error().code, ErrorCode::kTimeout);
  EXPECT_TRUE(test::WaitUntil([&] { return Sessions() == 0; }, kWait));
}

// The pinger's pattern: one ping per device, all in flight at once on one loop thread.
TEST_F(PingDeadlineTest, ManyPingsInFlightWithoutAThreadEach) {
  constexpr int kLive = 40;
  constexpr int kDead = 20;
  std::vector<Endpoint> live;
  for (int i = 0; i < kLive; ++i) {
    auto bound = OnServer([](Server& server) { return server.AddEndpoint("127.0.0.1:0"); });
    ASSERT_TRUE(bound.ok());
    live.push_back(EndpointOf(*bound));
  }
  std::vector<std::unique_ptr<BlackHole>> dead(kDead);
  for (auto& hole : dead) {
    hole = std::make_unique<BlackHole>();
  }
  std::atomic<int> ok{0};
  std::atomic<int> timed_out{0};
  OnClient([&](Client& client) {
    for (const auto& endpoint : live) {
      client.Ping(endpoint, 3s, [&](Outcome<Millis> rtt) { ok += rtt.ok() ? 1 : 0; });
    }
    for (const auto& hole : dead) {
      client.Ping(hole->endpoint(), 300ms, [&](Outcome<Millis> rtt) {
        timed_out += !rtt.ok() && rtt.failure() == Failure::kTimeout ? 1 : 0;
      });
    }
    EXPECT_EQ(client.PendingCount(), static_cast<size_t>(kLive + kDead));
    return 0;
  });
  EXPECT_TRUE(test::WaitUntil([&] { return ok.load() + timed_out.load() == kLive + kDead; }, 10s));
  EXPECT_EQ(ok.load(), kLive);
  EXPECT_EQ(timed_out.load(), kDead);
  // The dead peers' sessions are gone; the live ones stay cached until idle.
  EXPECT_TRUE(test::WaitUntil([&] { return Sessions() == static_cast<size_t>(kLive); }, kWait));
}

TEST_F(PingDeadlineTest, RequestToABlackHoleHitsItsDeadlineOnce) {
  BlackHole hole;
  std::atomic<int> calls{0};
  Slot<Outcome<ClientResponse>> slot;
  RequestOptions options;
  options.timeout = 300ms;
  ClientRequest request = To(Method::kGet, "/x");
  request.endpoint = hole.endpoint();
  OnClient([&](Client& client) {
    return client.Send(request, options, [&, set = slot.Setter()](Outcome<ClientResponse> out) {
      ++calls;
      set(std::move(out));
    });
  });
  auto outcome = slot.Wait();
  ASSERT_TRUE(outcome);
  ASSERT_FALSE(outcome->ok());
  EXPECT_EQ(outcome->failure(), Failure::kTimeout);
  EXPECT_TRUE(test::WaitUntil([&] { return Sessions() == 0; }, kWait));
  EXPECT_EQ(calls.load(), 1);
}

TEST_F(PingDeadlineTest, RequestResetByThePeerFailsReset) {
  Resetter peer;
  ClientRequest request = To(Method::kGet, "/x");
  request.endpoint = peer.endpoint();
  auto outcome = Send(request);
  ASSERT_FALSE(outcome.ok());
  EXPECT_EQ(outcome.failure(), Failure::kReset) << outcome.message();
  // The same peer answers a ping with RST: alive.
  EXPECT_TRUE(Ping(peer.endpoint(), 2s).ok());
}

TEST_F(PingDeadlineTest, RequestToAClosedPortFailsUnreachable) {
  ClientRequest request = To(Method::kGet, "/x");
  request.endpoint.port = test::FreeUdpPort();
  auto outcome = Send(request);
  ASSERT_FALSE(outcome.ok());
  EXPECT_EQ(outcome.failure(), Failure::kUnreachable) << outcome.message();
}

// The response arrives after the deadline: the callback has already reported kTimeout exactly once
// and the late response is acknowledged and dropped; the session goes on serving.
TEST_F(PingDeadlineTest, LateResponseAfterTheDeadlineIsDiscarded) {
  std::vector<DeferredResponse> deferred;  // server loop
  OnServer([&](Server& server) {
    server.AddResource("/late").On(Method::kGet, [&](const Request&, Response& response) {
      deferred.push_back(response.Defer());
    });
    return 0;
  });
  std::atomic<int> late_calls{0};
  Slot<Outcome<ClientResponse>> late;
  Slot<Outcome<ClientResponse>> patient;
  OnClient([&](Client& client) {
    RequestOptions quick;
    quick.timeout = 300ms;
    client.Send(To(Method::kGet, "/late"), quick,
                [&, set = late.Setter()](Outcome<ClientResponse> out) {
                  ++late_calls;
                  set(std::move(out));
                });
    // A second exchange keeps the session in use, so the late answer reaches a live socket.
    client.Send(To(Method::kGet, "/late"), {}, patient.Setter());
    return 0;
  });
  auto timed_out = late.Wait();
  ASSERT_TRUE(timed_out);
  ASSERT_FALSE(timed_out->ok());
  EXPECT_EQ(timed_out->failure(), Failure::kTimeout);
  ASSERT_TRUE(test::WaitUntil(
      [&] { return OnServer([&](Server&) { return deferred.size(); }) == 2; }, kWait));

  OnServer([&](Server&) {
    EXPECT_TRUE(deferred[0].Complete(Response(Code::kContent).SetPayload("too late")));
    return 0;
  });
  // The late response is sent before this one, so once this arrives the late one was handled.
  OnServer([&](Server&) {
    EXPECT_TRUE(deferred[1].Complete(Response(Code::kContent).SetPayload("in time")));
    return 0;
  });
  auto in_time = patient.Wait();
  ASSERT_TRUE(in_time && in_time->ok()) << (in_time ? in_time->message() : "");
  EXPECT_EQ((*in_time)->payload, "in time");
  ASSERT_TRUE(Send(To(Method::kGet, "/.well-known/core")).ok());
  EXPECT_EQ(late_calls.load(), 1);
}

TEST_F(PingDeadlineTest, PingDuringBusyExchangesStillAnswers) {
  OnServer([&](Server& server) {
    server.AddResource("/hold").On(Method::kGet,
                                   [](const Request&, Response& response) { response.Defer(); });
    return 0;
  });
  Slot<Outcome<ClientResponse>> held;
  OnClient(
      [&](Client& client) { return client.Send(To(Method::kGet, "/hold"), {}, held.Setter()); });
  auto rtt = Ping(EndpointOf(address_), 2s);
  EXPECT_TRUE(rtt.ok()) << rtt.message();
}

}  // namespace
}  // namespace coapgw::coap::testing
