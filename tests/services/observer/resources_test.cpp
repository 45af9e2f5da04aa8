// Which links of a device record the observer reads, and the link filter.

#include "observer/resources.hpp"

#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace coapgw::observer {
namespace {

using std::chrono::milliseconds;

events::Link MakeLink(std::string href, bool observable = false) {
  events::Link link;
  link.href = std::move(href);
  link.observable = observable;
  return link;
}

events::Device MakeDevice(std::string base, std::vector<events::Link> links) {
  events::Device device;
  device.device_id = "d-1";
  device.endpoint = "node1";
  device.base = std::move(base);
  device.links = std::move(links);
  return device;
}

std::vector<std::string> Paths(const DeviceTarget& target) {
  std::vector<std::string> paths;
  for (const auto& resource : target.resources) {
    paths.push_back(resource.path);
  }
  return paths;
}

DeviceTarget Select(const events::Device& device, const SelectionOptions& options = {}) {
  auto target = SelectResources(device, options);
  EXPECT_TRUE(target.ok()) << (target.ok() ? "" : target.error().message);
  return target.ok() ? *target : DeviceTarget{};
}

TEST(SelectResourcesTest, ReadsEveryLinkOfTheDeviceWithItsEndpoint) {
  const auto target = Select(MakeDevice("coap://[2001:db8::1]:61616",
                                        {MakeLink("/sensors/temp", true), MakeLink("/a/b%20c")}));
  EXPECT_EQ(target.endpoint.host, "2001:db8::1");
  EXPECT_EQ(target.endpoint.port, 61616);
  ASSERT_EQ(target.resources.size(), 2U);
  EXPECT_EQ(target.resources[0].path, "/sensors/temp");
  EXPECT_EQ(target.resources[0].segments, (std::vector<std::string>{"sensors", "temp"}));
  EXPECT_TRUE(target.resources[0].observable);
  EXPECT_EQ(target.resources[0].poll_interval, milliseconds(30000));
  EXPECT_EQ(target.resources[1].segments, (std::vector<std::string>{"a", "b c"}));
  EXPECT_FALSE(target.resources[1].observable);
  EXPECT_TRUE(target.skipped.empty());
}

TEST(SelectResourcesTest, SkipsLinksToAnotherHostSchemeOrPort) {
  const auto target = Select(MakeDevice(
      "coap://192.0.2.1",
      {MakeLink("coap://192.0.2.1:5683/same"), MakeLink("coap://192.0.2.2/other-host"),
       MakeLink("coap://192.0.2.1:5684/other-port"), MakeLink("http://192.0.2.1/other-scheme"),
       MakeLink("coaps://192.0.2.1/secure"), MakeLink("/local")}));
  EXPECT_EQ(Paths(target), (std::vector<std::string>{"/same", "/local"}));
  EXPECT_EQ(target.skipped.size(), 4U);
}

TEST(SelectResourcesTest, SkipsAnchoredLinksOtherThanHosts) {
  auto described = MakeLink("/doc");
  described.anchor = "/sensors/temp";
  described.attributes["rel"] = "describedby";
  auto hosted = MakeLink("/sensors/hum");
  hosted.anchor = "coap://192.0.2.1";
  hosted.attributes["rel"] = "alternate hosts";
  auto anchored_default = MakeLink("/sensors/light");
  anchored_default.anchor = "/";
  const auto target = Select(MakeDevice("coap://192.0.2.1", {described, hosted, anchored_default}));
  EXPECT_EQ(Paths(target), (std::vector<std::string>{"/sensors/hum", "/sensors/light"}));
  ASSERT_EQ(target.skipped.size(), 1U);
  EXPECT_NE(target.skipped[0].find("describedby"), std::string::npos);
}

TEST(SelectResourcesTest, KeepsTheQueryAndReadsAPathOnce) {
  const auto target =
      Select(MakeDevice("coap://192.0.2.1", {MakeLink("/s?unit=c&x=%2F"), MakeLink("/t"),
                                             MakeLink("/t", true), MakeLink("/")}));
  ASSERT_EQ(Paths(target), (std::vector<std::string>{"/s?unit=c&x=%2F", "/t", "/"}));
  EXPECT_EQ(target.resources[0].segments, std::vector<std::string>{"s"});
  EXPECT_EQ(target.resources[0].query, (std::vector<std::string>{"unit=c", "x=/"}));
  EXPECT_TRUE(target.resources[1].observable);  // one of its links says obs
  EXPECT_TRUE(target.resources[2].segments.empty());
}

TEST(SelectResourcesTest, PmaxSetsTheResourcesPollIntervalWithinBounds) {
  auto slow = MakeLink("/slow");
  slow.attributes["pmax"] = "120";
  auto fast = MakeLink("/fast");
  fast.attributes["pmax"] = "0";  // not a period: the default applies
  auto tiny = MakeLink("/tiny");
  tiny.attributes["pmax"] = "1";
  auto junk = MakeLink("/junk");
  junk.attributes["pmax"] = "10s";
  SelectionOptions options;
  options.poll_interval = milliseconds(5000);
  options.min_poll_interval = milliseconds(2000);
  const auto target = Select(MakeDevice("coap://192.0.2.1", {slow, fast, tiny, junk}), options);
  ASSERT_EQ(target.resources.size(), 4U);
  EXPECT_EQ(target.resources[0].poll_interval, milliseconds(120000));
  EXPECT_EQ(target.resources[1].poll_interval, milliseconds(5000));
  EXPECT_EQ(target.resources[2].poll_interval, milliseconds(2000));
  EXPECT_EQ(target.resources[3].poll_interval, milliseconds(5000));
}

TEST(SelectResourcesTest, RefusesBasesItCannotRead) {
  auto secure = SelectResources(MakeDevice("coaps://192.0.2.1", {MakeLink("/a")}), {});
  ASSERT_FALSE(secure.ok());
  EXPECT_EQ(secure.error().code, ErrorCode::kUnsupported);
  auto web = SelectResources(MakeDevice("http://192.0.2.1", {MakeLink("/a")}), {});
  ASSERT_FALSE(web.ok());
  EXPECT_EQ(web.error().code, ErrorCode::kInvalidArgument);
  EXPECT_FALSE(SelectResources(MakeDevice("not a uri", {}), {}).ok());
}

TEST(ResourceFilterTest, MatchesLikeAnRdLookup) {
  auto sensor = MakeLink("/sensors/temp", true);
  sensor.resource_types = {"temperature-c", "oic.r.temperature"};
  sensor.interfaces = {"core.s"};
  sensor.content_formats = {0, 50};
  sensor.attributes["title"] = "Room";
  auto actuator = MakeLink("/actuators/led");
  actuator.interfaces = {"core.a"};

  const auto matches = [](const std::string& text, const events::Link& link,
                          const std::string& path) {
    auto filter = ResourceFilter::Parse(text);
    EXPECT_TRUE(filter.ok()) << text;
    return filter.ok() && filter->Matches(link, path);
  };
  EXPECT_TRUE(matches("", actuator, "/actuators/led"));
  EXPECT_TRUE(matches("if=core.s", sensor, "/sensors/temp"));
  EXPECT_FALSE(matches("if=core.s", actuator, "/actuators/led"));
  EXPECT_TRUE(matches("rt=oic.r.*", sensor, "/sensors/temp"));
  EXPECT_FALSE(matches("rt=oic.r", sensor, "/sensors/temp"));
  EXPECT_TRUE(matches("rt=temperature-c&if=core.s", sensor, "/sensors/temp"));
  EXPECT_FALSE(matches("rt=temperature-c&if=core.a", sensor, "/sensors/temp"));
  EXPECT_TRUE(matches("ct=50", sensor, "/sensors/temp"));
  EXPECT_TRUE(matches("href=/sensors/*", sensor, "/sensors/temp"));
  EXPECT_FALSE(matches("href=/sensors/*", actuator, "/actuators/led"));
  EXPECT_TRUE(matches("title=Room", sensor, "/sensors/temp"));
  EXPECT_FALSE(matches("title=Room", actuator, "/actuators/led"));
}

TEST(ResourceFilterTest, NarrowsTheSelection) {
  auto sensor = MakeLink("/temp", true);
  sensor.interfaces = {"core.s"};
  auto actuator = MakeLink("/led");
  actuator.interfaces = {"core.a"};
  SelectionOptions options;
  options.filter = *ResourceFilter::Parse("if=core.s");
  EXPECT_EQ(Paths(Select(MakeDevice("coap://192.0.2.1", {sensor, actuator}), options)),
            std::vector<std::string>{"/temp"});
}

TEST(ResourceFilterTest, RejectsTermsWithoutNameOrValue) {
  for (const char* text : {"if", "=x", "if=", "if=core.s&", "&rt=a"}) {
    auto filter = ResourceFilter::Parse(text);
    ASSERT_FALSE(filter.ok()) << text;
    EXPECT_EQ(filter.error().code, ErrorCode::kInvalidArgument);
  }
}

}  // namespace
}  // namespace coapgw::observer
