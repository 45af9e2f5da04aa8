#include "coapgw/common/service_main.hpp"

#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace coapgw {
namespace {

// Runs RunService in this process with fd 2 (the settings error line and the log) sent to a file,
// and SIGINT/SIGTERM unblocked again afterwards (the frame blocks them for the body).
class ServiceMainTest : public testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(pthread_sigmask(SIG_SETMASK, nullptr, &mask_), 0);
    settings_.Add(
        {"COAPGW_TEST_LIMIT", "a limit the service checks itself", "5", SettingKind::kInt});
  }
  void TearDown() override { pthread_sigmask(SIG_SETMASK, &mask_, nullptr); }

  // RunService(args, run) with stderr captured into `stderr_`; returns the exit code.
  template <typename Frame>
  int Run(std::vector<const char*> args, const Frame& run) {
    args.insert(args.begin(), "coapgw-test");
    args.push_back("--log-level=info");
    args.push_back("--log-format=text");
    FILE* file = std::tmpfile();
    EXPECT_NE(file, nullptr);
    const int saved = dup(STDERR_FILENO);
    dup2(fileno(file), STDERR_FILENO);
    const int code =
        RunService(static_cast<int>(args.size()), const_cast<char**>(args.data()), settings_, run);
    dup2(saved, STDERR_FILENO);
    close(saved);
    stderr_.clear();
    std::rewind(file);
    char buffer[512];
    size_t n = 0;
    while ((n = std::fread(buffer, 1, sizeof buffer, file)) > 0) {
      stderr_.append(buffer, n);
    }
    std::fclose(file);
    return code;
  }

  // The service's own check: COAPGW_TEST_LIMIT must be even.
  static ServiceBody Configure(const Settings& settings, bool* body_ran) {
    const int64_t limit = settings.Int("COAPGW_TEST_LIMIT");
    if (limit % 2 != 0) {
      throw SettingsError("COAPGW_TEST_LIMIT: " + std::to_string(limit) + " is not even");
    }
    return [body_ran](ServiceContext& service) {
      *body_ran = service.settings.Int("COAPGW_TEST_LIMIT") % 2 == 0;
      return 7;
    };
  }

  Settings settings_{"coapgw-test", "A test service."};
  std::string stderr_;
  sigset_t mask_{};
};

TEST_F(ServiceMainTest, BadSettingFoundByTheServicePrintsOnlyItsErrorAndExits2) {
  bool body_ran = false;
  const int code = Run({"--test-limit=3"}, [&body_ran](const Settings& settings) {
    return Configure(settings, &body_ran);
  });
  EXPECT_EQ(code, 2);
  EXPECT_FALSE(body_ran);
  EXPECT_EQ(stderr_, "coapgw-test: COAPGW_TEST_LIMIT: 3 is not even\n");
}

TEST_F(ServiceMainTest, CheckedSettingsRunTheBodyBetweenStartingAndStopped) {
  bool body_ran = false;
  const int code = Run({"--test-limit=4"}, [&body_ran](const Settings& settings) {
    return Configure(settings, &body_ran);
  });
  EXPECT_EQ(code, 7);
  EXPECT_TRUE(body_ran);
  const size_t starting = stderr_.find("INFO coapgw-test: starting");
  const size_t stopped = stderr_.find("INFO coapgw-test: stopped exit_code=7");
  EXPECT_NE(starting, std::string::npos) << stderr_;
  EXPECT_NE(stopped, std::string::npos) << stderr_;
  EXPECT_LT(starting, stopped) << stderr_;
}

TEST_F(ServiceMainTest, BadSettingOfTheFrameItselfPrintsOnlyItsError) {
  const int code = Run({"--test-limit=x"}, [](ServiceContext&) { return 0; });
  EXPECT_EQ(code, 2);
  EXPECT_EQ(stderr_.find("starting"), std::string::npos) << stderr_;
  EXPECT_EQ(stderr_.rfind("coapgw-test: COAPGW_TEST_LIMIT", 0), 0U) << stderr_;
  EXPECT_EQ(stderr_.find('\n'), stderr_.size() - 1) << stderr_;
}

TEST_F(ServiceMainTest, BodyWithoutChecksStillRuns) {
  const int code = Run({}, [](ServiceContext& service) {
    return static_cast<int>(service.settings.Int("COAPGW_TEST_LIMIT"));
  });
  EXPECT_EQ(code, 5);
  EXPECT_NE(stderr_.find("INFO coapgw-test: starting"), std::string::npos) << stderr_;
}

}  // namespace
}  // namespace coapgw
