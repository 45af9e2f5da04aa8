#include "coapgw/bus/endpoint.hpp"

#include <gtest/gtest.h>

namespace coapgw::bus {
namespace {

TEST(CheckEndpointTest, AcceptsTheTransportsTheBusUses) {
  for (const char* endpoint : {"tcp://127.0.0.1:7100", "tcp://127.0.0.1:*", "tcp://[::1]:7101",
                               "tcp://localhost:0", "ipc:///tmp/coapgw-bus", "inproc://bus"}) {
    EXPECT_TRUE(CheckEndpoint(endpoint).ok()) << endpoint;
  }
}

TEST(CheckEndpointTest, RejectsWhatZeroMqWouldNotConnectTo) {
  for (const char* endpoint :
       {"nonsense", "", "tcp://", "tcp://127.0.0.1", "tcp://:7100", "tcp://127.0.0.1:70000",
        "tcp://127.0.0.1:x", "udp://1.2.3.4:5", "ipc://"}) {
    const Status status = CheckEndpoint(endpoint);
    ASSERT_FALSE(status.ok()) << endpoint;
    EXPECT_EQ(status.error().code, ErrorCode::kInvalidArgument);
    EXPECT_NE(status.error().message.find("is not a ZeroMQ endpoint"), std::string::npos);
  }
}

TEST(EndpointSettingTest, DefaultsComeFromTheContract) {
  Settings settings("test", "test");
  AddPubEndpointSetting(settings);
  AddSubEndpointSetting(settings);
  settings.LoadFromMap({});
  EXPECT_EQ(EndpointSetting(settings, kPubEndpointSetting), "tcp://127.0.0.1:7100");
  EXPECT_EQ(EndpointSetting(settings, kSubEndpointSetting), "tcp://127.0.0.1:7101");
}

TEST(EndpointSettingTest, ABadValueIsASettingsErrorNamingTheSetting) {
  Settings settings("test", "test");
  AddPubEndpointSetting(settings);
  settings.LoadFromMap({{"COAPGW_BUS_PUB", "nonsense"}});
  try {
    EndpointSetting(settings, kPubEndpointSetting);
    FAIL() << "no SettingsError";
  } catch (const SettingsError& error) {
    EXPECT_EQ(std::string(error.what()).rfind("COAPGW_BUS_PUB: 'nonsense'", 0), 0U) << error.what();
  }
}

}  // namespace
}  // namespace coapgw::bus
