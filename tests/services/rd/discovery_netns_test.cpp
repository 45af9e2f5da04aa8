// Gateway-initiated discovery over real multicast between network namespaces: the test creates a
// namespace holding the passive devices and a veth pair into it (198.18.N.0/24, the benchmarking
// range, on the test's own interfaces only), runs libcoap's coap-server-notls there joined to
// 224.0.1.187 as a device with no RD client, and the real gateway (tests/support Stack: bus, RD on
// a fresh PostgreSQL database, platform simulator, ws-connector, observer) in this namespace with
// discovery going out on the veth. Skipped, saying why, where the kernel refuses namespaces.

#include <algorithm>
#include <chrono>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "coapgw/coap/client.hpp"
#include "coapgw/coap/context.hpp"
#include "coapgw/coap/uri.hpp"
#include "coapgw/test/command.hpp"
#include "coapgw/test/process.hpp"
#include "coapgw/test/stack.hpp"
#include "coapgw/test/wait.hpp"
#include "discovery_responder.hpp"
#include "e2e_testing.hpp"
#include "test_network.hpp"

namespace coapgw::rd::test {
namespace {

using namespace std::chrono_literals;
using Part = coapgw::test::Stack::Part;

constexpr const char* kGroup = "224.0.1.187";
constexpr auto kDiscovered = 30s;  // a round's window is 6 s (devices wait up to 5 s to answer)

class DiscoveryNetnsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    bool refused = false;
    if (auto failed = network_.Create(&refused)) {
      if (refused) {
        GTEST_SKIP() << *failed;
      }
      FAIL() << "cannot build the test network: " << *failed;
    }
  }

  coapgw::test::StackOptions Options(const std::string& mode, const std::string& group) const {
    coapgw::test::StackOptions options;
    options.devices = 0;
    options.observer_filter = "rt=ticks";  // coap-server-notls's observable /time
    options.extra_env["coapgw-rd"] = {
        {"COAPGW_RD_DISCOVERY", mode},
        {"COAPGW_RD_DISCOVERY_INTERFACES", network_.gw_if()},
        {"COAPGW_RD_DISCOVERY_GROUPS", group},
        {"COAPGW_RD_DISCOVERY_WINDOW", "6s"},
        {"COAPGW_RD_DISCOVERY_INTERVAL", "10m"},
        {"COAPGW_RD_DISCOVERY_LIFETIME", "3600"},
        {"COAPGW_RD_DISCOVERY_ET", options.device_type},
    };
    return options;
  }

  // POST /coapgw/discover to the RD; the answer's payload (the round's outcome).
  std::string Discover(coapgw::test::Stack& stack, const std::string& query = "") {
    auto request = coap::ClientRequest::FromUri(coap::Method::kPost,
                                                stack.rd_uri() + "/coapgw/discover" + query);
    EXPECT_TRUE(request.ok());
    auto promise = std::make_shared<std::promise<coap::Outcome<coap::ClientResponse>>>();
    auto future = promise->get_future();
    coap::RequestOptions options;
    options.timeout = 25s;
    client_loop_.Call([&] {
      client_->Send(*request, options, [promise](coap::Outcome<coap::ClientResponse> outcome) {
        promise->set_value(std::move(outcome));
      });
    });
    if (future.wait_for(30s) != std::future_status::ready) {
      ADD_FAILURE() << "no answer to POST /coapgw/discover";
      return {};
    }
    auto outcome = future.get();
    EXPECT_TRUE(outcome.ok()) << outcome.message();
    if (!outcome.ok()) {
      return {};
    }
    EXPECT_EQ(outcome->code, coap::Code::kContent) << outcome->payload;
    return outcome->payload;
  }

  std::string Lookup(coapgw::test::Stack& stack, const std::string& ep) {
    auto request =
        coap::ClientRequest::FromUri(coap::Method::kGet, stack.rd_uri() + "/rd-lookup/ep?ep=" + ep);
    auto promise = std::make_shared<std::promise<std::string>>();
    auto future = promise->get_future();
    client_loop_.Call([&] {
      client_->Send(*request, {}, [promise](coap::Outcome<coap::ClientResponse> outcome) {
        promise->set_value(outcome.ok() ? outcome->payload : std::string());
      });
    });
    return future.wait_for(15s) == std::future_status::ready ? future.get() : std::string();
  }

  // True once a UDP socket listens on 5683 in the device namespace (within 10 s).
  bool DeviceListening() const {
    return coapgw::test::WaitUntil(
        [&] {
          const auto sockets =
              coapgw::test::RunCommand("ip netns exec " + network_.ns() + " ss -Hlun");
          return sockets.text.find(":5683") != std::string::npos;
        },
        10s);
  }

  void TearDown() override {
    client_loop_.Call([&] { client_.reset(); });
  }

  TestNetwork network_;
  coap::ContextThread client_loop_;
  std::unique_ptr<coap::Client> client_ =
      client_loop_.Call([&] { return std::make_unique<coap::Client>(client_loop_.context()); });
};

TEST_F(DiscoveryNetnsTest, APassiveDeviceIsDiscoveredObservedAndKeepsItsIdAtANewAddress) {
  const std::string server = COAP_SERVER_NOTLS;
  if (server.empty()) {
    GTEST_SKIP() << "coap-server-notls (Debian libcoap3-bin) is not installed";
  }
  ASSERT_FALSE(std::string(IP_TOOL).empty()) << "no ip (iproute2) found at configure time";
  // 1. A device without an RD client: libcoap's example server in the namespace, in the group.
  auto device = std::make_unique<coapgw::test::Process>(std::vector<std::string>{
      IP_TOOL, "netns", "exec", network_.ns(), server, "-g", kGroup, "-G", network_.dev_if()});
  ASSERT_TRUE(DeviceListening()) << device->Stderr();
  coapgw::test::Stack stack(Options("multicast", kGroup));
  std::string error;
  for (Part part :
       {Part::kBus, Part::kRd, Part::kPlatformSim, Part::kWsConnector, Part::kObserver}) {
    ASSERT_TRUE(stack.StartPart(part, &error)) << error;
  }
  // 2. The RD's first multicast round (at start) finds it; it is named after its address.
  const std::string name = "coap-198-18-" + std::to_string(network_.subnet()) + "-2";
  std::optional<events::Device> found;
  ASSERT_TRUE(coapgw::test::WaitUntil(
      [&] { return (found = e2e::RdDevice(stack, name)).has_value(); }, kDiscovered))
      << "not discovered as " << name << "\n"
      << stack.Tail(Part::kRd) << device->Stderr();
  EXPECT_EQ(found->base, "coap://" + network_.DeviceIp(2));
  const std::string links = Lookup(stack, name);
  EXPECT_NE(links.find("ep=" + name), std::string::npos) << links;
  EXPECT_NE(links.find("base=\"coap://" + network_.DeviceIp(2) + "\""), std::string::npos) << links;
  // 3. It reaches the platform as a put under the RD's device id...
  ASSERT_TRUE(coapgw::test::WaitUntil(
      [&] {
        const auto requests = e2e::PlatformRequests(stack);
        return std::any_of(requests.begin(), requests.end(), [&](const e2e::PlatformRequest& r) {
          return r.handler == "put" &&
                 r.payload.find("\"uri\":\"" + found->device_id + "\"") != std::string::npos;
        });
      },
      20s))
      << e2e::Failure(stack, "platform", "no put for " + found->device_id, {Part::kWsConnector});
  // 4. ...and is observed: the observer's notifications of /time arrive as events.
  ASSERT_TRUE(coapgw::test::WaitUntil(
      [&] {
        const auto events = e2e::PlatformEvents(stack);
        return std::any_of(events.begin(), events.end(), [&](const e2e::PlatformEvent& event) {
          return event.device_uri == found->device_id &&
                 event.service_uri.find("/time") != std::string::npos &&
                 event.metadata.find("\"observed\":true") != std::string::npos;
        });
      },
      20s))
      << e2e::Failure(stack, "observed", "no observed /time event", {Part::kObserver});

  // 5. A passive device with an `ep` attribute (coap-server-notls has none to give).
  device.reset();
  ResponderOptions passive_options;
  passive_options.port = 5683;
  passive_options.group = kGroup;
  passive_options.interface = network_.dev_if();
  passive_options.netns = network_.ns();
  Responder passive(passive_options, "</>;ep=\"passive-1\",</temp>;rt=\"temperature\";obs");
  std::string outcome = Discover(stack);
  EXPECT_NE(outcome.find("ep=passive-1"), std::string::npos) << outcome;
  EXPECT_NE(outcome.find("status=new"), std::string::npos) << outcome;
  const auto before = e2e::RdDevice(stack, "passive-1");
  ASSERT_TRUE(before.has_value()) << stack.Tail(Part::kRd);
  EXPECT_EQ(before->base, "coap://" + network_.DeviceIp(2));

  // 6. It comes back at another address: same registration, same device id, new base.
  ASSERT_EQ(network_.MoveDevice(2, 3), std::nullopt);
  outcome = Discover(stack);
  EXPECT_NE(outcome.find("<coap://" + network_.DeviceIp(3) + ">;ep=passive-1"), std::string::npos)
      << outcome;
  EXPECT_NE(outcome.find("status=moved"), std::string::npos) << outcome;
  const auto after = e2e::RdDevice(stack, "passive-1");
  ASSERT_TRUE(after.has_value());
  EXPECT_EQ(after->device_id, before->device_id);
  EXPECT_EQ(after->location, before->location);
  EXPECT_EQ(after->base, "coap://" + network_.DeviceIp(3));

  // 7. Unicast discovery of the new address: the same device, refreshed.
  outcome = Discover(stack, "?addr=" + network_.DeviceIp(3));
  EXPECT_NE(outcome.find("status=refreshed"), std::string::npos) << outcome;
  EXPECT_EQ(e2e::RdDevice(stack, "passive-1")->device_id, before->device_id);
  const auto puts = e2e::PlatformRequests(stack);
  EXPECT_FALSE(std::any_of(puts.begin(), puts.end(), [&](const e2e::PlatformRequest& r) {
    return r.payload.find("\"name\":\"passive-1\"") != std::string::npos &&
           r.payload.find(before->device_id) == std::string::npos;
  })) << "the platform got the moved device under a new id";
}

// The link-local group ff02::fd on the veth: the device answers from its fe80:: address, which
// becomes its base (without zone id) and, having no ep attribute, its name.
TEST_F(DiscoveryNetnsTest, TheLinkLocalIpv6GroupFindsADeviceToo) {
  const std::string server = COAP_SERVER_NOTLS;
  if (server.empty()) {
    GTEST_SKIP() << "coap-server-notls (Debian libcoap3-bin) is not installed";
  }
  coapgw::test::Process device(
      {IP_TOOL, "netns", "exec", network_.ns(), server, "-g", "ff02::fd", "-G", network_.dev_if()});
  ASSERT_TRUE(DeviceListening()) << device.Stderr();
  coapgw::test::Stack stack(Options("on-demand", "ff02::fd"));
  std::string error;
  for (Part part : {Part::kBus, Part::kRd}) {
    ASSERT_TRUE(stack.StartPart(part, &error)) << error;
  }
  const std::string outcome = Discover(stack);
  EXPECT_NE(outcome.find("<coap://[fe80::"), std::string::npos) << outcome << stack.Tail(Part::kRd);
  EXPECT_NE(outcome.find(";ep=coap-fe80--"), std::string::npos) << outcome;
  EXPECT_NE(outcome.find("status=new"), std::string::npos) << outcome;
}

}  // namespace
}  // namespace coapgw::rd::test
