#include "coapgw/common/settings.hpp"

#include <vector>

#include <gtest/gtest.h>

namespace coapgw {
namespace {

Settings MakeSettings() {
  Settings settings("coapgw-test", "A test service.");
  settings.Add({"COAPGW_RD_LISTEN", "CoAP listen address", "0.0.0.0:5683"});
  settings.Add({"COAPGW_DATABASE_URL", "PostgreSQL URI", "", SettingKind::kString, true, true});
  settings.Add({"COAPGW_PING_INTERVAL", "ping period", "10s", SettingKind::kDuration});
  settings.Add({"COAPGW_PING_MISSES", "misses", "2", SettingKind::kInt, false, false, 1, 100});
  settings.Add({"COAPGW_MULTICAST", "join groups", "false", SettingKind::kBool});
  return settings;
}

std::optional<int> Load(Settings& settings, std::vector<const char*> args,
                        std::vector<const char*> env) {
  args.insert(args.begin(), "coapgw-test");
  env.push_back(nullptr);
  return settings.Load(static_cast<int>(args.size()), args.data(), env.data());
}

TEST(SettingsTest, FlagNameFollowsTheEnvironmentName) {
  EXPECT_EQ(FlagName("COAPGW_RD_LISTEN"), "--rd-listen");
  EXPECT_EQ(FlagName("COAPGW_PLATFORM_URL"), "--platform-url");
}

TEST(SettingsTest, DefaultsApplyAndEnvironmentOverrides) {
  Settings settings = MakeSettings();
  EXPECT_FALSE(Load(settings, {},
                    {"COAPGW_DATABASE_URL=postgres://x", "COAPGW_PING_MISSES=5", "UNRELATED=1"}));
  EXPECT_EQ(settings.String("COAPGW_RD_LISTEN"), "0.0.0.0:5683");
  EXPECT_EQ(settings.Duration("COAPGW_PING_INTERVAL"), Millis(10000));
  EXPECT_EQ(settings.Int("COAPGW_PING_MISSES"), 5);
  EXPECT_FALSE(settings.Bool("COAPGW_MULTICAST"));
}

TEST(SettingsTest, FlagsWinOverEnvironmentInBothSpellings) {
  Settings settings = MakeSettings();
  EXPECT_FALSE(Load(settings, {"--rd-listen=127.0.0.1:0", "--ping-interval", "500ms"},
                    {"COAPGW_DATABASE_URL=postgres://x", "COAPGW_RD_LISTEN=1.2.3.4:5"}));
  EXPECT_EQ(settings.String("COAPGW_RD_LISTEN"), "127.0.0.1:0");
  EXPECT_EQ(settings.Duration("COAPGW_PING_INTERVAL"), Millis(500));
}

TEST(SettingsTest, MissingRequiredSettingNamesIt) {
  Settings settings = MakeSettings();
  try {
    Load(settings, {}, {});
    FAIL() << "expected SettingsError";
  } catch (const SettingsError& error) {
    EXPECT_NE(std::string(error.what()).find("COAPGW_DATABASE_URL is required"), std::string::npos)
        << error.what();
  }
}

TEST(SettingsTest, BadValuesAreRejectedWithTheirName) {
  const std::vector<std::vector<const char*>> bad_envs = {
      {"COAPGW_DATABASE_URL=x", "COAPGW_PING_INTERVAL=soon"},
      {"COAPGW_DATABASE_URL=x", "COAPGW_PING_MISSES=0"},
      {"COAPGW_DATABASE_URL=x", "COAPGW_PING_MISSES=two"},
      {"COAPGW_DATABASE_URL=x", "COAPGW_MULTICAST=maybe"},
  };
  for (const auto& env : bad_envs) {
    Settings settings = MakeSettings();
    EXPECT_THROW(Load(settings, {}, env), SettingsError) << env[1];
  }
}

TEST(SettingsTest, DurationWithinBoundsIsReturnedOutsideNamesSettingAndBounds) {
  Settings settings = MakeSettings();
  EXPECT_FALSE(Load(settings, {"--ping-interval=500ms"}, {"COAPGW_DATABASE_URL=x"}));
  EXPECT_EQ(settings.Duration("COAPGW_PING_INTERVAL", Millis(500), Millis(1000)), Millis(500));
  try {
    (void)settings.Duration("COAPGW_PING_INTERVAL", Millis(600), Millis(60'000));
    FAIL() << "expected SettingsError";
  } catch (const SettingsError& error) {
    EXPECT_STREQ(error.what(), "COAPGW_PING_INTERVAL: 500ms is outside 600ms .. 1m");
  }
  EXPECT_THROW((void)settings.Duration("COAPGW_PING_INTERVAL", Millis(0), Millis(499)),
               SettingsError);
}

TEST(SettingsTest, SecretValuesAreNotEchoedInErrors) {
  Settings settings("coapgw-test", "x");
  settings.Add({"COAPGW_PLATFORM_PASSWORD", "password", "", SettingKind::kInt, false, true});
  try {
    Load(settings, {}, {"COAPGW_PLATFORM_PASSWORD=hunter2"});
    FAIL() << "expected SettingsError";
  } catch (const SettingsError& error) {
    EXPECT_EQ(std::string(error.what()).find("hunter2"), std::string::npos) << error.what();
  }
}

TEST(SettingsTest, UnknownFlagAndMissingValueAreErrors) {
  Settings settings = MakeSettings();
  EXPECT_THROW(Load(settings, {"--no-such-flag=1"}, {"COAPGW_DATABASE_URL=x"}), SettingsError);
  Settings again = MakeSettings();
  EXPECT_THROW(Load(again, {"--rd-listen"}, {"COAPGW_DATABASE_URL=x"}), SettingsError);
}

TEST(SettingsTest, HelpListsEverySettingAndReturnsZero) {
  Settings settings = MakeSettings();
  testing::internal::CaptureStdout();
  const auto exit_code = Load(settings, {"--help"}, {});
  const std::string help = testing::internal::GetCapturedStdout();
  ASSERT_TRUE(exit_code.has_value());
  EXPECT_EQ(*exit_code, 0);
  for (const char* name : {"--rd-listen", "COAPGW_RD_LISTEN", "--database-url", "[required]",
                           "--ping-interval", "[default: 10s]", "--ping-misses", "--multicast"}) {
    EXPECT_NE(help.find(name), std::string::npos) << name;
  }
}

}  // namespace
}  // namespace coapgw
