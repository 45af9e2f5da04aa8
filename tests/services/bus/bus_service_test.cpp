// coapgw-bus as a process: the real binary, real publisher processes (bus_test_peer), ZeroMQ over
// loopback TCP on free ports.

#include <csignal>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "bus_testing.hpp"
#include "coapgw/bus/publisher.hpp"
#include "coapgw/bus/subscriber.hpp"
#include "coapgw/test/command.hpp"
#include "coapgw/test/http.hpp"
#include "coapgw/test/process.hpp"
#include "coapgw/test/wait.hpp"

namespace coapgw::bus {
namespace {

using std::chrono::milliseconds;
using test::Process;
constexpr milliseconds kStartTimeout{5000};
constexpr milliseconds kStopTimeout{5000};

// coapgw-bus run to its end with `arguments`.
test::CommandOutput RunBusToEnd(const std::string& arguments) {
  return test::RunCommand(test::BinaryPath("coapgw-bus") + " " + arguments);
}

// The highest "published N" a bus_test_peer has printed.
uint64_t LastPublished(const Process& peer) {
  const std::string text = peer.Stderr();
  const size_t at = text.rfind("published ");
  return at == std::string::npos ? 0 : std::stoull(text.substr(at + 10));
}

class BusServiceTest : public testing::Test {
 protected:
  std::map<std::string, std::string> Env() const {
    return {{"COAPGW_BUS_PUB", pub_}, {"COAPGW_BUS_SUB", sub_}};
  }

  // Starts coapgw-bus and waits until it forwards: the first time on ports it picks itself (named
  // in its log), after that on the same endpoints again.
  std::unique_ptr<Process> StartBus(std::map<std::string, std::string> extra = {}) {
    if (pub_.empty()) {
      auto bus = test::StartBus(kStartTimeout, std::move(extra));
      EXPECT_FALSE(bus.pub.empty()) << bus.process->Stderr();
      pub_ = bus.pub;
      sub_ = bus.sub;
      return std::move(bus.process);
    }
    auto env = Env();
    env.insert(extra.begin(), extra.end());
    auto bus =
        std::make_unique<Process>(std::vector<std::string>{test::BinaryPath("coapgw-bus")}, env);
    EXPECT_TRUE(bus->WaitForStderr("forwarding", kStartTimeout)) << bus->Stderr();
    return bus;
  }

  std::unique_ptr<Process> StartPeer(const std::string& name, uint64_t count,
                                     milliseconds interval) {
    auto peer = std::make_unique<Process>(
        std::vector<std::string>{COAPGW_BUS_TEST_PEER, pub_, sub_, name, std::to_string(count),
                                 std::to_string(interval.count())});
    EXPECT_TRUE(peer->WaitForStderr("ready ", milliseconds(10'000))) << peer->Stderr();
    return peer;
  }

  // A subscriber to peer.data whose subscription has reached the bus (proven by a probe through
  // it), so publishers that connect later receive it when they connect.
  std::unique_ptr<Subscriber> SubscribeToPeers() {
    auto subscriber = std::make_unique<Subscriber>(
        context_, sub_, std::vector<std::string>{"peer.data", "test.probe"});
    Publisher prober(context_, pub_, "test");
    EXPECT_TRUE(test::WaitForRoute(prober, *subscriber, "test.probe"));
    return subscriber;
  }

  std::string pub_;  // empty until the first StartBus
  std::string sub_;
  zmq::context_t context_;
};

TEST_F(BusServiceTest, HelpListsEverySettingAndExitsZero) {
  const test::CommandOutput help = RunBusToEnd("--help");
  EXPECT_EQ(help.exit_code, 0);
  for (const char* setting :
       {"COAPGW_BUS_PUB", "--bus-pub", "COAPGW_BUS_SUB", "--bus-sub", "COAPGW_BUS_HWM",
        "COAPGW_LOG_LEVEL", "COAPGW_LOG_FORMAT", "COAPGW_HTTP_LISTEN", "tcp://127.0.0.1:7100",
        "tcp://127.0.0.1:7101"}) {
    EXPECT_NE(help.text.find(setting), std::string::npos) << setting << " in\n" << help.text;
  }
  const test::CommandOutput version = RunBusToEnd("--version");
  EXPECT_EQ(version.exit_code, 0);
  EXPECT_EQ(version.text.rfind("coapgw-bus ", 0), 0U) << version.text;
}

TEST_F(BusServiceTest, ABadSettingExitsNonZeroWithOneLineNamingIt) {
  for (const auto& [name, value] :
       std::map<std::string, std::string>{{"COAPGW_BUS_PUB", "nonsense"},
                                          {"COAPGW_BUS_SUB", "tcp://127.0.0.1"},
                                          {"COAPGW_BUS_HWM", "lots"}}) {
    test::ExpectBadSetting(name + "=" + value + " " + test::BinaryPath("coapgw-bus"),
                           "coapgw-bus: " + name + ": '" + value + "'");
  }
}

TEST_F(BusServiceTest, ABusyEndpointExitsNonZeroNamingIt) {
  auto first = StartBus();
  Process second({test::BinaryPath("coapgw-bus")}, Env());
  EXPECT_EQ(second.Wait(kStopTimeout), 1);
  EXPECT_NE(second.Stderr().find("cannot bind the pub (XSUB) endpoint '" + pub_ + "'"),
            std::string::npos)
      << second.Stderr();
}

TEST_F(BusServiceTest, SigtermAndSigintStopItCleanlyWithClientsConnected) {
  for (const int signal : {SIGTERM, SIGINT}) {
    auto bus = StartBus();
    auto subscriber = SubscribeToPeers();  // live connections on both sides
    const auto started = std::chrono::steady_clock::now();
    EXPECT_EQ(bus->Stop(signal, kStopTimeout), 0) << bus->Stderr();
    EXPECT_LT(std::chrono::steady_clock::now() - started, kStopTimeout);
    EXPECT_NE(bus->Stderr().find("stopped exit_code=0"), std::string::npos) << bus->Stderr();
  }
}

TEST_F(BusServiceTest, ServesHealthReadinessAndMetrics) {
  auto bus = StartBus({{"COAPGW_HTTP_LISTEN", "127.0.0.1:0"}});
  const uint16_t http_port = test::WaitReady(*bus, kStartTimeout);
  ASSERT_NE(http_port, 0) << bus->Stderr();
  EXPECT_EQ(test::HttpGet(http_port, "/healthz").rfind("HTTP/1.1 200", 0), 0U);
  EXPECT_EQ(test::HttpGet(http_port, "/readyz").rfind("HTTP/1.1 200", 0), 0U);
  auto subscriber = SubscribeToPeers();
  Publisher publisher(context_, pub_, "test");
  ASSERT_TRUE(test::WaitForRoute(publisher, *subscriber, "test.probe"));
  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE(publisher.Publish("peer.data", "{}").ok());
  }
  // The bus refreshes its counters once a second.
  std::string metrics;
  EXPECT_TRUE(test::WaitUntil(
      [&] {
        metrics = test::HttpGet(http_port, "/metrics");
        const size_t at = metrics.find("\ncoapgw_bus_forwarded_messages_total ");
        return at != std::string::npos && std::stoull(metrics.substr(at + 37)) >= 100;
      },
      milliseconds(5000)))
      << metrics;
  EXPECT_NE(metrics.find("\ncoapgw_bus_subscription_messages_total "), std::string::npos);
}

TEST_F(BusServiceTest, TwoPublisherProcessesReachOneSubscriberCompleteAndInOrder) {
  auto bus = StartBus();
  auto subscriber = SubscribeToPeers();
  constexpr uint64_t kCount = 5000;
  auto first = StartPeer("peer1", kCount, milliseconds(0));
  auto second = StartPeer("peer2", kCount, milliseconds(0));
  std::map<std::string, uint64_t> last_seq;  // per publisher id
  uint64_t received = 0;
  while (received < 2 * kCount) {
    auto message = test::ReceiveOn(*subscriber, "peer.data", milliseconds(10'000));
    ASSERT_TRUE(message) << "after " << received << " messages";
    uint64_t& last = last_seq[message->publisher];
    ASSERT_EQ(message->seq, last + 1) << message->publisher;
    ASSERT_FALSE(message->gap);
    EXPECT_EQ(message->data()["n"].GetUint64(), message->seq);
    last = message->seq;
    ++received;
  }
  ASSERT_EQ(last_seq.size(), 2U);
  for (const auto& [publisher, last] : last_seq) {
    EXPECT_EQ(last, kCount) << publisher;
  }
  EXPECT_EQ(first->Wait(kStopTimeout), 0);
  EXPECT_EQ(second->Wait(kStopTimeout), 0);
  EXPECT_EQ(subscriber->stats().gaps, 0U);
  EXPECT_EQ(subscriber->stats().malformed, 0U);
}

// SIGKILL the bus while a publisher process keeps publishing (every 2 ms) and this test keeps
// receiving; start it again on the same ports. Neither client is restarted: both reconnect, and
// the subscriber reports the messages lost while the bus was down as a sequence gap.
TEST_F(BusServiceTest, ClientsSurviveABusKillAndTheLossShowsAsAGap) {
  auto bus = StartBus();
  auto subscriber = SubscribeToPeers();
  auto peer = StartPeer("peer1", 0, milliseconds(2));
  const pid_t peer_pid = peer->pid();

  std::string publisher;
  uint64_t last = 0;
  while (last < 50) {
    auto message = test::ReceiveOn(*subscriber, "peer.data", milliseconds(5000));
    ASSERT_TRUE(message);
    ASSERT_FALSE(message->gap);
    publisher = message->publisher;
    last = message->seq;
  }

  bus->Kill();
  const uint64_t published_at_kill = LastPublished(*peer);
  // The peer goes on publishing into the void: make sure some messages are lost for certain.
  ASSERT_TRUE(test::WaitUntil([&] { return LastPublished(*peer) >= published_at_kill + 20; },
                              milliseconds(5000)));
  bus = StartBus();  // on the same ports: fails at once, naming the port, when one was taken
                     // meanwhile
  ASSERT_TRUE(bus->running()) << bus->Stderr();

  std::optional<Gap> gap;
  uint64_t after_gap = 0;
  while (after_gap < 50) {
    auto message = test::ReceiveOn(*subscriber, "peer.data", milliseconds(10'000));
    ASSERT_TRUE(message) << "nothing after the restart; last seq " << last;
    ASSERT_EQ(message->publisher, publisher) << "the publisher was not restarted";
    EXPECT_FALSE(message->first_from_publisher);
    if (message->gap) {
      ASSERT_FALSE(gap) << "a second gap";
      gap = message->gap;
      EXPECT_EQ(gap->expected, last + 1);
      EXPECT_EQ(gap->received, message->seq);
      EXPECT_GE(gap->missed(), 20U);
    } else {
      ASSERT_EQ(message->seq, last + 1);
    }
    if (gap) {
      ++after_gap;
    }
    last = message->seq;
  }
  ASSERT_TRUE(gap);
  EXPECT_EQ(subscriber->stats().gaps, 1U);
  EXPECT_EQ(subscriber->stats().missed, gap->missed());
  EXPECT_TRUE(peer->running());
  EXPECT_EQ(peer->pid(), peer_pid);
  EXPECT_EQ(peer->Stop(SIGTERM, kStopTimeout), 0);
  EXPECT_EQ(bus->Stop(SIGTERM, kStopTimeout), 0);
}

}  // namespace
}  // namespace coapgw::bus
