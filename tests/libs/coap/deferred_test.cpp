// Deferred (separate) responses: the handler returns, the client gets an empty ACK, and the
// response follows once another thread's work is done and posted back to the loop.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <stdexcept>
#include <thread>

#include <gtest/gtest.h>

#include "coap_test_util.hpp"
#include "coapgw/test/wait.hpp"

namespace coapgw::coap::testing {
namespace {

class DeferredTest : public CoapFixture {
 protected:
  // "/slow": every request is deferred; the handle is kept in deferred_ (server loop only).
  void AddSlow() {
    OnServer([&](Server& server) {
      auto defer = [this](const Request&, Response& response) {
        deferred_.push_back(response.Defer());
      };
      server.AddResource("/slow").On(Method::kGet, defer).On(Method::kPost, defer);
      return 0;
    });
  }

  size_t DeferredCount() {
    return OnServer([](Server& server) { return server.DeferredCount(); });
  }

  // Completes the oldest deferred exchange from a worker thread, as the RD does after its database
  // commit: the worker posts the completion back to the server loop.
  bool CompleteFromWorker(Response response) {
    std::atomic<int> result{-1};
    std::thread worker([&] {
      server_loop_.context().Post([&, response] {
        result = deferred_.front().Complete(response) ? 1 : 0;
        deferred_.erase(deferred_.begin());
      });
    });
    worker.join();
    EXPECT_TRUE(test::WaitUntil([&] { return result.load() >= 0; }, kWait));
    return result.load() == 1;
  }

  std::vector<DeferredResponse> deferred_;
};

TEST_F(DeferredTest, CompletedFromAnotherThreadReachesTheClient) {
  AddSlow();
  Slot<Outcome<ClientResponse>> slot;
  OnClient(
      [&](Client& client) { return client.Send(To(Method::kGet, "/slow"), {}, slot.Setter()); });
  ASSERT_TRUE(test::WaitUntil([&] { return DeferredCount() == 1; }, kWait));
  EXPECT_FALSE(slot.Ready());
  EXPECT_TRUE(OnServer([&](Server&) { return deferred_.front().pending(); }));
  EXPECT_EQ(OnServer([&](Server&) { return deferred_.front().request().Path(); }), "/slow");

  EXPECT_TRUE(CompleteFromWorker(Response(Code::kChanged).SetPayload("committed")));
  auto response = slot.Wait();
  ASSERT_TRUE(response && response->ok()) << (response ? response->message() : "");
  EXPECT_EQ((*response)->code, Code::kChanged);
  EXPECT_EQ((*response)->payload, "committed");
  EXPECT_EQ(DeferredCount(), 0U);
}

TEST_F(DeferredTest, LargeRequestAndLargeSeparateResponse) {
  AddSlow();
  const std::string body(20000, 'q');
  ClientRequest post = To(Method::kPost, "/slow");
  post.payload = body;
  Slot<Outcome<ClientResponse>> slot;
  OnClient([&](Client& client) { return client.Send(post, {}, slot.Setter()); });
  ASSERT_TRUE(test::WaitUntil([&] { return DeferredCount() == 1; }, kWait));
  EXPECT_EQ(OnServer([&](Server&) { return deferred_.front().request().payload.size(); }),
            body.size());
  const std::string answer(30000, 'a');
  EXPECT_TRUE(CompleteFromWorker(Response(Code::kCreated).SetPayload(answer)));
  auto response = slot.Wait();
  ASSERT_TRUE(response && response->ok()) << (response ? response->message() : "");
  EXPECT_EQ((*response)->code, Code::kCreated);
  EXPECT_EQ((*response)->payload.size(), answer.size());
}

TEST_F(DeferredTest, NotCompletedInTimeIsAnsweredServiceUnavailable) {
  ServerOptions options;
  options.deferred_timeout = 200ms;
  StartServer(options);
  AddSlow();
  auto response = Send(To(Method::kGet, "/slow"));
  ASSERT_TRUE(response.ok()) << response.message();
  EXPECT_EQ(response->code, Code::kServiceUnavailable);
  EXPECT_FALSE(OnServer([&](Server&) { return deferred_.front().pending(); }));
  EXPECT_FALSE(CompleteFromWorker(Response(Code::kChanged)));
}

TEST_F(DeferredTest, DroppedHandlesAreAnsweredServiceUnavailable) {
  OnServer([&](Server& server) {
    server.AddResource("/drop").On(Method::kGet,
                                   [](const Request&, Response& response) { response.Defer(); });
    return 0;
  });
  auto response = Send(To(Method::kGet, "/drop"));
  ASSERT_TRUE(response.ok()) << response.message();
  EXPECT_EQ(response->code, Code::kServiceUnavailable);
}

TEST_F(DeferredTest, HandlerThatThrowsAfterDeferringAnswersInternalServerError) {
  OnServer([&](Server& server) {
    server.AddResource("/half").On(Method::kGet, [this](const Request&, Response& response) {
      deferred_.push_back(response.Defer());
      throw std::runtime_error("failed after deferring");
    });
    return 0;
  });
  auto response = Send(To(Method::kGet, "/half"));
  ASSERT_TRUE(response.ok()) << response.message();
  EXPECT_EQ(response->code, Code::kInternalServerError);
  EXPECT_EQ(DeferredCount(), 0U);
  EXPECT_FALSE(OnServer([&](Server&) { return deferred_.front().pending(); }));
}

TEST_F(DeferredTest, RemovingTheResourceDropsItsDeferredExchanges) {
  AddSlow();
  Slot<Outcome<ClientResponse>> slot;
  RequestOptions quick;
  quick.timeout = 300ms;
  OnClient(
      [&](Client& client) { return client.Send(To(Method::kGet, "/slow"), quick, slot.Setter()); });
  ASSERT_TRUE(test::WaitUntil([&] { return DeferredCount() == 1; }, kWait));
  EXPECT_TRUE(OnServer([](Server& server) { return server.RemoveResource("/slow"); }));
  EXPECT_EQ(DeferredCount(), 0U);
  EXPECT_FALSE(OnServer([&](Server&) { return deferred_.front().pending(); }));
  EXPECT_FALSE(CompleteFromWorker(Response(Code::kChanged)));
  auto outcome = slot.Wait();
  ASSERT_TRUE(outcome);
  EXPECT_FALSE(outcome->ok());  // dropped unanswered: the client's deadline ends it
}

TEST_F(DeferredTest, SecondCompletionIsRefused) {
  AddSlow();
  Slot<Outcome<ClientResponse>> slot;
  OnClient(
      [&](Client& client) { return client.Send(To(Method::kGet, "/slow"), {}, slot.Setter()); });
  ASSERT_TRUE(test::WaitUntil([&] { return DeferredCount() == 1; }, kWait));
  const auto results = OnServer([&](Server&) {
    DeferredResponse copy = deferred_.front();
    const bool first = deferred_.front().Complete(Response(Code::kChanged));
    const bool second = copy.Complete(Response(Code::kBadRequest));
    return std::make_pair(first, second);
  });
  EXPECT_TRUE(results.first);
  EXPECT_FALSE(results.second);
  auto response = slot.Wait();
  ASSERT_TRUE(response && response->ok());
  EXPECT_EQ((*response)->code, Code::kChanged);
}

TEST_F(DeferredTest, CompleteOffTheLoopThreadIsALogicError) {
  AddSlow();
  Slot<Outcome<ClientResponse>> slot;
  OnClient(
      [&](Client& client) { return client.Send(To(Method::kGet, "/slow"), {}, slot.Setter()); });
  ASSERT_TRUE(test::WaitUntil([&] { return DeferredCount() == 1; }, kWait));
  DeferredResponse handle = OnServer([&](Server&) { return deferred_.front(); });
  EXPECT_THROW(handle.Complete(Response(Code::kChanged)), std::logic_error);
  EXPECT_TRUE(CompleteFromWorker(Response(Code::kChanged)));
  ASSERT_TRUE(slot.Wait());
}

// A datagram written as a string literal (which may contain NUL bytes).
template <size_t N>
std::string Bytes(const char (&literal)[N]) {
  return std::string(literal, N - 1);
}

// The wire, seen by a bare UDP socket: an empty ACK first, then the response as a CON carrying the
// request's token under a new message id (RFC 7252 §5.2.2).
class RawSocket {
 public:
  explicit RawSocket(const Address& server) {
    fd_ = socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(server.port);
    inet_pton(AF_INET, server.ip.c_str(), &to.sin_addr);
    connect(fd_, reinterpret_cast<sockaddr*>(&to), sizeof to);
    timeval timeout{5, 0};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  }
  ~RawSocket() { close(fd_); }
  RawSocket(const RawSocket&) = delete;
  RawSocket& operator=(const RawSocket&) = delete;

  void Send(const std::string& datagram) const {
    ASSERT_EQ(send(fd_, datagram.data(), datagram.size(), 0),
              static_cast<ssize_t>(datagram.size()));
  }
  std::string Receive() const {
    char buffer[2048];
    const ssize_t n = recv(fd_, buffer, sizeof buffer, 0);
    return n > 0 ? std::string(buffer, static_cast<size_t>(n)) : std::string();
  }

 private:
  int fd_ = -1;
};

TEST_F(DeferredTest, WireShowsEmptyAckThenConfirmableSeparateResponse) {
  AddSlow();
  RawSocket raw(address_);
  // CON GET, MID 0x1234, token AB CD, Uri-Path "slow".
  raw.Send(Bytes("\x42\x01\x12\x34\xAB\xCD\xB4slow"));
  const std::string ack = raw.Receive();
  ASSERT_EQ(ack, std::string("\x60\x00\x12\x34", 4)) << "expected an empty ACK for MID 0x1234";
  ASSERT_TRUE(test::WaitUntil([&] { return DeferredCount() == 1; }, kWait));

  EXPECT_TRUE(CompleteFromWorker(Response(Code::kContent).SetPayload("done")));
  const std::string separate = raw.Receive();
  ASSERT_GE(separate.size(), 6U);
  const auto byte = [&](size_t i) { return static_cast<uint8_t>(separate[i]); };
  EXPECT_EQ(byte(0) >> 6U, 1U) << "version";
  EXPECT_EQ((byte(0) >> 4U) & 3U, 0U) << "the separate response must be CON";
  EXPECT_EQ(byte(0) & 0x0FU, 2U) << "token length";
  EXPECT_EQ(byte(1), 0x45U) << "code 2.05";
  EXPECT_NE((byte(2) << 8U) | byte(3), 0x1234U) << "a separate response has its own MID";
  EXPECT_EQ(separate.substr(4, 2), "\xAB\xCD");
  EXPECT_EQ(separate.substr(separate.size() - 4), "done");
  // Acknowledge it so the server stops retransmitting.
  raw.Send(std::string("\x60\x00", 2) + separate.substr(2, 2));
}

// libcoap asserts that no session of an endpoint is still referenced when the endpoint is freed;
// unacknowledged CONs (a notification, a separate response) and observe relations are such
// references. Destroying the Server then must still be clean.
TEST_F(DeferredTest, ServerGoesAwayWithUnacknowledgedConfirmables) {
  AddSlow();
  OnServer([&](Server& server) {
    ResourceOptions observable;
    observable.observable = true;
    observable.notify_confirmable = true;
    server.AddResource("/obs", observable).On(Method::kGet, [](const Request&, Response& response) {
      response.SetPayload("v");
    });
    return 0;
  });
  RawSocket raw(address_);
  // CON GET /obs, Observe=0 (option 6, empty), token 01 02.
  raw.Send(Bytes("\x42\x01\x00\x01\x01\x02\x60\x53obs"));
  ASSERT_GE(raw.Receive().size(), 4U) << "registration answered";
  ASSERT_EQ(OnServer([](Server& server) { return server.NotifyObservers("/obs"); }), 1U);
  const std::string notification = raw.Receive();
  ASSERT_GE(notification.size(), 4U);
  EXPECT_EQ((static_cast<uint8_t>(notification[0]) >> 4U) & 3U, 0U) << "a CON notification";
  // A deferred exchange completed as a CON separate response, also never acknowledged.
  raw.Send(Bytes("\x42\x01\x00\x02\x03\x04\xB4slow"));
  ASSERT_EQ(raw.Receive().size(), 4U) << "empty ACK";
  ASSERT_TRUE(CompleteFromWorker(Response(Code::kContent).SetPayload("late")));
  ASSERT_GE(raw.Receive().size(), 4U) << "separate response";
  server_loop_.Call([&] { server_.reset(); });
  StartServer(ServerOptions{});
}

// A server that many clients reach once bounds libcoap's idle sessions
// (ServerOptions::max_idle_sessions): each new peer beyond the limit frees the least recently
// active idle session. An observe relation and a deferred exchange hold their sessions, so both
// outlive a crowd of one-off peers.
TEST_F(DeferredTest, IdleSessionLimitSparesObserversAndDeferredExchanges) {
  ServerOptions options;
  options.max_idle_sessions = 4;
  options.idle_session_timeout = Millis(1000);
  StartServer(options);
  AddSlow();
  OnServer([&](Server& server) {
    ResourceOptions observable;
    observable.observable = true;
    server.AddResource("/obs", observable).On(Method::kGet, [](const Request&, Response& response) {
      response.SetPayload("v");
    });
    server.AddResource("/ping").On(
        Method::kGet, [](const Request&, Response& response) { response.SetPayload("pong"); });
    return 0;
  });
  RawSocket observer(address_);
  // CON GET /obs, Observe=0, token 01 02.
  observer.Send(Bytes("\x42\x01\x00\x01\x01\x02\x60\x53obs"));
  ASSERT_GE(observer.Receive().size(), 4U) << "registration answered";
  RawSocket waiting(address_);
  waiting.Send(Bytes("\x42\x01\x00\x02\x03\x04\xB4slow"));
  ASSERT_EQ(waiting.Receive().size(), 4U) << "empty ACK";

  constexpr int kPeers = 64;  // sixteen times the limit, each from a new source port
  for (int i = 0; i < kPeers; ++i) {
    RawSocket peer(address_);
    peer.Send(Bytes("\x42\x01\x00\x03\x05\x06\xB4ping"));
    const std::string answer = peer.Receive();
    ASSERT_GE(answer.size(), 4U) << "peer " << i << " got no answer";
    EXPECT_EQ(static_cast<uint8_t>(answer[1]), 0x45U) << "peer " << i;
  }

  EXPECT_EQ(OnServer([](Server& server) { return server.ObserverCount("/obs"); }), 1U);
  ASSERT_EQ(OnServer([](Server& server) { return server.NotifyObservers("/obs"); }), 1U);
  const std::string notification = observer.Receive();
  ASSERT_GE(notification.size(), 6U) << "no notification: the relation was dropped";
  EXPECT_EQ(notification.substr(4, 2), "\x01\x02");

  ASSERT_TRUE(CompleteFromWorker(Response(Code::kContent).SetPayload("late")));
  const std::string separate = waiting.Receive();
  ASSERT_GE(separate.size(), 6U) << "no separate response: the exchange was dropped";
  EXPECT_EQ(separate.substr(4, 2), "\x03\x04");
  EXPECT_EQ(separate.substr(separate.size() - 4), "late");
  waiting.Send(std::string("\x60\x00", 2) + separate.substr(2, 2));
}

}  // namespace
}  // namespace coapgw::coap::testing
