// coapgw::ws::Server's HTTP side, timers and start-up errors (its WebSocket side is exercised by
// client_test.cpp through coapgw::ws::Client).

#include "coapgw/ws/server.hpp"

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "coapgw/test/wait.hpp"
#include "ws_testing.hpp"

namespace coapgw::ws {
namespace {

using std::chrono::milliseconds;

TEST(WsServerTest, AnswersHttpRequestsWithMethodPathQueryAndBody) {
  ServerHandlers handlers;
  handlers.on_http = [](const HttpRequest& request, HttpReply reply) {
    HttpResponse response;
    response.content_type = "text/plain";
    response.headers["Cache-Control"] = "no-store";
    response.body = request.method + "|" + request.path + "|" + request.query + "|" + request.body +
                    "|" + request.headers.at("content-type");
    reply(response);
  };
  Server server({}, handlers);
  const auto result = test::Http(server.port(), "POST", "/api/x?a=1&b=2", R"({"k":1})");
  EXPECT_EQ(result.status, 200);
  EXPECT_EQ(result.body, R"(POST|/api/x|a=1&b=2|{"k":1}|application/json)");
  EXPECT_NE(result.head.find("Content-Type: text/plain"), std::string::npos) << result.head;
  EXPECT_NE(result.head.find("Cache-Control: no-store"), std::string::npos) << result.head;
}

TEST(WsServerTest, RepliesLaterFromATimer) {
  Server* self = nullptr;
  ServerHandlers handlers;
  handlers.on_http = [&self](const HttpRequest&, HttpReply reply) {
    self->After(milliseconds(30), [reply] { reply(HttpResponse{202, "text/plain", "late", {}}); });
  };
  Server server({}, handlers);
  self = &server;
  const auto result = test::Http(server.port(), "GET", "/wait");
  EXPECT_EQ(result.status, 202);
  EXPECT_EQ(result.body, "late");
}

TEST(WsServerTest, AReplyNeverSentBecomes500AndOnlyTheFirstReplyCounts) {
  ServerHandlers handlers;
  handlers.on_http = [](const HttpRequest& request, HttpReply reply) {
    if (request.path == "/twice") {
      reply(HttpResponse{201, "text/plain", "first", {}});
      reply(HttpResponse{202, "text/plain", "second", {}});
    }
  };
  Server server({}, handlers);
  EXPECT_EQ(test::Http(server.port(), "GET", "/forgotten").status, 500);
  const auto twice = test::Http(server.port(), "GET", "/twice");
  EXPECT_EQ(twice.status, 201);
  EXPECT_EQ(twice.body, "first");
}

TEST(WsServerTest, WithoutHttpHandlerEverythingIs404) {
  Server server({}, {});
  EXPECT_EQ(test::Http(server.port(), "GET", "/").status, 404);
}

TEST(WsServerTest, CancelledTimerNeverRuns) {
  Server server({}, {});
  std::atomic<int> ran{0};
  const TimerId cancelled = server.After(milliseconds(20), [&] { ran += 100; });
  server.Cancel(cancelled);
  server.After(milliseconds(40), [&] { ran += 1; });
  ASSERT_TRUE(coapgw::test::WaitUntil([&] { return ran.load() != 0; }, milliseconds(5000)));
  // The second timer ran after the first one's deadline: the cancelled one had its chance.
  EXPECT_EQ(ran.load(), 1);
}

TEST(WsServerTest, PostRunsInOrderOnTheIoThread) {
  Server server({}, {});
  std::atomic<int> value{0};
  std::atomic<bool> other_thread{false};
  const auto caller = std::this_thread::get_id();
  server.Post([&] {
    other_thread = std::this_thread::get_id() != caller;
    value = value * 10 + 1;
  });
  server.Post([&] { value = value * 10 + 2; });
  ASSERT_TRUE(coapgw::test::WaitUntil([&] { return value.load() == 12; }, milliseconds(5000)));
  EXPECT_TRUE(other_thread.load());
}

TEST(WsServerTest, BindFailureNamesTheAddress) {
  Server first({}, {});
  ServerOptions options;
  options.listen = HostPort{"127.0.0.1", first.port()};
  try {
    Server second(options, {});
    ADD_FAILURE() << "a second server bound the same port";
  } catch (const std::runtime_error& error) {
    EXPECT_EQ(std::string(error.what())
                  .rfind("cannot listen on 127.0.0.1:" + std::to_string(first.port()) + ": ", 0),
              0U)
        << error.what();
  }
}

TEST(WsServerTest, MissingTlsFilesAreNamed) {
  ServerOptions options;
  options.tls_cert_file = "/nonexistent/cert.pem";
  options.tls_key_file = "/nonexistent/key.pem";
  try {
    Server server(options, {});
    ADD_FAILURE() << "started without a certificate";
  } catch (const std::runtime_error& error) {
    EXPECT_EQ(
        std::string(error.what()).rfind("cannot load TLS certificate '/nonexistent/cert.pem'", 0),
        0U)
        << error.what();
  }
  options.tls_key_file.clear();
  EXPECT_THROW(Server(options, {}), std::runtime_error);
}

}  // namespace
}  // namespace coapgw::ws
