#pragma once

// A network namespace with one veth pair into it (198.18.N.0/24, the benchmarking range, on the
// test's own interfaces only) for tests that need real link-local traffic (multicast, mDNS)
// between this namespace and the device's. Needs root; Create says when namespaces are refused.

#include <sys/types.h>
#include <unistd.h>

#include <optional>
#include <string>

#include "coapgw/test/command.hpp"

namespace coapgw::rd::test {

// A namespace with one veth pair into it; removed (with the pair) on every way out.
class TestNetwork {
 public:
  /// `name`: the namespace's name, made unique with the process id.
  explicit TestNetwork(const std::string& name = "cgdisc") {
    ns_ = name + std::to_string(getpid());
    gw_if_ = "cgg" + std::to_string(getpid() % 100000);
    dev_if_ = "cgd" + std::to_string(getpid() % 100000);
  }
  ~TestNetwork() {
    if (link_created_) {
      coapgw::test::RunCommand("ip link del " + gw_if_ + " 2>/dev/null");
    }
    if (ns_created_) {
      coapgw::test::RunCommand("ip netns del " + ns_ + " 2>/dev/null");
    }
  }
  TestNetwork(const TestNetwork&) = delete;
  TestNetwork& operator=(const TestNetwork&) = delete;
  TestNetwork(TestNetwork&&) = delete;
  TestNetwork& operator=(TestNetwork&&) = delete;

  // Builds it; what failed otherwise, with `refused` set when namespaces are refused here.
  std::optional<std::string> Create(bool* refused) {
    auto added = coapgw::test::RunCommand("ip netns add " + ns_);
    *refused = added.exit_code != 0;
    if (*refused) {
      return "network namespaces are not available here (ip netns add: " + added.text + ")";
    }
    ns_created_ = true;
    // A /24 of 198.18.0.0/16 that no interface here uses yet (another run's, for instance).
    for (int i = 0; i < 250 && prefix_.empty(); ++i) {
      const int candidate = static_cast<int>((getpid() + i) % 250) + 1;
      const std::string prefix = "198.18." + std::to_string(candidate) + ".";
      if (coapgw::test::RunCommand("ip -4 addr show to " + prefix + "0/24").text.empty()) {
        subnet_ = candidate;
        prefix_ = prefix;
      }
    }
    if (prefix_.empty()) {
      return std::string("no free /24 in 198.18.0.0/16 for the test network");
    }
    if (auto failed =
            Run("ip link add " + gw_if_ + " type veth peer name " + dev_if_ + " netns " + ns_)) {
      return failed;
    }
    link_created_ = true;
    for (const std::string& command : {
             // No duplicate address detection: link-local IPv6 is usable at once.
             "sysctl -qw net.ipv6.conf." + gw_if_ + ".accept_dad=0",
             "ip netns exec " + ns_ + " sysctl -qw net.ipv6.conf." + dev_if_ + ".accept_dad=0",
             "ip addr add " + GatewayIp() + "/24 dev " + gw_if_,
             "ip link set " + gw_if_ + " multicast on up",
             "ip -n " + ns_ + " link set lo up",
             "ip -n " + ns_ + " addr add " + DeviceIp(2) + "/24 dev " + dev_if_,
             "ip -n " + ns_ + " link set " + dev_if_ + " multicast on up",
             "ip -n " + ns_ + " route add 224.0.0.0/4 dev " + dev_if_,
         }) {
      if (auto failed = Run(command)) {
        return failed;
      }
    }
    return std::nullopt;
  }

  // Moves the device side from .`from` to .`to` (the devices keep their sockets).
  std::optional<std::string> MoveDevice(int from, int to) {
    // Deleted first: deleting a primary address also deletes the secondaries of its subnet.
    if (auto failed = Run("ip -n " + ns_ + " addr del " + DeviceIp(from) + "/24 dev " + dev_if_)) {
      return failed;
    }
    return Run("ip -n " + ns_ + " addr add " + DeviceIp(to) + "/24 dev " + dev_if_);
  }

  const std::string& ns() const { return ns_; }
  const std::string& gw_if() const { return gw_if_; }
  const std::string& dev_if() const { return dev_if_; }
  std::string GatewayIp() const { return prefix_ + "1"; }
  std::string DeviceIp(int host) const { return prefix_ + std::to_string(host); }
  int subnet() const { return subnet_; }

 private:
  static std::optional<std::string> Run(const std::string& command) {
    auto result = coapgw::test::RunCommand(command);
    if (result.exit_code != 0) {
      return command + ": " + result.text;
    }
    return std::nullopt;
  }

  int subnet_ = 0;
  bool ns_created_ = false;
  bool link_created_ = false;
  std::string ns_;
  std::string gw_if_;
  std::string dev_if_;
  std::string prefix_;
};

}  // namespace coapgw::rd::test
