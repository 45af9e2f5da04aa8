// Which address of the RD the devices send to: the first of the RD host's addresses in the family
// of the devices' own (a name such as localhost may resolve to ::1 before 127.0.0.1), checked on
// the address choice itself and with the Simulator registering at a minimal RD on loopback. ctest
// runs these a second time where localhost resolves to ::1 first (with_hosts.sh).

#include <netdb.h>
#include <sys/socket.h>

#include <memory>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "coapgw/coap/context.hpp"
#include "coapgw/coap/server.hpp"
#include "coapgw/common/http_server.hpp"
#include "coapgw/common/metrics.hpp"
#include "coapgw/test/wait.hpp"
#include "device_sim/options.hpp"
#include "device_sim/simulator.hpp"
#include "device_sim/sockets.hpp"

namespace coapgw::device_sim {
namespace {

using std::chrono::milliseconds;
using testing::HasSubstr;

// Whether this host's resolver gives localhost the address `ip` (/etc/hosts varies: some have
// no ::1 line).
bool LocalhostHas(const std::string& ip) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_DGRAM;
  addrinfo* found = nullptr;
  if (getaddrinfo("localhost", nullptr, &hints, &found) != 0) {
    return false;
  }
  bool has = false;
  for (const addrinfo* entry = found; entry != nullptr; entry = entry->ai_next) {
    char host[NI_MAXHOST] = {};
    has = has || (getnameinfo(entry->ai_addr, entry->ai_addrlen, host, sizeof host, nullptr, 0,
                              NI_NUMERICHOST) == 0 &&
                  ip == host);
  }
  freeaddrinfo(found);
  return has;
}

// A Resource Directory that only accepts registrations (POST /rd: 2.01, Location /rd/<n>) and
// records the address each came from.
class MinimalRd {
 public:
  explicit MinimalRd(const std::string& ip) {
    loop_.Call([&] {
      server_ = std::make_unique<coap::Server>(loop_.context());
      auto bound = server_->AddEndpoint(HostPort{ip, 0});
      if (!bound.ok()) {
        throw std::runtime_error(bound.error().message);
      }
      port_ = bound->port;
      server_->AddResource("/rd").On(
          coap::Method::kPost, [this](const coap::Request& request, coap::Response& response) {
            const std::lock_guard<std::mutex> lock(mutex_);
            sources_.insert(request.source.ToString());
            response.SetCode(coap::Code::kCreated)
                .SetLocationPath("/rd/" + std::to_string(sources_.size()));
          });
    });
  }
  ~MinimalRd() {
    loop_.Call([&] { server_.reset(); });
  }
  MinimalRd(const MinimalRd&) = delete;
  MinimalRd& operator=(const MinimalRd&) = delete;
  MinimalRd(MinimalRd&&) = delete;
  MinimalRd& operator=(MinimalRd&&) = delete;

  uint16_t port() const { return port_; }
  std::set<std::string> Sources() const {
    const std::lock_guard<std::mutex> lock(mutex_);
    return sources_;
  }

 private:
  coap::ContextThread loop_;
  std::unique_ptr<coap::Server> server_;
  uint16_t port_ = 0;
  mutable std::mutex mutex_;
  std::set<std::string> sources_;
};

SimOptions Fleet(const std::string& listen_ip, const std::string& rd_host, uint16_t rd_port) {
  SimOptions options;
  options.devices = 2;
  options.listen = HostPort{listen_ip, 0};
  options.rd.host = rd_host;
  options.rd.port = rd_port;
  options.deregister_on_stop = false;
  options.rd_timeout = milliseconds(2000);
  return options;
}

TEST(RdAddressTest, FirstAddressOfTheDevicesFamilyIsPicked) {
  const std::vector<std::string> ipv6_first = {"::1", "127.0.0.1", "127.0.0.2"};
  EXPECT_EQ(*PickAddressOfFamily(ipv6_first, "127.0.0.1", "localhost"), "127.0.0.1");
  EXPECT_EQ(*PickAddressOfFamily(ipv6_first, "0.0.0.0", "localhost"), "127.0.0.1");
  EXPECT_EQ(*PickAddressOfFamily({"127.0.0.1", "::1"}, "::1", "localhost"), "::1");

  auto none = PickAddressOfFamily({"::1", "fe80::1"}, "127.0.0.1", "rd.example");
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(none.error().message,
            "rd.example has no IPv4 address to reach from 127.0.0.1 (it has ::1, fe80::1)");
  EXPECT_EQ(PickAddressOfFamily({}, "::1", "rd.example").error().message,
            "rd.example has no IPv6 address to reach from ::1 (it has none)");
  EXPECT_EQ(PickAddressOfFamily(ipv6_first, "localhost", "rd").error().code,
            ErrorCode::kInvalidArgument);
}

TEST(RdAddressTest, LiteralsAndLocalhostResolveInTheFamilyAsked) {
  EXPECT_EQ(*ResolveForSource("127.0.0.1", "127.0.0.1"), "127.0.0.1");
  EXPECT_EQ(*ResolveForSource("::1", "::"), "::1");
  auto other_family = ResolveForSource("::1", "127.0.0.1");
  ASSERT_FALSE(other_family.ok());
  EXPECT_EQ(other_family.error().message,
            "::1 has no IPv4 address to reach from 127.0.0.1 (it has ::1)");

  ASSERT_TRUE(LocalhostHas("127.0.0.1"));
  EXPECT_EQ(*ResolveForSource("localhost", "127.0.0.1"), "127.0.0.1");
  auto ipv6 = ResolveForSource("localhost", "::1");
  if (LocalhostHas("::1")) {
    EXPECT_EQ(*ipv6, "::1");
  } else {
    EXPECT_THAT(ipv6.error().message, HasSubstr("localhost has no IPv6 address"));
  }
}

// The regression: devices on 127.0.0.1 and COAPGW_RD_URI coap://localhost:P registered only where
// localhost resolved to 127.0.0.1 first. Now each family's devices reach the RD at its own
// address, whichever order the resolver gives.
TEST(RdAddressTest, DevicesRegisterWithANamedRdOverTheirOwnFamily) {
  for (const std::string ip : {"127.0.0.1", "::1"}) {
    SCOPED_TRACE(ip);
    MinimalRd rd(ip);
    MetricsRegistry metrics;
    Health health;
    const SimOptions options = Fleet(ip, "localhost", rd.port());
    if (!LocalhostHas(ip)) {
      try {
        Simulator simulator(options, metrics, health);
        ADD_FAILURE() << "expected a refusal: localhost has no " << ip;
      } catch (const std::runtime_error& error) {
        EXPECT_THAT(error.what(),
                    HasSubstr("COAPGW_RD_URI coap://localhost:" + std::to_string(rd.port()) +
                              ": localhost has no IPv6 address to reach from ::1"));
      }
      continue;
    }
    Simulator simulator(options, metrics, health);
    const bool registered = test::WaitUntil(
        [&] {
          for (const DeviceStatus& device : simulator.Statuses()) {
            if (device.registration != "registered") {
              return false;
            }
          }
          return true;
        },
        milliseconds(5000));
    EXPECT_TRUE(registered) << simulator.StatusOf(0).registration;
    std::set<std::string> devices;
    for (const DeviceStatus& device : simulator.Statuses()) {
      devices.insert(device.address);
    }
    EXPECT_EQ(rd.Sources(), devices);
    simulator.Stop(milliseconds(0));
  }
}

TEST(RdAddressTest, AnRdOfTheOtherFamilyIsRefusedAtStartNamingTheSettings) {
  MetricsRegistry metrics;
  Health health;
  try {
    Simulator simulator(Fleet("127.0.0.1", "::1", 5683), metrics, health);
    ADD_FAILURE() << "expected a refusal";
  } catch (const std::runtime_error& error) {
    EXPECT_STREQ(error.what(),
                 "COAPGW_RD_URI coap://[::1]:5683: ::1 has no IPv4 address to reach from "
                 "127.0.0.1 (it has ::1); devices listen on 127.0.0.1 (COAPGW_DEVICE_SIM_LISTEN)");
  }
  // Without registration the RD is never reached, so it does not matter.
  SimOptions serving = Fleet("127.0.0.1", "::1", 5683);
  serving.registration = RegistrationMode::kNone;
  Simulator simulator(serving, metrics, health);
  simulator.Stop(milliseconds(0));
}

}  // namespace
}  // namespace coapgw::device_sim
