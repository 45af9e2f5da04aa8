#include "rd/lookup.hpp"

#include <algorithm>
#include <ostream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "coapgw/linkformat/link_format.hpp"
#include "rd/index.hpp"
#include "rd/link_writer.hpp"
#include "rd_lookup_testing.hpp"

namespace coapgw::rd {
namespace {

using test::Links;
using test::MakeGroup;
using test::MakeRegistration;
using test::Query;
using test::Unfold;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

// RFC 6690 §5, the sixth response (registered by sensor1 and sensor2 in RFC 9176 §6.3).
constexpr char kRfc6690Payload[] =
    "</sensors>;ct=40;title=\"Sensor Index\",\n"
    "</sensors/temp>;rt=\"temperature-c\";if=\"sensor\",\n"
    "</sensors/light>;rt=\"light-lux\";if=\"sensor\",\n"
    "<http://www.example.com/sensors/t123>;anchor=\"/sensors/temp\"\n"
    ";rel=\"describedby\",\n"
    "</t>;anchor=\"/sensors/temp\";rel=\"alternate\"";

// RFC 9176 §5, the registration example payload.
constexpr char kRfc9176Payload[] =
    "</sensors/temp>;rt=temperature-c;if=sensor,\n"
    "<http://www.example.com/sensors/temp>;\n"
    "  anchor=\"/sensors/temp\";rel=describedby";

// RFC 9176 Appendix A.2.2.
constexpr char kSimpleHostPayload[] =
    "</sensors/temp>;rt=temperature;ct=0,\n"
    "</sensors/light>;rt=light-lux;ct=0,\n"
    "</t>;anchor=\"/sensors/temp\";rel=alternate,\n"
    "<http://www.example.com/sensors/t123>;anchor=\"/sensors/temp\";\n"
    "    rel=describedby";

// The links of a payload with each link's attributes sorted by name, for the one RFC example
// whose output orders attributes differently from its input (see ResourceLookupByEndpointType).
std::vector<linkformat::Link> WithSortedAttributes(const std::string& payload) {
  std::vector<linkformat::Link> links = Links(payload);
  for (auto& link : links) {
    std::stable_sort(link.attributes.begin(), link.attributes.end(),
                     [](const auto& a, const auto& b) { return a.name < b.name; });
  }
  return links;
}

// ---- RFC 9176 §6.3: resource lookup examples ----------------------------------------------------

TEST(Rfc9176ExamplesTest, ResourceLookupByResourceType) {
  Index index;
  index.Put(MakeRegistration(1, "node1", "coap://[2001:db8:3::123]:61616",
                             "</temp>;rt=\"tag:example.org,2020:temperature\","
                             "</hum>;rt=\"tag:example.org,2020:humidity\""));
  index.Put(MakeRegistration(2, "node2", "coap://[2001:db8:3::124]",
                             "</light>;rt=\"tag:example.org,2020:light\""));
  const LookupResult result =
      LookupResources(index, Query({"rt=tag:example.org,2020:temperature"}));
  EXPECT_EQ(result.payload, Unfold(R"(<coap://[2001:db8:3::123]:61616/temp>;
    rt="tag:example.org,2020:temperature")"));
  EXPECT_EQ(result.returned, 1U);
  EXPECT_EQ(result.matched, 1U);
  EXPECT_FALSE(result.more);
}

TEST(Rfc9176ExamplesTest, ObservedResourceLookupStartsEmpty) {
  Index index;
  const LookupQuery query = Query({"rt=tag:example.org,2020:light"});
  const LookupResult before = LookupResources(index, query);
  EXPECT_EQ(before.payload, "");  // "Payload: empty"
  EXPECT_EQ(before.matched, 0U);

  index.Put(MakeRegistration(1, "lamp", "coap://[2001:db8:3::124]",
                             "</west>;rt=\"tag:example.org,2020:light\","
                             "</south>;rt=\"tag:example.org,2020:light\","
                             "</east>;rt=\"tag:example.org,2020:light\""));
  EXPECT_EQ(LookupResources(index, query).payload,
            Unfold(R"(<coap://[2001:db8:3::124]/west>;rt="tag:example.org,2020:light",
<coap://[2001:db8:3::124]/south>;rt="tag:example.org,2020:light",
<coap://[2001:db8:3::124]/east>;rt="tag:example.org,2020:light")"));
}

TEST(Rfc9176ExamplesTest, PaginatedResourceLookup) {
  Index index;
  std::string payload;
  for (int i = 0; i < 12; ++i) {
    payload += (i == 0 ? "" : ",") + std::string("</res/") + std::to_string(i) + ">;ct=60";
  }
  index.Put(MakeRegistration(1, "node1", "coap://[2001:db8:3::123]:61616", payload));

  const LookupResult first = LookupResources(index, Query({"page=0", "count=5"}));
  EXPECT_EQ(first.payload, Unfold(R"(<coap://[2001:db8:3::123]:61616/res/0>;ct=60,
<coap://[2001:db8:3::123]:61616/res/1>;ct=60,
<coap://[2001:db8:3::123]:61616/res/2>;ct=60,
<coap://[2001:db8:3::123]:61616/res/3>;ct=60,
<coap://[2001:db8:3::123]:61616/res/4>;ct=60)"));
  EXPECT_EQ(first.returned, 5U);
  EXPECT_TRUE(first.more);

  const LookupResult second = LookupResources(index, Query({"page=1", "count=5"}));
  EXPECT_EQ(second.payload, Unfold(R"(<coap://[2001:db8:3::123]:61616/res/5>;ct=60,
<coap://[2001:db8:3::123]:61616/res/6>;ct=60,
<coap://[2001:db8:3::123]:61616/res/7>;ct=60,
<coap://[2001:db8:3::123]:61616/res/8>;ct=60,
<coap://[2001:db8:3::123]:61616/res/9>;ct=60)"));

  const LookupResult last = LookupResources(index, Query({"page=2", "count=5"}));
  EXPECT_EQ(last.returned, 2U);
  EXPECT_EQ(last.matched, 12U);
  EXPECT_FALSE(last.more);
}

// RFC 9176 prints rel before anchor, although RFC 6690's payload has anchor first and §6.1 says
// attributes come back as submitted; we keep the submitted order, so this one example is compared
// with each link's attributes sorted. Everything else (targets, anchors, values, link order) is
// literal.
TEST(Rfc9176ExamplesTest, ResourceLookupByEndpointType) {
  Index index;
  const std::string et = "tag:example.com,2020:platform";
  index.Put(MakeRegistration(1, "sensor1", "coap://sensor1.example.com", kRfc6690Payload, "", et));
  index.Put(MakeRegistration(2, "sensor2", "coap://sensor2.example.com", kRfc6690Payload, "", et));
  index.Put(MakeRegistration(3, "other", "coap://other.example.com", kRfc6690Payload));
  const std::string expected =
      Unfold(R"(<coap://sensor1.example.com/sensors>;ct=40;title="Sensor Index",
<coap://sensor1.example.com/sensors/temp>;rt=temperature-c;if=sensor,
<coap://sensor1.example.com/sensors/light>;rt=light-lux;if=sensor,
<http://www.example.com/sensors/t123>;rel=describedby;
    anchor="coap://sensor1.example.com/sensors/temp",
<coap://sensor1.example.com/t>;rel=alternate;
    anchor="coap://sensor1.example.com/sensors/temp",
<coap://sensor2.example.com/sensors>;ct=40;title="Sensor Index",
<coap://sensor2.example.com/sensors/temp>;rt=temperature-c;if=sensor,
<coap://sensor2.example.com/sensors/light>;rt=light-lux;if=sensor,
<http://www.example.com/sensors/t123>;rel=describedby;
    anchor="coap://sensor2.example.com/sensors/temp",
<coap://sensor2.example.com/t>;rel=alternate;
    anchor="coap://sensor2.example.com/sensors/temp")");
  const LookupResult result = LookupResources(index, Query({"et=" + et}));
  EXPECT_EQ(WithSortedAttributes(result.payload), WithSortedAttributes(expected));
  EXPECT_EQ(result.returned, 10U);
}

// ---- RFC 9176 §6.4: endpoint lookup ------------------------------------------------------------

TEST(Rfc9176ExamplesTest, EndpointLookupByEndpointType) {
  Index index;
  const std::string et = "tag:example.com,2020:platform";
  Registration node5 = MakeRegistration(1234, "node5", "coap://[2001:db8:3::127]:61616",
                                        "</temp>;rt=temperature", "", et);
  node5.extra.push_back({"ct", std::string("40")});
  Registration node7 = MakeRegistration(4521, "node7", "coap://[2001:db8:3::129]:61616",
                                        "</temp>;rt=temperature", "floor-3", et);
  node7.extra.push_back({"ct", std::string("40")});
  node7.lt_s = 500;  // not reported
  index.Put(node7);
  index.Put(node5);
  index.Put(MakeRegistration(1, "node1", "coap://[2001:db8:3::1]", "</temp>;rt=temperature"));

  EXPECT_EQ(LookupEndpoints(index, Query({"et=" + et})).payload,
            Unfold(R"(</rd/1234>;base="coap://[2001:db8:3::127]:61616";ep=node5;
    et="tag:example.com,2020:platform";ct=40;rt=core.rd-ep,
</rd/4521>;base="coap://[2001:db8:3::129]:61616";ep=node7;
    et="tag:example.com,2020:platform";ct=40;d=floor-3;
    rt=core.rd-ep)"));
}

// ---- RFC 9176 §5.3.1: a base change resolves the links anew ------------------------------------

TEST(Rfc9176ExamplesTest, RegistrationUpdateChangesTheBase) {
  Index index;
  Registration registration =
      MakeRegistration(4521, "endpoint1", "coap://local-proxy-old.example.com", kRfc9176Payload);
  registration.lt_s = 500;
  index.Put(registration);
  EXPECT_EQ(LookupResources(index, Query({"ep=endpoint1"})).payload,
            Unfold(R"(<coap://local-proxy-old.example.com/sensors/temp>;
    rt=temperature-c;if=sensor,
<http://www.example.com/sensors/temp>;
    anchor="coap://local-proxy-old.example.com/sensors/temp";
    rel=describedby)"));

  registration.base = "coaps://new.example.com";  // POST /rd/4521?base=coaps://new.example.com
  index.Put(registration);
  EXPECT_EQ(LookupResources(index, Query({"ep=endpoint1"})).payload,
            Unfold(R"(<coaps://new.example.com/sensors/temp>;
    rt=temperature-c;if=sensor,
<http://www.example.com/sensors/temp>;
    anchor="coaps://new.example.com/sensors/temp";
    rel=describedby)"));
}

// ---- RFC 9176 Appendix A.1: groups as registrations ---------------------------------------------

class Rfc9176GroupsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    index_.Put(MakeRegistration(12, "lights", "coap://[ff35:30:2001:db8:f1::8000:1]",
                                "</light>;rt=\"tag:example.com,2020:light\";\n"
                                "     if=\"tag:example.net,2020:actuator\",\n"
                                "</color-temperature>;if=\"tag:example.net,2020:parameter\";u=K",
                                "", "core.rd-group"));
    index_.Put(MakeRegistration(13, "lamp1", "coap://[2001:db8:f1::1]",
                                "</light>;rt=\"tag:example.com,2020:light\""));
  }
  Index index_;
};

// The RFC's output has two errata: "ep=lights&et=core.rd-group" (an '&' for ';') and a base with
// its address groups swapped (ff35:30:2001:f1:db8:: instead of the registered
// ff35:30:2001:db8:f1::). The expectation below is the corrected text, in our attribute order (base
// first, as in §6.4).
TEST_F(Rfc9176GroupsTest, EndpointLookupForAllGroups) {
  EXPECT_EQ(LookupEndpoints(index_, Query({"et=core.rd-group"})).payload,
            Unfold(R"(</rd/12>;base="coap://[ff35:30:2001:db8:f1::8000:1]";ep=lights;
         et=core.rd-group;rt=core.rd-ep)"));
}

// Literal but for the RFC's trailing comma.
TEST_F(Rfc9176GroupsTest, ResourceLookupOfGroups) {
  EXPECT_EQ(LookupResources(index_, Query({"et=core.rd-group"})).payload,
            Unfold(R"(<coap://[ff35:30:2001:db8:f1::8000:1]/light>;
     rt="tag:example.com,2020:light";
     if="tag:example.net,2020:actuator",
<coap://[ff35:30:2001:db8:f1::8000:1]/color-temperature>;
     if="tag:example.net,2020:parameter";u=K)"));
}

// ---- RFC 9176 Appendix A.2.3: the simple host --------------------------------------------------

TEST(Rfc9176ExamplesTest, SimpleHostLookups) {
  Index index;
  index.Put(MakeRegistration(1, "simple-host1", "coap://[2001:db8:f0::1]", kSimpleHostPayload));
  EXPECT_EQ(LookupResources(index, Query({"rt=temperature"})).payload,
            "<coap://[2001:db8:f0::1]/sensors/temp>;rt=temperature;ct=0");
  EXPECT_EQ(LookupResources(index, Query({"ep=simple-host1"})).payload,
            Unfold(R"(<coap://[2001:db8:f0::1]/sensors/temp>;rt=temperature;ct=0,
<coap://[2001:db8:f0::1]/sensors/light>;rt=light-lux;ct=0,
<coap://[2001:db8:f0::1]/t>;
    anchor="coap://[2001:db8:f0::1]/sensors/temp";rel=alternate,
<http://www.example.com/sensors/t123>;
    anchor="coap://[2001:db8:f0::1]/sensors/temp";rel=describedby)"));

  // "Had the simple host done an equivalent full registration with a base= parameter ..."
  index.Put(MakeRegistration(1, "simple-host1", "coap+tcp://sh1.example.com", kSimpleHostPayload));
  EXPECT_EQ(LookupResources(index, Query({"rt=temperature"})).payload,
            "<coap+tcp://sh1.example.com/sensors/temp>;rt=temperature;ct=0");
}

// ---- draft-ietf-core-resource-directory-11: RD groups and group lookup
// --------------------------- The draft's own output predates RFC 9176 (endpoint links as
// <base>;ep="..."), so its examples are checked for what they select; the format is RFC 9176's for
// endpoints and
// </rd-group/<key>>;gp=..;d=..;base=.. for groups.

class Draft11GroupsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    index_.Put(MakeRegistration(1, "node1", "coap://[fdfd::123]:61616", "</light>;rt=light"));
    index_.Put(MakeRegistration(2, "node2", "coap://[fdfd::124]:61616", "</light>;rt=light"));
    index_.Put(MakeRegistration(3, "node3", "coap://[fdfd::125]:61616", "</heat>;rt=heater"));
    index_.PutGroup(MakeGroup(7, "lights1", {1, 2}, "example.com"));
    index_.PutGroup(MakeGroup(8, "lights2", {2}, "example.com", "coap://[ff35:30:2001:db8::1]"));
  }
  Index index_;
};

TEST_F(Draft11GroupsTest, LookupOfAllGroups) {
  EXPECT_EQ(LookupGroups(index_, Query({})).payload,
            "</rd-group/7>;gp=lights1;d=example.com,"
            "</rd-group/8>;gp=lights2;d=example.com;base=\"coap://[ff35:30:2001:db8::1]\"");
}

TEST_F(Draft11GroupsTest, EndpointsOfAGroup) {
  EXPECT_EQ(LookupEndpoints(index_, Query({"gp=lights1"})).payload,
            "</rd/1>;base=\"coap://[fdfd::123]:61616\";ep=node1;rt=core.rd-ep,"
            "</rd/2>;base=\"coap://[fdfd::124]:61616\";ep=node2;rt=core.rd-ep");
}

TEST_F(Draft11GroupsTest, GroupsOfAnEndpoint) {
  EXPECT_EQ(LookupGroups(index_, Query({"ep=node1"})).payload,
            "</rd-group/7>;gp=lights1;d=example.com");
  EXPECT_EQ(LookupGroups(index_, Query({"ep=node3"})).payload, "");
}

TEST_F(Draft11GroupsTest, RegisteredGroupIsFoundByName) {
  // POST /rd-group?gp=lights with <>;ep="node1",<>;ep="node2" (the directory resolves the names).
  index_.PutGroup(MakeGroup(12, "lights", {1, 2}));
  EXPECT_EQ(LookupGroups(index_, Query({"gp=lights"})).payload, "</rd-group/12>;gp=lights");
  EXPECT_EQ(LookupGroups(index_, Query({"gp=lights*"})).returned, 3U);
  EXPECT_EQ(LookupGroups(index_, Query({"href=/rd-group/12"})).returned, 1U);
}

TEST_F(Draft11GroupsTest, GroupFiltersCombineWithMemberAttributes) {
  EXPECT_EQ(LookupResources(index_, Query({"gp=lights2"})).payload,
            "<coap://[fdfd::124]:61616/light>;rt=light");
  EXPECT_EQ(LookupGroups(index_, Query({"rt=heater"})).payload, "");
  EXPECT_EQ(LookupGroups(index_, Query({"rt=light", "base=*"})).payload,
            "</rd-group/8>;gp=lights2;d=example.com;base=\"coap://[ff35:30:2001:db8::1]\"");
  // A member that expired no longer makes its groups match.
  ASSERT_TRUE(index_.Remove(1));
  EXPECT_EQ(LookupGroups(index_, Query({"ep=node1"})).payload, "");
  EXPECT_EQ(LookupEndpoints(index_, Query({"gp=lights1"})).returned, 1U);
}

// ---- Filter semantics ---------------------------------------------------------------------------

// The fixture RD of the semantics table:
//   /rd/1 ep=alpha d=d1 et=tag:x,2020:p extra: ct=40, obs  base coap://[2001:db8::1]
//     </s/temp>;rt="temp oic.r.t";if=sensor;ct=0
//     </s/light>;rt=light;if=actuator;obs
//     <http://other.example/doc>;anchor="/s/temp";rel=describedby
//   /rd/2 ep=beta base coap://[2001:db8::2]:61616
//     </s/temp>;rt=temp;if=actuator;title="Big Room"
//     <coap://[2001:db8::1]/s/light>;rt=light
//   /rd/3 ep=alphabet d=d2 base coap://[fe80::3] (link-local)
//     </s/temp>;rt=temp
Index SemanticsIndex() {
  Index index;
  Registration alpha = MakeRegistration(1, "alpha", "coap://[2001:db8::1]",
                                        "</s/temp>;rt=\"temp oic.r.t\";if=sensor;ct=0,"
                                        "</s/light>;rt=light;if=actuator;obs,"
                                        "<http://other.example/doc>;anchor=\"/s/temp\";"
                                        "rel=describedby",
                                        "d1", "tag:x,2020:p");
  alpha.extra = {{"ct", std::string("40")}, {"obs", std::nullopt}};
  index.Put(alpha);
  index.Put(MakeRegistration(2, "beta", "coap://[2001:db8::2]:61616",
                             "</s/temp>;rt=temp;if=actuator;title=\"Big Room\","
                             "<coap://[2001:db8::1]/s/light>;rt=light"));
  index.Put(MakeRegistration(3, "alphabet", "coap://[fe80::3]", "</s/temp>;rt=temp", "d2"));
  index.PutGroup(MakeGroup(1, "g", {2, 3}));
  return index;
}

enum class Lookup { kResources, kEndpoints };

struct SemanticsCase {
  std::string name;
  Lookup lookup;
  std::vector<std::string> query;
  // Resource lookups: "<key>:<link index>" per result; endpoint lookups: "<key>".
  std::vector<std::string> expected;
  bool on_link = false;
};

void PrintTo(const SemanticsCase& c, std::ostream* os) {
  *os << c.name;
}

std::string CaseName(const ::testing::TestParamInfo<SemanticsCase>& info) {
  return info.param.name;
}

// Identifies each result of a payload as the fixture names it: "<key>:<link index>" for resource
// links (found by their exact text), "<key>" for endpoint links.
std::vector<std::string> Identify(const Index& index, const std::string& payload, Lookup lookup) {
  std::vector<std::string> ids;
  if (lookup == Lookup::kEndpoints) {
    for (const linkformat::Link& link : Links(payload)) {
      ids.push_back(link.target.substr(std::string("/rd/").size()));
    }
    return ids;
  }
  for (size_t at = 0; at < payload.size();) {
    std::string id;
    size_t length = 0;
    for (const IndexedRegistration& entry : index.AllIndexed()) {
      for (size_t i = 0; i < entry.link_count(); ++i) {
        std::string text;
        entry.AppendLinkText(i, &text);
        const size_t end = at + text.size();
        if (payload.compare(at, text.size(), text) == 0 &&
            (end == payload.size() || payload[end] == ',')) {
          id = std::to_string(entry.key()) + ":" + std::to_string(i);
          length = text.size();
        }
      }
    }
    if (id.empty()) {
      ids.push_back("unknown link at byte " + std::to_string(at));
      break;
    }
    ids.push_back(id);
    at += length + 1;
  }
  return ids;
}

class LookupSemanticsTest : public ::testing::TestWithParam<SemanticsCase> {};

TEST_P(LookupSemanticsTest, SelectsExactlyTheExpectedResults) {
  const SemanticsCase& c = GetParam();
  const Index index = SemanticsIndex();
  LookupQuery query = Query(c.query);
  query.requester_on_link = c.on_link;
  query.rd_base = "coap://rd.example.com";
  const LookupResult result = c.lookup == Lookup::kResources ? LookupResources(index, query)
                                                             : LookupEndpoints(index, query);
  EXPECT_EQ(Identify(index, result.payload, c.lookup), c.expected) << result.payload;
  EXPECT_EQ(result.returned, c.expected.size());
}

constexpr Lookup kRes = Lookup::kResources;
constexpr Lookup kEp = Lookup::kEndpoints;

INSTANTIATE_TEST_SUITE_P(
    Table, LookupSemanticsTest,
    ::testing::Values(
        // Values: exact, trailing-* prefix, lone *, presence, case of names.
        SemanticsCase{"ExactValue", kRes, {"rt=light"}, {"1:1", "2:1"}},
        SemanticsCase{"PrefixWildcard", kRes, {"rt=oic.*"}, {"1:0"}},
        SemanticsCase{"PrefixWildcardOnAnyWord", kRes, {"rt=te*"}, {"1:0", "2:0"}},
        SemanticsCase{"LoneStarMatchesAnyValue", kRes, {"title=*"}, {"2:0"}},
        SemanticsCase{"LoneStarMatchesValuelessAttribute",
                      kRes,
                      {"obs=*"},
                      {"1:0", "1:1", "1:2"}},  // alpha's endpoint has obs
        SemanticsCase{"BareNameMeansPresence", kEp, {"obs"}, {"1"}},
        SemanticsCase{"ValuelessNeverMatchesAValue", kEp, {"obs=1"}, {}},
        SemanticsCase{"ValueIsCaseSensitive", kRes, {"rt=LIGHT"}, {}},
        SemanticsCase{"NameIsCaseInsensitive", kRes, {"RT=light"}, {"1:1", "2:1"}},
        SemanticsCase{"QuotedValueWithSpace", kRes, {"title=Big Room"}, {"2:0"}},
        SemanticsCase{"EmptyValueMatchesOnlyEmpty", kRes, {"title="}, {}},
        // Relation types: any one of the space-separated values.
        SemanticsCase{"RelationTypeMatchesOneWord", kRes, {"rt=oic.r.t"}, {"1:0"}},
        SemanticsCase{"RelationTypeNeverMatchesTwoWords", kRes, {"rt=temp oic.r.t"}, {}},
        SemanticsCase{"RelOnAnchoredLink", kRes, {"rel=describedby"}, {"1:2"}},
        // A resource inherits its endpoint's attributes.
        SemanticsCase{"ResourcesByEndpointName", kRes, {"ep=beta"}, {"2:0", "2:1"}},
        SemanticsCase{"ResourcesByEndpointNamePrefix",
                      kRes,
                      {"ep=alpha*"},
                      {"1:0", "1:1", "1:2"}},  // alphabet is link-local
        SemanticsCase{"ResourcesBySector", kRes, {"d=d1"}, {"1:0", "1:1", "1:2"}},
        SemanticsCase{"ResourcesByEndpointType", kRes, {"et=tag:x,2020:p"}, {"1:0", "1:1", "1:2"}},
        SemanticsCase{"ResourcesByBase", kRes, {"base=coap://[2001:db8::2]:61616"}, {"2:0", "2:1"}},
        SemanticsCase{"ResourcesByExtraEndpointAttribute", kRes, {"ct=40"}, {"1:0", "1:1", "1:2"}},
        SemanticsCase{"ResourceOwnOrEndpointValue", kRes, {"ct=0"}, {"1:0"}},
        SemanticsCase{"ResourcesByGroup", kRes, {"gp=g"}, {"2:0", "2:1"}},
        SemanticsCase{"ResourcesByRegistrationHref", kRes, {"href=/rd/2"}, {"2:0", "2:1"}},
        // An endpoint inherits its links' attributes.
        SemanticsCase{"EndpointsByResourceType", kEp, {"rt=light"}, {"1", "2"}},
        SemanticsCase{"EndpointsByInterface", kEp, {"if=sensor"}, {"1"}},
        SemanticsCase{"EndpointsByTarget", kEp, {"href=coap://[2001:db8::1]/s/light"}, {"1", "2"}},
        SemanticsCase{"EndpointsByAnchor", kEp, {"anchor=coap://[2001:db8::1]/s/temp"}, {"1"}},
        // Each criterion on its own: the endpoint matches if some link has rt=temp and some
        // (other) link has if=actuator, while no single resource has both on alpha.
        SemanticsCase{"EndpointCriteriaIndependently", kEp, {"rt=temp", "if=actuator"}, {"1", "2"}},
        SemanticsCase{"ResourceNeedsEveryCriterion", kRes, {"rt=temp", "if=actuator"}, {"2:0"}},
        SemanticsCase{"MultipleCriteria", kRes, {"rt=light", "ep=alpha", "obs"}, {"1:1"}},
        SemanticsCase{"SameNameTwice", kRes, {"rt=temp", "rt=oic.r.t"}, {"1:0"}},
        // href and anchor forms.
        SemanticsCase{"HrefResolvedTarget", kRes, {"href=coap://[2001:db8::1]/s/temp"}, {"1:0"}},
        SemanticsCase{
            "HrefAbsoluteTargetOnAnotherHost", kRes, {"href=http://other.example/doc"}, {"1:2"}},
        SemanticsCase{"HrefAbsoluteTargetOnAnotherBase",
                      kRes,
                      {"href=coap://[2001:db8::1]/s/light"},
                      {"1:1", "2:1"}},
        SemanticsCase{"HrefRelativeMatchesNoResource", kRes, {"href=/s/temp"}, {}},
        SemanticsCase{"HrefPrefix", kRes, {"href=coap://[2001:db8::2]*"}, {"2:0"}},
        SemanticsCase{"HrefEndpointPathForm", kEp, {"href=/rd/2"}, {"2"}},
        SemanticsCase{"HrefEndpointUriForm", kEp, {"href=coap://rd.example.com/rd/2"}, {"2"}},
        SemanticsCase{"HrefEndpointOtherAuthority", kEp, {"href=coap://elsewhere/rd/2"}, {}},
        SemanticsCase{"HrefEndpointPrefix", kEp, {"href=/rd/*"}, {"1", "2"}},
        SemanticsCase{"HrefEndpointUriPrefix", kEp, {"href=coap://rd.example.com/rd/1*"}, {"1"}},
        SemanticsCase{"AnchorResolved", kRes, {"anchor=coap://[2001:db8::1]/s/temp"}, {"1:2"}},
        SemanticsCase{"AnchorRelativeMatchesNothing", kRes, {"anchor=/s/temp"}, {}},
        SemanticsCase{"AnchorPrefix", kRes, {"anchor=coap:*"}, {"1:2"}},
        // Unknown attributes and lt.
        SemanticsCase{"UnknownAttribute", kRes, {"foo=bar"}, {}},
        SemanticsCase{"UnknownAttributeWildcard", kEp, {"foo=*"}, {}},
        SemanticsCase{"LifetimeIsNotAnAttribute", kEp, {"lt=90000"}, {}},
        // Pagination edges.
        SemanticsCase{"CountLargerThanResults", kRes, {"rt=light", "count=10"}, {"1:1", "2:1"}},
        SemanticsCase{"PageBeyondTheEnd", kRes, {"rt=light", "count=2", "page=1"}, {}},
        SemanticsCase{"LastPartialPage", kRes, {"count=3", "page=1"}, {"2:0", "2:1"}},
        SemanticsCase{"CountZero", kEp, {"count=0"}, {}},
        SemanticsCase{"EndpointPages", kEp, {"count=1", "page=1"}, {"2"}},
        // Link-local registrations (RFC 9176 §6.1, §6.4).
        SemanticsCase{"LinkLocalHidden", kEp, {"d=d2"}, {}},
        SemanticsCase{"LinkLocalShownOnLink", kEp, {"d=d2"}, {"3"}, true},
        SemanticsCase{"LinkLocalResourcesOnLink", kRes, {"ep=alphabet"}, {"3:0"}, true},
        SemanticsCase{"LinkLocalGroupMemberHidden", kEp, {"gp=g"}, {"2"}}),
    CaseName);

TEST(LookupTest, PaginationReportsWhatItSaw) {
  const Index index = SemanticsIndex();
  LookupResult all = LookupResources(index, Query({}));
  EXPECT_EQ(all.returned, 5U);
  EXPECT_EQ(all.matched, 5U);
  EXPECT_FALSE(all.more);

  LookupResult zero = LookupResources(index, Query({"count=0"}));
  EXPECT_EQ(zero.payload, "");
  EXPECT_EQ(zero.returned, 0U);
  EXPECT_TRUE(zero.more);

  LookupResult page = LookupResources(index, Query({"count=2", "page=1"}));
  EXPECT_EQ(page.returned, 2U);
  EXPECT_EQ(page.matched, 5U);  // two skipped, two returned, one more seen
  EXPECT_TRUE(page.more);

  LookupResult exact_end = LookupResources(index, Query({"count=5"}));
  EXPECT_EQ(exact_end.returned, 5U);
  EXPECT_FALSE(exact_end.more);
}

TEST(LookupTest, EndpointLinkQuotesWhatIsNoToken) {
  Index index;
  Registration registration = MakeRegistration(9, "my node", "coap://h", "", "a\"b");
  registration.extra = {{"note", std::string("x,y")}, {"flag", std::nullopt}, {"e", std::string()}};
  index.Put(registration);
  EXPECT_EQ(LookupEndpoints(index, Query({})).payload,
            "</rd/9>;base=\"coap://h\";ep=\"my node\";note=\"x,y\";flag;e=\"\";d=\"a\\\"b\";"
            "rt=core.rd-ep");
  // The payload reads back as the same attributes.
  const std::vector<linkformat::Link> links = Links(LookupEndpoints(index, Query({})).payload);
  ASSERT_EQ(links.size(), 1U);
  EXPECT_EQ(links[0].Find("d"), "a\"b");
  EXPECT_EQ(links[0].Find("ep"), "my node");
}

TEST(LookupTest, NothingRegisteredGivesEmptyPayloads) {
  const Index index;
  EXPECT_EQ(LookupResources(index, Query({"rt=x"})).payload, "");
  EXPECT_EQ(LookupEndpoints(index, Query({})).payload, "");
  EXPECT_EQ(LookupGroups(index, Query({})).payload, "");
}

// ---- link_writer
// ---------------------------------------------------------------------------

TEST(LinkWriterTest, QuotesAndEscapesWhatIsNotAToken) {
  std::string out;
  AppendQuotedParameter("base", SplitString{"coap://[2001:db8::1]", ":5683"}, &out);
  EXPECT_EQ(out, ";base=\"coap://[2001:db8::1]:5683\"");
  out.clear();
  AppendQuotedParameter("title", SplitString{"a \"b\\c\x01", "\"\x7f"}, &out);
  EXPECT_EQ(out, ";title=\"a \\\"b\\\\c\\\x01\\\"\\\x7f\"");
  out.clear();
  AppendParameter("rt", std::string_view("temperature-c"), &out);
  AppendParameter("if", std::string_view("a b"), &out);
  AppendParameter("obs", std::nullopt, &out);
  AppendParameter("anchor", std::string_view("/x"), &out);
  EXPECT_EQ(out, ";rt=temperature-c;if=\"a b\";obs;anchor=\"/x\"");
}

// ---- LookupQuery::Parse
// ---------------------------------------------------------------------------

TEST(LookupQueryTest, ParsesCriteriaAndPagination) {
  const LookupQuery query = Query(
      {"RT=temp*", "ep=node1", "obs", "title=*", "page=2", "count=10", "anchor=coap://h/x=y"});
  ASSERT_EQ(query.criteria.size(), 5U);
  EXPECT_EQ(query.criteria[0], (Criterion{"rt", "temp", MatchKind::kPrefix}));
  EXPECT_EQ(query.criteria[1], (Criterion{"ep", "node1", MatchKind::kExact}));
  EXPECT_EQ(query.criteria[2], (Criterion{"obs", "", MatchKind::kAny}));
  EXPECT_EQ(query.criteria[3], (Criterion{"title", "", MatchKind::kAny}));
  EXPECT_EQ(query.criteria[4], (Criterion{"anchor", "coap://h/x=y", MatchKind::kExact}));
  EXPECT_EQ(query.page, 2U);
  EXPECT_EQ(query.count, 10U);
  EXPECT_FALSE(query.requester_on_link);
}

TEST(LookupQueryTest, TellsWhichCriteriaItHas) {
  const LookupQuery query = Query({"HREF=/rd/1", "rt=temp", "count=1"});
  EXPECT_TRUE(query.HasCriterion("href"));
  EXPECT_TRUE(query.HasCriterion("rt"));
  EXPECT_FALSE(query.HasCriterion("count"));  // pagination, not a criterion
  EXPECT_FALSE(query.HasCriterion("ep"));
  EXPECT_FALSE(Query({}).HasCriterion("href"));
}

TEST(LookupQueryTest, AcceptsTheLargestCount) {
  EXPECT_EQ(Query({"count=4294967295", "page=4294967295"}).count, 4294967295U);
}

TEST(LookupQueryTest, RejectsBadParameters) {
  struct Case {
    std::vector<std::string> query;
    std::string message;
  };
  const Case cases[] = {
      {{"page=1"}, "page needs count"},
      {{"count=abc"}, "count must be a number in 0..4294967295, got 'abc'"},
      {{"count=-1"}, "count must be a number in 0..4294967295, got '-1'"},
      {{"count=+1"}, "count must be a number in 0..4294967295, got '+1'"},
      {{"count=4294967296"}, "count must be a number in 0..4294967295, got '4294967296'"},
      {{"count="}, "count must be a number in 0..4294967295, got ''"},
      {{"count"}, "count must be a number in 0..4294967295, got ''"},
      {{"page=x", "count=1"}, "page must be a number"},
      {{"count=1", "count=2"}, "count given twice"},
      {{"PAGE=1", "page=1", "count=1"}, "page given twice"},
      {{"=x"}, "parameter '=x' has no name"},
  };
  for (const Case& c : cases) {
    Result<LookupQuery> query = LookupQuery::Parse(c.query);
    ASSERT_FALSE(query.ok()) << c.message;
    EXPECT_EQ(query.error().code, ErrorCode::kInvalidArgument);
    EXPECT_THAT(query.error().message, HasSubstr(c.message));
  }
}

TEST(LookupQueryTest, LimitsTheNumberOfCriteria) {
  std::vector<std::string> parameters(LookupQuery::kMaxCriteria, "rt=x");
  EXPECT_TRUE(LookupQuery::Parse(parameters).ok());
  parameters.push_back("rt=y");
  Result<LookupQuery> query = LookupQuery::Parse(parameters);
  ASSERT_FALSE(query.ok());
  EXPECT_THAT(query.error().message, HasSubstr("more than 64 search criteria"));
}

TEST(LookupQueryTest, SixtyFourCriteriaStillMatch) {
  Index index;
  index.Put(MakeRegistration(1, "n", "coap://h", "</a>;rt=x"));
  const std::vector<std::string> parameters(LookupQuery::kMaxCriteria, "rt=x");
  EXPECT_EQ(LookupResources(index, Query(parameters)).returned, 1U);
  EXPECT_EQ(LookupEndpoints(index, Query(parameters)).returned, 1U);
}

TEST(CriterionTest, MatchesAttributeValues) {
  const Criterion rt{"rt", "temp", MatchKind::kExact};
  EXPECT_TRUE(rt.MatchesAttribute(std::string_view("light\ttemp")));
  EXPECT_FALSE(rt.MatchesAttribute(std::string_view("temperature")));
  EXPECT_FALSE(rt.MatchesAttribute(std::nullopt));
  const Criterion title{"title", "Big", MatchKind::kPrefix};
  EXPECT_TRUE(title.MatchesAttribute(std::string_view("Big Room")));
  EXPECT_FALSE(title.MatchesAttribute(std::string_view("big room")));
  EXPECT_TRUE((Criterion{"obs", "", MatchKind::kAny}).MatchesAttribute(std::nullopt));
}

TEST(CriterionTest, LocationForm) {
  EXPECT_EQ((Criterion{"href", "/rd/1", MatchKind::kExact}).LocationForm(), "/rd/1");
  EXPECT_EQ((Criterion{"href", "coap://rd/rd/1", MatchKind::kExact}).LocationForm(), "/rd/1");
  EXPECT_EQ((Criterion{"href", "coap://rd/rd/1?x", MatchKind::kExact}).LocationForm(),
            std::nullopt);
  EXPECT_EQ((Criterion{"href", "//rd/rd/1", MatchKind::kExact}).LocationForm(), std::nullopt);
  EXPECT_EQ((Criterion{"href", "rd/1", MatchKind::kExact}).LocationForm(), std::nullopt);
}

}  // namespace
}  // namespace coapgw::rd
