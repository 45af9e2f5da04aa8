// An RD started on another database (a fresh one here: its tables dropped while it was down) must
// not make the ws-connector delete every device from the platform. Its snapshot carries another
// "directory" id, so the deletions are held back, logged and counted -- unless the operator set
// COAPGW_WS_ACCEPT_NEW_DIRECTORY=true. Real processes (tests/support Stack): coapgw-bus,
// coapgw-rd on PostgreSQL, coapgw-platform-sim and coapgw-ws-connector.
#include <set>
#include <string>

#include <gtest/gtest.h>

#include "coapgw/coap/uri.hpp"
#include "coapgw/test/wait.hpp"
#include "e2e_testing.hpp"
#include "pg_fixture.hpp"
#include "rd_harness.hpp"

namespace coapgw::ws_connector::test {
namespace {

using coapgw::test::Stack;
using coapgw::test::StackOptions;
using coapgw::test::WaitUntil;
using e2e::Part;
using std::chrono::milliseconds;

constexpr milliseconds kWait{20'000};
constexpr const char* kHeldLog = "the RD runs on another database";

StackOptions Accepting(bool accept) {
  StackOptions options;
  if (accept) {
    options.extra_env["coapgw-ws-connector"]["COAPGW_WS_ACCEPT_NEW_DIRECTORY"] = "true";
  }
  return options;
}

class DirectoryGuardTest : public ::testing::TestWithParam<bool> {
 protected:
  DirectoryGuardTest() : stack_(Accepting(GetParam())) {}

  void SetUp() override {
    std::string error;
    for (const Part part : {Part::kBus, Part::kRd, Part::kPlatformSim, Part::kWsConnector}) {
      ASSERT_TRUE(stack_.StartPart(part, &error)) << error;
    }
    for (const char* ep : {"a", "b", "c"}) {
      ASSERT_TRUE(Register(ep)) << Logs("registering " + std::string(ep));
    }
    ASSERT_TRUE(WaitUntil([&] { return Listened().size() == 3; }, kWait))
        << Logs("the platform did not get the three devices");
    first_directory_ = RdDirectory();
    ASSERT_EQ(first_directory_.size(), 36U);
    // The first directory seen is simply recorded.
    ASSERT_TRUE(WaitUntil([&] { return AcceptedDirectory() == first_directory_; }, kWait))
        << Logs("wsc_rd_directory");
  }

  void TearDown() override {
    std::string error;
    EXPECT_TRUE(stack_.StopAll(&error)) << error;
  }

  bool Register(const std::string& ep) {
    auto response =
        coap_.Send(coap::Method::kPost, stack_.rd_port(),
                   "/rd?ep=" + ep + "&et=iot%23e2e-device&lt=3600&base=coap://127.0.0.1:9",
                   "</sensors/temp>;obs", coap::content_format::kLinkFormat);
    return response.ok() && response->code == coap::Code::kCreated;
  }

  // Kills the RD, drops its tables (as if COAPGW_DATABASE_URL named a fresh database) and starts
  // it again: a new directory id, no devices.
  void RestartRdOnAFreshDatabase() {
    stack_.Kill(Part::kRd);
    stack_.database().Query(
        "DROP TABLE rd_group_members, rd_groups, rd_registrations, rd_devices, rd_directory,"
        " rd_schema_migrations");
    std::string error;
    ASSERT_TRUE(stack_.StartPart(Part::kRd, &error)) << error;
    ASSERT_NE(RdDirectory(), first_directory_);
  }

  std::string RdDirectory() { return stack_.database().Query("SELECT id::text FROM rd_directory"); }
  std::string AcceptedDirectory() {
    return stack_.database().Query("SELECT directory FROM wsc_rd_directory");
  }
  std::string StoredCount() {
    return stack_.database().Query("SELECT count(*) FROM wsc_platform_devices");
  }

  size_t Deletes() {
    size_t count = 0;
    for (const auto& request : e2e::PlatformRequests(stack_)) {
      count += request.handler == "delete" ? 1 : 0;
    }
    return count;
  }

  std::set<std::string> Listened() {
    std::set<std::string> names;
    for (const auto& device : e2e::PlatformDevices(stack_)) {
      if (device.listened) {
        names.insert(device.name);
      }
    }
    return names;
  }

  std::string Logs(const std::string& what) {
    return e2e::Failure(stack_, "directory-guard", what,
                        {Part::kWsConnector, Part::kRd, Part::kPlatformSim});
  }

  Stack stack_;
  rd::test::SyncCoapClient coap_;
  std::string first_directory_;
};

TEST_P(DirectoryGuardTest, AnRdOnAFreshDatabaseDeletesNothingUnlessAccepted) {
  const bool accept = GetParam();
  ASSERT_NO_FATAL_FAILURE(RestartRdOnAFreshDatabase());
  const std::string fresh = RdDirectory();
  if (accept) {
    EXPECT_TRUE(WaitUntil([&] { return Deletes() == 3 && StoredCount() == "0"; }, kWait))
        << Logs("the accepted directory's deletions");
    EXPECT_EQ(AcceptedDirectory(), fresh);
    EXPECT_EQ(stack_.Metric(Part::kWsConnector, "coapgw_wsc_deletions_held"), 0.0);
    return;
  }
  EXPECT_TRUE(WaitUntil(
      [&] { return stack_.Metric(Part::kWsConnector, "coapgw_wsc_deletions_held") == 3.0; }, kWait))
      << Logs("coapgw_wsc_deletions_held");
  const std::string log = stack_.Tail(Part::kWsConnector, 200);
  EXPECT_NE(log.find(kHeldLog), std::string::npos) << log;
  EXPECT_NE(log.find("rd_directory=" + fresh), std::string::npos) << log;
  EXPECT_NE(log.find("accepted_directory=" + first_directory_), std::string::npos) << log;
  EXPECT_NE(log.find("deletions_held=3"), std::string::npos) << log;
  EXPECT_NE(log.find("COAPGW_WS_ACCEPT_NEW_DIRECTORY=true"), std::string::npos) << log;
  // Everything else goes on: a device registered with the new RD reaches the platform.
  ASSERT_TRUE(Register("d"));
  EXPECT_TRUE(WaitUntil([&] { return Listened() == std::set<std::string>{"d"}; }, kWait))
      << Logs("the new device");
  EXPECT_EQ(Deletes(), 0U) << Logs("a delete was sent");
  EXPECT_EQ(StoredCount(), "4");
  EXPECT_EQ(AcceptedDirectory(), first_directory_);
}

INSTANTIATE_TEST_SUITE_P(, DirectoryGuardTest, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool>& param) {
                           return param.param ? "Accepted" : "HeldBack";
                         });

}  // namespace
}  // namespace coapgw::ws_connector::test
