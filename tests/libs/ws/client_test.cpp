// coapgw::ws::Client against a real coapgw::ws::Server on 127.0.0.1 (plain and TLS), a port with
// no listener, a listener that never answers, and a plain HTTP server.

#include "coapgw/ws/client.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "coapgw/common/http_server.hpp"
#include "coapgw/test/process.hpp"
#include "coapgw/test/wait.hpp"
#include "coapgw/ws/server.hpp"
#include "ws_testing.hpp"

namespace coapgw::ws {
namespace {

using std::chrono::milliseconds;
using test::ClientEvents;

// A Server that records what reaches it; echoes "echo:<text>" when `echo` is set and answers
// pings while `answer_pings` is set.
class RecordingServer {
 public:
  explicit RecordingServer(ServerOptions options = {}) {
    ServerHandlers handlers;
    handlers.on_open = [this](ConnectionId id, const ConnectionInfo& info) {
      const std::lock_guard<std::mutex> lock(mutex_);
      ids_.push_back(id);
      paths_.push_back(info.path);
    };
    handlers.on_text = [this](ConnectionId id, std::string text) {
      if (echo) {
        server_->Send(id, "echo:" + text);
      }
      const std::lock_guard<std::mutex> lock(mutex_);
      texts_.push_back(std::move(text));
    };
    handlers.on_ping = [this](ConnectionId, const std::string& payload) {
      const std::lock_guard<std::mutex> lock(mutex_);
      pings_.push_back(payload);
      return answer_pings.load();
    };
    handlers.on_pong = [this](ConnectionId, const std::string& payload) {
      const std::lock_guard<std::mutex> lock(mutex_);
      pongs_.push_back(payload);
    };
    handlers.on_close = [this](ConnectionId, const ConnectionClosed& closed) {
      const std::lock_guard<std::mutex> lock(mutex_);
      closes_.push_back(closed);
    };
    server_ = std::make_unique<Server>(std::move(options), std::move(handlers));
  }

  Server& server() { return *server_; }
  std::string url(const std::string& path = "/") const {
    return std::string(server_->secure() ? "wss" : "ws") +
           "://127.0.0.1:" + std::to_string(server_->port()) + path;
  }
  ConnectionId WaitConnection() {
    EXPECT_TRUE(coapgw::test::WaitUntil([&] { return !Ids().empty(); }, milliseconds(5000)));
    return Ids().empty() ? 0 : Ids().back();
  }
  // The first connection's end, waited for.
  ConnectionClosed WaitClosed() {
    EXPECT_TRUE(coapgw::test::WaitUntil([&] { return !closes().empty(); }, milliseconds(5000)));
    return closes().empty() ? ConnectionClosed{0, "not closed"} : closes()[0];
  }
  std::vector<ConnectionId> Ids() const { return Locked(ids_); }
  std::vector<std::string> paths() const { return Locked(paths_); }
  std::vector<std::string> texts() const { return Locked(texts_); }
  std::vector<std::string> pings() const { return Locked(pings_); }
  std::vector<std::string> pongs() const { return Locked(pongs_); }
  std::vector<ConnectionClosed> closes() const { return Locked(closes_); }

  std::atomic<bool> echo{true};
  std::atomic<bool> answer_pings{true};

 private:
  template <class T>
  T Locked(const T& value) const {
    const std::lock_guard<std::mutex> lock(mutex_);
    return value;
  }

  mutable std::mutex mutex_;
  std::vector<ConnectionId> ids_;
  std::vector<std::string> paths_;
  std::vector<std::string> texts_;
  std::vector<std::string> pings_;
  std::vector<std::string> pongs_;
  std::vector<ConnectionClosed> closes_;
  std::unique_ptr<Server> server_;  // last: destroyed first, while the recorders still exist
};

// A TCP listener that never accepts: the kernel completes handshakes into the backlog, and
// nobody ever reads the upgrade request.
class SilentListener {
 public:
  SilentListener() : fd_(socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    if (bind(fd_, reinterpret_cast<sockaddr*>(&address), length) != 0 || listen(fd_, 4) != 0 ||
        getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
      ADD_FAILURE() << "cannot listen on a loopback port";
    }
    port_ = ntohs(address.sin_port);
  }
  ~SilentListener() { close(fd_); }
  SilentListener(const SilentListener&) = delete;
  SilentListener& operator=(const SilentListener&) = delete;
  std::string url() const { return "ws://127.0.0.1:" + std::to_string(port_); }

 private:
  int fd_;
  uint16_t port_ = 0;
};

// Connects `client` to `server` and waits until both sides see the connection open.
ConnectionId ConnectAndOpen(Client& client, const ClientEvents& events, RecordingServer& server,
                            const std::string& path = "/") {
  EXPECT_TRUE(client.Connect(server.url(path)).ok());
  const ConnectionId id = server.WaitConnection();
  EXPECT_TRUE(events.WaitOpens(1));
  return id;
}

ClientOptions FastOptions() {
  ClientOptions options;
  options.connect_timeout = milliseconds(3000);
  options.close_timeout = milliseconds(1000);
  return options;
}

TEST(WsClientTest, ConnectsExchangesTextAndClosesWithItsOwnCodeAndReason) {
  RecordingServer server;
  ClientEvents events;
  Client client(FastOptions(), events.Handlers());
  ConnectAndOpen(client, events, server, "/any/path?x=1");
  EXPECT_EQ(client.state(), ClientState::kOpen);
  EXPECT_EQ(server.paths(), std::vector<std::string>{"/any/path"});

  ASSERT_TRUE(client.Send("hello").ok());
  ASSERT_TRUE(client.Send("world").ok());
  ASSERT_TRUE(events.WaitTexts(2));
  EXPECT_EQ(events.texts(), (std::vector<std::string>{"echo:hello", "echo:world"}));

  client.Close(4000, "done here");
  const auto closed = events.WaitClose();
  ASSERT_TRUE(closed);
  EXPECT_TRUE(closed->was_open);
  EXPECT_EQ(closed->initiator, CloseInitiator::kLocal);
  EXPECT_EQ(closed->code, 4000);
  EXPECT_EQ(client.state(), ClientState::kIdle);
  const auto server_closed = server.WaitClosed();
  EXPECT_EQ(server_closed.code, 4000);
  EXPECT_EQ(server_closed.reason, "done here");
}

TEST(WsClientTest, ServerCloseReportsThePeersCodeAndReason) {
  RecordingServer server;
  ClientEvents events;
  Client client(FastOptions(), events.Handlers());
  const ConnectionId id = ConnectAndOpen(client, events, server);
  server.server().Close(id, 1000, "ERROR: max consecutive error count exceeded");
  const auto closed = events.WaitClose();
  ASSERT_TRUE(closed);
  EXPECT_TRUE(closed->was_open);
  EXPECT_EQ(closed->initiator, CloseInitiator::kPeer);
  EXPECT_EQ(closed->code, 1000);
  EXPECT_EQ(closed->peer_reason, "ERROR: max consecutive error count exceeded");
  EXPECT_EQ(closed->reason, "peer closed (1000): ERROR: max consecutive error count exceeded");
}

TEST(WsClientTest, DroppedTcpIsAFailureWithoutCloseFrame) {
  RecordingServer server;
  ClientEvents events;
  Client client(FastOptions(), events.Handlers());
  const ConnectionId id = ConnectAndOpen(client, events, server);
  server.server().Drop(id);
  const auto closed = events.WaitClose();
  ASSERT_TRUE(closed);
  EXPECT_TRUE(closed->was_open);
  EXPECT_EQ(closed->initiator, CloseInitiator::kFailure);
  EXPECT_EQ(closed->code, 1006);
  EXPECT_EQ(closed->reason.rfind("connection lost: ", 0), 0U) << closed->reason;
}

TEST(WsClientTest, ClosedPortFailsWithConnectionRefused) {
  ClientEvents events;
  Client client(FastOptions(), events.Handlers());
  const uint16_t port = coapgw::test::FreeTcpPort();
  ASSERT_TRUE(client.Connect("ws://127.0.0.1:" + std::to_string(port)).ok());
  // Far below connect_timeout: the refusal itself ends the attempt.
  const auto closed = events.WaitClose(2000);
  ASSERT_TRUE(closed);
  EXPECT_FALSE(closed->was_open);
  EXPECT_EQ(closed->initiator, CloseInitiator::kFailure);
  EXPECT_EQ(closed->reason, "connection refused");
  EXPECT_EQ(events.opens(), 0);
  EXPECT_EQ(client.state(), ClientState::kIdle);
}

TEST(WsClientTest, ListenerThatNeverAnswersHitsTheConnectTimeout) {
  SilentListener listener;
  ClientOptions options = FastOptions();
  options.connect_timeout = milliseconds(200);
  ClientEvents events;
  Client client(options, events.Handlers());
  ASSERT_TRUE(client.Connect(listener.url()).ok());
  const auto closed = events.WaitClose();
  ASSERT_TRUE(closed);
  EXPECT_FALSE(closed->was_open);
  EXPECT_EQ(closed->reason, "connect timeout after 200ms");
}

TEST(WsClientTest, NonWebSocketHttpServerIsAnUpgradeRefusal) {
  Health health;
  MetricsRegistry metrics;
  HttpServer http(HostPort{"127.0.0.1", 0}, health, metrics);
  ClientEvents events;
  Client client(FastOptions(), events.Handlers());
  ASSERT_TRUE(client.Connect("ws://127.0.0.1:" + std::to_string(http.port()) + "/healthz").ok());
  const auto closed = events.WaitClose();
  ASSERT_TRUE(closed);
  EXPECT_FALSE(closed->was_open);
  EXPECT_EQ(closed->reason.rfind("HTTP upgrade refused: 200", 0), 0U) << closed->reason;
}

TEST(WsClientTest, SilentServerFailsTheConnectionAfterPingIdlePlusPongTimeout) {
  RecordingServer server;
  server.answer_pings = false;
  ClientOptions options = FastOptions();
  options.ping_idle = milliseconds(200);
  options.pong_timeout = milliseconds(200);
  ClientEvents events;
  Client client(options, events.Handlers());
  ASSERT_TRUE(client.Connect(server.url()).ok());
  ASSERT_TRUE(events.WaitOpens(1));
  const auto closed = events.WaitClose();
  ASSERT_TRUE(closed);
  EXPECT_TRUE(closed->was_open);
  EXPECT_EQ(closed->initiator, CloseInitiator::kFailure);
  EXPECT_EQ(closed->reason, "keepalive: no frame within 200ms after ping");
  ASSERT_EQ(server.pings().size(), 1U);
  // CC's ping payload: the Unix time in seconds.
  EXPECT_GT(std::stoll(server.pings()[0]), 1'600'000'000LL);
}

TEST(WsClientTest, KeepaliveKeepsAnAnsweringConnectionOpen) {
  RecordingServer server;
  ClientOptions options = FastOptions();
  options.ping_idle = milliseconds(50);
  options.pong_timeout = milliseconds(200);
  ClientEvents events;
  Client client(options, events.Handlers());
  ASSERT_TRUE(client.Connect(server.url()).ok());
  ASSERT_TRUE(events.WaitOpens(1));
  ASSERT_TRUE(
      coapgw::test::WaitUntil([&] { return server.pings().size() >= 4; }, milliseconds(5000)));
  EXPECT_TRUE(events.closes().empty());
  EXPECT_EQ(client.state(), ClientState::kOpen);
}

TEST(WsClientTest, AnswersServerPings) {
  RecordingServer server;
  ClientEvents events;
  Client client(FastOptions(), events.Handlers());
  const ConnectionId id = ConnectAndOpen(client, events, server);
  server.server().Ping(id, "2018-10-18 12:00:00");
  ASSERT_TRUE(coapgw::test::WaitUntil([&] { return !server.pongs().empty(); }, milliseconds(5000)));
  EXPECT_EQ(server.pongs()[0], "2018-10-18 12:00:00");
}

TEST(WsClientTest, OversizedMessageFailsTheConnectionWith1009) {
  RecordingServer server;
  ClientOptions options = FastOptions();
  options.max_message_size = 1024;
  ClientEvents events;
  Client client(options, events.Handlers());
  const ConnectionId id = ConnectAndOpen(client, events, server);
  server.server().Send(id, std::string(1024, 'a'));  // at the limit: delivered
  server.server().Send(id, std::string(4096, 'b'));
  const auto closed = events.WaitClose();
  ASSERT_TRUE(closed);
  EXPECT_EQ(closed->initiator, CloseInitiator::kFailure);
  EXPECT_EQ(closed->code, 1009);
  EXPECT_EQ(closed->reason, "inbound message larger than max_message_size (1024 bytes)");
  ASSERT_EQ(events.texts().size(), 1U);
  EXPECT_EQ(events.texts()[0].size(), 1024U);
  EXPECT_EQ(server.WaitClosed().code, 1009);
}

TEST(WsClientTest, DestructorClosesAnOpenConnectionWithoutCallbacks) {
  RecordingServer server;
  ClientEvents events;
  auto client = std::make_unique<Client>(FastOptions(), events.Handlers());
  ASSERT_TRUE(client->Connect(server.url()).ok());
  ASSERT_TRUE(events.WaitOpens(1));
  client.reset();
  EXPECT_TRUE(events.closes().empty());
  const auto server_closed = server.WaitClosed();
  EXPECT_EQ(server_closed.code, 1000);
  EXPECT_EQ(server_closed.reason, "client shutting down");
}

TEST(WsClientTest, DestructorWhileConnectingAndWhileIdleReturns) {
  ClientEvents events;
  { Client idle(FastOptions(), events.Handlers()); }
  SilentListener listener;
  {
    Client connecting(FastOptions(), events.Handlers());
    ASSERT_TRUE(connecting.Connect(listener.url()).ok());
  }
  EXPECT_TRUE(events.closes().empty());
}

TEST(WsClientTest, CloseWhileConnectingAbandonsTheAttempt) {
  SilentListener listener;
  ClientEvents events;
  Client client(FastOptions(), events.Handlers());
  ASSERT_TRUE(client.Connect(listener.url()).ok());
  client.Close();
  const auto closed = events.WaitClose();
  ASSERT_TRUE(closed);
  EXPECT_FALSE(closed->was_open);
  EXPECT_EQ(closed->initiator, CloseInitiator::kLocal);
  EXPECT_EQ(closed->reason, "connect abandoned by Close()");
}

TEST(WsClientTest, RejectsBadUrlsSecondConnectAndSendWhileClosed) {
  ClientEvents events;
  Client client(FastOptions(), events.Handlers());
  EXPECT_EQ(client.Connect("http://127.0.0.1:1").error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(client.Connect("127.0.0.1:8093").error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(client.Connect("ws://").error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(client.Send("x").error().code, ErrorCode::kUnavailable);

  RecordingServer server;
  ASSERT_TRUE(client.Connect(server.url()).ok());
  EXPECT_EQ(client.Connect(server.url()).error().code, ErrorCode::kConflict);
  ASSERT_TRUE(events.WaitOpens(1));
}

TEST(WsClientTest, ReconnectsFromTheCloseCallback) {
  RecordingServer server;
  ClientEvents events;
  std::unique_ptr<Client> client;
  std::atomic<int> closes{0};
  ClientHandlers handlers = events.Handlers();
  const auto record_close = handlers.on_close;
  handlers.on_close = [&](const CloseEvent& event) {
    record_close(event);
    if (++closes == 1) {
      EXPECT_TRUE(client->Connect(server.url("/second")).ok());
    }
  };
  client = std::make_unique<Client>(FastOptions(), std::move(handlers));
  ASSERT_TRUE(client->Connect(server.url("/first")).ok());
  const ConnectionId first = server.WaitConnection();
  ASSERT_TRUE(events.WaitOpens(1));
  server.server().Drop(first);
  ASSERT_TRUE(events.WaitOpens(2));
  ASSERT_TRUE(
      coapgw::test::WaitUntil([&] { return server.paths().size() == 2; }, milliseconds(5000)));
  EXPECT_EQ(server.paths(), (std::vector<std::string>{"/first", "/second"}));
  ASSERT_TRUE(client->Send("again").ok());
  ASSERT_TRUE(events.WaitTexts(1));
  EXPECT_EQ(events.texts()[0], "echo:again");
  client.reset();
}

class WsClientTlsTest : public testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new test::TempDir();
    good_ = new test::CertFiles(
        test::MakeSelfSignedCert(dir_->path(), "good", "IP:127.0.0.1,DNS:localhost"));
    other_name_ =
        new test::CertFiles(test::MakeSelfSignedCert(dir_->path(), "other", "DNS:example.test"));
  }
  static void TearDownTestSuite() {
    delete good_;
    delete other_name_;
    delete dir_;
  }

  static ServerOptions TlsOptions(const test::CertFiles& files) {
    ServerOptions options;
    options.tls_cert_file = files.cert;
    options.tls_key_file = files.key;
    return options;
  }

  static test::TempDir* dir_;
  static test::CertFiles* good_;
  static test::CertFiles* other_name_;
};

test::TempDir* WsClientTlsTest::dir_ = nullptr;
test::CertFiles* WsClientTlsTest::good_ = nullptr;
test::CertFiles* WsClientTlsTest::other_name_ = nullptr;

TEST_F(WsClientTlsTest, SelfSignedCertificateFailsVerificationWithoutTheCaFile) {
  RecordingServer server(TlsOptions(*good_));
  ClientEvents events;
  Client client(FastOptions(), events.Handlers());
  ASSERT_TRUE(client.Connect(server.url()).ok());
  const auto closed = events.WaitClose();
  ASSERT_TRUE(closed);
  EXPECT_FALSE(closed->was_open);
  EXPECT_EQ(closed->reason,
            "TLS handshake failed: certificate verification: self-signed certificate (depth 0)");
  EXPECT_TRUE(server.texts().empty());
}

TEST_F(WsClientTlsTest, CaFileMakesTheSameServerTrusted) {
  RecordingServer server(TlsOptions(*good_));
  ClientOptions options = FastOptions();
  options.ca_file = good_->cert;
  ClientEvents events;
  Client client(options, events.Handlers());
  ASSERT_TRUE(client.Connect(server.url()).ok());
  ASSERT_TRUE(events.WaitOpens(1)) << (events.closes().empty() ? "" : events.closes()[0].reason);
  ASSERT_TRUE(client.Send("secret").ok());
  ASSERT_TRUE(events.WaitTexts(1));
  EXPECT_EQ(events.texts()[0], "echo:secret");
}

TEST_F(WsClientTlsTest, HostNameIsVerifiedAgainstTheCertificate) {
  RecordingServer server(TlsOptions(*other_name_));
  ClientOptions options = FastOptions();
  options.ca_file = other_name_->cert;
  ClientEvents events;
  Client client(options, events.Handlers());
  ASSERT_TRUE(client.Connect(server.url()).ok());
  const auto closed = events.WaitClose();
  ASSERT_TRUE(closed);
  EXPECT_FALSE(closed->was_open);
  EXPECT_EQ(closed->reason,
            "TLS handshake failed: certificate verification: IP address mismatch (depth 0)");
}

TEST_F(WsClientTlsTest, InsecureSkipVerifyAcceptsAnyCertificate) {
  RecordingServer server(TlsOptions(*other_name_));
  ClientOptions options = FastOptions();
  options.insecure_skip_verify = true;
  ClientEvents events;
  Client client(options, events.Handlers());
  ASSERT_TRUE(client.Connect(server.url()).ok());
  ASSERT_TRUE(events.WaitOpens(1));
}

TEST_F(WsClientTlsTest, MissingCaFileIsNamedInTheReason) {
  RecordingServer server(TlsOptions(*good_));
  ClientOptions options = FastOptions();
  options.ca_file = dir_->path() + "/missing.pem";
  ClientEvents events;
  Client client(options, events.Handlers());
  ASSERT_TRUE(client.Connect(server.url()).ok());
  const auto closed = events.WaitClose();
  ASSERT_TRUE(closed);
  EXPECT_FALSE(closed->was_open);
  EXPECT_EQ(
      closed->reason.rfind(
          "cannot start connection: cannot load CA certificates from '" + options.ca_file + "'", 0),
      0U)
      << closed->reason;
}

}  // namespace
}  // namespace coapgw::ws
