// DeviceModel and its helpers: representations, link-format, the sensors' walk, the large body.

#include "device_sim/device_model.hpp"

#include <set>
#include <string>

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include "coapgw/linkformat/link_format.hpp"

namespace coapgw::device_sim {
namespace {

const linkformat::Link* FindLink(const std::vector<linkformat::Link>& links,
                                 const std::string& target) {
  for (const auto& link : links) {
    if (link.target == target) {
      return &link;
    }
  }
  return nullptr;
}

TEST(DeviceModelTest, LinksListEveryResourceAndObsOnlyWhenAnnounced) {
  for (const bool announce : {true, false}) {
    const DeviceModel device(3, "sim-3", announce, 70000);
    auto links = linkformat::Parse(device.Links());
    ASSERT_TRUE(links.ok()) << links.error().message;
    EXPECT_EQ(links->size(), 8U) << device.Links();
    for (const char* path : {paths::kTemperature, paths::kHumidity, paths::kInfo, paths::kLed,
                             paths::kLedToggle, paths::kLabel, paths::kEcho, paths::kFirmware}) {
      const linkformat::Link* link = FindLink(*links, path);
      ASSERT_NE(link, nullptr) << path << " in " << device.Links();
      const bool sensor = std::string(path).rfind("/sensors/", 0) == 0;
      EXPECT_EQ(link->Has("obs"), sensor && announce) << path;
    }
    EXPECT_EQ(FindLink(*links, paths::kHumidity)->Find("ct"), "110");
    EXPECT_EQ(FindLink(*links, paths::kTemperature)->Find("rt"), "temperature-c");
    EXPECT_EQ(FindLink(*links, paths::kFirmware)->Find("sz"), "70000");
  }
}

TEST(DeviceModelTest, EveryTickChangesTheSensorsWithinTheirRanges) {
  DeviceModel device(7, "sim-7", true, 1024);
  std::string temperature = device.TemperatureText();
  std::string humidity = device.HumiditySenml();
  for (int i = 0; i < 2000; ++i) {
    device.Tick();
    const std::string next_temperature = device.TemperatureText();
    const std::string next_humidity = device.HumiditySenml();
    ASSERT_NE(next_temperature, temperature) << "tick " << i;
    ASSERT_NE(next_humidity, humidity) << "tick " << i;
    const double celsius = std::stod(next_temperature);
    ASSERT_GE(celsius, 10.0);
    ASSERT_LE(celsius, 35.0);
    temperature = next_temperature;
    humidity = next_humidity;
  }
  EXPECT_EQ(device.ticks(), 2000U);
}

TEST(DeviceModelTest, DevicesStartFromDifferentValues) {
  std::set<std::string> temperatures;
  for (size_t i = 0; i < 20; ++i) {
    temperatures.insert(DeviceModel(i, "d", true, 1024).TemperatureText());
  }
  EXPECT_GT(temperatures.size(), 15U);
}

TEST(DeviceModelTest, HumidityIsSenmlJsonNamingTheDevice) {
  const DeviceModel device(1, "sim \"quoted\"", true, 1024);
  rapidjson::Document document;
  document.Parse(device.HumiditySenml().c_str());
  ASSERT_FALSE(document.HasParseError()) << device.HumiditySenml();
  ASSERT_TRUE(document.IsArray());
  ASSERT_EQ(document.Size(), 1U);
  const auto& record = document[0];
  EXPECT_EQ(std::string(record["bn"].GetString()), "sim \"quoted\"/");
  EXPECT_EQ(std::string(record["n"].GetString()), "hum");
  EXPECT_EQ(std::string(record["u"].GetString()), "%RH");
  EXPECT_TRUE(record["v"].IsNumber());
}

TEST(DeviceModelTest, InfoIsJsonWithWhatTheCallerKnows) {
  DeviceModel device(4, "sim-4", false, 1024);
  ASSERT_TRUE(device.SetLed("on"));
  rapidjson::Document document;
  document.Parse(device.InfoJson(40123, 17, 2, 99).c_str());
  ASSERT_FALSE(document.HasParseError());
  EXPECT_EQ(std::string(document["ep"].GetString()), "sim-4");
  EXPECT_EQ(document["index"].GetUint64(), 4U);
  EXPECT_EQ(document["port"].GetUint(), 40123U);
  EXPECT_EQ(document["uptime_s"].GetInt64(), 17);
  EXPECT_EQ(document["boots"].GetUint(), 2U);
  EXPECT_EQ(document["requests"].GetUint64(), 99U);
  EXPECT_EQ(std::string(document["led"].GetString()), "on");
}

TEST(DeviceModelTest, LedLabelAndFirmwareKeepWhatWasWritten) {
  DeviceModel device(0, "sim-0", true, 2048);
  EXPECT_EQ(device.LedText(), "off");
  EXPECT_TRUE(device.SetLed("on"));
  EXPECT_EQ(device.LedText(), "on");
  EXPECT_FALSE(device.SetLed("purple"));
  EXPECT_EQ(device.LedText(), "on");
  device.ToggleLed();
  EXPECT_EQ(device.LedText(), "off");
  EXPECT_TRUE(device.SetLed("1"));
  EXPECT_TRUE(device.led());

  EXPECT_EQ(device.label(), "sim-0");
  EXPECT_TRUE(device.SetLabel("kitchen"));
  EXPECT_EQ(device.label(), "kitchen");
  EXPECT_FALSE(device.SetLabel(std::string(kMaxLabelBytes + 1, 'x')));
  EXPECT_EQ(device.label(), "kitchen");
  device.ResetLabel();
  EXPECT_EQ(device.label(), "sim-0");

  EXPECT_EQ(device.Firmware(), LargeBody("sim-0", 2048));
  device.SetFirmware("new image");
  EXPECT_EQ(device.Firmware(), "new image");
}

TEST(DeviceModelTest, LargeBodyHasExactlyItsSizeAndDependsOnTheDevice) {
  for (const size_t size : {size_t{1024}, size_t{65536}, size_t{100001}}) {
    const std::string body = LargeBody("sim-9", size);
    EXPECT_EQ(body.size(), size);
    EXPECT_EQ(body, LargeBody("sim-9", size));
    EXPECT_NE(body, LargeBody("sim-8", size));
  }
  EXPECT_EQ(LargeBody("sim-9", 1024).rfind("000000 coapgw-device-sim firmware of sim-9\n", 0), 0U);
}

TEST(DeviceModelTest, ObsIsSpreadEvenlyOverTheFleet) {
  const auto count = [](size_t devices, size_t percent) {
    size_t announced = 0;
    for (size_t i = 0; i < devices; ++i) {
      announced += AnnouncesObs(i, percent) ? 1 : 0;
    }
    return announced;
  };
  EXPECT_EQ(count(100, 60), 60U);
  EXPECT_EQ(count(5, 60), 3U);
  EXPECT_EQ(count(5, 0), 0U);
  EXPECT_EQ(count(5, 100), 5U);
  EXPECT_EQ(count(10000, 37), 3700U);
  // Any two consecutive devices out of 50 % include one that announces.
  for (size_t i = 0; i + 1 < 100; ++i) {
    EXPECT_TRUE(AnnouncesObs(i, 50) || AnnouncesObs(i + 1, 50)) << i;
  }
}

TEST(DeviceModelTest, Fnv1aMatchesTheReferenceVectors) {
  EXPECT_EQ(Fnv1aHex(""), "cbf29ce484222325");
  EXPECT_EQ(Fnv1aHex("a"), "af63dc4c8601ec8c");
  EXPECT_EQ(Fnv1aHex("foobar"), "85944171f73967e8");
}

}  // namespace
}  // namespace coapgw::device_sim
