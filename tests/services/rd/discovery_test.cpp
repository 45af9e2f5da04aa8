// Gateway-initiated discovery inside one process: the real Discovery, Directory and coap::Server
// and Client on a loop thread, an in-memory store, and passive devices (test::Responder) on
// loopback. Multicast stays on the host: the devices join 224.0.1.187 on "lo" and the probes go
// out on "lo". The process test with network namespaces is discovery_netns_test.

#include "discovery/discovery.hpp"

#include <chrono>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <net/if.h>

#include "coapgw/coap/uri.hpp"
#include "coapgw/test/wait.hpp"
#include "discovery/naming.hpp"
#include "discovery_responder.hpp"
#include "memory_store.hpp"
#include "raw_coap.hpp"

namespace coapgw::rd::discovery {
namespace {

using namespace std::chrono_literals;
using coap::Address;
using coap::Family;

constexpr const char* kGroup = "224.0.1.187";
constexpr auto kRoundWait = 20s;

class CountingSink final : public EventSink {
 public:
  void Publish(std::string_view topic, const std::string& /*data*/) override {
    topics.emplace_back(topic);
  }
  std::vector<std::string> topics;  // loop thread
};

TEST(DiscoveryNaming, AddressNameIsStableAndValid) {
  EXPECT_EQ(AddressName({Family::kIpv4, "192.0.2.7", 5683}), "coap-192-0-2-7");
  EXPECT_EQ(AddressName({Family::kIpv4, "192.0.2.7", 5684}), "coap-192-0-2-7-p5684");
  EXPECT_EQ(AddressName({Family::kIpv6, "2001:db8::7", 5683}), "coap-2001-db8--7");
  const std::string longest =
      AddressName({Family::kIpv6, "2001:db8:1111:2222:3333:4444:5555:6666", 65535});
  EXPECT_LE(longest.size(), 63U) << longest;
}

TEST(DiscoveryNaming, EpAttributeComesFromAnyLink) {
  EXPECT_EQ(EpAttribute("</a>,</>;ep=\"lamp-1\";rt=x"), "lamp-1");
  EXPECT_EQ(EpAttribute("</a>;ep=b,</c>;ep=d"), "b");
  EXPECT_EQ(EpAttribute("</a>;rt=x"), std::nullopt);
  EXPECT_EQ(EpAttribute("</a>;ep=\"\""), std::nullopt) << "an empty name is no name";
  EXPECT_EQ(EpAttribute("</a>;ep=\"" + std::string(64, 'x') + "\""), std::nullopt);
  EXPECT_EQ(EpAttribute("<broken"), std::nullopt);
  EXPECT_EQ(EtAttribute("</>;ep=a;et=\"oic.d.light\""), "oic.d.light");
}

TEST(DiscoveryNaming, BaseAndPreference) {
  EXPECT_EQ(BaseOf({Family::kIpv4, "192.0.2.7", 5683}), "coap://192.0.2.7");
  EXPECT_EQ(BaseOf({Family::kIpv6, "2001:db8::7", 5684}), "coap://[2001:db8::7]:5684");
  const Address v4{Family::kIpv4, "192.0.2.7", 5683};
  const Address global{Family::kIpv6, "2001:db8::7", 5683};
  const Address link{Family::kIpv6, "fe80::7", 5683};
  EXPECT_TRUE(Preferred(v4, global));
  EXPECT_TRUE(Preferred(global, link));
  EXPECT_FALSE(Preferred(link, v4));
  EXPECT_FALSE(Preferred(v4, v4));
}

TEST(DiscoveryNaming, TargetsAndRanges) {
  auto one = ParseTargets("192.0.2.7, [2001:db8::1]:5684\n2001:db8::2 192.0.2.8:9", 5683, 10);
  ASSERT_TRUE(one.ok()) << one.error().message;
  ASSERT_EQ(one->size(), 4U);
  EXPECT_EQ((*one)[0].ToString(), "192.0.2.7:5683");
  EXPECT_EQ((*one)[1].ToString(), "[2001:db8::1]:5684");
  EXPECT_EQ((*one)[2].ToString(), "[2001:db8::2]:5683");
  EXPECT_EQ((*one)[3].ToString(), "192.0.2.8:9");
  auto v4 = ParseTargets("192.0.2.5/30", 5683, 10);
  ASSERT_TRUE(v4.ok());
  ASSERT_EQ(v4->size(), 2U) << "network and broadcast addresses are left out";
  EXPECT_EQ((*v4)[0].ip, "192.0.2.5");
  EXPECT_EQ((*v4)[1].ip, "192.0.2.6");
  EXPECT_EQ(ParseTargets("192.0.2.0/24", 5683, 256)->size(), 254U);
  auto v6 = ParseTargets("2001:db8::100/126", 5683, 10);
  ASSERT_TRUE(v6.ok());
  ASSERT_EQ(v6->size(), 4U);
  EXPECT_EQ((*v6)[3].ip, "2001:db8::103");
  const auto refused = [](const std::string& text, const std::string& says) {
    auto parsed = ParseTargets(text, 5683, 256);
    ASSERT_FALSE(parsed.ok()) << text;
    EXPECT_NE(parsed.error().message.find(says), std::string::npos) << parsed.error().message;
  };
  refused("10.0.0.0/16", "more than 256 addresses");
  refused("2001:db8::/64", "/112 to /128");
  refused("host.example", "not an IP address");
  refused("10.0.0.1/x", "bad prefix length");
  EXPECT_TRUE(ParseTargets("", 5683, 1)->empty());
}

TEST(DiscoverySettings, LifetimeMustOutlastARound) {
  Settings settings("coapgw-rd", "test");
  AddSettings(settings);
  settings.LoadFromMap({{"COAPGW_RD_DISCOVERY", "multicast"},
                        {"COAPGW_RD_DISCOVERY_INTERVAL", "600s"},
                        {"COAPGW_RD_DISCOVERY_LIFETIME", "600"}});
  try {
    (void)OptionsFromSettings(settings, "", 65536);
    ADD_FAILURE() << "accepted a lifetime that ends before the next round";
  } catch (const SettingsError& error) {
    EXPECT_NE(std::string(error.what()).find("COAPGW_RD_DISCOVERY_LIFETIME"), std::string::npos);
  }
  Settings bad_mode("coapgw-rd", "test");
  AddSettings(bad_mode);
  bad_mode.LoadFromMap({{"COAPGW_RD_DISCOVERY", "sometimes"}});
  EXPECT_THROW((void)OptionsFromSettings(bad_mode, "", 65536), SettingsError);
  Settings defaults("coapgw-rd", "test");
  AddSettings(defaults);
  defaults.LoadFromMap({});
  const DiscoveryOptions options = OptionsFromSettings(defaults, "floor-1", 65536);
  EXPECT_EQ(options.mode, Mode::kOff) << "off by default";
  EXPECT_EQ(options.sector, "floor-1") << "the RD's default sector";
  EXPECT_EQ(options.groups.size(), 3U);
}

TEST(DiscoveryFormat, OneLinkPerResponder) {
  Found found;
  found.address = {Family::kIpv4, "192.0.2.7", 5683};
  found.ep = "lamp 1";
  found.sector = "floor-3";
  found.location = "/rd/7";
  found.status = "new";
  EXPECT_EQ(FormatFound({found}),
            "<coap://192.0.2.7>;ep=\"lamp 1\";d=floor-3;loc=/rd/7;status=new");
}

class DiscoveryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (if_nametoindex("lo") == 0) {
      GTEST_SKIP() << "no loopback interface named lo";
    }
  }

  void TearDown() override {
    loop_.Call([&] {
      discovery_.reset();
      server_.reset();
      client_.reset();
      directory_.reset();
    });
  }

  void Start(DiscoveryOptions options, Policy policy = Policy::kFirstComeFirstRemembered) {
    if (options.mode == Mode::kOff) {
      options.mode = Mode::kOnDemand;
    }
    options.interfaces = {"lo"};
    options.groups = {kGroup};
    options.window = 300ms;
    options.sector = "lab";
    options.lifetime_s = 120;
    options.metrics = &metrics_;
    loop_.Call([&] {
      DirectoryOptions directory_options;
      directory_options.policy = policy;
      coap::Context& context = loop_.context();
      directory_ = std::make_unique<Directory>(
          index_, store_, sink_,
          [&context](std::function<void()> task) { context.Post(std::move(task)); },
          [] { return std::chrono::system_clock::now(); }, directory_options);
      server_ = std::make_unique<coap::Server>(context);
      auto bound = server_->AddEndpoint("127.0.0.1:0");
      ASSERT_TRUE(bound.ok()) << bound.error().message;
      rd_port_ = bound->port;
      client_ = std::make_unique<coap::Client>(context);
      discovery_ =
          std::make_unique<Discovery>(context, *server_, *client_, *directory_, index_, options);
      discovery_->Start();
    });
  }

  std::vector<Found> Round(std::vector<Address> unicast = {}) {
    auto promise = std::make_shared<std::promise<std::vector<Found>>>();
    auto future = promise->get_future();
    const bool queued = loop_.Call([&] {
      return discovery_->Trigger(std::move(unicast), [promise](const std::vector<Found>& found) {
        promise->set_value(found);
      });
    });
    EXPECT_TRUE(queued);
    if (future.wait_for(kRoundWait) != std::future_status::ready) {
      ADD_FAILURE() << "the round did not finish within " << kRoundWait.count() << " s";
      return {};
    }
    return future.get();
  }

  // A copy of the registration of (lab, ep), if any.
  std::optional<Registration> Find(const std::string& ep) {
    return loop_.Call([&]() -> std::optional<Registration> {
      const Registration* found = index_.FindByName("lab", ep);
      return found != nullptr ? std::optional<Registration>(*found) : std::nullopt;
    });
  }

  Reply RegisterFrom(const std::string& ip, const std::string& ep) {
    auto promise = std::make_shared<std::promise<Reply>>();
    auto future = promise->get_future();
    loop_.Call([&] {
      Requester requester;
      requester.ip = ip;
      requester.port = 40000;
      directory_->Register(requester, {{"ep", ep}, {"d", "lab"}}, "</self>", false,
                           [promise](Reply reply) { promise->set_value(std::move(reply)); });
    });
    EXPECT_EQ(future.wait_for(5s), std::future_status::ready);
    return future.get();
  }

  static test::ResponderOptions OnGroup() {
    test::ResponderOptions options;
    options.group = kGroup;
    options.interface = "lo";
    return options;
  }
  static test::ResponderOptions At(const std::string& ip) {
    test::ResponderOptions options;
    options.bind_ip = ip;
    return options;
  }

  MetricsRegistry metrics_;
  coap::ContextThread loop_;
  Index index_;
  rd::test::MemoryStore store_;
  CountingSink sink_;
  std::unique_ptr<Directory> directory_;
  std::unique_ptr<coap::Server> server_;
  std::unique_ptr<coap::Client> client_;
  std::unique_ptr<Discovery> discovery_;
  uint16_t rd_port_ = 0;
};

TEST_F(DiscoveryTest, AMulticastRoundRegistersTheResponderAsAThirdPartyRegistration) {
  test::Responder device(OnGroup(), "</>;ep=\"lamp-1\",</light>;rt=\"light\";obs");
  DiscoveryOptions options;
  options.port = device.port();
  options.et = "iot#lamp";
  Start(options);
  const std::vector<Found> found = Round();
  ASSERT_EQ(found.size(), 1U);
  EXPECT_EQ(found[0].ep, "lamp-1");
  EXPECT_EQ(found[0].status, "new");
  auto registration = Find("lamp-1");
  ASSERT_TRUE(registration.has_value());
  EXPECT_EQ(found[0].location, registration->Location());
  // The kernel picks the probe's source address on lo (a host's global one when it has one),
  // and the device answers from the address it was asked at.
  EXPECT_EQ(found[0].address.port, device.port());
  EXPECT_EQ(registration->base, BaseOf(found[0].address));
  EXPECT_TRUE(registration->base_explicit);
  EXPECT_EQ(registration->owner, kDiscoveryOwner);
  EXPECT_EQ(registration->lt_s, 120);
  EXPECT_EQ(registration->et, "iot#lamp") << "COAPGW_RD_DISCOVERY_ET";
  ASSERT_EQ(registration->links.size(), 2U);
  EXPECT_EQ(registration->links[1].target, "/light");
  EXPECT_EQ(loop_.Call([&] { return sink_.topics; }),
            std::vector<std::string>{"rd.device.registered"});
  // The next round refreshes the same registration.
  const std::vector<Found> again = Round();
  ASSERT_EQ(again.size(), 1U);
  EXPECT_EQ(again[0].status, "refreshed");
  EXPECT_EQ(Find("lamp-1")->device_id, registration->device_id);
}

TEST_F(DiscoveryTest, MulticastModeRediscoversEveryInterval) {
  test::Responder device(OnGroup(), "</>;ep=\"again\",</t>");
  DiscoveryOptions options;
  options.port = device.port();
  options.mode = Mode::kMulticast;
  options.interval = 400ms;
  Start(options);
  ASSERT_TRUE(coapgw::test::WaitUntil([&] { return Find("again").has_value(); }, 10s))
      << "not found by the round at start";
  const TimePoint first = Find("again")->updated_at;
  ASSERT_TRUE(coapgw::test::WaitUntil([&] { return Find("again")->updated_at > first; }, 10s))
      << "not refreshed by a later round";
  EXPECT_GE(device.served(), 2);
}

TEST_F(DiscoveryTest, WithoutEpTheNameComesFromTheAddress) {
  test::Responder device(At("127.0.0.1"), "</temp>;rt=\"temperature\"");
  Start({});
  const std::vector<Found> found = Round({{Family::kIpv4, "127.0.0.1", device.port()}});
  ASSERT_EQ(found.size(), 1U);
  const std::string name = "coap-127-0-0-1-p" + std::to_string(device.port());
  EXPECT_EQ(found[0].ep, name);
  EXPECT_EQ(found[0].status, "new");
  EXPECT_TRUE(Find(name).has_value());
}

TEST_F(DiscoveryTest, ALargeDocumentIsFetchedBlockWise) {
  std::string links = "</>;ep=\"big-1\"";
  for (int i = 0; i < 60; ++i) {
    links += ",</sensors/s" + std::to_string(i) + ">;rt=\"temperature\";if=sensor";
  }
  ASSERT_GT(links.size(), 2000U);
  test::Responder device(OnGroup(), links);
  DiscoveryOptions options;
  options.port = device.port();
  Start(options);
  const std::vector<Found> found = Round();
  ASSERT_EQ(found.size(), 1U);
  EXPECT_EQ(found[0].status, "new") << found[0].detail;
  auto registration = Find("big-1");
  ASSERT_TRUE(registration.has_value());
  EXPECT_EQ(registration->links.size(), 61U);
  EXPECT_GE(device.served(), 3) << "the multicast request, then the blocks by unicast";
}

TEST_F(DiscoveryTest, AMalformedAnswerIsIgnored) {
  test::Responder device(At("127.0.0.1"), "</a>;rt=\"unterminated");
  Start({});
  const std::vector<Found> found = Round({{Family::kIpv4, "127.0.0.1", device.port()}});
  ASSERT_EQ(found.size(), 1U);
  EXPECT_EQ(found[0].status, "malformed");
  EXPECT_NE(metrics_.Render().find("coapgw_rd_discovery_ignored_total 1"), std::string::npos)
      << metrics_.Render();
  EXPECT_NE(metrics_.Render().find("coapgw_rd_discovery_rounds_total 1"), std::string::npos);
  EXPECT_NE(found[0].detail.find("link-format"), std::string::npos) << found[0].detail;
  EXPECT_TRUE(loop_.Call([&] { return index_.size(); }) == 0U);
}

TEST_F(DiscoveryTest, ADeviceWithEpKeepsItsIdentityAtANewAddress) {
  Start({});
  std::optional<Registration> before;
  {
    test::Responder device(At("127.0.0.1"), "</>;ep=\"mover\",</t>");
    const auto found = Round({{Family::kIpv4, "127.0.0.1", device.port()}});
    ASSERT_EQ(found.size(), 1U);
    before = Find("mover");
    ASSERT_TRUE(before.has_value());
  }
  test::Responder moved(At("127.0.0.2"), "</>;ep=\"mover\",</t>");
  const auto found = Round({{Family::kIpv4, "127.0.0.2", moved.port()}});
  ASSERT_EQ(found.size(), 1U);
  EXPECT_EQ(found[0].status, "moved");
  auto after = Find("mover");
  ASSERT_TRUE(after.has_value());
  EXPECT_EQ(after->device_id, before->device_id);
  EXPECT_EQ(after->Location(), before->Location());
  EXPECT_EQ(after->base, "coap://127.0.0.2:" + std::to_string(moved.port()));
}

TEST_F(DiscoveryTest, ASelfRegisteredDeviceKeepsItsOwnRegistration) {
  Start({});
  ASSERT_EQ(RegisterFrom("127.0.0.1", "self-1").code, 201);
  test::Responder device(At("127.0.0.1"), "</>;ep=\"self-1\",</x>");
  const auto found = Round({{Family::kIpv4, "127.0.0.1", device.port()}});
  ASSERT_EQ(found.size(), 1U);
  EXPECT_EQ(found[0].status, "owned");
  auto registration = Find("self-1");
  ASSERT_TRUE(registration.has_value());
  EXPECT_EQ(registration->owner, "ip:127.0.0.1");
  ASSERT_EQ(registration->links.size(), 1U);
  EXPECT_EQ(registration->links[0].target, "/self");
}

TEST_F(DiscoveryTest, OnlyTheDiscoveredAddressMayTakeOverUnderFcfr) {
  Start({});
  test::Responder device(At("127.0.0.3"), "</>;ep=\"taken\",</x>");
  ASSERT_EQ(Round({{Family::kIpv4, "127.0.0.3", device.port()}}).size(), 1U);
  EXPECT_EQ(RegisterFrom("127.0.0.4", "taken").code, 403) << "another address";
  EXPECT_EQ(RegisterFrom("127.0.0.3", "taken").code, 201) << "the device itself";
  EXPECT_EQ(Find("taken")->owner, "ip:127.0.0.3");
  // From then on it is the device's own registration: discovery leaves it alone.
  const auto found = Round({{Family::kIpv4, "127.0.0.3", device.port()}});
  ASSERT_EQ(found.size(), 1U);
  EXPECT_EQ(found[0].status, "owned");
}

TEST_F(DiscoveryTest, PostDiscoverAnswersWithWhatWasFound) {
  test::Responder device(At("127.0.0.1"), "</>;ep=\"asked\",</x>");
  Start({});
  coap::ContextThread client_loop;
  auto client =
      client_loop.Call([&] { return std::make_unique<coap::Client>(client_loop.context()); });
  const auto send = [&](coap::ClientRequest request) {
    auto promise = std::make_shared<std::promise<coap::Outcome<coap::ClientResponse>>>();
    auto future = promise->get_future();
    client_loop.Call([&] {
      client->Send(request, {}, [promise](coap::Outcome<coap::ClientResponse> outcome) {
        promise->set_value(std::move(outcome));
      });
    });
    EXPECT_EQ(future.wait_for(kRoundWait), std::future_status::ready);
    return future.get();
  };
  auto post = coap::ClientRequest::FromUri(
      coap::Method::kPost, "coap://127.0.0.1:" + std::to_string(rd_port_) +
                               "/coapgw/discover?addr=127.0.0.1:" + std::to_string(device.port()));
  ASSERT_TRUE(post.ok());
  auto answer = send(*post);
  ASSERT_TRUE(answer.ok()) << answer.message();
  EXPECT_EQ(answer->code, coap::Code::kContent);
  EXPECT_EQ(answer->content_format, coap::content_format::kLinkFormat);
  EXPECT_NE(answer->payload.find("ep=asked"), std::string::npos) << answer->payload;
  EXPECT_NE(answer->payload.find("status=new"), std::string::npos) << answer->payload;
  auto get = coap::ClientRequest::FromUri(
      coap::Method::kGet, "coap://127.0.0.1:" + std::to_string(rd_port_) + "/coapgw/discover");
  auto last = send(*get);
  ASSERT_TRUE(last.ok());
  EXPECT_EQ(last->payload, answer->payload) << "GET gives the last round's outcome";
  auto bad = coap::ClientRequest::FromUri(
      coap::Method::kPost,
      "coap://127.0.0.1:" + std::to_string(rd_port_) + "/coapgw/discover?addr=10.0.0.0/8");
  auto refused = send(*bad);
  ASSERT_TRUE(refused.ok());
  EXPECT_EQ(refused->code, coap::Code::kBadRequest);
  EXPECT_NE(refused->payload.find("more than"), std::string::npos) << refused->payload;
  client_loop.Call([&] { client.reset(); });
}

TEST_F(DiscoveryTest, OnlyAllowedSourcesMayAskForDiscovery) {
  DiscoveryOptions options;
  options.allow = {"127.0.0.2"};  // not "loopback": 127.0.0.1 is not allowed
  Start(options);
  test::RawPeer outsider("127.0.0.1");
  test::RawRequest post;
  post.method = coap::Method::kPost;
  post.path = "/coapgw/discover";
  auto refused = outsider.Exchange(rd_port_, post, 5s);
  ASSERT_TRUE(refused.has_value());
  EXPECT_EQ(refused->code, 403);
  EXPECT_NE(refused->payload.find("COAPGW_RD_DISCOVERY_ALLOW"), std::string::npos);
  test::RawPeer allowed("127.0.0.2");
  auto answered = allowed.Exchange(rd_port_, post, kRoundWait);
  ASSERT_TRUE(answered.has_value());
  EXPECT_EQ(answered->code, 205) << "an (empty) multicast round";
}

}  // namespace
}  // namespace coapgw::rd::discovery
