// The platform's records: gateways provided, cleared and committed; devices created, updated and
// deleted as the device repository does it; the state file round trip; settings parsers.

#include "platform_sim/model.hpp"

#include <gtest/gtest.h>

namespace coapgw::platform_sim {
namespace {

Model MakeModel(bool strict = false) {
  ModelOptions options;
  options.users = {{"demo", "demo"}, {"alice", "secret"}};
  options.device_types = {{"iot#lamp", {{"iot#s1", "Actuator", "PUT /on"}}}};
  options.strict_types = strict;
  return Model(options);
}

ConnectorDevice Put(const std::string& uri, const std::string& type = "iot#lamp",
                    std::vector<std::string> tags = {}) {
  return ConnectorDevice{type, uri, "name-" + uri, std::move(tags)};
}

TEST(ModelTest, AuthenticatesOnlyKnownUsersWithTheirPassword) {
  const Model model = MakeModel();
  EXPECT_TRUE(model.Authenticate("demo", "demo"));
  EXPECT_FALSE(model.Authenticate("demo", "Demo"));
  EXPECT_FALSE(model.Authenticate("bob", "demo"));
}

TEST(ModelTest, ProvideReturnsOwnGatewaysAndCreatesOtherwise) {
  Model model = MakeModel();
  bool created = false;
  const std::string id = model.ProvideGateway("", "demo", &created).id;
  EXPECT_TRUE(created);
  EXPECT_EQ(id.rfind("iot#", 0), 0U);
  EXPECT_EQ(model.FindGateway(id)->name.rfind("new-gateway-", 0), 0U);
  EXPECT_EQ(model.ProvideGateway(id, "demo", &created).id, id);
  EXPECT_FALSE(created);
  EXPECT_NE(model.ProvideGateway(id, "alice", &created).id, id);  // not alice's
  EXPECT_TRUE(created);
  EXPECT_NE(model.ProvideGateway("iot#unknown", "demo", &created).id, "iot#unknown");
  EXPECT_EQ(model.gateways().size(), 3U);
}

TEST(ModelTest, CommitStoresHashAndOwnershipAndRefusesAnotherGatewaysDevice) {
  Model model = MakeModel();
  bool created = false;
  const std::string a = model.ProvideGateway("", "demo", &created).id;
  const std::string b = model.ProvideGateway("", "demo", &created).id;
  const std::string device = (*model.CreateDevice("demo", Put("1")))->id;
  ASSERT_TRUE(model.CommitGateway(a, "hash-a", {device}).ok());
  EXPECT_EQ(model.FindGateway(a)->hash, "hash-a");
  EXPECT_EQ(model.FindDevice(device)->gateway, a);

  const auto refused = model.CommitGateway(b, "hash-b", {device});
  EXPECT_EQ(refused.error().code, ErrorCode::kConflict);
  EXPECT_EQ(refused.error().message, "gateway (" + b + ") may not own devices");
  EXPECT_EQ(model.FindGateway(b)->hash, "");

  ASSERT_TRUE(model.ClearGateway(a).ok());
  EXPECT_EQ(model.FindGateway(a)->hash, "");
  EXPECT_TRUE(model.FindGateway(a)->devices.empty());
  EXPECT_EQ(model.FindDevice(device)->gateway, "");
  EXPECT_TRUE(model.CommitGateway(b, "hash-b", {device}).ok());
  // A commit without the device releases it.
  ASSERT_TRUE(model.CommitGateway(b, "hash-b2", {}).ok());
  EXPECT_EQ(model.FindDevice(device)->gateway, "");
}

TEST(ModelTest, DevicesAreCreatedPerUserAndUpdatedWithMergedTags) {
  Model model = MakeModel();
  EXPECT_EQ(model.CreateDevice("demo", Put("1", "")).error().message, "empty iot_type");
  const Device* created = *model.CreateDevice("demo", Put("1", "iot#any", {"a:1", "b:2"}));
  EXPECT_EQ(model.DevicesByUri("demo", "1").size(), 1U);
  EXPECT_TRUE(model.DevicesByUri("alice", "1").empty());

  ConnectorDevice update = Put("1", "iot#ignored", {"b:3", "c:4", "malformed"});
  update.name = "renamed";
  const Device* updated = model.UpdateDevice(created->id, update);
  EXPECT_EQ(updated->name, "renamed");
  EXPECT_EQ(updated->device_type, "iot#any");
  EXPECT_EQ(updated->tags, (std::vector<std::string>{"a:1", "b:3", "c:4"}));
}

TEST(ModelTest, StrictTypesRefuseUnknownTypes) {
  Model model = MakeModel(true);
  EXPECT_EQ(model.CreateDevice("demo", Put("1", "iot#nope")).error().message,
            "error while creating device skeleton: unknown device type 'iot#nope'");
  EXPECT_TRUE(model.CreateDevice("demo", Put("1", "iot#lamp")).ok());
}

TEST(ModelTest, DeleteNeedsExactlyOneDeviceAndLeavesTheGateway) {
  Model model = MakeModel();
  bool created = false;
  const std::string gateway = model.ProvideGateway("", "demo", &created).id;
  const std::string device = (*model.CreateDevice("demo", Put("1")))->id;
  ASSERT_TRUE(model.CommitGateway(gateway, "h", {device}).ok());
  EXPECT_EQ(model.DeleteDevice("alice", "1").error().message,
            "cant find exactly one device with given uri");
  ASSERT_TRUE(model.DeleteDevice("demo", "1").ok());
  EXPECT_EQ(model.FindDevice(device), nullptr);
  EXPECT_TRUE(model.FindGateway(gateway)->devices.empty());
}

TEST(ModelTest, StateFileRoundTrip) {
  Model model = MakeModel();
  bool created = false;
  const std::string gateway = model.ProvideGateway("", "demo", &created).id;
  const std::string device = (*model.CreateDevice("demo", Put("1", "iot#lamp", {"k:v"})))->id;
  ASSERT_TRUE(model.CommitGateway(gateway, "h", {device}).ok());

  Model loaded = MakeModel();
  ASSERT_TRUE(loaded.LoadJson(model.SaveJson()).ok());
  EXPECT_EQ(loaded.SaveJson(), model.SaveJson());
  EXPECT_EQ(loaded.FindGateway(gateway)->hash, "h");
  EXPECT_EQ(loaded.FindDevice(device)->tags, std::vector<std::string>{"k:v"});

  EXPECT_EQ(loaded.LoadJson("{").error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(loaded.LoadJson(R"({"version":2})").error().message, "not a version 1 state document");
  EXPECT_EQ(loaded.LoadJson(R"({"version":1,"gateways":[{"id":5}],"devices":[]})").error().message,
            "malformed gateway #1");
  EXPECT_NE(loaded.FindGateway(gateway), nullptr);  // a failed load changes nothing
}

TEST(ModelTest, SettingParsers) {
  const auto users = ParseUsers("demo:demo,alice:pa:ss");
  ASSERT_TRUE(users.ok());
  EXPECT_EQ(users->at("alice"), "pa:ss");
  EXPECT_EQ(ParseUsers("demo").error().message, "user entry 'demo' is not name:password");
  EXPECT_EQ(ParseUsers("a:1,a:2").error().message, "user 'a' appears twice");

  const auto types = ParseDeviceTypes(
      R"([{"id":"iot#t","services":[{"id":"iot#s","service_type":"Sensor","url":"GET /x"}]},{"id":"iot#u"}])");
  ASSERT_TRUE(types.ok());
  ASSERT_EQ(types->size(), 2U);
  EXPECT_EQ((*types)[0].services[0].url, "GET /x");
  EXPECT_FALSE(ParseDeviceTypes(R"([{"services":[]}])").ok());
  EXPECT_FALSE(ParseDeviceTypes("{}").ok());
}

}  // namespace
}  // namespace coapgw::platform_sim
