// coapgw-rd as a process (gateway-contract.md §1-2, RFC 9176): the real binary on a free loopback
// UDP port, a fresh PostgreSQL database per test, the real coapgw-bus for the events, libs/coap
// as the CoAP client, raw UDP sockets where the client's source address matters, and libcoap's
// own coap-client-notls as an independent implementation.

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include "coapgw/events/codec.hpp"
#include "coapgw/linkformat/link_format.hpp"
#include "coapgw/test/command.hpp"
#include "coapgw/test/http.hpp"
#include "coapgw/test/process.hpp"
#include "coapgw/test/wait.hpp"
#include "raw_coap.hpp"
#include "rd_harness.hpp"

namespace coapgw::rd::test {
namespace {

using coap::Code;
using coap::Method;
using coapgw::test::CommandOutput;
using coapgw::test::RunCommand;
using std::chrono::seconds;
using std::chrono::steady_clock;
using testing::HasSubstr;
using testing::Not;

constexpr uint16_t kLinkFormat = coap::content_format::kLinkFormat;
constexpr milliseconds kShort{5000};

// The links of a link-format payload as "target" -> the link (test payloads have unique targets).
std::map<std::string, linkformat::Link> LinksByTarget(const std::string& payload) {
  std::map<std::string, linkformat::Link> links;
  auto parsed = linkformat::Parse(payload);
  EXPECT_TRUE(parsed.ok()) << payload;
  if (parsed.ok()) {
    for (auto& link : *parsed) {
      links[link.target] = link;
    }
  }
  return links;
}

// The targets of a link-format payload, in order.
std::vector<std::string> Targets(const std::string& payload) {
  std::vector<std::string> targets;
  auto parsed = linkformat::Parse(payload);
  EXPECT_TRUE(parsed.ok()) << payload;
  if (parsed.ok()) {
    for (const auto& link : *parsed) {
      targets.push_back(link.target);
    }
  }
  return targets;
}

std::string Attr(const linkformat::Link& link, std::string_view name) {
  const auto value = link.Find(name);
  return value ? std::string(*value) : "<absent>";
}

// The value of the Prometheus sample `name` (without labels) in a /metrics response; -1 if absent.
double Metric(const std::string& metrics, const std::string& name) {
  const size_t at = metrics.find("\n" + name + " ");
  return at == std::string::npos ? -1 : std::stod(metrics.substr(at + name.size() + 2));
}

class RdServiceTest : public testing::Test {
 protected:
  void StartRd(const std::map<std::string, std::string>& extra = {}) {
    std::string error;
    ASSERT_TRUE(rd_.StartRd(extra, &error)) << error;
  }

  // The RD with the bus, its events proven to reach the test's subscriber.
  void StartRdWithEvents(const std::map<std::string, std::string>& extra = {}) {
    ASSERT_NO_FATAL_FAILURE(StartRd(extra));
    ASSERT_TRUE(rd_.WaitForRdEvents()) << rd_.RdLog();
  }

  // The next event, which must be on `topic`; its data decoded with libs/events.
  template <class T>
  T ExpectEvent(milliseconds timeout = kShort) {
    auto message = rd_.NextEvent(timeout);
    EXPECT_TRUE(message) << "no " << T::kTopic << " event";
    if (!message) {
      return T{};
    }
    EXPECT_EQ(message->topic, T::kTopic);
    auto decoded = events::Decode<T>(message->data());
    EXPECT_TRUE(decoded.ok()) << (decoded.ok() ? "" : decoded.error().message);
    last_seq_[message->topic] = message->seq;
    seqs_.emplace_back(message->topic, message->seq);
    return decoded.ok() ? *decoded : T{};
  }

  std::string EndpointLookup(const std::string& query = "") {
    return rd_.Lookup("/rd-lookup/ep" + (query.empty() ? "" : "?" + query));
  }
  std::string ResourceLookup(const std::string& query = "") {
    return rd_.Lookup("/rd-lookup/res" + (query.empty() ? "" : "?" + query));
  }
  std::string Port() const { return std::to_string(rd_.coap_port()); }

  RdHarness rd_;
  std::map<std::string, uint64_t> last_seq_;
  std::vector<std::pair<std::string, uint64_t>> seqs_;
};

// ---- Binary contract (gateway-contract.md §1) --------------------------------------------------

TEST_F(RdServiceTest, HelpListsEverySettingAndVersionPrintsTheVersion) {
  const CommandOutput help = RunCommand(coapgw::test::BinaryPath("coapgw-rd") + " --help");
  EXPECT_EQ(help.exit_code, 0);
  for (const char* setting :
       {"COAPGW_DATABASE_URL", "--database-url", "COAPGW_BUS_PUB", "COAPGW_BUS_SUB",
        "COAPGW_RD_LISTEN", "--rd-listen", "COAPGW_RD_MULTICAST", "COAPGW_RD_MULTICAST_INTERFACE",
        "COAPGW_RD_POLICY", "COAPGW_RD_DEFAULT_LIFETIME", "COAPGW_RD_DEFAULT_SECTOR",
        "COAPGW_RD_MAX_PAYLOAD", "COAPGW_RD_SIMPLE_REGISTRATION", "COAPGW_LOG_LEVEL",
        "COAPGW_LOG_FORMAT", "COAPGW_HTTP_LISTEN", "0.0.0.0:5683"}) {
    EXPECT_THAT(help.text, HasSubstr(setting));
  }
  const CommandOutput version = RunCommand(coapgw::test::BinaryPath("coapgw-rd") + " --version");
  EXPECT_EQ(version.exit_code, 0);
  EXPECT_EQ(version.text.rfind("coapgw-rd ", 0), 0U) << version.text;
}

TEST_F(RdServiceTest, ABadSettingExitsWithCodeTwoAndOneLineNamingItBeforeStarting) {
  const std::map<std::string, std::string> bad[] = {
      {{"COAPGW_RD_POLICY", "nonsense"}},
      {{"COAPGW_DATABASE_URL", ""}},  // unset (the tests' own is COAPGW_TEST_DATABASE_URL)
      {{"COAPGW_RD_MAX_PAYLOAD", "1"}},
      {{"COAPGW_RD_LISTEN", "nowhere"}},
      {{"COAPGW_RD_LISTEN", "127.0.0.1:5683,[::1"}},
      {{"COAPGW_BUS_PUB", "nonsense"}},
      {{"COAPGW_BUS_SUB", "tcp://127.0.0.1"}},
  };
  for (const auto& extra : bad) {
    const std::string name = extra.begin()->first;
    auto env = rd_.Env();
    env[name] = extra.begin()->second;
    if (env[name].empty()) {
      env.erase(name);
    }
    coapgw::test::Process process({coapgw::test::BinaryPath("coapgw-rd")}, env);
    const auto exit_code = process.Wait(kShort);
    ASSERT_TRUE(exit_code) << name << " did not make it exit";
    EXPECT_EQ(*exit_code, 2) << name;
    const std::string text = process.Stderr();
    const size_t first = text.find(name);
    EXPECT_NE(first, std::string::npos) << text;
    EXPECT_EQ(text.find(name, first + 1), std::string::npos) << "more than one line:\n" << text;
    EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 1) << name << ": not one line:\n" << text;
    EXPECT_THAT(text, Not(HasSubstr(" ERROR "))) << name;
    EXPECT_THAT(text, Not(HasSubstr("rd-store"))) << name << ": checked only after connecting";
  }
}

TEST_F(RdServiceTest, AnAddressItCannotBindEndsTheStartWithOneLine) {
  ASSERT_TRUE(rd_.StartBus());
  auto env = rd_.Env();
  env["COAPGW_RD_LISTEN"] = "127.0.0.1:" + Port() + ",192.0.2.1:5683";  // not a local address
  coapgw::test::Process process({coapgw::test::BinaryPath("coapgw-rd")}, env);
  const auto exit_code = process.Wait(seconds(10));
  ASSERT_TRUE(exit_code) << process.Stderr();
  EXPECT_EQ(*exit_code, 1);
  const std::string text = process.Stderr();
  EXPECT_THAT(text, HasSubstr("fatal error=\"COAPGW_RD_LISTEN 192.0.2.1:5683: "));
  // The loop-owned objects went on their loop thread: no other error on the way out.
  size_t errors = 0;
  for (size_t at = text.find(" ERROR "); at != std::string::npos;
       at = text.find(" ERROR ", at + 1)) {
    ++errors;
  }
  EXPECT_EQ(errors, 1U) << text;
}

// The RD's CoAP port is picked in advance (a restart must find it again): another process holding
// it ends the start at once, and the error says so instead of waiting for a readiness.
TEST_F(RdServiceTest, ACoapPortHeldByAnotherProcessEndsTheStartSayingSo) {
  const int holder = socket(AF_INET, SOCK_DGRAM, 0);
  ASSERT_GE(holder, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(rd_.coap_port());
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(holder, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  std::string error;
  EXPECT_FALSE(rd_.StartRd({}, &error));
  close(holder);
  EXPECT_THAT(error, HasSubstr("exited with 1 before it was ready; its CoAP port " + Port() +
                               " (kept across restarts) was taken by another process"));
}

TEST_F(RdServiceTest, ServesProbesAndStopsCleanlyOnSigterm) {
  ASSERT_NO_FATAL_FAILURE(StartRd());
  EXPECT_EQ(coapgw::test::HttpGet(rd_.http_port(), "/healthz").rfind("HTTP/1.1 200", 0), 0U);
  EXPECT_EQ(coapgw::test::HttpGet(rd_.http_port(), "/readyz").rfind("HTTP/1.1 200", 0), 0U);
  EXPECT_NE(rd_.Register("ep=node1", "</a>"), "");
  const auto started = steady_clock::now();
  EXPECT_EQ(rd_.StopRd(), 0) << rd_.RdLog();
  EXPECT_LT(steady_clock::now() - started, seconds(5));
  EXPECT_THAT(rd_.RdLog(), HasSubstr("stopped exit_code=0"));
}

// ---- Discovery (RFC 9176 §4.3) -----------------------------------------------------------------

TEST_F(RdServiceTest, WellKnownCoreAnnouncesTheRdResourcesAndFiltersByResourceType) {
  ASSERT_NO_FATAL_FAILURE(StartRd());
  auto all = LinksByTarget(rd_.Lookup("/.well-known/core"));
  const std::map<std::string, std::string> expected = {{"/rd", "core.rd"},
                                                       {"/rd-lookup/ep", "core.rd-lookup-ep"},
                                                       {"/rd-lookup/res", "core.rd-lookup-res"},
                                                       {"/rd-lookup/gp", "core.rd-lookup-gp"},
                                                       {"/rd-group", "core.rd-group"}};
  for (const auto& [target, rt] : expected) {
    ASSERT_EQ(all.count(target), 1U) << target;
    EXPECT_EQ(Attr(all[target], "rt"), rt) << target;
    EXPECT_EQ(Attr(all[target], "ct"), "40") << target;
  }
  for (const char* lookup : {"/rd-lookup/ep", "/rd-lookup/res", "/rd-lookup/gp"}) {
    EXPECT_TRUE(all[lookup].Has("obs")) << lookup;
  }

  auto rd_star = Targets(rd_.Lookup("/.well-known/core?rt=core.rd*"));
  std::sort(rd_star.begin(), rd_star.end());
  EXPECT_EQ(rd_star, (std::vector<std::string>{"/rd", "/rd-group", "/rd-lookup/ep", "/rd-lookup/gp",
                                               "/rd-lookup/res"}));
  EXPECT_EQ(Targets(rd_.Lookup("/.well-known/core?rt=core.rd-lookup-ep")),
            std::vector<std::string>{"/rd-lookup/ep"});
  EXPECT_EQ(Targets(rd_.Lookup("/.well-known/core?rt=core.rd")), std::vector<std::string>{"/rd"});
}

// libcoap 4.3.1 writes ";obs" for an observable resource itself; the attribute must not appear
// twice (RFC 6690 allows a repeated attribute, but two `obs` flags is noise every client parses).
TEST_F(RdServiceTest, WellKnownCoreListsEachAttributeOfALookupOnce) {
  ASSERT_NO_FATAL_FAILURE(StartRd());
  auto parsed = linkformat::Parse(rd_.Lookup("/.well-known/core?rt=core.rd-lookup-ep"));
  ASSERT_TRUE(parsed.ok());
  ASSERT_EQ(parsed->size(), 1U);
  std::map<std::string, int> seen;
  for (const auto& attribute : parsed->front().attributes) {
    ++seen[attribute.name];
  }
  for (const auto& [name, count] : seen) {
    EXPECT_EQ(count, 1) << "attribute " << name << " in " << linkformat::Serialize(*parsed);
  }
}

// ---- Registration (RFC 9176 §5) ----------------------------------------------------------------

TEST_F(RdServiceTest, RegistrationCreatesALocationAndReRegistrationReplacesItsLinks) {
  ASSERT_NO_FATAL_FAILURE(StartRd());
  auto created =
      rd_.Post("/rd?ep=node1&d=floor-3&lt=300&et=oic.d.light&room=12&flag",
               "</sensors/temp>;rt=temperature-c;if=sensor,</sensors/light>;rt=light-lux");
  ASSERT_TRUE(created.ok()) << Describe(created);
  EXPECT_EQ(created->code, Code::kCreated) << Describe(created);
  const std::string location = LocationOf(*created);
  ASSERT_EQ(location.rfind("/rd/", 0), 0U) << location;
  EXPECT_EQ(created->location_path.size(), 2U);  // no Location-Query either
  for (const auto& option : created->options) {
    EXPECT_NE(option.number, coap::option::kLocationQuery);
  }

  // The endpoint lookup shows the endpoint attributes, the unknown ones included (§5).
  auto endpoints = LinksByTarget(EndpointLookup());
  ASSERT_EQ(endpoints.size(), 1U);
  const linkformat::Link& endpoint = endpoints[location];
  EXPECT_EQ(Attr(endpoint, "ep"), "node1");
  EXPECT_EQ(Attr(endpoint, "d"), "floor-3");
  EXPECT_EQ(Attr(endpoint, "et"), "oic.d.light");
  EXPECT_EQ(Attr(endpoint, "room"), "12");
  EXPECT_TRUE(endpoint.Has("flag"));
  EXPECT_EQ(Attr(endpoint, "base").rfind("coap://127.0.0.1:", 0), 0U);

  // Same (d, ep): same location, links replaced.
  auto again = rd_.Post("/rd?ep=node1&d=floor-3", "</actuators/led>;rt=light");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->code, Code::kCreated) << Describe(again);
  EXPECT_EQ(LocationOf(*again), location);
  auto resources = Targets(ResourceLookup("ep=node1"));
  ASSERT_EQ(resources.size(), 1U) << ResourceLookup("ep=node1");
  EXPECT_EQ(resources[0].substr(resources[0].rfind('/')), "/led");

  // Another sector is another registration.
  const std::string other = rd_.Register("ep=node1&d=floor-4", "</b>");
  EXPECT_NE(other, location);
  EXPECT_EQ(Targets(EndpointLookup("ep=node1")).size(), 2U);

  // GET of the registration resource: its links as registered.
  auto read = rd_.Get(location);
  ASSERT_TRUE(read.ok());
  EXPECT_EQ(read->code, Code::kContent);
  EXPECT_EQ(read->content_format, kLinkFormat);
  EXPECT_EQ(read->payload, "</actuators/led>;rt=light");
}

TEST_F(RdServiceTest, AnAcknowledgedRegistrationIsInTheDatabase) {
  ASSERT_NO_FATAL_FAILURE(StartRd());
  const std::string location =
      rd_.Register("ep=node1&d=floor-3&lt=300&et=oic.d.light", "</sensors/temp>;rt=temperature-c");
  ASSERT_FALSE(location.empty());
  const std::string key = location.substr(4);
  const auto& db = rd_.database();
  EXPECT_EQ(db.Query("SELECT ep || '|' || sector FROM rd_devices WHERE key = " + key),
            "node1|floor-3");
  EXPECT_EQ(db.Query("SELECT lt_s || '|' || et || '|' || links FROM rd_registrations "
                     "WHERE key = " +
                     key),
            "300|oic.d.light|</sensors/temp>;rt=temperature-c");
  EXPECT_EQ(db.Query("SELECT expires_at > now() + interval '250 seconds' FROM rd_registrations "
                     "WHERE key = " +
                     key),
            "t");
}

TEST_F(RdServiceTest, ThirdPartyRegistrationResolvesLinksAgainstItsBase) {
  ASSERT_NO_FATAL_FAILURE(StartRd());
  const std::string location = rd_.Register(
      "ep=node7&base=coap://[2001:db8::7]:61616",
      "</sensors/temp>;rt=temperature-c,"
      "<http://www.example.com/sensors/temp>;anchor=\"/sensors/temp\";rel=describedby");
  ASSERT_FALSE(location.empty());
  auto links = LinksByTarget(ResourceLookup("ep=node7"));
  ASSERT_EQ(links.size(), 2U) << ResourceLookup("ep=node7");
  EXPECT_EQ(links.count("coap://[2001:db8::7]:61616/sensors/temp"), 1U);
  EXPECT_EQ(Attr(links["http://www.example.com/sensors/temp"], "anchor"),
            "coap://[2001:db8::7]:61616/sensors/temp");
  EXPECT_EQ(Attr(LinksByTarget(EndpointLookup("ep=node7"))[location], "base"),
            "coap://[2001:db8::7]:61616");
}

TEST_F(RdServiceTest, AnUpdateRefreshesAndChangesBaseAndAttributes) {
  ASSERT_NO_FATAL_FAILURE(StartRd());
  const std::string location =
      rd_.Register("ep=endpoint1&lt=500&base=coap://local-proxy-old.example.com&color=red",
                   "</sensors/temp>;rt=temperature-c;if=sensor");
  ASSERT_FALSE(location.empty());
  EXPECT_EQ(Targets(ResourceLookup("ep=endpoint1")),
            std::vector<std::string>{"coap://local-proxy-old.example.com/sensors/temp"});

  auto updated = rd_.Post(location + "?lt=600&base=coaps://new.example.com&color=blue&size=L", "",
                          std::nullopt);
  ASSERT_TRUE(updated.ok());
  EXPECT_EQ(updated->code, Code::kChanged) << Describe(updated);
  // §5.3.1: the links are resolved anew against the new base.
  EXPECT_EQ(Targets(ResourceLookup("ep=endpoint1")),
            std::vector<std::string>{"coaps://new.example.com/sensors/temp"});
  auto endpoint = LinksByTarget(EndpointLookup("ep=endpoint1"))[location];
  EXPECT_EQ(Attr(endpoint, "color"), "blue");
  EXPECT_EQ(Attr(endpoint, "size"), "L");
  EXPECT_EQ(
      rd_.database().Query("SELECT lt_s FROM rd_registrations WHERE key = " + location.substr(4)),
      "600");

  // A plain refresh (no parameters) is an update too.
  auto refreshed = rd_.Post(location, "", std::nullopt);
  ASSERT_TRUE(refreshed.ok());
  EXPECT_EQ(refreshed->code, Code::kChanged) << Describe(refreshed);
}

TEST_F(RdServiceTest, RemovalDeletesTheRegistrationAndLaterRequestsFindNothing) {
  ASSERT_NO_FATAL_FAILURE(StartRd());
  const std::string location = rd_.Register("ep=node1", "</a>");
  ASSERT_FALSE(location.empty());
  auto removed = rd_.Delete(location);
  ASSERT_TRUE(removed.ok());
  EXPECT_EQ(removed->code, Code::kDeleted) << Describe(removed);
  EXPECT_EQ(EndpointLookup(), "");
  for (const auto& [name, outcome] : std::map<std::string, coap::Outcome<coap::ClientResponse>>{
           {"DELETE", rd_.Delete(location)},
           {"POST", rd_.Post(location, "", std::nullopt)},
           {"GET", rd_.Get(location)}}) {
    ASSERT_TRUE(outcome.ok()) << name;
    EXPECT_EQ(outcome->code, Code::kNotFound) << name << ": " << Describe(outcome);
  }
  EXPECT_EQ(rd_.database().Query("SELECT count(*) FROM rd_devices"), "0");
}

TEST_F(RdServiceTest, EndpointAndSectorNamesMayHave63BytesButNot64) {
  ASSERT_NO_FATAL_FAILURE(StartRd());
  const std::string name63(63, 'e');
  const std::string name64(64, 'e');
  EXPECT_NE(rd_.Register("ep=" + name63 + "&d=" + std::string(63, 'd'), "</a>"), "");
  for (const std::string& query : {"ep=" + name64, "ep=x&d=" + std::string(64, 'd')}) {
    auto refused = rd_.Post("/rd?" + query, "</a>");
    ASSERT_TRUE(refused.ok());
    EXPECT_EQ(refused->code, Code::kBadRequest) << query << ": " << Describe(refused);
    EXPECT_THAT(refused->payload, HasSubstr("63 bytes"));
  }
  EXPECT_EQ(Targets(EndpointLookup()).size(), 1U);
}

TEST_F(RdServiceTest, SimpleRegistrationFetchesTheLinksFromTheRegistrant) {
  ASSERT_NO_FATAL_FAILURE(StartRd());
  RawPeer device("127.0.0.1");
  std::string asked;
  const auto serve = [&](const RawMessage& request) -> std::optional<RawMessage> {
    asked =
        coap::MethodName(static_cast<Method>(request.code)) + std::string(" ") + request.UriPath();
    if (request.UriPath() != "/.well-known/core") {
      return std::nullopt;
    }
    RawMessage response;
    response.code = static_cast<int>(Code::kContent);
    response.options.push_back({coap::option::kContentFormat, coap::EncodeUint(kLinkFormat)});
    response.payload = "</sen/temp>;rt=temperature-c,</sen/hum>;rt=humidity";
    return response;
  };
  RawRequest request;
  request.method = Method::kPost;
  request.path = "/.well-known/rd";
  request.query = {"ep=simple1", "lt=300"};
  auto response = device.Exchange(rd_.coap_port(), request, kShort, serve);
  ASSERT_TRUE(response) << rd_.RdLog();
  EXPECT_EQ(response->code, static_cast<int>(Code::kChanged)) << response->payload;
  EXPECT_EQ(device.served(), 1);
  EXPECT_EQ(asked, "GET /.well-known/core");
  EXPECT_EQ(response->LocationPath(), "");  // §5.1: no location is returned

  const std::string base = "coap://127.0.0.1:" + std::to_string(device.port());
  EXPECT_EQ(Targets(ResourceLookup("ep=simple1")),
            (std::vector<std::string>{base + "/sen/temp", base + "/sen/hum"}));
  auto endpoints = LinksByTarget(EndpointLookup("ep=simple1"));
  ASSERT_EQ(endpoints.size(), 1U);
  EXPECT_EQ(Attr(endpoints.begin()->second, "base"), base);
}

TEST_F(RdServiceTest, SimpleRegistrationFailsCleanlyWhenTheRegistrantDoesNotAnswer) {
  ASSERT_NO_FATAL_FAILURE(StartRd());
  RawPeer device("127.0.0.1");
  RawRequest request;
  request.method = Method::kPost;
  request.path = "/.well-known/rd";
  request.query = {"ep=simple2"};
  // The registrant answers 4.04 to the RD's GET: nothing to register.
  auto response = device.Exchange(rd_.coap_port(), request, kShort,
                                  [](const RawMessage&) { return std::nullopt; });
  ASSERT_TRUE(response);
  EXPECT_EQ(response->code / 100, 5) << response->payload;
  EXPECT_THAT(response->payload, HasSubstr(".well-known/core"));
  EXPECT_EQ(EndpointLookup(), "");
}

// ---- Lookup (RFC 9176 §6) ----------------------------------------------------------------------

class RdLookupTest : public RdServiceTest {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(StartRd());
    node1_ = rd_.Register("ep=node1&d=floor-3&et=oic.d.sensor&room=12&base=coap://[2001:db8::1]",
                          "</sensors/temp>;rt=temperature-c;if=sensor;ct=0,"
                          "</sensors/light>;rt=light-lux;if=sensor");
    node2_ = rd_.Register("ep=node2&d=floor-3&et=oic.d.light&room=14&base=coap://[2001:db8::2]",
                          "</actuators/led>;rt=light;if=core.a;obs");
    lamp_ = rd_.Register("ep=lamp9&d=floor-4&et=oic.d.light&base=coap://[2001:db8::9]:61616",
                         "</light/1>;rt=light;title=\"Desk lamp\"");
    ASSERT_FALSE(node1_.empty() || node2_.empty() || lamp_.empty());
  }

  std::string node1_, node2_, lamp_;
};

TEST_F(RdLookupTest, EndpointLookupFiltersOnEndpointAndLinkAttributes) {
  EXPECT_EQ(Targets(EndpointLookup()), (std::vector<std::string>{node1_, node2_, lamp_}));
  EXPECT_EQ(Targets(EndpointLookup("ep=node2")), std::vector<std::string>{node2_});
  EXPECT_EQ(Targets(EndpointLookup("et=oic.d.light")), (std::vector<std::string>{node2_, lamp_}));
  EXPECT_EQ(Targets(EndpointLookup("d=floor-3")), (std::vector<std::string>{node1_, node2_}));
  EXPECT_EQ(Targets(EndpointLookup("room=12")), std::vector<std::string>{node1_});
  // An endpoint matches a link attribute when one of its links has it (§6.2).
  EXPECT_EQ(Targets(EndpointLookup("rt=light")), (std::vector<std::string>{node2_, lamp_}));
  EXPECT_EQ(Targets(EndpointLookup("if=sensor")), std::vector<std::string>{node1_});
  EXPECT_EQ(Targets(EndpointLookup("et=oic.d.light&d=floor-3")), std::vector<std::string>{node2_});
  EXPECT_EQ(Targets(EndpointLookup("ep=node*")), (std::vector<std::string>{node1_, node2_}));
  EXPECT_EQ(Targets(EndpointLookup("href=" + node2_)), std::vector<std::string>{node2_});
  EXPECT_EQ(Targets(EndpointLookup("href=/rd/*")).size(), 3U);
  EXPECT_EQ(Targets(EndpointLookup("base=coap://[2001:db8::9]:61616")),
            std::vector<std::string>{lamp_});
}

TEST_F(RdLookupTest, EndpointLookupAcceptsALocationInUriForm) {
  // §6.2: "SHOULD recognize either" the path or the URI form of a registration's location.
  const std::string uri = "coap://127.0.0.1:" + Port() + node2_;
  EXPECT_EQ(Targets(EndpointLookup("href=" + uri)), std::vector<std::string>{node2_});
}

TEST_F(RdLookupTest, ResourceLookupReturnsResolvedLinksFilteredByEveryCriterion) {
  auto all = LinksByTarget(ResourceLookup());
  EXPECT_EQ(all.size(), 4U);
  EXPECT_EQ(Attr(all["coap://[2001:db8::1]/sensors/temp"], "rt"), "temperature-c");
  EXPECT_EQ(Attr(all["coap://[2001:db8::9]:61616/light/1"], "title"), "Desk lamp");

  EXPECT_EQ(Targets(ResourceLookup("rt=light")),
            (std::vector<std::string>{"coap://[2001:db8::2]/actuators/led",
                                      "coap://[2001:db8::9]:61616/light/1"}));
  EXPECT_EQ(Targets(ResourceLookup("rt=light*")),
            (std::vector<std::string>{"coap://[2001:db8::1]/sensors/light",
                                      "coap://[2001:db8::2]/actuators/led",
                                      "coap://[2001:db8::9]:61616/light/1"}));
  // Endpoint attributes select the links of matching endpoints.
  EXPECT_EQ(Targets(ResourceLookup("ep=node1")).size(), 2U);
  EXPECT_EQ(Targets(ResourceLookup("d=floor-4")),
            std::vector<std::string>{"coap://[2001:db8::9]:61616/light/1"});
  EXPECT_EQ(Targets(ResourceLookup("et=oic.d.sensor")).size(), 2U);
  EXPECT_EQ(Targets(ResourceLookup("room=14")),
            std::vector<std::string>{"coap://[2001:db8::2]/actuators/led"});
  // Several criteria: all must match.
  EXPECT_EQ(Targets(ResourceLookup("if=sensor&rt=temperature-c")),
            std::vector<std::string>{"coap://[2001:db8::1]/sensors/temp"});
  EXPECT_EQ(Targets(ResourceLookup("rt=light&d=floor-3")),
            std::vector<std::string>{"coap://[2001:db8::2]/actuators/led"});
  EXPECT_EQ(Targets(ResourceLookup("ct=0")),
            std::vector<std::string>{"coap://[2001:db8::1]/sensors/temp"});
  EXPECT_EQ(Targets(ResourceLookup("obs")),
            std::vector<std::string>{"coap://[2001:db8::2]/actuators/led"});
  // href: the resolved target as a full URI, exactly or as a prefix.
  EXPECT_EQ(Targets(ResourceLookup("href=coap://[2001:db8::1]/sensors/light")),
            std::vector<std::string>{"coap://[2001:db8::1]/sensors/light"});
  EXPECT_EQ(Targets(ResourceLookup("href=coap://[2001:db8::1]/*")).size(), 2U);
}

TEST_F(RdLookupTest, PagesAndCountsSliceTheResult) {
  EXPECT_EQ(Targets(EndpointLookup("count=2")), (std::vector<std::string>{node1_, node2_}));
  EXPECT_EQ(Targets(EndpointLookup("page=1&count=2")), std::vector<std::string>{lamp_});
  EXPECT_EQ(Targets(EndpointLookup("page=2&count=2")), std::vector<std::string>{});
  EXPECT_EQ(Targets(ResourceLookup("page=1&count=1")),
            std::vector<std::string>{"coap://[2001:db8::1]/sensors/light"});
  auto refused = rd_.Get("/rd-lookup/ep?page=1");
  ASSERT_TRUE(refused.ok());
  EXPECT_EQ(refused->code, Code::kBadRequest) << Describe(refused);
}

TEST_F(RdLookupTest, NoMatchIsAnEmptyContentResponse) {
  for (const char* target :
       {"/rd-lookup/ep?ep=nobody", "/rd-lookup/res?rt=nothing", "/rd-lookup/gp?gp=none"}) {
    auto response = rd_.Get(target);
    ASSERT_TRUE(response.ok()) << target;
    EXPECT_EQ(response->code, Code::kContent) << target;
    EXPECT_EQ(response->payload, "") << target;
  }
}

// Collects an observation's notifications (the callback runs on the client's loop thread).
class Notifications {
 public:
  coap::NotificationCallback Callback() {
    return [this](coap::Outcome<coap::Notification> event) {
      std::lock_guard<std::mutex> lock(mutex_);
      if (event.ok()) {
        payloads_.push_back(event->response.payload);
        observing_ = event->observing;
      } else {
        observing_ = false;
      }
    };
  }
  // True once a notification (after the first response) contains `text`.
  bool Saw(const std::string& text) const {
    std::lock_guard<std::mutex> lock(mutex_);
    return std::any_of(
        payloads_.begin() + (payloads_.empty() ? 0 : 1), payloads_.end(),
        [&](const std::string& payload) { return payload.find(text) != std::string::npos; });
  }
  size_t count() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return payloads_.size();
  }
  std::vector<std::string> payloads() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return payloads_;
  }
  bool observing() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return observing_;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<std::string> payloads_;
  bool observing_ = false;
};

TEST_F(RdServiceTest, ObservedLookupsAreNotifiedWhenAMatchingRegistrationAppears) {
  ASSERT_NO_FATAL_FAILURE(StartRd());
  Notifications endpoints;
  Notifications temperatures;
  coap::Observation endpoint_observation;
  coap::Observation resource_observation;
  rd_.coap().loop().Call([&] {
    auto ep =
        coap::ClientRequest::FromUri(Method::kGet, "coap://127.0.0.1:" + Port() + "/rd-lookup/ep");
    auto res = coap::ClientRequest::FromUri(
        Method::kGet, "coap://127.0.0.1:" + Port() + "/rd-lookup/res?rt=temperature-c");
    endpoint_observation = rd_.coap().client().Observe(*ep, {}, endpoints.Callback());
    resource_observation = rd_.coap().client().Observe(*res, {}, temperatures.Callback());
  });
  ASSERT_TRUE(coapgw::test::WaitUntil(
      [&] { return endpoints.count() >= 1 && temperatures.count() >= 1; }, kShort));
  EXPECT_TRUE(endpoints.observing());
  EXPECT_TRUE(temperatures.observing());
  EXPECT_EQ(endpoints.payloads().front(), "");

  const std::string location =
      rd_.Register("ep=watched&base=coap://[2001:db8::5]", "</t>;rt=temperature-c");
  EXPECT_TRUE(coapgw::test::WaitUntil([&] { return endpoints.Saw("ep=watched"); }, kShort))
      << testing::PrintToString(endpoints.payloads());
  EXPECT_TRUE(
      coapgw::test::WaitUntil([&] { return temperatures.Saw("<coap://[2001:db8::5]/t>"); }, kShort))
      << testing::PrintToString(temperatures.payloads());
  rd_.coap().loop().Call([&] {
    endpoint_observation.Cancel();
    resource_observation.Cancel();
  });
}

// ---- Groups (draft-ietf-core-resource-directory-11) --------------------------------------------

TEST_F(RdServiceTest, GroupsAreRegisteredLookedUpAndRemoved) {
  ASSERT_NO_FATAL_FAILURE(StartRd());
  const std::string node1 = rd_.Register("ep=node1", "</a>");
  const std::string node2 = rd_.Register("ep=node2", "</b>");
  ASSERT_FALSE(node1.empty() || node2.empty());
  auto created = rd_.Post("/rd-group?gp=lights&con=coap://[ff35:30:2001:db8::1]",
                          "<>;ep=\"node1\",<>;ep=\"node2\"");
  ASSERT_TRUE(created.ok());
  ASSERT_EQ(created->code, Code::kCreated) << Describe(created);
  const std::string group = LocationOf(*created);
  EXPECT_EQ(group.rfind("/rd-group/", 0), 0U) << group;

  auto groups = LinksByTarget(rd_.Lookup("/rd-lookup/gp"));
  ASSERT_EQ(groups.size(), 1U);
  EXPECT_EQ(Attr(groups[group], "gp"), "lights");
  EXPECT_EQ(Attr(groups[group], "base"), "coap://[ff35:30:2001:db8::1]");
  EXPECT_EQ(Targets(rd_.Lookup("/rd-lookup/gp?ep=node2")), std::vector<std::string>{group});
  EXPECT_EQ(Targets(EndpointLookup("gp=lights")), (std::vector<std::string>{node1, node2}));

  auto unknown_member = rd_.Post("/rd-group?gp=other", "<>;ep=\"ghost\"");
  ASSERT_TRUE(unknown_member.ok());
  EXPECT_EQ(unknown_member->code, Code::kNotFound) << Describe(unknown_member);

  auto removed = rd_.Delete(group);
  ASSERT_TRUE(removed.ok());
  EXPECT_EQ(removed->code, Code::kDeleted) << Describe(removed);
  EXPECT_EQ(rd_.Lookup("/rd-lookup/gp"), "");
  EXPECT_EQ(Targets(EndpointLookup()).size(), 2U);  // members stay
  auto again = rd_.Delete(group);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->code, Code::kNotFound) << Describe(again);
}

// ---- Lifetime (RFC 9176 §5.3) ------------------------------------------------------------------

TEST_F(RdServiceTest, AnExpiredRegistrationLeavesLookupsAndIsAnnounced) {
  ASSERT_NO_FATAL_FAILURE(StartRdWithEvents());
  const auto registered_at = steady_clock::now();
  const std::string location = rd_.Register("ep=brief&lt=1", "</a>");
  ASSERT_FALSE(location.empty());
  const auto registered = ExpectEvent<events::DeviceRegistered>();
  EXPECT_EQ(registered.device.lifetime_s, 1U);
  // Gone within about a second after the lifetime (the RD sweeps every 200 ms).
  EXPECT_TRUE(
      coapgw::test::WaitUntil([&] { return EndpointLookup("ep=brief").empty(); }, seconds(3)));
  EXPECT_GE(steady_clock::now() - registered_at, milliseconds(900));
  const auto expired = ExpectEvent<events::DeviceExpired>();
  EXPECT_EQ(expired.device.endpoint, "brief");
  EXPECT_EQ(expired.device.device_id, registered.device.device_id);
  EXPECT_EQ(expired.device.location, location);
  // The row goes (in the background); the device's identity stays for a re-registration, which
  // gets the same location and device id.
  const std::string key = location.substr(4);
  EXPECT_TRUE(coapgw::test::WaitUntil(
      [&] {
        return rd_.database().Query("SELECT count(*) FROM rd_registrations WHERE key = " + key) ==
               "0";
      },
      kShort));
  EXPECT_EQ(rd_.database().Query("SELECT ep FROM rd_devices WHERE key = " + key), "brief");
  EXPECT_EQ(rd_.Register("ep=brief", "</a>"), location);
  EXPECT_EQ(ExpectEvent<events::DeviceRegistered>().device.device_id, registered.device.device_id);
}

// RFC 9176 §5.3.1: an update of a registration that expired is 4.04 (Not Found), and the endpoint
// registers again, getting its location back.
TEST_F(RdServiceTest, AnUpdateAfterExpiryIsNotFoundAndTheEndpointRegistersAgain) {
  ASSERT_NO_FATAL_FAILURE(StartRd());
  const std::string location = rd_.Register("ep=lapsed&lt=1", "</a>");
  ASSERT_FALSE(location.empty());
  ASSERT_TRUE(
      coapgw::test::WaitUntil([&] { return EndpointLookup("ep=lapsed").empty(); }, seconds(3)));
  auto update = rd_.Post(location + "?lt=60", "", std::nullopt);
  ASSERT_TRUE(update.ok());
  EXPECT_EQ(update->code, Code::kNotFound) << Describe(update);
  EXPECT_TRUE(EndpointLookup("ep=lapsed").empty()) << "a refused update brings nothing back";

  EXPECT_EQ(rd_.Register("ep=lapsed&lt=60", "</a>"), location);
  EXPECT_EQ(Targets(EndpointLookup("ep=lapsed")), std::vector<std::string>{location});
  auto refreshed = rd_.Post(location, "", std::nullopt);
  ASSERT_TRUE(refreshed.ok());
  EXPECT_EQ(refreshed->code, Code::kChanged) << Describe(refreshed);
}

TEST_F(RdServiceTest, AnUpdateBeforeExpiryExtendsTheLifetime) {
  ASSERT_NO_FATAL_FAILURE(StartRd());
  const std::string location = rd_.Register("ep=kept&lt=2", "</a>");
  ASSERT_FALSE(location.empty());
  const auto registered = steady_clock::now();  // the first lifetime ends by registered + 2 s
  std::this_thread::sleep_until(registered + milliseconds(1000));  // half the lifetime
  const auto refreshing = steady_clock::now();  // the second ends after refreshing + 3 s
  auto refreshed = rd_.Post(location + "?lt=3", "", std::nullopt);
  ASSERT_TRUE(refreshed.ok());
  EXPECT_EQ(refreshed->code, Code::kChanged) << Describe(refreshed);
  // Past the first lifetime (and a sweep), within the second.
  std::this_thread::sleep_until(registered + milliseconds(2600));
  if (steady_clock::now() < refreshing + milliseconds(2900)) {  // else too late to tell
    EXPECT_EQ(Targets(EndpointLookup("ep=kept")), std::vector<std::string>{location});
  }
  EXPECT_TRUE(
      coapgw::test::WaitUntil([&] { return EndpointLookup("ep=kept").empty(); }, seconds(5)));
  EXPECT_GE(steady_clock::now() - refreshing, milliseconds(2900));
}

TEST_F(RdServiceTest, ALifetimeThatEndsWhileTheRdIsDownExpiresAtStart) {
  ASSERT_NO_FATAL_FAILURE(StartRdWithEvents());
  const auto registered_at = steady_clock::now();
  const std::string location = rd_.Register("ep=sleeper&lt=3", "</a>");
  ASSERT_FALSE(location.empty());
  const auto registered = ExpectEvent<events::DeviceRegistered>();
  ASSERT_EQ(rd_.StopRd(), 0);
  std::this_thread::sleep_until(registered_at + milliseconds(3200));  // wait out the lifetime
  const std::string rows =
      "SELECT count(*) FROM rd_registrations WHERE key = " + location.substr(4);
  EXPECT_EQ(rd_.database().Query(rows), "1");
  ASSERT_NO_FATAL_FAILURE(StartRd());
  EXPECT_EQ(EndpointLookup("ep=sleeper"), "");
  const auto expired = ExpectEvent<events::DeviceExpired>();
  EXPECT_EQ(expired.device.device_id, registered.device.device_id);
  EXPECT_EQ(expired.device.location, location);
  EXPECT_TRUE(coapgw::test::WaitUntil([&] { return rd_.database().Query(rows) == "0"; }, kShort));
}

// ---- Restart -----------------------------------------------------------------------------------

// The /coapgw/devices snapshot as location -> device id.
std::map<std::string, std::string> DeviceIds(const std::string& json) {
  std::map<std::string, std::string> ids;
  rapidjson::Document document;
  document.Parse(json.c_str());
  EXPECT_FALSE(document.HasParseError()) << json;
  if (document.HasParseError() || !document.HasMember("devices")) {
    return ids;
  }
  for (const auto& device : document["devices"].GetArray()) {
    ids[device["location"].GetString()] = device["device_id"].GetString();
  }
  return ids;
}

TEST_F(RdServiceTest, RegistrationsSurviveARestartWithTheirLocationsAndDeviceIds) {
  ASSERT_NO_FATAL_FAILURE(StartRd());
  const std::string node1 = rd_.Register("ep=node1&d=a&et=t1&base=coap://[2001:db8::1]", "</x>");
  const std::string node2 = rd_.Register("ep=node2&room=5", "</y>;rt=light");
  auto group = rd_.Post("/rd-group?gp=g1", "<>;ep=\"node2\"");
  ASSERT_TRUE(group.ok());
  ASSERT_EQ(group->code, Code::kCreated);
  const auto before = DeviceIds(rd_.Lookup("/coapgw/devices"));
  ASSERT_EQ(before.size(), 2U);
  const std::string endpoints = EndpointLookup();
  const std::string resources = ResourceLookup();
  const std::string groups = rd_.Lookup("/rd-lookup/gp");

  ASSERT_EQ(rd_.StopRd(), 0);
  ASSERT_NO_FATAL_FAILURE(StartRd());
  EXPECT_EQ(DeviceIds(rd_.Lookup("/coapgw/devices")), before);
  EXPECT_EQ(EndpointLookup(), endpoints);
  EXPECT_EQ(ResourceLookup(), resources);
  EXPECT_EQ(rd_.Lookup("/rd-lookup/gp"), groups);
  // Re-registration after the restart keeps the location.
  EXPECT_EQ(rd_.Register("ep=node1&d=a", "</x>"), node1);
  // The single-device form of the snapshot.
  const auto one = DeviceIds(rd_.Lookup("/coapgw/devices?device_id=" + before.at(node2)));
  EXPECT_EQ(one, (std::map<std::string, std::string>{{node2, before.at(node2)}}));
}

// ---- Policy (RFC 9176 §7.5) --------------------------------------------------------------------

TEST_F(RdServiceTest, FirstComeFirstRememberedRefusesAnotherAddress) {
  ASSERT_NO_FATAL_FAILURE(StartRd());
  const std::string location = rd_.Register("ep=owned", "</mine>");
  ASSERT_FALSE(location.empty());

  RawPeer intruder("127.0.0.2");  // still loopback, another source address
  RawRequest take{Method::kPost, "/rd", {"ep=owned"}, kLinkFormat, "</theirs>"};
  auto taken = intruder.Exchange(rd_.coap_port(), take, kShort);
  ASSERT_TRUE(taken);
  EXPECT_EQ(taken->code, static_cast<int>(Code::kForbidden)) << taken->payload;
  RawRequest remove{Method::kDelete, location, {}, std::nullopt, ""};
  auto removed = intruder.Exchange(rd_.coap_port(), remove, kShort);
  ASSERT_TRUE(removed);
  EXPECT_EQ(removed->code, static_cast<int>(Code::kForbidden)) << removed->payload;
  RawRequest update{Method::kPost, location, {"lt=60"}, std::nullopt, ""};
  auto updated = intruder.Exchange(rd_.coap_port(), update, kShort);
  ASSERT_TRUE(updated);
  EXPECT_EQ(updated->code, static_cast<int>(Code::kForbidden)) << updated->payload;
  EXPECT_EQ(rd_.Lookup(location), "</mine>");

  // Groups belong to their first registrant too.
  auto group = rd_.Post("/rd-group?gp=mine", "<>;ep=\"owned\"");
  ASSERT_TRUE(group.ok());
  ASSERT_EQ(group->code, Code::kCreated) << Describe(group);
  RawRequest take_group{Method::kPost, "/rd-group", {"gp=mine"}, kLinkFormat, "<>;ep=\"owned\""};
  auto group_taken = intruder.Exchange(rd_.coap_port(), take_group, kShort);
  ASSERT_TRUE(group_taken);
  EXPECT_EQ(group_taken->code, static_cast<int>(Code::kForbidden)) << group_taken->payload;
  RawRequest remove_group{Method::kDelete, LocationOf(*group), {}, std::nullopt, ""};
  auto group_removed = intruder.Exchange(rd_.coap_port(), remove_group, kShort);
  ASSERT_TRUE(group_removed);
  EXPECT_EQ(group_removed->code, static_cast<int>(Code::kForbidden)) << group_removed->payload;
  EXPECT_EQ(Targets(rd_.Lookup("/rd-lookup/gp")), std::vector<std::string>{LocationOf(*group)});

  // The intruder may register a name of its own.
  RawRequest own{Method::kPost, "/rd", {"ep=theirs"}, kLinkFormat, "</t>"};
  auto created = intruder.Exchange(rd_.coap_port(), own, kShort);
  ASSERT_TRUE(created);
  EXPECT_EQ(created->code, static_cast<int>(Code::kCreated)) << created->payload;

  // The owner is known by its address, whatever its port (policy fcfr).
  RawPeer owner_again("127.0.0.1");
  auto refreshed = owner_again.Exchange(rd_.coap_port(), update, kShort);
  ASSERT_TRUE(refreshed);
  EXPECT_EQ(refreshed->code, static_cast<int>(Code::kChanged)) << refreshed->payload;
  auto deleted = rd_.Delete(location);
  ASSERT_TRUE(deleted.ok());
  EXPECT_EQ(deleted->code, Code::kDeleted) << Describe(deleted);
}

// ---- Bad input ---------------------------------------------------------------------------------

TEST_F(RdServiceTest, BadRequestsAreRefusedWithoutChangingAnything) {
  ASSERT_NO_FATAL_FAILURE(StartRdWithEvents({{"COAPGW_RD_MAX_PAYLOAD", "64"}}));
  const std::string location = rd_.Register("ep=node1", "</a>");
  ASSERT_FALSE(location.empty());
  ExpectEvent<events::DeviceRegistered>();
  const std::string endpoints = EndpointLookup();
  const std::string resources = ResourceLookup();

  struct Case {
    std::string target;
    std::string payload;
    std::optional<uint16_t> content_format;
    Code code;
    std::string diagnostic;
  };
  const Case cases[] = {
      {"/rd?ep=node1", "</a>;rt=\"open", kLinkFormat, Code::kBadRequest, "at byte 8"},
      {"/rd?ep=node1", "</b>,garbage", kLinkFormat, Code::kBadRequest, "at byte 5"},
      {"/rd?ep=node1", "</a>", coap::content_format::kTextPlain, Code::kUnsupportedContentFormat,
       "link-format"},
      {"/rd?ep=node1", "</" + std::string(70, 'x') + ">", kLinkFormat, Code::kRequestEntityTooLarge,
       "64 bytes"},
      {"/rd?d=x", "</a>", kLinkFormat, Code::kBadRequest, "ep"},
      {"/rd?ep=node1&lt=0", "</a>", kLinkFormat, Code::kBadRequest, "lt"},
      {"/rd?ep=node1&base=not%20a%20uri", "</a>", kLinkFormat, Code::kBadRequest, "base"},
      {"/rd/999999", "", std::nullopt, Code::kNotFound, "/rd/999999"},
      {location + "?lt=abc", "", std::nullopt, Code::kBadRequest, "lt"},
      {location + "?ep=renamed", "", std::nullopt, Code::kBadRequest, "ep"},
  };
  for (const Case& bad : cases) {
    auto response = rd_.Post(bad.target, bad.payload, bad.content_format);
    ASSERT_TRUE(response.ok()) << bad.target;
    EXPECT_EQ(response->code, bad.code)
        << bad.target << " " << bad.payload << ": " << Describe(response);
    EXPECT_THAT(response->payload, HasSubstr(bad.diagnostic)) << bad.target << " " << bad.payload;
  }
  auto unknown_delete = rd_.Delete("/rd/999999");
  ASSERT_TRUE(unknown_delete.ok());
  EXPECT_EQ(unknown_delete->code, Code::kNotFound);

  EXPECT_EQ(EndpointLookup(), endpoints);
  EXPECT_EQ(ResourceLookup(), resources);
  // No event came of any of it: the next one is the next real change.
  ASSERT_NE(rd_.Register("ep=node2", "</b>"), "");
  EXPECT_EQ(ExpectEvent<events::DeviceRegistered>().device.endpoint, "node2");
}

// ---- Events ------------------------------------------------------------------------------------

TEST_F(RdServiceTest, EveryChangeIsPublishedInOrderWithIncreasingSequenceNumbers) {
  ASSERT_NO_FATAL_FAILURE(StartRdWithEvents());
  const std::string location =
      rd_.Register("ep=node1&d=a&et=lamp&lt=300", "</light>;rt=light;if=core.a");
  ASSERT_FALSE(location.empty());
  const auto registered = ExpectEvent<events::DeviceRegistered>();
  EXPECT_EQ(registered.device.endpoint, "node1");
  EXPECT_EQ(registered.device.sector, "a");
  EXPECT_EQ(registered.device.endpoint_type, "lamp");
  EXPECT_EQ(registered.device.location, location);
  EXPECT_EQ(registered.device.lifetime_s, 300U);
  ASSERT_EQ(registered.device.links.size(), 1U);
  EXPECT_EQ(registered.device.links[0].href, "/light");
  EXPECT_EQ(registered.device.links[0].resource_types, std::vector<std::string>{"light"});
  EXPECT_FALSE(registered.device.device_id.empty());

  auto updated_response = rd_.Post(location + "?et=lamp2", "", std::nullopt);
  ASSERT_TRUE(updated_response.ok());
  const auto updated = ExpectEvent<events::DeviceUpdated>();
  EXPECT_EQ(updated.device.endpoint_type, "lamp2");
  EXPECT_TRUE(updated.Changed(events::DeviceChange::kEndpointType));
  EXPECT_EQ(updated.device.device_id, registered.device.device_id);
  ASSERT_TRUE(rd_.Post(location, "", std::nullopt).ok());
  EXPECT_TRUE(ExpectEvent<events::DeviceUpdated>().changes.empty());  // a plain refresh

  // Status: the pinger's verdict arrives on the bus (retried until the RD's subscription is up).
  events::DeviceLiveness liveness;
  liveness.device_id = registered.device.device_id;
  liveness.reachable = false;
  liveness.consecutive_misses = 2;
  liveness.checked_at = std::chrono::system_clock::now();
  std::optional<bus::Message> status;
  const auto deadline = steady_clock::now() + seconds(10);
  while (!status && steady_clock::now() < deadline) {
    ASSERT_TRUE(rd_.PublishOnBus(events::DeviceLiveness::kTopic, events::Encode(liveness)));
    status = rd_.NextEvent(milliseconds(100));
  }
  ASSERT_TRUE(status) << rd_.RdLog();
  EXPECT_EQ(status->topic, events::DeviceStatusChanged::kTopic);
  auto disconnected = events::DecodeDeviceStatusChanged(status->data());
  ASSERT_TRUE(disconnected.ok());
  EXPECT_EQ(disconnected->device.status, events::DeviceStatus::kDisconnected);
  seqs_.emplace_back(status->topic, status->seq);
  EXPECT_EQ(
      rd_.database().Query("SELECT status FROM rd_registrations WHERE key = " + location.substr(4)),
      "0");
  liveness.reachable = true;
  liveness.consecutive_misses = 0;
  ASSERT_TRUE(rd_.PublishOnBus(events::DeviceLiveness::kTopic, events::Encode(liveness)));
  EXPECT_EQ(ExpectEvent<events::DeviceStatusChanged>().device.status,
            events::DeviceStatus::kConnected);

  ASSERT_TRUE(rd_.Delete(location).ok());
  EXPECT_EQ(ExpectEvent<events::DeviceRemoved>().device.device_id, registered.device.device_id);

  ASSERT_NE(rd_.Register("ep=short&lt=1", "</s>"), "");
  ExpectEvent<events::DeviceRegistered>();
  EXPECT_EQ(ExpectEvent<events::DeviceExpired>(seconds(4)).device.endpoint, "short");

  // Per topic the sequence numbers increase by one (the probe's events took the first ones).
  std::map<std::string, uint64_t> previous;
  for (const auto& [topic, seq] : seqs_) {
    if (previous.count(topic) != 0) {
      EXPECT_EQ(seq, previous[topic] + 1) << topic;
    }
    previous[topic] = seq;
  }
  EXPECT_EQ(previous.size(), 5U);
}

// ---- The database going away -------------------------------------------------------------------

TEST_F(RdServiceTest, WithoutItsDatabaseTheRdRefusesChangesAndStillAnswersLookups) {
  ASSERT_NO_FATAL_FAILURE(StartRd());
  const std::string location = rd_.Register("ep=node1", "</a>");
  ASSERT_FALSE(location.empty());
  const auto metric = [&] {
    return Metric(coapgw::test::HttpGet(rd_.http_port(), "/metrics"), "coapgw_rd_database_up");
  };
  EXPECT_TRUE(coapgw::test::WaitUntil([&] { return metric() == 1; }, kShort));

  const auto& db = rd_.database();
  db.Admin("ALTER DATABASE " + db.name() + " ALLOW_CONNECTIONS false");
  db.Admin("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '" + db.name() +
           "'");
  auto refused = rd_.Post("/rd?ep=node2", "</b>");
  ASSERT_TRUE(refused.ok());
  EXPECT_EQ(refused->code, Code::kServiceUnavailable) << Describe(refused);
  EXPECT_EQ(refused->max_age, 5U);  // DirectoryOptions::unavailable_max_age_s
  for (const auto& [name, outcome] : std::map<std::string, coap::Outcome<coap::ClientResponse>>{
           {"update", rd_.Post(location, "", std::nullopt)}, {"removal", rd_.Delete(location)}}) {
    ASSERT_TRUE(outcome.ok()) << name;
    EXPECT_EQ(outcome->code, Code::kServiceUnavailable) << name << ": " << Describe(outcome);
    EXPECT_TRUE(outcome->max_age.has_value()) << name;
  }
  // Lookups answer from memory, unchanged.
  EXPECT_EQ(Targets(EndpointLookup()), std::vector<std::string>{location});
  EXPECT_TRUE(coapgw::test::WaitUntil([&] { return metric() == 0; }, kShort));

  db.Admin("ALTER DATABASE " + db.name() + " ALLOW_CONNECTIONS true");
  coap::Outcome<coap::ClientResponse> accepted{coap::Failure::kTimeout, "not tried"};
  EXPECT_TRUE(coapgw::test::WaitUntil(
      [&] {
        accepted = rd_.Post("/rd?ep=node2", "</b>");
        return accepted.ok() && accepted->code == Code::kCreated;
      },
      seconds(15)))
      << Describe(accepted) << "\n"
      << rd_.RdLog();
  EXPECT_TRUE(coapgw::test::WaitUntil([&] { return metric() == 1; }, kShort));
  EXPECT_EQ(Targets(EndpointLookup()).size(), 2U);
  EXPECT_EQ(db.Query("SELECT count(*) FROM rd_registrations"), "2");
}

// ---- Conformance with libcoap's own client -----------------------------------------------------

// libcoap's coap-client-notls (Debian libcoap3-bin): an implementation the RD did not choose.
class CoapClientConformanceTest : public RdServiceTest {
 protected:
  // Runs coap-client-notls with `arguments` (-v 6 prints each PDU it sends and receives).
  static CommandOutput Run(const std::string& arguments) {
    return RunCommand("coap-client-notls -B 5 -v 6 " + arguments);
  }

  // The code of the last received PDU as coap-client prints it ("c:2.01").
  static std::string ReceivedCode(const std::string& text) {
    const size_t line = text.rfind("v:1 t:");
    if (line == std::string::npos) {
      return "";
    }
    const size_t code = text.find(" c:", line);
    return code == std::string::npos ? "" : text.substr(code + 3, 4);
  }
};

TEST_F(CoapClientConformanceTest, RegistersUpdatesLooksUpAndDeletes) {
  ASSERT_NO_FATAL_FAILURE(StartRd());
  const std::string rd = "'coap://127.0.0.1:" + Port();
  const CommandOutput registered =
      Run("-m post -t 40 -e '</sensors/temp>;rt=temperature' " + rd + "/rd?ep=cc1&lt=600'");
  ASSERT_EQ(registered.exit_code, 0) << registered.text;
  EXPECT_EQ(ReceivedCode(registered.text), "2.01") << registered.text;
  const size_t at = registered.text.find("Location-Path:rd, Location-Path:");
  ASSERT_NE(at, std::string::npos) << registered.text;
  const std::string key =
      registered.text.substr(at + 32, registered.text.find_first_of(" ]", at + 32) - at - 32);
  const std::string location = "/rd/" + key;
  EXPECT_EQ(Targets(EndpointLookup("ep=cc1")), std::vector<std::string>{location});

  const CommandOutput updated = Run("-m post " + rd + location + "?lt=900&site=lab'");
  EXPECT_EQ(updated.exit_code, 0) << updated.text;
  EXPECT_EQ(ReceivedCode(updated.text), "2.04") << updated.text;

  const CommandOutput looked_up = Run("-m get " + rd + "/rd-lookup/res?rt=temperature'");
  EXPECT_EQ(looked_up.exit_code, 0) << looked_up.text;
  EXPECT_EQ(ReceivedCode(looked_up.text), "2.05") << looked_up.text;
  EXPECT_THAT(looked_up.text, HasSubstr("/sensors/temp>;rt=temperature"));
  const CommandOutput endpoint = Run("-m get " + rd + "/rd-lookup/ep?site=lab'");
  EXPECT_THAT(endpoint.text, HasSubstr("<" + location + ">;base="));
  EXPECT_THAT(endpoint.text, HasSubstr("ep=cc1;site=lab"));

  const CommandOutput discovered = Run("-m get " + rd + "/.well-known/core?rt=core.rd'");
  EXPECT_THAT(discovered.text, HasSubstr("</rd>;"));

  const CommandOutput deleted = Run("-m delete " + rd + location + "'");
  EXPECT_EQ(deleted.exit_code, 0) << deleted.text;
  EXPECT_EQ(ReceivedCode(deleted.text), "2.02") << deleted.text;
  EXPECT_EQ(EndpointLookup("ep=cc1"), "");
  const CommandOutput gone = Run("-m delete " + rd + location + "'");
  EXPECT_EQ(ReceivedCode(gone.text), "4.04") << gone.text;
}

}  // namespace
}  // namespace coapgw::rd::test
