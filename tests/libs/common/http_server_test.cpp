#include "coapgw/common/http_server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <optional>
#include <stdexcept>
#include <string>

#include <gtest/gtest.h>

namespace coapgw {
namespace {

// A plain blocking HTTP/1.1 client: one request, read until the server closes.
std::string Get(uint16_t port, const std::string& raw_request) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    close(fd);
    return "connect failed";
  }
  timeval timeout{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  [[maybe_unused]] const auto sent = send(fd, raw_request.data(), raw_request.size(), 0);
  std::string response;
  char buffer[1024];
  ssize_t n = 0;
  while ((n = recv(fd, buffer, sizeof buffer, 0)) > 0) {
    response.append(buffer, static_cast<size_t>(n));
  }
  close(fd);
  return response;
}

std::string GetPath(uint16_t port, const std::string& path) {
  return Get(port, "GET " + path + " HTTP/1.1\r\nHost: x\r\n\r\n");
}

class HttpServerTest : public testing::Test {
 protected:
  Health health_;
  MetricsRegistry metrics_;
  HttpServer server_{HostPort{"127.0.0.1", 0}, health_, metrics_};
};

TEST_F(HttpServerTest, HealthzIsAlwaysOk) {
  EXPECT_EQ(GetPath(server_.port(), "/healthz").rfind("HTTP/1.1 200 OK\r\n", 0), 0U);
}

TEST_F(HttpServerTest, ReadyzFollowsHealthWithTheReason) {
  health_.SetNotReady("database unreachable");
  const std::string not_ready = GetPath(server_.port(), "/readyz");
  EXPECT_EQ(not_ready.rfind("HTTP/1.1 503", 0), 0U) << not_ready;
  EXPECT_NE(not_ready.find("not ready: database unreachable"), std::string::npos);
  health_.SetReady();
  EXPECT_EQ(GetPath(server_.port(), "/readyz").rfind("HTTP/1.1 200", 0), 0U);
}

TEST_F(HttpServerTest, MetricsServesPrometheusText) {
  metrics_.AddCounter("coapgw_test_total", "A test counter.").Inc(42);
  const std::string response = GetPath(server_.port(), "/metrics?x=1");
  EXPECT_NE(response.find("Content-Type: text/plain; version=0.0.4"), std::string::npos);
  EXPECT_NE(response.find("\r\n\r\n# HELP coapgw_test_total A test counter.\n"), std::string::npos);
  EXPECT_NE(response.find("coapgw_test_total 42\n"), std::string::npos);
}

TEST_F(HttpServerTest, UnknownPathsMethodsAndGarbageGetErrors) {
  EXPECT_EQ(GetPath(server_.port(), "/nope").rfind("HTTP/1.1 404", 0), 0U);
  EXPECT_EQ(Get(server_.port(), "POST /healthz HTTP/1.1\r\n\r\n").rfind("HTTP/1.1 405", 0), 0U);
  EXPECT_EQ(Get(server_.port(), "garbage\r\n\r\n").rfind("HTTP/1.1 400", 0), 0U);
  EXPECT_EQ(Get(server_.port(), std::string(9000, 'a')).rfind("HTTP/1.1 431", 0), 0U);
}

TEST(HttpServerRoutesTest, ExtraRoutesComeFirstAndFallBackToTheBuiltInOnes) {
  Health health;
  MetricsRegistry metrics;
  std::string seen;
  HttpServer server(
      HostPort{"127.0.0.1", 0}, health, metrics,
      [&seen](const std::string& method, const std::string& target) -> std::optional<HttpReply> {
        seen = method + " " + target;
        if (target == "/boom") {
          throw std::runtime_error("route bug");
        }
        if (target.rfind("/things/", 0) != 0) {
          return std::nullopt;
        }
        return HttpReply{202, "application/json", "{\"ok\":true}"};
      });
  const std::string posted = Get(server.port(), "POST /things/3/off?now=1 HTTP/1.1\r\n\r\n");
  EXPECT_EQ(posted.rfind("HTTP/1.1 202 Accepted\r\n", 0), 0U) << posted;
  EXPECT_NE(posted.find("Content-Type: application/json"), std::string::npos) << posted;
  EXPECT_NE(posted.find("\r\n\r\n{\"ok\":true}"), std::string::npos) << posted;
  EXPECT_EQ(seen, "POST /things/3/off?now=1");
  EXPECT_EQ(GetPath(server.port(), "/healthz").rfind("HTTP/1.1 200 OK\r\n", 0), 0U);
  EXPECT_EQ(GetPath(server.port(), "/boom").rfind("HTTP/1.1 500", 0), 0U);
}

TEST(HttpServerBindTest, BusyPortIsAClearStartupError) {
  Health health;
  MetricsRegistry metrics;
  HttpServer first(HostPort{"127.0.0.1", 0}, health, metrics);
  try {
    HttpServer second(HostPort{"127.0.0.1", first.port()}, health, metrics);
    FAIL() << "expected the second bind to fail";
  } catch (const std::runtime_error& error) {
    EXPECT_NE(std::string(error.what()).find("cannot listen on 127.0.0.1:"), std::string::npos)
        << error.what();
  }
}

}  // namespace
}  // namespace coapgw
