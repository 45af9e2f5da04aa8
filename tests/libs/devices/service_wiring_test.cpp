#include "coapgw/devices/service_wiring.hpp"

#include <sys/resource.h>

#include <map>
#include <stdexcept>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "coapgw/bus/endpoint.hpp"
#include "coapgw/test/process.hpp"

namespace coapgw::devices {
namespace {

Settings Loaded(const std::map<std::string, std::string>& values) {
  Settings settings("coapgw-test", "A service that follows the RD.");
  bus::AddPubEndpointSetting(settings);
  bus::AddSubEndpointSetting(settings);
  settings.Add({"COAPGW_RD_URI", "the RD", "coap://127.0.0.1:5683"});
  settings.LoadFromMap(values);
  return settings;
}

std::string SettingsErrorOf(const Settings& settings) {
  try {
    (void)MirrorOptionsFrom(settings);
  } catch (const SettingsError& error) {
    return error.what();
  }
  return "";
}

TEST(ServiceWiringTest, MirrorOptionsComeFromTheRdUriOnceBothBusEndpointsAreChecked) {
  EXPECT_EQ(MirrorOptionsFrom(Loaded({{"COAPGW_RD_URI", "coap://[::1]:5700"}})).rd_uri,
            "coap://[::1]:5700");
  EXPECT_EQ(SettingsErrorOf(Loaded({{"COAPGW_RD_URI", "http://x"}})).rfind("COAPGW_RD_URI: ", 0),
            0U);
  EXPECT_EQ(SettingsErrorOf(Loaded({{"COAPGW_BUS_PUB", "nowhere"}})).rfind("COAPGW_BUS_PUB", 0),
            0U);
  EXPECT_EQ(SettingsErrorOf(Loaded({{"COAPGW_BUS_SUB", "tcp://x"}})).rfind("COAPGW_BUS_SUB", 0),
            0U);
}

TEST(ServiceWiringTest, PublisherCountsUnderItsIdUnlessTheOptionsNameOtherLabels) {
  const std::string endpoint = "tcp://127.0.0.1:" + std::to_string(test::FreeTcpPort());
  const Settings settings = Loaded({{"COAPGW_BUS_PUB", endpoint}});
  zmq::context_t zmq_context;
  MetricsRegistry registry;
  auto plain = ConnectPublisher(zmq_context, settings, registry, "svc");
  bus::PublisherOptions options;
  options.metrics_labels = "publisher=\"svc-heartbeat\"";
  auto labelled = ConnectPublisher(zmq_context, settings, registry, "svc-hb", options);
  EXPECT_EQ(plain->id().rfind("svc-", 0), 0U) << plain->id();  // id plus a random suffix
  EXPECT_EQ(labelled->id().rfind("svc-hb-", 0), 0U) << labelled->id();
  const std::string text = registry.Render();
  EXPECT_NE(text.find("coapgw_bus_published_total{publisher=\"svc\"} 0"), std::string::npos)
      << text;
  EXPECT_NE(text.find("coapgw_bus_published_total{publisher=\"svc-heartbeat\"} 0"),
            std::string::npos)
      << text;
}

TEST(ServiceWiringTest, TeardownRunsOnTheLoopThreadWhenTheScopeIsLeftByAnException) {
  coap::ContextThread loop;
  const std::thread::id loop_thread = loop.Call([] { return std::this_thread::get_id(); });
  std::thread::id ran_on;
  try {
    const LoopTeardown teardown(loop, [&ran_on] { ran_on = std::this_thread::get_id(); });
    throw std::runtime_error("start-up failed");
  } catch (const std::runtime_error&) {
  }
  EXPECT_EQ(ran_on, loop_thread);
  EXPECT_NE(ran_on, std::this_thread::get_id());
}

TEST(ServiceWiringTest, OpenFileLimitIsRaisedToTheHardLimit) {
  const size_t limit = RaiseOpenFileLimit();
  rlimit now{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &now), 0);
  EXPECT_EQ(limit, static_cast<size_t>(now.rlim_cur));
  if (now.rlim_max != RLIM_INFINITY) {  // the kernel caps an unlimited one at fs.nr_open
    EXPECT_EQ(now.rlim_cur, now.rlim_max);
  }
}

}  // namespace
}  // namespace coapgw::devices
