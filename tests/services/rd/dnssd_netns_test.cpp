// DNS-SD with real Avahi daemons over real mDNS between network namespaces: the test creates a
// namespace for the device and a veth pair into it (tests/services/rd/test_network.hpp), and on
// each side a private D-Bus system bus and an avahi-daemon of its own with mDNS on that side's
// veth only. The device is libcoap's coap-server-notls with a `_coap._udp` service published
// (avahi-publish) on its side; the RD (real process, fresh PostgreSQL database) browses and
// announces through the daemon on this side. Skipped, naming what is missing, where the tools or
// network namespaces are not available.

#include <sys/stat.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "coapgw/test/command.hpp"
#include "coapgw/test/process.hpp"
#include "coapgw/test/stack.hpp"
#include "coapgw/test/wait.hpp"
#include "e2e_testing.hpp"
#include "test_network.hpp"

namespace coapgw::rd::test {
namespace {

using namespace std::chrono_literals;
using Part = coapgw::test::Stack::Part;

constexpr const char* kInstance = "lamp in the hall";  // the device's DNS-SD instance name

size_t Count(const std::string& text, const std::string& what) {
  size_t count = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) {
    ++count;
  }
  return count;
}

// A private D-Bus system bus with an avahi-daemon on it, mDNS on one interface only. The daemon
// gets a mount namespace with a /run of its own (its pid file and socket are fixed paths there).
class Avahi {
 public:
  // `dir`: a directory of its own; `netns`: where the daemon runs (empty: this namespace).
  Avahi(std::string dir, std::string host_name, std::string interface, std::string netns)
      : dir_(std::move(dir)),
        host_name_(std::move(host_name)),
        interface_(std::move(interface)),
        netns_(std::move(netns)) {}

  std::string BusAddress() const { return "unix:path=" + dir_ + "/bus"; }
  std::map<std::string, std::string> Env() const {
    return {{"DBUS_SYSTEM_BUS_ADDRESS", BusAddress()}};
  }

  // Starts the bus and the daemon, each waited ready; what failed otherwise.
  std::optional<std::string> Start() {
    std::filesystem::create_directories(dir_);
    std::ofstream(dir_ + "/bus.conf")
        << "<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN\" "
           "\"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n"
           "<busconfig><type>system</type><listen>unix:path="
        << dir_ << "/bus</listen><auth>EXTERNAL</auth><policy context=\"default\">"
        << "<allow user=\"*\"/><allow own=\"*\"/><allow send_destination=\"*\"/>"
           "<allow receive_sender=\"*\"/></policy></busconfig>\n";
    std::ofstream(dir_ + "/avahi.conf")
        << "[server]\nhost-name=" << host_name_
        << "\nuse-ipv4=yes\nuse-ipv6=no\nallow-interfaces=" << interface_
        << "\nenable-dbus=yes\n"
           "[publish]\npublish-hinfo=no\npublish-workstation=no\n"
           "[wide-area]\nenable-wide-area=no\n";
    bus_ = std::make_unique<coapgw::test::Process>(std::vector<std::string>{
        DBUS_DAEMON, "--config-file=" + dir_ + "/bus.conf", "--nofork", "--nopidfile"});
    struct stat info {};
    if (!coapgw::test::WaitUntil([&] { return stat((dir_ + "/bus").c_str(), &info) == 0; }, 10s)) {
      return "dbus-daemon did not start: " + bus_->Stderr();
    }
    return StartDaemon();
  }

  // Stops the daemon (the bus stays) and starts it again; what failed otherwise.
  std::optional<std::string> RestartDaemon() {
    if (avahi_->Stop(SIGTERM, 10s) == std::nullopt) {
      return "avahi-daemon did not stop";
    }
    return StartDaemon();
  }

  std::string Log() const { return avahi_ ? avahi_->Stderr() : std::string(); }

 private:
  std::optional<std::string> StartDaemon() {
    const std::string daemon = "mount -t tmpfs tmpfs /run && exec " + std::string(AVAHI_DAEMON) +
                               " --no-drop-root --no-chroot --no-proc-title -f " + dir_ +
                               "/avahi.conf";
    std::vector<std::string> argv = {UNSHARE_TOOL, "--mount", "--propagation", "slave",
                                     "sh",         "-c",      daemon};
    if (!netns_.empty()) {  // ip netns exec gives it a mount namespace of its own
      argv = {IP_TOOL, "netns", "exec", netns_, "sh", "-c", daemon};
    }
    avahi_ = std::make_unique<coapgw::test::Process>(argv, Env());
    if (!avahi_->WaitForStderr("Server startup complete", 15s)) {
      return "avahi-daemon did not start: " + avahi_->Stderr();
    }
    return std::nullopt;
  }

  std::string dir_;
  std::string host_name_;
  std::string interface_;
  std::string netns_;
  std::unique_ptr<coapgw::test::Process> bus_;
  std::unique_ptr<coapgw::test::Process> avahi_;
};

class DnsSdNetnsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const auto& [tool, package] :
         std::vector<std::pair<std::string, std::string>>{{AVAHI_DAEMON, "avahi-daemon"},
                                                          {AVAHI_PUBLISH, "avahi-utils"},
                                                          {AVAHI_BROWSE, "avahi-utils"},
                                                          {DBUS_DAEMON, "dbus-daemon"},
                                                          {UNSHARE_TOOL, "util-linux"},
                                                          {COAP_SERVER_NOTLS, "libcoap3-bin"}}) {
      if (tool.empty()) {
        GTEST_SKIP() << "DNS-SD test needs the Debian package " << package
                     << " (a tool of it was not found at configure time)";
      }
    }
    if (!COAPGW_HAVE_AVAHI) {
      GTEST_SKIP() << "coapgw-rd was built without avahi-client (libavahi-client-dev)";
    }
    bool refused = false;
    if (auto failed = network_.Create(&refused)) {
      if (refused) {
        GTEST_SKIP() << *failed;
      }
      FAIL() << "cannot build the test network: " << *failed;
    }
    char dir[] = "/tmp/coapgw-dnssd-XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    dir_ = dir;
  }

  void TearDown() override {
    gateway_.reset();
    device_.reset();
    if (!dir_.empty()) {
      std::error_code ignored;
      std::filesystem::remove_all(dir_, ignored);
    }
  }

  // One `_coap._udp` service on the device's side, as avahi-browse there resolves it.
  bool DeviceSideSees(const std::string& name, const std::string& text) {
    return coapgw::test::WaitUntil(
        [&] {
          const auto browsed =
              coapgw::test::RunCommand("DBUS_SYSTEM_BUS_ADDRESS=" + device_->BusAddress() + " " +
                                       AVAHI_BROWSE + " -rtp _coap._udp");
          return browsed.text.find(name) != std::string::npos &&
                 browsed.text.find(text) != std::string::npos;
        },
        20s);
  }

  TestNetwork network_{"cgdnssd"};
  std::string dir_;
  std::unique_ptr<Avahi> gateway_;
  std::unique_ptr<Avahi> device_;
};

TEST_F(DnsSdNetnsTest, ABrowsedDeviceIsRegisteredAndKeepsItsIdAtANewAddress) {
  // 1. The RD asks for DNS-SD before any avahi-daemon is there: one warning, and it runs.
  gateway_ = std::make_unique<Avahi>(dir_ + "/gw", "cgrd", network_.gw_if(), "");
  coapgw::test::StackOptions options;
  options.devices = 0;
  options.extra_env["coapgw-rd"] = {
      {"DBUS_SYSTEM_BUS_ADDRESS", gateway_->BusAddress()},
      {"COAPGW_RD_DNSSD", "both"},
      {"COAPGW_RD_DNSSD_NAME", "coapgw rd under test"},
      {"COAPGW_RD_DISCOVERY_LIFETIME", "3600"},
  };
  coapgw::test::Stack stack(options);
  std::string error;
  for (Part part : {Part::kBus, Part::kRd}) {
    ASSERT_TRUE(stack.StartPart(part, &error)) << error;
  }
  const auto rd_log = [&] { return stack.Tail(Part::kRd, 2000); };
  ASSERT_TRUE(coapgw::test::WaitUntil(
      [&] { return rd_log().find("avahi-daemon not reachable") != std::string::npos; }, 10s))
      << rd_log();

  // 2. The daemons come up; the device publishes its service on its side of the link.
  ASSERT_EQ(gateway_->Start(), std::nullopt);
  device_ = std::make_unique<Avahi>(dir_ + "/dev", "cgdevice", network_.dev_if(), network_.ns());
  ASSERT_EQ(device_->Start(), std::nullopt);
  coapgw::test::Process server({IP_TOOL, "netns", "exec", network_.ns(), COAP_SERVER_NOTLS});
  coapgw::test::Process publish({AVAHI_PUBLISH, "-s", kInstance, "_coap._udp", "5683"},
                                device_->Env());
  ASSERT_TRUE(publish.WaitForStderr("Established under name", 15s)) << publish.Stderr();

  // 3. The RD reconnects by itself, browses the service and registers the device: named by its
  //    instance name (coap-server-notls has no ep attribute), based at its address.
  std::optional<events::Device> found;
  ASSERT_TRUE(coapgw::test::WaitUntil(
      [&] { return (found = e2e::RdDevice(stack, kInstance)).has_value(); }, 30s))
      << "not registered\n"
      << rd_log() << gateway_->Log() << device_->Log();
  EXPECT_EQ(found->base, "coap://" + network_.DeviceIp(2));
  const std::string log = rd_log();
  EXPECT_NE(log.find("avahi-daemon connected"), std::string::npos) << log;
  EXPECT_EQ(Count(log, "avahi-daemon not reachable"), 1U) << log;

  // 4. The RD announces itself: the device's side resolves it with rt=core.rd.
  EXPECT_TRUE(DeviceSideSees("coapgw\\032rd\\032under\\032test", "\"rt=core.rd\""))
      << gateway_->Log();

  // 5. The device's address changes: its service keeps its instance name, so the RD keeps the
  //    registration (device id, location) and moves its base.
  // The device's registration once its base is the device's address .`host` (within 30 s).
  const auto moved_to = [&](int host) {
    std::optional<events::Device> device;
    const bool moved = coapgw::test::WaitUntil(
        [&] {
          device = e2e::RdDevice(stack, kInstance);
          return device && device->base == "coap://" + network_.DeviceIp(host);
        },
        30s);
    return moved ? device : std::nullopt;
  };
  ASSERT_EQ(network_.MoveDevice(2, 3), std::nullopt);
  auto moved = moved_to(3);
  ASSERT_TRUE(moved.has_value()) << "not moved to " << network_.DeviceIp(3) << "\n"
                                 << rd_log() << gateway_->Log();
  EXPECT_EQ(moved->device_id, found->device_id);
  EXPECT_EQ(moved->location, found->location);

  // 6. The RD's avahi-daemon restarts: the RD reconnects and browses again, so the device's next
  //    address change reaches the registration too.
  ASSERT_EQ(gateway_->RestartDaemon(), std::nullopt);
  const auto connections = [&] { return Count(rd_log(), "avahi-daemon connected"); };
  ASSERT_TRUE(coapgw::test::WaitUntil([&] { return connections() == 2; }, 20s)) << rd_log();
  EXPECT_EQ(Count(rd_log(), "avahi-daemon connection lost"), 1U) << rd_log();
  ASSERT_EQ(network_.MoveDevice(3, 4), std::nullopt);
  moved = moved_to(4);
  ASSERT_TRUE(moved.has_value()) << "not moved to " << network_.DeviceIp(4)
                                 << " after the daemon restarted\n"
                                 << rd_log() << gateway_->Log();
  EXPECT_EQ(moved->device_id, found->device_id);
}

// A DNS-SD mode that does not exist stops the RD at start, naming the setting.
TEST(DnsSdSettingsTest, AnUnknownModeStopsTheRdNamingTheSetting) {
  coapgw::test::Process rd(
      {coapgw::test::BinaryPath("coapgw-rd")},
      {{"COAPGW_DATABASE_URL", "postgresql://127.0.0.1:1/none"}, {"COAPGW_RD_DNSSD", "sometimes"}});
  EXPECT_EQ(rd.Wait(20s), 2) << rd.Stderr();
  EXPECT_NE(rd.Stderr().find("COAPGW_RD_DNSSD: 'sometimes' is not off, browse, announce or both"),
            std::string::npos)
      << rd.Stderr();
}

}  // namespace
}  // namespace coapgw::rd::test
