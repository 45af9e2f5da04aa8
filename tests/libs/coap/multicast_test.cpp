// Multicast requests, kept on the host: the group is joined on "lo" and the test's sender uses
// IP_MULTICAST_IF 127.0.0.1 with TTL 0, so no datagram can leave the machine.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <net/if.h>

#include "coap_test_util.hpp"

namespace coapgw::coap::testing {
namespace {

constexpr const char* kGroup = "224.0.1.187";  // All CoAP Nodes (RFC 7252 §12.8)

class MulticastSender {
 public:
  MulticastSender() {
    fd_ = socket(AF_INET, SOCK_DGRAM, 0);
    in_addr loopback{};
    inet_pton(AF_INET, "127.0.0.1", &loopback);
    setsockopt(fd_, IPPROTO_IP, IP_MULTICAST_IF, &loopback, sizeof loopback);
    const unsigned char ttl = 0;  // never forwarded off the host
    setsockopt(fd_, IPPROTO_IP, IP_MULTICAST_TTL, &ttl, sizeof ttl);
    const unsigned char loop = 1;
    setsockopt(fd_, IPPROTO_IP, IP_MULTICAST_LOOP, &loop, sizeof loop);
    timeval timeout{5, 0};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  }
  ~MulticastSender() { close(fd_); }
  MulticastSender(const MulticastSender&) = delete;
  MulticastSender& operator=(const MulticastSender&) = delete;

  // A NON GET with a one-byte token to the group.
  void Get(uint16_t port, char token, const std::string& path) const {
    std::string datagram("\x51\x01\x00\x00", 4);
    datagram[3] = token;
    datagram.push_back(token);
    datagram.push_back(static_cast<char>(0xB0 | path.size()));  // Uri-Path, length < 13
    datagram += path;
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(port);
    inet_pton(AF_INET, kGroup, &to.sin_addr);
    ASSERT_EQ(sendto(fd_, datagram.data(), datagram.size(), 0, reinterpret_cast<sockaddr*>(&to),
                     sizeof to),
              static_cast<ssize_t>(datagram.size()));
  }

  std::string Receive() const {
    char buffer[1500];
    const ssize_t n = recv(fd_, buffer, sizeof buffer, 0);
    return n > 0 ? std::string(buffer, static_cast<size_t>(n)) : std::string();
  }

 private:
  int fd_ = -1;
};

class MulticastTest : public CoapFixture {
 protected:
  void SetUp() override {
    if (if_nametoindex("lo") == 0) {
      GTEST_SKIP() << "no loopback interface named lo";
    }
    StartServer(ServerOptions{}, "0.0.0.0:0");
  }
};

TEST_F(MulticastTest, JoinValidatesItsArguments) {
  auto bad_group = OnServer([](Server& server) { return server.JoinMulticast("192.0.2.1", "lo"); });
  ASSERT_FALSE(bad_group.ok());
  EXPECT_EQ(bad_group.error().code, ErrorCode::kInvalidArgument);
  auto bad_interface =
      OnServer([](Server& server) { return server.JoinMulticast(kGroup, "no-such-if0"); });
  ASSERT_FALSE(bad_interface.ok());
  EXPECT_EQ(bad_interface.error().code, ErrorCode::kInvalidArgument);
  // The only endpoint is IPv4: an IPv6 group has nothing to join on.
  auto no_v6 = OnServer([](Server& server) { return server.JoinMulticast("ff02::fd", "lo"); });
  ASSERT_FALSE(no_v6.ok());
  EXPECT_EQ(no_v6.error().code, ErrorCode::kInvalidArgument);
  auto v4 = OnServer([](Server& server) { return server.JoinMulticast(kGroup, "lo"); });
  EXPECT_TRUE(v4.ok()) << v4.error().message;
}

TEST_F(MulticastTest, Ipv6GroupOnADualStackEndpoint) {
  auto bound = OnServer([](Server& server) { return server.AddEndpoint("[::]:0"); });
  ASSERT_TRUE(bound.ok()) << bound.error().message;
  auto v6 = OnServer([](Server& server) { return server.JoinMulticast("ff02::fd", "lo"); });
  EXPECT_TRUE(v6.ok()) << v6.error().message;
}

TEST_F(MulticastTest, AnswersOnlyWhatMayBeAnsweredOverMulticast) {
  bool saw_multicast = false;  // server loop
  const Status joined = OnServer([&](Server& server) {
    ResourceOptions group;
    group.multicast = true;
    group.multicast_delay = false;
    server.AddResource("/mc", group)
        .On(Method::kGet, [&](const Request& request, Response& response) {
          saw_multicast = request.multicast;
          response.SetPayload("here");
        });
    server.AddResource("/fail", group).On(Method::kGet, [](const Request&, Response& response) {
      response.SetCode(Code::kBadRequest).SetPayload("an error nobody asked for");
    });
    server.AddResource("/uni").On(
        Method::kGet, [](const Request&, Response& response) { response.SetPayload("u"); });
    return server.JoinMulticast(kGroup, "lo");
  });
  ASSERT_TRUE(joined.ok()) << joined.error().message;
  MulticastSender sender;
  // An error answer (suppressed), a resource not enabled for multicast (ignored), an unknown path
  // (4.04, suppressed), then one that answers: the first datagram back must be the last one's.
  sender.Get(address_.port, 'a', "fail");
  sender.Get(address_.port, 'b', "uni");
  sender.Get(address_.port, 'c', "none");
  sender.Get(address_.port, 'd', "mc");
  const std::string reply = sender.Receive();
  ASSERT_GE(reply.size(), 6U) << "no answer to the multicast GET";
  EXPECT_EQ((static_cast<uint8_t>(reply[0]) >> 4U) & 3U, 1U) << "a NON answer to a NON request";
  EXPECT_EQ(static_cast<uint8_t>(reply[1]), 0x45U) << "2.05";
  EXPECT_EQ(reply[4], 'd') << "token of the /mc request";
  EXPECT_EQ(reply.substr(reply.size() - 4), "here");
  EXPECT_TRUE(OnServer([&](Server&) { return saw_multicast; }));
}

}  // namespace
}  // namespace coapgw::coap::testing
